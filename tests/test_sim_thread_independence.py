"""Results do not depend on the caller's thread settings: ``mupsim simulate`` run with 2 BLAS/
OpenMP/MKL/numba threads in its environment, ``run()`` here, and sweeps with 1 and 2 worker
processes give bit-identical float32 arrays (a run pins BLAS to one thread inside itself)."""

import os
import subprocess
import sys
from pathlib import Path

from mupsim.sim import run
from mupsim.sim.config import SimConfig
from mupsim.sim.result import Result
from mupsim.sim.sweep import sweep

REPO = Path(__file__).resolve().parents[1]
# width 64, batch 64: large enough that 2 OpenBLAS threads split the products (and change the
# float32 rounding) when nothing pins them
CFG = SimConfig(width=64, batch_size=64, steps=50, dtype="float32", seed=3, n_logs=6)
THREADS_2 = {
    v: "2" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
}


def arrays(r):
    out = {"train_loss": r.train_loss, "test_loss": r.test_loss, "activation_rms": r.activation_rms}
    out.update({f"matrix.{k}": v for k, v in r.matrix.items()})
    out.update({f"spectra.{k}": v for k, v in r.spectra.items()})
    return out


def assert_bit_identical(a, b):
    a, b = arrays(a), arrays(b)
    assert a.keys() == b.keys()
    differ = [k for k in a if a[k].tobytes() != b[k].tobytes()]
    assert not differ, f"arrays differ: {differ}"


def test_simulate_with_two_threads_in_env_equals_run_and_sweeps(tmp_path):
    env = {**os.environ, **THREADS_2, "PYTHONPATH": str(REPO)}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "mupsim",
            "simulate",
            "--width",
            "64",
            "--batch-size",
            "64",
            "--steps",
            "50",
            "--dtype",
            "float32",
            "--seed",
            "3",
            "--n-logs",
            "6",
            "--out",
            str(tmp_path / "cli"),
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    from_cli = Result.load(tmp_path / "cli")
    assert from_cli.config == CFG.to_dict()
    assert_bit_identical(from_cli, run(CFG))
    configs = [CFG, CFG.replace(seed=4)]
    w1 = sweep(configs, tmp_path / "w1", workers=1, progress=False)
    w2 = sweep(configs, tmp_path / "w2", workers=2, progress=False)
    assert_bit_identical(from_cli, w1[0])
    assert_bit_identical(from_cli, w2[0])
    assert_bit_identical(w1[1], w2[1])

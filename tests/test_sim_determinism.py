"""Same config and seed give bit-identical results; another seed does not."""

import numpy as np

from mupsim.sim import run
from mupsim.sim.config import SimConfig

CFG = SimConfig(
    width=32, base_width=16, steps=60, lr=1e-2, wd=0.1, wd_rule="fan2025", batch_size=16, n_test=64, n_logs=10
)


def _arrays(res):
    out = {
        "steps": res.steps,
        "train_loss": res.train_loss,
        "test_loss": res.test_loss,
        "activation_rms": res.activation_rms,
    }
    out.update({f"matrix.{k}": v for k, v in res.matrix.items()})
    out.update({f"spectra.{k}": v for k, v in res.spectra.items()})
    return out


def test_same_config_and_seed_give_bit_identical_result_arrays():
    a, b = _arrays(run(CFG)), _arrays(run(CFG))
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes(), k


def test_fixed_train_set_runs_are_bit_identical_too():
    cfg = CFG.replace(n_train=64)
    a, b = _arrays(run(cfg)), _arrays(run(cfg))
    for k in a:
        assert a[k].tobytes() == b[k].tobytes(), k


def test_different_seed_gives_different_trajectory():
    a, b = run(CFG), run(CFG.replace(seed=1))
    assert not np.array_equal(a.train_loss, b.train_loss)

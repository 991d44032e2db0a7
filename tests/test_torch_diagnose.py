"""Spectral diagnostic and checkpoint readers (mupsim.torch.diagnose / checkpoints)."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from mupsim.errors import MupsimError
from mupsim.torch.checkpoints import Checkpoint, bf16_to_float32, float32_to_bf16, write_safetensors
from mupsim.torch.diagnose import diagnose, sigma_max


def with_spectrum(rows, cols, s, seed=0):
    """A rows×cols matrix with singular values ``s`` (the rest zero)."""
    rng = np.random.default_rng(seed)
    u = np.linalg.qr(rng.standard_normal((rows, len(s))))[0]
    v = np.linalg.qr(rng.standard_normal((cols, len(s))))[0]
    return ((u * np.asarray(s)) @ v.T).astype(np.float32)


def test_sigma_max_of_a_large_matrix_with_known_spectrum():
    s = np.linspace(5.0, 0.5, 300)
    w = with_spectrum(700, 500, s)
    assert sigma_max(w, tol=1e-6) == pytest.approx(5.0, rel=1e-4)


def test_sigma_max_of_a_gaussian_matrix_agrees_with_svd():
    w = np.random.default_rng(1).standard_normal((600, 400)).astype(np.float32)
    exact = np.linalg.svd(w.astype(np.float64), compute_uv=False)[0]
    assert sigma_max(w) == pytest.approx(exact, rel=2e-3)


def test_bf16_conversion_is_exact_for_representable_values():
    x = np.array([1.0, -2.5, 0.15625, 2.0**100, -(2.0**-120), 0.0], np.float32)
    assert np.array_equal(bf16_to_float32(float32_to_bf16(x)), x)


@pytest.mark.parametrize("dtype,tol", [("F32", 0), ("F16", 1e-3), ("BF16", 8e-3)])
def test_safetensors_round_trip(tmp_path, dtype, tol):
    a = np.random.default_rng(0).standard_normal((7, 5)).astype(np.float32)
    write_safetensors(tmp_path / "x.safetensors", {"a": a, "b": np.ones(3, np.float32)}, dtype=dtype)
    ck = Checkpoint(tmp_path / "x.safetensors")
    assert ck.names == ["a", "b"] and ck.shape("a") == (7, 5) and ck.dtype("a") == dtype
    got = ck.get("a")
    assert got.dtype == np.float32 and np.allclose(got, a, rtol=tol, atol=tol)


def test_corrupt_safetensors_is_refused(tmp_path):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(b"\xff" * 16)
    with pytest.raises(MupsimError, match="not a safetensors file"):
        Checkpoint(p)
    write_safetensors(p, {"a": np.zeros((4, 4), np.float32)})
    p.write_bytes(p.read_bytes()[:-8])
    with pytest.raises(MupsimError, match="truncated"):
        Checkpoint(p)


@pytest.mark.parametrize(
    "header, what",
    [
        ([1, 2], "JSON list"),
        ({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [-16, 0]}}, "malformed"),
        ({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, "16"]}}, "malformed"),
    ],
)
def test_malformed_safetensors_header_is_refused(tmp_path, header, what):
    import struct

    h = json.dumps(header).encode()
    p = tmp_path / "bad.safetensors"
    p.write_bytes(struct.pack("<Q", len(h)) + h + bytes(16))
    with pytest.raises(MupsimError, match=what):
        Checkpoint(p)


def test_a_pt_file_that_is_no_checkpoint_is_one_line_exit_2(tmp_path):
    p = tmp_path / "fake.pt"
    p.write_text("garbage")
    r = run_cli("diagnose", p)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "torch checkpoint" in r.stderr


def test_plot_into_a_missing_folder_is_refused_before_reading(tmp_path):
    r = run_cli(
        "diagnose", *write_width_series(tmp_path, widths=(32, 64)), "--plot", tmp_path / "no" / "d.png"
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "does not exist" in r.stderr


def test_torch_checkpoint_is_read_lazily(tmp_path):
    torch = pytest.importorskip("torch")
    sd = {"w": torch.randn(6, 4, dtype=torch.bfloat16), "step": torch.tensor(3)}
    torch.save({"model": sd, "epoch": 1}, tmp_path / "c.pt")
    ck = Checkpoint(tmp_path / "c.pt")
    assert set(ck.names) == {"w", "step"} and ck.get("step") is None
    assert np.array_equal(ck.get("w"), sd["w"].float().numpy())


def write_width_series(tmp_path, alpha=0.8, widths=(32, 64, 128, 256), rank1=False):
    """One checkpoint per width: hidden n×n matrices with σ_max = n^alpha·√(lr/wd), a sidecar with lr, wd."""
    paths = []
    for n in widths:
        lr, wd = 1e-3 * 32 / n, 0.1 * math.sqrt(n / 32)
        smax = n**alpha * math.sqrt(lr / wd)
        s = [smax] if rank1 else [smax] + [smax / 4] * (n // 4)
        tensors = {
            "h1": with_spectrum(n, n, s, seed=n),
            "h2": with_spectrum(2 * n, n, s, seed=n + 1),
            "emb": np.ones((10, n), np.float32),
        }
        p = tmp_path / f"w{n}.safetensors"
        write_safetensors(p, tensors, dtype="F32")
        (tmp_path / f"w{n}.mupsim.json").write_text(
            json.dumps(
                {
                    "width": n,
                    "params": {
                        "h1": {"layer": "hidden", "lr": lr, "wd": wd},
                        "h2": {"layer": "hidden", "lr": lr, "wd": wd},
                        "emb": {"layer": "embedding", "lr": 1e-3, "wd": 0.0},
                    },
                }
            )
        )
        paths.append(p)
    return paths


def test_diagnose_recovers_a_known_alpha_and_implies_the_alignment_rule(tmp_path):
    d = diagnose(write_width_series(tmp_path, alpha=0.8))
    assert d.alpha_basis == "sigma_max/sqrt(lr/wd)"
    assert d.alpha.exponent == pytest.approx(0.8, abs=1e-3)
    assert set(d.per_matrix) == {"h1", "h2"}
    assert d.implied_rule == "--wd-rule alignment --alignment-exponent 0.80"
    assert d.widths == [32, 64, 128, 256]


def test_stable_rank_of_known_spectra(tmp_path):
    d = diagnose(write_width_series(tmp_path, rank1=True, widths=(32, 64)))
    for m in d.matrices:
        if m.layer == "hidden":
            assert m.stable_rank == pytest.approx(1.0, rel=1e-3)
    assert d.stable_rank_fit.exponent == pytest.approx(0.0, abs=1e-3)
    # rank 1: σ_max/RMS = n exactly, so alpha from RMS is 1
    assert d.alpha_rms.exponent == pytest.approx(1.0, abs=1e-3)
    d = diagnose(write_width_series(tmp_path, widths=(64, 256)))
    m = next(m for m in d.matrices if m.name == "h1" and m.width == 64)
    assert m.stable_rank == pytest.approx(1 + 16 * (1 / 16), rel=1e-3)  # 1 + (n/4)·(1/4)²


def test_without_settings_alpha_is_from_sigma_over_rms_and_widths_are_inferred(tmp_path):
    paths = write_width_series(tmp_path, rank1=True, widths=(32, 64, 128))
    for n in (32, 64, 128):
        (tmp_path / f"w{n}.mupsim.json").unlink()
    d = diagnose(paths)
    assert d.alpha_basis == "sigma_max/rms" and d.widths == [32, 64, 128]
    assert {m.name: m.layer for m in d.matrices} == {
        "h1": "hidden",
        "h2": "hidden",
        "emb": "embedding|readout",
    }
    assert d.alpha.exponent == pytest.approx(1.0, abs=1e-3)


def test_diagnose_errors_are_clear(tmp_path):
    paths = write_width_series(tmp_path, widths=(32, 64))
    with pytest.raises(MupsimError, match="one width per checkpoint"):
        diagnose(paths, widths=[32])
    with pytest.raises(MupsimError, match="unknown checkpoint format"):
        diagnose([tmp_path / "w32.mupsim.json"])


def run_cli(*args, block_torch=False):
    pre = "import sys; sys.modules['torch'] = None; " if block_torch else "import sys; "
    code = pre + "from mupsim.cli import main; raise SystemExit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True)


def test_cli_diagnose_json_and_plot_without_torch(tmp_path):
    paths = write_width_series(tmp_path, widths=(32, 64, 128))
    r = run_cli("diagnose", *paths, "--format", "json", "--plot", tmp_path / "d.png", block_torch=True)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["alpha"]["exponent"] == pytest.approx(0.8, abs=1e-3)
    assert doc["implied_rule"].endswith("0.80") and (tmp_path / "d.png").stat().st_size > 0


def test_cli_diagnose_table(tmp_path):
    r = run_cli("diagnose", *write_width_series(tmp_path, widths=(32, 64)))
    assert r.returncode == 0 and "implied weight-decay rule" in r.stdout and "sigma_max" in r.stdout


def test_cli_diagnose_bad_input_exits_2_with_one_line(tmp_path):
    paths = write_width_series(tmp_path, widths=(32, 64))
    r = run_cli("diagnose", *paths, "--width", "32,x")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--width" in r.stderr
    r = run_cli("diagnose", tmp_path / "missing.safetensors")
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_one_matrix_per_width_reports_no_interval_rather_than_a_zero_width_one(tmp_path):
    widths = (32, 64, 128)
    paths = []
    for n in widths:
        p = tmp_path / f"one_{n}.safetensors"
        write_safetensors(p, {"h.weight": with_spectrum(n, n, np.r_[n**0.8, np.ones(n - 1)])})
        paths.append(p)
    text = diagnose(paths, widths).table()
    assert "no interval: one value per width" in text and "95% bootstrap" not in text

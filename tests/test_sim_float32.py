"""float32 runs track float64 runs of the same config (the kernels are dtype-generic)."""

import numpy as np

from mupsim.sim import SimConfig, run


def test_float32_loss_trajectory_tracks_float64():
    cfg = SimConfig(width=64, steps=100, n_logs=8, lr=2e-3, wd=0.1, wd_rule="constant", seed=3)
    r64 = run(cfg)
    r32 = run(cfg.replace(dtype="float32"))
    assert r32.status == r64.status == "ok"
    rel = np.abs(r32.train_loss - r64.train_loss) / np.abs(r64.train_loss)
    # float32 round-off (~1e-7 per op) amplified over 100 Adam steps stays far below 1e-2
    assert np.max(rel) < 1e-2


def test_float32_run_is_deterministic():
    cfg = SimConfig(width=32, steps=30, n_logs=5, dtype="float32", seed=1)
    a, b = run(cfg), run(cfg)
    assert np.array_equal(a.train_loss, b.train_loss)
    assert all(np.array_equal(a.matrix[k], b.matrix[k], equal_nan=True) for k in a.matrix)


def test_float32_muon_run_completes():
    r = run(SimConfig(width=32, steps=20, n_logs=4, optimizer="muon", dtype="float32", lr=0.01))
    assert r.status == "ok" and np.all(np.isfinite(r.train_loss))

"""A run whose loss blows up stops cleanly and reports where."""

import numpy as np

from mupsim.sim import run
from mupsim.sim.config import SimConfig


def test_huge_learning_rate_reports_diverged_step_and_nan_rows_without_raising():
    cfg = SimConfig(
        width=16,
        base_width=16,
        steps=200,
        optimizer="sgd",
        momentum=0.0,
        lr=1e4,
        norm="none",
        batch_size=16,
        n_test=32,
        n_logs=20,
    )
    res = run(cfg)
    assert res.status == "diverged"
    d = res.diverged_step
    assert 0 < d <= cfg.steps
    after = res.steps >= d
    assert after.any()
    assert np.isnan(res.train_loss[after]).all()
    assert np.isnan(res.test_loss[after]).all()
    for metric in ("rms", "sigma_max", "gain"):
        assert np.isnan(res.matrix[metric][:, after]).all()
        assert np.isfinite(res.matrix[metric][:, ~after]).all()
    assert np.isfinite(res.train_loss[~after]).all()

"""Adam ε in the simulator: opt-in per-layer ε from the calculator (SimConfig.eps_rule)."""

import numpy as np
import pytest

from mupsim import MupsimError
from mupsim.sim.config import SimConfig
from mupsim.sim.run import execute, prepare


def _cfg(**kw):
    base = dict(width=64, base_width=64, optimizer="adam", lr=1e-3, eps=1e-3, steps=1, n_logs=2, batch_size=8)
    base.update(kw)
    return SimConfig(**base)


def _hidden_update_per_lr(cfg):
    """RMS of one step's change of the hidden matrices, per unit learning rate (Adam: ≈ 1 when ε ≪ |g|)."""
    prep = prepare(cfg)
    theta, div, *_ = execute(prep)
    lay = prep.layout
    out = []
    for p, cls in enumerate(lay.classes):
        if cls == "hidden":
            d = lay.view(theta, p) - lay.view(prep.theta0, p)
            out.append(np.sqrt(np.mean(d * d)) / prep.p_lr[p])
    return np.array(out)


def test_default_eps_is_the_same_for_every_parameter_and_leaves_the_config_key_unchanged():
    cfg = _cfg(width=256)
    assert np.all(prepare(cfg).p_eps == cfg.eps)
    assert "eps_rule" not in cfg.to_dict()
    assert cfg.key() != _cfg(width=256, eps_rule="derived").key()


def test_derived_eps_at_the_base_width_runs_bit_identical_to_the_default():
    a, b = _cfg(), _cfg(eps_rule="derived")
    pa, pb = prepare(a), prepare(b)
    assert np.array_equal(pa.p_eps, pb.p_eps)
    ta = execute(pa)[0]
    tb = execute(pb)[0]
    assert np.array_equal(ta, tb)


def test_derived_eps_keeps_the_update_size_width_invariant_where_constant_eps_does_not():
    # ε comparable to the gradient at the base width; at 16× the width μP's hidden gradients are 16× smaller
    const = _hidden_update_per_lr(_cfg(width=1024)) / _hidden_update_per_lr(_cfg())
    derived = _hidden_update_per_lr(_cfg(width=1024, eps_rule="derived")) / _hidden_update_per_lr(
        _cfg(eps_rule="derived")
    )
    assert np.all(const < 0.8), const
    assert np.all(np.abs(derived - 1) < 0.1), derived


def test_eps_rule_is_refused_for_optimizers_without_adam_eps():
    with pytest.raises(MupsimError, match="eps_rule"):
        _cfg(optimizer="sgd", eps_rule="derived")
    with pytest.raises(MupsimError, match="eps rule"):
        _cfg(eps_rule="sqrt")

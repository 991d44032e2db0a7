"""Adam ε exponents and the depth rules (relative branch multiplier, ε and weight decay in depth)."""

import math

import pytest

import mupsim
from mupsim import MupsimError


def test_eps_scales_like_the_raw_gradient_a_plus_g():
    e = mupsim.exponents("mup", "adam")  # canonical gauge a = (-1/2, 0, 1/2), g = 1
    assert [e.layers[l].eps for l in ("embedding", "hidden", "readout", "bias")] == [0.5, 1, 0.5, 1]


def test_eps_is_gauge_covariant_like_the_multiplier():
    base = mupsim.exponents("mup", "adam")
    moved = mupsim.exponents("mup", "adam", multipliers=(0, 0, 1))
    for l in ("embedding", "hidden"):
        assert (
            moved.layers[l].eps - base.layers[l].eps == moved.layers[l].multiplier - base.layers[l].multiplier
        )


@pytest.mark.parametrize("optimizer", ["sgd", "lion", "adafactor"])
def test_optimizers_without_an_adam_eps_serve_none(optimizer):
    e = mupsim.exponents("mup", optimizer)
    assert all(x.eps is None for x in e.layers.values())


def test_muon_serves_eps_only_for_its_adam_trained_parameters():
    e = mupsim.exponents("mup", "muon")
    assert e.layers["hidden"].eps is None and e.layers["embedding"].eps is not None


def test_transfer_scales_eps_with_width_and_block_eps_with_depth():
    s = mupsim.transfer(
        256, 1024, 1e-3, eps=1e-8, multipliers=(0, 0, 1), depth_rule="completep", base_depth=4, depth=16
    )
    assert math.isclose(s.layers["embedding"].eps, 1e-8 / 4)
    assert math.isclose(s.layers["readout"].eps, 1e-8 / 4)
    assert math.isclose(s.layers["hidden"].eps, 1e-8 / 4 / 4)


def test_branch_multiplier_is_one_at_the_base_depth_and_relative_elsewhere():
    kw = dict(depth_rule="completep", base_depth=4)
    assert mupsim.transfer(256, 256, 1e-3, depth=4, **kw).branch_multiplier == 1.0
    assert math.isclose(mupsim.transfer(256, 256, 1e-3, depth=16, **kw).branch_multiplier, 0.25)


@pytest.mark.parametrize("rule", ["depth_mup", "completep"])
def test_timescale_rule_keeps_lr_times_wd_fixed_across_width_and_depth(rule):
    kw = dict(wd_rule="timescale", depth_rule=rule, base_depth=4, multipliers=(0, 0, 1))
    base = mupsim.transfer(256, 256, 1e-3, 1.0, depth=4, **kw).layers["hidden"]
    big = mupsim.transfer(256, 1024, 1e-3, 1.0, depth=16, **kw).layers["hidden"]
    assert math.isclose(base.lr * base.wd, big.lr * big.wd)


def test_steady_state_rules_keep_lr_over_wd_fixed_in_depth():
    kw = dict(wd_rule="fan2025", depth_rule="depth_mup", base_depth=4, multipliers=(0, 0, 1))
    a = mupsim.transfer(256, 256, 1e-3, 1.0, depth=4, **kw).layers["hidden"]
    b = mupsim.transfer(256, 256, 1e-3, 1.0, depth=16, **kw).layers["hidden"]
    assert math.isclose(a.lr / a.wd, b.lr / b.wd)


@pytest.mark.parametrize("alpha,c", [("1/2", "1/2"), ("3/4", "1/4"), (1, 0)])
def test_general_completep_alpha_gives_block_lr_exponent_one_minus_alpha(alpha, c):
    from fractions import Fraction

    d = mupsim.exponents("mup", "adamw", depth_rule="completep", depth_alpha=alpha).depth
    assert d["branch_multiplier"] == Fraction(alpha) and d["hidden_lr"] == Fraction(c)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(depth_rule="completep", depth_alpha="1/4"), "alpha_L"),
        (dict(depth_rule="depth_mup", depth_alpha="3/4"), "completep"),
        (dict(depth_alpha="3/4"), "depth_rule"),
    ],
)
def test_depth_inputs_outside_the_assumptions_are_refused(kwargs, match):
    with pytest.raises(MupsimError, match=match):
        mupsim.exponents("mup", "adamw", **kwargs)

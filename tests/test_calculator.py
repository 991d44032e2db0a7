"""The calculator: exponents derived from the theory, served per layer."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mupsim
from mupsim import MupsimError
from mupsim.theory import optimizers
from mupsim.theory.layers import MATRIX_LAYERS

GAUGE_K = {"sgd": 2, "adam": 1, "adamw": 1, "lion": 1, "muon": 1, "adafactor": 0}
thetas = st.fractions(min_value=-2, max_value=2, max_denominator=8)


def _shifted(e, theta):
    L = e.layers
    return [
        L["embedding"].multiplier + theta,
        L["hidden"].multiplier + theta,
        L["readout"].multiplier + theta,
    ]


def test_exponents_are_exact_fractions():
    e = mupsim.exponents("mup", "adam")
    for layer in e.layers.values():
        assert isinstance(layer.lr, Fraction) and isinstance(layer.init_std, Fraction)


@pytest.mark.parametrize("optimizer", sorted(GAUGE_K))
@pytest.mark.parametrize("parameterization", ["sp", "ntk", "mup", "mfp"])
@settings(max_examples=15, deadline=None)
@given(theta=thetas)
def test_gauge_shift_moves_b_and_c_by_minus_theta_and_minus_k_theta(parameterization, optimizer, theta):
    base = mupsim.exponents(parameterization, optimizer)
    moved = mupsim.exponents(parameterization, optimizer, multipliers=_shifted(base, theta))
    k = GAUGE_K[optimizer]
    for l in MATRIX_LAYERS:
        assert moved.layers[l].init_std == base.layers[l].init_std - theta
        assert moved.layers[l].lr == base.layers[l].lr - k * theta


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adafactor", "lion"])
@settings(max_examples=15, deadline=None)
@given(theta=thetas)
def test_forward_and_update_scales_are_gauge_invariant(optimizer, theta):
    opt = optimizers.get(optimizer)
    base = mupsim.exponents("mup", optimizer)
    moved = mupsim.exponents("mup", optimizer, multipliers=_shifted(base, theta))

    def scales(e):
        L = e.layers
        g = L["readout"].multiplier + L["readout"].init_std
        out = []
        for l in MATRIX_LAYERS:
            x = L[l]
            gamma = 0 if l == "readout" else g
            out.append(
                (
                    x.multiplier + x.init_std,
                    optimizers.entry_exponent(opt.kind, x.multiplier, x.init_std, x.lr, gamma),
                )
            )
        return out

    assert scales(moved) == scales(base)


@pytest.mark.parametrize("rule", ["constant", "timescale", "fan2025"])
@settings(max_examples=10, deadline=None)
@given(theta=thetas)
def test_gauge_shift_keeps_per_step_decay_for_steady_state_rules(rule, theta):
    base = mupsim.exponents("mup", "adamw", wd_rule=rule)
    moved = mupsim.exponents("mup", "adamw", multipliers=_shifted(base, theta), wd_rule=rule)
    if rule == "constant":  # constant λ is not a gauge-covariant rule: it is the same number in every gauge
        assert all(moved.layers[l].wd == 0 for l in MATRIX_LAYERS)
        return
    for l in MATRIX_LAYERS:
        if base.layers[l].wd is None:
            assert moved.layers[l].wd is None
            continue
        assert moved.layers[l].lr + moved.layers[l].wd == base.layers[l].lr + base.layers[l].wd


def test_fan2025_gives_sqrt_width_decay_on_hidden_matrices_under_mup_adamw():
    e = mupsim.exponents("mup", "adamw", multipliers=(0, 0, 1), wd_rule="fan2025")
    assert e.layers["hidden"].lr == 1 and e.layers["hidden"].wd == Fraction(-1, 2)


@pytest.mark.parametrize("alpha,expected", [("1/2", 0), ("3/4", Fraction(-1, 2)), ("1", -1)])
def test_alignment_rule_gives_lambda_proportional_to_n_to_2alpha_minus_1(alpha, expected):
    e = mupsim.exponents("mup", "adamw", wd_rule="alignment", alignment_exponent=alpha)
    assert e.layers["hidden"].wd == expected


def test_timescale_rule_keeps_lr_times_wd_constant():
    e = mupsim.exponents("mup", "adamw", wd_rule="timescale")
    assert all(e.layers[l].lr + e.layers[l].wd == 0 for l in MATRIX_LAYERS)


def test_vector_like_parameters_get_no_decay_under_every_rule():
    for rule in ("constant", "fan2025", "timescale"):
        e = mupsim.exponents("mup", "adamw", wd_rule=rule)
        assert e.layers["bias"].wd is None and e.layers["norm_gain"].wd is None


def test_no_wd_rule_means_no_wd_exponents():
    assert all(x.wd is None for x in mupsim.exponents("mup", "adamw").layers.values())


def test_steady_state_rule_is_refused_for_adafactor_with_allowed_rules_named():
    with pytest.raises(MupsimError, match="constant, timescale"):
        mupsim.exponents("mup", "adafactor", wd_rule="fan2025")


def test_alignment_rule_without_exponent_is_refused():
    with pytest.raises(MupsimError, match="alignment exponent"):
        mupsim.exponents("mup", "adamw", wd_rule="alignment")


def test_completep_keeps_adam_block_lr_constant_in_depth():
    d = mupsim.exponents("mup", "adamw", depth_rule="completep").depth
    assert d["branch_multiplier"] == 1 and d["hidden_lr"] == 0


def test_depth_mup_scales_adam_block_lr_as_inverse_sqrt_depth():
    d = mupsim.exponents("mup", "adamw", depth_rule="depth_mup").depth
    assert d["branch_multiplier"] == Fraction(1, 2) and d["hidden_lr"] == Fraction(1, 2)


def test_explain_lists_assumptions_and_steps():
    text = mupsim.exponents("mup", "adamw", wd_rule="fan2025").explain()
    assert "Assumptions" in text and "Spectral condition" in text


# ---------------------------------------------------------------- transfer


def test_transfer_at_base_width_returns_base_settings():
    s = mupsim.transfer(64, 64, 3e-3, 0.1, wd_rule="timescale", base_multiplier=2.0, base_init_std=0.5)
    for l, x in s.layers.items():
        assert x.lr == pytest.approx(3e-3)
        assert x.multiplier == pytest.approx(2.0) and x.init_std == pytest.approx(0.5)
        assert x.wd == pytest.approx(0.0 if l in ("bias", "norm_gain") else 0.1)


def test_fan2025_decays_only_hidden_matrices():
    s = mupsim.transfer(64, 256, 3e-3, 0.1, wd_rule="fan2025", multipliers=(0, 0, 1))
    assert s.layers["hidden"].wd == pytest.approx(0.2)
    assert all(s.layers[l].wd == 0.0 for l in ("embedding", "readout", "bias", "norm_gain"))


def test_transfer_hidden_lr_scales_inversely_with_width_under_mup_adam():
    s = mupsim.transfer(64, 1024, 1e-3, parameterization="mup", optimizer="adam")
    assert s.layers["hidden"].lr == pytest.approx(1e-3 / 16)


@settings(max_examples=30, deadline=None)
@given(
    n0=st.integers(1, 4096),
    k1=st.integers(1, 64),
    k2=st.integers(1, 64),
    rule=st.sampled_from(["constant", "fan2025", "timescale"]),
)
def test_transfer_composes(n0, k1, k2, rule):
    n1, n2 = n0 * k1, n0 * k1 * k2
    direct = mupsim.transfer(n0, n2, 1e-3, 0.1, wd_rule=rule)
    first = mupsim.transfer(n0, n1, 1e-3, 0.1, wd_rule=rule)
    for l, x in first.layers.items():
        second = mupsim.transfer(
            n1,
            n2,
            x.lr,
            x.wd if x.wd > 0 else 0.1,
            wd_rule=rule,
            base_multiplier={l: x.multiplier},
            base_init_std={l: x.init_std},
        )
        y, z = second.layers[l], direct.layers[l]
        assert y.lr == pytest.approx(z.lr, rel=1e-12)
        assert y.multiplier == pytest.approx(z.multiplier, rel=1e-12)
        assert y.init_std == pytest.approx(z.init_std, rel=1e-12)
        if x.wd > 0:
            assert y.wd == pytest.approx(z.wd, rel=1e-12)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(base_width=0, width=64, lr=1e-3), "base width must be a positive integer"),
        (dict(base_width=64, width=64.5, lr=1e-3), "width must be a positive integer"),
        (dict(base_width=64, width=128, lr=-1.0), "lr must be non-negative"),
        (dict(base_width=64, width=128, lr=1e-3, wd=-0.1, wd_rule="constant"), "wd must be non-negative"),
        (dict(base_width=64, width=128, lr=1e-3, wd=0.1), "needs a weight-decay rule"),
        (dict(base_width=64, width=128, lr=1e-3, multipliers=(0, 0)), "3 exponents"),
        (dict(base_width=64, width=128, lr=1e-3, optimizer="rmsprop"), "allowed: sgd, adam"),
        (dict(base_width=64, width=128, lr=1e-3, parameterization="xyz"), "allowed: sp, ntk, mup, mfp"),
        (dict(base_width=64, width=128, lr=1e-3, alignment="partial"), "allowed: full, none"),
        (dict(base_width=64, width=128, lr=1e-3, wd_rule="linear"), "allowed: constant, fan2025"),
        (dict(base_width=64, width=128, lr=1e-3, depth=4), "depth transfer needs"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(kwargs, match):
    with pytest.raises(MupsimError, match=match):
        mupsim.transfer(**kwargs)


def test_global_lr_baseline_gives_every_layer_the_base_lr_at_every_width():
    s = mupsim.transfer(64, 1024, 1e-3, parameterization="sp", optimizer="adam", global_lr=True)
    assert all(x.lr == 1e-3 for x in s.layers.values())
    assert s.to_dict()["global_lr"] is True


def test_exponent_strings_are_parsed_as_numbers_never_evaluated(tmp_path):
    marker = tmp_path / "evaluated"
    payload = f"__import__('pathlib').Path({str(marker)!r}).touch() or 1"
    for kwargs in (dict(alignment=payload), dict(multipliers=(payload, 0, 1))):
        with pytest.raises(MupsimError):
            mupsim.exponents("mup", "adamw", **kwargs)
    assert not marker.exists()


def test_fraction_strings_are_accepted_as_exponents():
    e = mupsim.exponents("mup", "adamw", alignment="2/3", multipliers=("1/2", "0", "1"))
    assert e.alignment == "2/3" and e.layers["embedding"].multiplier == Fraction(1, 2)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(base_width=1, width=10**400, lr=1e-3), "up to 2\\^40"),
        (dict(base_width=64, width=1024, lr=1e-3, multipliers=(-1000, 0, 1)), "within"),
        (dict(base_width=64, width=2**40, lr=1e308, parameterization="sp", optimizer="sgd"), "overflow"),
        (dict(base_width=64, width=128, lr=1e-3, wd=0.1, wd_rule="timescale", global_lr=True), "global_lr"),
        (dict(base_width=64, width=128, lr=1e-3, depth_rule="completep"), "depth transfer needs"),
        (
            dict(base_width=64, width=128, lr=1e-3, wd=0.1, wd_rule="fan2025", alignment_exponent=0.9),
            "only used by wd rule 'alignment'",
        ),
    ],
)
def test_out_of_range_or_conflicting_options_are_refused(kwargs, match):
    with pytest.raises(MupsimError, match=match):
        mupsim.transfer(**kwargs)


def test_numpy_integer_valued_widths_are_accepted():
    import numpy as np

    s = mupsim.transfer(np.int64(64), np.float32(1024), 1e-3)
    assert s.width == 1024


def test_editing_a_returned_result_does_not_change_later_answers():
    e = mupsim.exponents("mup", "adamw")
    e.layers["hidden"] = None
    assert mupsim.exponents("mup", "adamw").layers["hidden"] is not None


def test_adam_l2_decay_is_refused_for_steady_state_rules():
    with pytest.raises(MupsimError, match="adamw, lion, muon"):
        mupsim.exponents("mup", "adam", wd_rule="fan2025")


@pytest.mark.parametrize(
    "call",
    [
        lambda: mupsim.steady_state.equilibrium_rms(0.6, 1e-3, 0.1, beta1=1.0),
        lambda: mupsim.steady_state.equilibrium_rms(0.6, float("nan"), 0.1),
        lambda: mupsim.steady_state.equilibrium_rms(0.6, 10.0, 0.5, exact=True),
        lambda: mupsim.steady_state.relaxation_time(10.0, 0.2, exact=True),
    ],
)
def test_steady_state_predictions_refuse_invalid_inputs(call):
    with pytest.raises(MupsimError):
        call()

"""SimConfig: validation messages, normalisation, (de)serialisation, key()."""

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mupsim.errors import MupsimError
from mupsim.sim.config import SimConfig


def _rejects(match, **kw):
    with pytest.raises(MupsimError, match=match):
        SimConfig(**kw)


def test_defaults_match_contract():
    c = SimConfig()
    assert (c.model, c.width, c.base_width, c.input_dim, c.output_dim) == ("normalized", 128, 64, 16, 1)
    assert (c.optimizer, c.lr, c.wd, c.wd_mode, c.beta2) == ("adamw", 1e-3, 0.0, "coupled", 0.95)
    assert (c.n_logs, c.divergence_bound, c.dtype, c.seed) == (40, 1e6, "float64", 0)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SimConfig().width = 3


def test_mupsim_error_is_a_value_error():
    with pytest.raises(ValueError):
        SimConfig(width=0)


def test_negative_lr_is_rejected_with_field_name():
    _rejects(r"lr=-0\.1 .*allowed", lr=-0.1)


def test_negative_wd_is_rejected_with_field_name():
    _rejects(r"^wd=-1\.0", wd=-1.0)


def test_nan_lr_is_rejected():
    _rejects("lr=nan", lr=float("nan"))


@pytest.mark.parametrize(
    "field",
    [
        "width",
        "base_width",
        "input_dim",
        "output_dim",
        "depth",
        "ffn_ratio",
        "teacher_width",
        "n_test",
        "batch_size",
        "steps",
    ],
)
def test_non_positive_integer_fields_are_rejected(field):
    _rejects(f"{field} must be an integer >= 1; got 0", **{field: 0})


def test_non_integer_width_is_rejected():
    _rejects(r"width must be an integer >= 1; got 1\.5", width=1.5)


def test_bool_width_is_rejected():
    _rejects("width must be an integer", width=True)


def test_string_width_is_rejected():
    _rejects("width must be an integer", width="128")


def test_integral_float_and_numpy_ints_are_normalised_to_int():
    c = SimConfig(width=np.int64(256), steps=100.0)
    assert type(c.width) is int and type(c.steps) is int and c.width == 256


@pytest.mark.parametrize(
    "field,value,allowed",
    [
        ("model", "mlp", "normalized, linear"),
        ("optimizer", "adafactor", "sgd, adam, adamw, lion, signsgd, muon"),
        ("norm", "batch", "rms, layer, none"),
        ("activation", "tanh", "relu, gelu"),
        ("schedule", "linear", "constant, cosine, wsd"),
        ("task", "lm", "regression, classification"),
        ("dtype", "float16", "float32, float64"),
        ("wd_mode", "decoupled", "coupled, independent"),
        ("norm_position", "mid", "pre, post, both"),
        ("parameterization", "mupp", "sp, ntk, mup, mfp"),
        ("alignment", "partial", "full, none, or a number in \\[0.5, 1\\]"),
        ("wd_rule", "sqrt", "constant, fan2025, timescale, alignment"),
    ],
)
def test_unknown_choice_is_rejected_listing_allowed(field, value, allowed):
    _rejects(f"unknown {field} '{value}'; allowed: {allowed}", **{field: value})


def test_choice_spelling_is_normalised():
    c = SimConfig(optimizer="AdamW", wd_mode="Independent", parameterization="MUP")
    assert (c.optimizer, c.wd_mode, c.parameterization) == ("adamw", "independent", "mup")


def test_wd_rule_none_string_means_none():
    assert SimConfig(wd_rule="none").wd_rule is None
    assert SimConfig(wd_rule="Fan2025").wd_rule == "fan2025"


@pytest.mark.parametrize("field", ["beta1", "beta2", "momentum"])
def test_betas_must_be_in_unit_interval_half_open(field):
    _rejects(f"{field}=1.0 is out of range; allowed: finite values in \\[0.0, 1.0\\)", **{field: 1.0})
    _rejects(f"{field}=-0.1", **{field: -0.1})
    assert getattr(SimConfig(**{field: 0.0}), field) == 0.0


def test_teacher_rank_above_teacher_width_is_rejected():
    _rejects("teacher_rank=65 exceeds teacher_width=64", teacher_rank=65)


def test_n_train_below_batch_size_is_rejected():
    _rejects("n_train=100 is smaller than batch_size=128", n_train=100)


def test_warmup_longer_than_training_is_rejected():
    _rejects("warmup_steps=11 exceeds steps=10", steps=10, warmup_steps=11)


def test_norm_gain_without_norm_is_rejected():
    _rejects("norm_gain=True needs a normalization layer but norm='none'", norm="none", norm_gain=True)


def test_alignment_exponent_outside_half_to_one_is_rejected():
    _rejects(r"alignment_exponent=0\.4 .*\[0\.5, 1\.0\]", alignment_exponent=0.4)
    _rejects("alignment_exponent=1.2", alignment_exponent=1.2)
    assert SimConfig(alignment_exponent=0.75, wd_rule="alignment").alignment_exponent == 0.75


def test_multipliers_of_wrong_length_are_rejected():
    _rejects(r"multipliers must be None or 3 numbers \(input, hidden, output\)", multipliers=(1.0, 2.0))


def test_multipliers_are_exponents_so_zero_and_negative_are_allowed():
    assert SimConfig(multipliers=(0, -0.5, 1)).multipliers == (0.0, -0.5, 1.0)


def test_non_finite_multiplier_exponent_is_rejected():
    _rejects(r"multipliers\[2\]", multipliers=(0.0, 0.0, float("nan")))


def test_multipliers_list_is_stored_as_float_tuple():
    assert SimConfig(multipliers=[1, 2, 0.5]).multipliers == (1.0, 2.0, 0.5)


def test_classification_needs_at_least_two_outputs():
    _rejects("task='classification' needs output_dim >= 2", task="classification")


def test_non_bool_flag_is_rejected():
    _rejects("bias must be true or false", bias="yes")


def test_n_logs_below_two_is_rejected():
    _rejects("n_logs must be an integer >= 2", n_logs=1)


def test_to_dict_is_json_and_round_trips():
    c = SimConfig(width=256, multipliers=(1, 2, 3), wd_rule="fan2025", n_train=512)
    d = json.loads(json.dumps(c.to_dict()))
    assert d["multipliers"] == [1.0, 2.0, 3.0]
    assert SimConfig.from_dict(d) == c


def test_from_dict_rejects_unknown_keys_listing_valid_ones():
    with pytest.raises(
        MupsimError, match=r"unknown SimConfig field\(s\) 'widht'; valid fields: model, width"
    ):
        SimConfig.from_dict({"widht": 3})


def test_replace_revalidates_and_rejects_unknown_fields():
    c = SimConfig()
    assert c.replace(width=512).width == 512
    with pytest.raises(MupsimError, match="lr="):
        c.replace(lr=-1.0)
    with pytest.raises(MupsimError, match="unknown SimConfig field"):
        c.replace(learning_rate=1.0)


def test_key_is_stable_short_hex():
    k = SimConfig().key()
    assert k == SimConfig().key() and len(k) == 16 and int(k, 16) >= 0
    # changing this breaks resuming old sweeps: bump knowingly (task-family fields, simulator v3)
    assert k == "56ace615fee801cb"


def test_key_ignores_spelling_and_int_float_differences():
    assert SimConfig(optimizer="AdamW", lr=1).key() == SimConfig(optimizer="adamw", lr=1.0).key()


def test_key_differs_when_any_field_differs():
    assert SimConfig(seed=1).key() != SimConfig(seed=2).key()


@settings(max_examples=50, deadline=None)
@given(
    width=st.integers(1, 4096),
    lr=st.floats(0, 10),
    wd=st.floats(0, 10),
    b1=st.floats(0, 0.999),
    opt=st.sampled_from(["sgd", "adam", "adamw", "lion", "signsgd", "muon"]),
    mult=st.none() | st.tuples(*[st.floats(-3, 3)] * 3),
)
def test_round_trip_through_json_preserves_config_and_key(width, lr, wd, b1, opt, mult):
    c = SimConfig(
        width=width,
        lr=lr,
        wd=wd,
        beta1=b1,
        optimizer=opt,
        multipliers=mult,
        wd_rule="constant" if wd > 0 else None,
    )
    c2 = SimConfig.from_dict(json.loads(json.dumps(c.to_dict())))
    assert c2 == c and c2.key() == c.key()


def test_alignment_accepts_an_exponent_in_half_to_one():
    assert SimConfig(alignment=0.75).alignment == 0.75
    assert SimConfig(alignment="0.75").alignment == 0.75
    assert SimConfig(alignment="Full").alignment == "full"
    _rejects(r"alignment=0\.3 is out of range", alignment=0.3)


def test_tau_epoch_rule_is_refused_with_the_reason():
    with pytest.raises(MupsimError, match="batch size and dataset size"):
        SimConfig(wd=0.1, wd_rule="tau_epoch")


def test_rms_muon_convention_is_refused_when_a_fixed_side_exceeds_the_width():
    with pytest.raises(MupsimError, match="exceeds the width"):
        SimConfig(optimizer="muon_all", muon_convention="rms", input_dim=512, width=128, base_width=64)
    SimConfig(optimizer="muon_all", muon_convention="rms", input_dim=16, width=128, base_width=64)


def test_eps_rule_is_accepted_for_every_optimizer_with_an_adam_part():
    for opt in ("adam", "adamw", "muon", "muon_all"):
        SimConfig(optimizer=opt, eps_rule="derived")
    with pytest.raises(MupsimError, match="has none"):
        SimConfig(optimizer="lion", eps_rule="derived")


def test_alignment_given_as_a_fraction_is_the_same_config_as_its_float():
    a, b = SimConfig(alignment="3/4"), SimConfig(alignment=0.75)
    assert a == b and a.key() == b.key()

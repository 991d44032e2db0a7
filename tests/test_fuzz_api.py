"""Hypothesis against the Python API: any input gives a valid answer or a MupsimError.

Never another exception, never a silent wrong answer: what SimConfig accepts fits the memory
limit and the seed range and is accepted by the calculator (so it fails only in ways a run
records); what the calculator returns is finite; steady-state predictions of accepted inputs
are finite and non-negative. Nothing is simulated.
"""

import json
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import mupsim
from mupsim import steady_state as ss
from mupsim.errors import MupsimError, MupsimWarning
from mupsim.sim import limits
from mupsim.sim.config import SimConfig
from mupsim.sim.settings import settings_for

FAST = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)

# ------------------------------------------------------------------------ value strategies
huge_ints = st.integers(-(2**70), 2**70) | st.sampled_from([2**63 - 1, 2**63, 2**64, 10**400, -(2**63)])
any_float = st.floats(allow_nan=True, allow_infinity=True)
junk = (
    st.none()
    | st.booleans()
    | huge_ints
    | any_float
    | st.text(max_size=6)
    | st.lists(st.integers(-3, 3), max_size=4)
    | st.just(object())
)

PLAUSIBLE = {
    "model": st.sampled_from(["normalized", "linear", "Linear", "cnn"]),
    "width": st.integers(1, 4096) | st.sampled_from([0, 2**62, 10**6]),
    "base_width": st.integers(1, 512),
    "input_dim": st.integers(1, 64),
    "output_dim": st.integers(1, 8),
    "depth": st.integers(1, 8) | st.just(10**8),
    "ffn_ratio": st.integers(1, 4),
    "activation": st.sampled_from(["relu", "gelu", "tanh"]),
    "norm": st.sampled_from(["rms", "layer", "none"]),
    "norm_position": st.sampled_from(["pre", "post", "both"]),
    "norm_gain": st.booleans(),
    "bias": st.booleans(),
    "branch_multiplier": st.floats(0, 2),
    "task": st.sampled_from(["regression", "classification"]),
    "teacher_width": st.integers(1, 128),
    "teacher_rank": st.none() | st.integers(1, 128),
    "label_noise": st.floats(0, 1),
    "n_train": st.none() | st.integers(1, 10**12),
    "n_test": st.integers(1, 4096),
    "batch_size": st.integers(1, 512),
    "steps": st.integers(1, 10**9),
    "optimizer": st.sampled_from(["sgd", "adam", "adamw", "lion", "signsgd", "muon"]),
    "lr": st.floats(0, 10) | st.sampled_from([1e308, 10**400]),
    "wd": st.floats(0, 10) | st.just(0.0),
    "wd_mode": st.sampled_from(["coupled", "independent"]),
    "momentum": st.floats(0, 1),
    "beta1": st.floats(0, 1),
    "beta2": st.floats(0, 1),
    "eps": st.floats(0, 1e-3),
    "schedule": st.sampled_from(["constant", "cosine", "wsd"]),
    "warmup_steps": st.integers(0, 100),
    "decay_fraction": st.floats(0, 1),
    "parameterization": st.sampled_from(["sp", "ntk", "mup", "mfp"]),
    "alignment": st.sampled_from(["full", "none", 0.5, 0.75, 1.0, "0.6", 2.0]),
    "multipliers": st.none() | st.tuples(*[st.floats(-20, 20)] * 3) | st.tuples(*[st.integers(-2, 2)] * 3),
    "wd_rule": st.none() | st.sampled_from(["constant", "fan2025", "timescale", "alignment", "none"]),
    "io_wd_rule": st.none()
    | st.sampled_from(["constant", "fan2025", "timescale", "alignment", "none", "tau_epoch"]),
    "alignment_exponent": st.none() | st.floats(0, 1.5),
    "depth_rule": st.none() | st.sampled_from(["depth_mup", "completep"]),
    "base_depth": st.integers(1, 8),
    "global_lr": st.booleans(),
    "dtype": st.sampled_from(["float32", "float64"]),
    "seed": st.integers(0, 2**64) | st.just(2**63 - 1) | st.just(2**63),
    "n_logs": st.integers(2, 2000),
    "divergence_bound": st.floats(0, 1e300),
    "rank_metrics": st.booleans(),
}
FIELDS = SimConfig.field_names()


config_dicts = st.fixed_dictionaries({}, optional={f: PLAUSIBLE.get(f, junk) for f in FIELDS})
junk_dicts = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), junk, max_size=4)


def _accepted_config_is_sound(c: SimConfig) -> None:
    assert 0 <= c.seed <= 2**63 - 1
    assert limits.estimate_bytes(c) <= limits.max_bytes()
    assert c.steps <= limits.MAX_STEPS and c.n_logs <= limits.MAX_LOGS
    s = settings_for(c)  # the calculator accepts it: a run cannot fail on its rules
    assert all(math.isfinite(v) for x in s.layers.values() for v in x.to_dict().values() if v is not None)
    again = SimConfig.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again == c and again.key() == c.key()


def _sound_or_a_mupsim_error(make) -> None:
    """``make()`` either refuses with a MupsimError or gives a config that is sound."""
    try:
        c = make()
    except MupsimError:
        return
    _accepted_config_is_sound(c)


@FAST
@given(d=config_dicts)
def test_plausible_config_is_sound_or_a_mupsim_error(d):
    _sound_or_a_mupsim_error(lambda: SimConfig.from_dict(d))


@FAST
@given(d=junk_dicts)
def test_junk_config_is_sound_or_a_mupsim_error(d):
    _sound_or_a_mupsim_error(lambda: SimConfig.from_dict(d))


@FAST
@given(field=st.sampled_from(FIELDS), value=junk)
def test_replace_with_junk_is_sound_or_a_mupsim_error(field, value):
    _sound_or_a_mupsim_error(lambda: SimConfig(width=8, steps=10).replace(**{field: value}))


@pytest.mark.parametrize(
    "kw,needle",
    [
        (dict(seed=2**70), "0..2^63-1"),
        (dict(seed=2**63), "0..2^63-1"),
        (dict(width=2**62), "over the limit"),
        (dict(wd=0.1), "needs a weight-decay rule"),
        (dict(alignment_exponent=0.8), "only used by wd rule 'alignment'"),
        (dict(width=1, norm="layer"), "needs width >= 2"),
        (dict(steps=10**12), "steps="),
        (dict(n_logs=10**9), "n_logs="),
        (dict(lr=10**400), "lr=inf"),
    ],
)
def test_config_that_would_fail_at_run_time_is_refused_at_construction(kw, needle):
    with pytest.raises(MupsimError, match=needle.replace("^", r"\^").replace("(", r"\(")):
        SimConfig(**kw)


def test_largest_seed_is_accepted():
    assert SimConfig(seed=2**63 - 1).seed == 2**63 - 1


def test_memory_estimate_counts_the_layout_exactly():
    from mupsim.sim.layout import build_layout

    for kw in (
        dict(),
        dict(model="linear", depth=3),
        dict(bias=True, norm_gain=True, depth=2, ffn_ratio=3, norm_position="pre"),
    ):
        c = SimConfig(width=12, **kw)
        assert limits.n_params(c) == build_layout(c).size


def test_memory_message_names_a_width_that_fits():
    with pytest.raises(MupsimError, match=r"widths up to (\d+) fit") as e:
        SimConfig(width=10**6)
    w = int(e.value.args[0].split("widths up to ")[1].split()[0])
    SimConfig(width=w)
    with pytest.raises(MupsimError):
        SimConfig(width=w + 1)


# ------------------------------------------------------------------------ sweep specs
@FAST
@given(sizes=st.lists(st.integers(1, 400), min_size=1, max_size=6))
def test_spec_is_counted_before_expanding(sizes):
    from mupsim.sim.sweep import expand_spec, spec_size

    names = ["seed", "width", "depth", "steps", "n_test", "batch_size"]
    spec = {"base": {"width": 8}, "grid": {f: list(range(1, n + 1)) for f, n in zip(names, sizes)}}
    n = math.prod(sizes)
    assert spec_size(spec) == n
    if n > limits.MAX_SWEEP_CONFIGS:
        with pytest.raises(MupsimError, match="over the limit"):
            expand_spec(spec)


# ------------------------------------------------------------------------ calculator
rule_args = st.fixed_dictionaries(
    {},
    optional={
        "parameterization": st.sampled_from(["sp", "ntk", "mup", "mfp", "xyz"]) | junk,
        "optimizer": st.sampled_from(["sgd", "adam", "adamw", "adafactor", "lion", "muon"]) | junk,
        "alignment": st.sampled_from(["full", "none", "1/2", "0.75", 0.6, "3/4"]) | junk,
        "multipliers": st.sampled_from(
            ["0,0,1", "0 1,0,0", "1 6,0,0", "0,0", " 0 , 0 , 1 ", (0, 0, 1), (0.5, 0, 1)]
        )
        | junk,
        "wd_rule": st.sampled_from(["constant", "fan2025", "timescale", "alignment"]) | junk,
        "alignment_exponent": st.sampled_from([0.5, 0.75, 1, "3/4", 0.3]) | junk,
    },
)


@FAST
@given(kw=rule_args)
def test_exponents_answer_or_mupsim_error(kw):
    try:
        e = mupsim.exponents(**kw)
    except MupsimError:
        return
    for x in e.layers.values():
        for v in (x.multiplier, x.init_std, x.lr, x.wd):
            assert v is None or abs(v) <= 64


@FAST
@given(
    kw=rule_args,
    n0=st.integers(-4, 4096) | junk,
    n=st.integers(-4, 2**41) | junk,
    lr=st.floats(0, 1) | junk,
    wd=st.floats(0, 1) | junk,
    base=st.none() | st.floats(0, 10) | junk,
)
def test_transfer_answers_finite_settings_or_mupsim_error(kw, n0, n, lr, wd, base):
    try:
        s = mupsim.transfer(n0, n, lr, wd, base_multiplier=base, **kw)
    except MupsimError:
        return
    for x in s.layers.values():
        assert all(math.isfinite(v) and v >= 0 for v in x.to_dict().values() if v is not None)


@FAST
@given(text=st.text(alphabet="0123456789 ,./-e", max_size=12))
def test_transfer_and_simulate_read_multipliers_alike(text):
    """The same --multipliers string is refused by both or read as the same exponents."""
    import argparse

    from mupsim.sim.cli import add_subcommands, config_from_args

    assume(not text.strip().startswith("-"))  # argparse would take it for an option
    p = argparse.ArgumentParser()
    add_subcommands(p.add_subparsers())
    try:
        calc = tuple(float(m) for m in mupsim.theory.parameterizations.parse_multipliers(text))
    except MupsimError:
        calc = "refused"
    try:
        sim = config_from_args(p.parse_args(["simulate", "--multipliers", text])).multipliers
    except MupsimError:
        sim = "refused"
    if text.strip().lower() == "none" or not text.strip(" ,"):
        return  # "none"/empty mean "no gauge" to the simulator and are refused by transfer
    assert calc == sim
    if " " in text.strip(" ,") and any(" " in p.strip() for p in text.split(",")):
        assert calc == "refused"  # never "0 1" -> 01


# ------------------------------------------------------------------------ steady state
num = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10, 10) | junk
pos = st.floats(1e-6, 2.0)


@FAST
@given(u=num | pos, lr=num | pos, wd=num | pos, b1=num | st.floats(0, 0.999), exact=st.booleans())
def test_steady_state_answers_or_mupsim_error(u, lr, wd, b1, exact):
    calls = [
        lambda: ss.equilibrium_rms(u, lr, wd, beta1=b1, exact=exact),
        lambda: ss.relaxation_time(lr, wd, exact=exact),
        lambda: ss.angular_update(lr, wd, beta1=b1),
    ]
    for call in calls:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MupsimWarning)
            try:
                v = np.asarray(call(), float)
            except MupsimError:
                continue
        assert np.all(np.isfinite(v)) and np.all(v >= 0)


@FAST
@given(
    rms=num | st.floats(0, 10),
    fo=st.integers(-3, 2**41) | junk,
    fi=st.integers(-3, 2**41) | junk,
    alpha=num | st.floats(0.5, 1),
)
def test_sigma_max_answers_or_mupsim_error(rms, fo, fi, alpha):
    try:
        v = ss.sigma_max(rms, fo, fi, alpha)
    except MupsimError:
        return
    assert np.all(np.isfinite(v)) and np.all(v >= 0)


@pytest.mark.parametrize(
    "call,needle",
    [
        (lambda: ss.sigma_max(1.0, 64, -1, 0.75), "fan_in"),
        (lambda: ss.sigma_max(1.0, 64, 0, 0.75), "fan_in"),
        (lambda: ss.sigma_max(-1.0, 64, 64, 0.75), "rms"),
        (lambda: ss.sigma_max(1.0, 64, 64, 5), "alpha"),
        (lambda: ss.sigma_max(1.0, 64, 64, float("nan")), "alpha"),
        (lambda: ss.equilibrium_rms(update_rms=-0.6, lr=1e-3, wd=0.1), "update_rms"),
        (lambda: ss.equilibrium_rms(0.6, 1e-3, float("nan")), "wd"),
        (lambda: ss.angular_update(1, 3), "lr·wd << 1"),
        (lambda: ss.relaxation_time(1, 1), "exact=True"),
        (lambda: ss.relaxation_time(np.ones(2), np.ones(3)), "broadcastable"),
        (lambda: ss.equilibrium_rms("0.6", 1e-3, 0.1), "update_rms"),
    ],
)
def test_steady_state_refuses_inputs_outside_its_domain(call, needle):
    with pytest.raises(MupsimError, match=needle.replace("(", r"\(")):
        call()


def test_leading_order_formulas_warn_outside_their_accurate_range():
    with pytest.warns(MupsimWarning, match="off by O"):
        ss.angular_update(0.5, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ss.angular_update(1e-3, 0.1)  # lr·wd = 1e-4: no warning
        ss.relaxation_time(1.0, 1.5, exact=True)  # the exact formula holds up to 2


# ------------------------------------------------------------------------ log schedule
@settings(max_examples=200, deadline=None)
@given(steps=st.integers(1, 3000), n_logs=st.integers(2, 60))
def test_log_schedule_starts_at_0_and_ends_at_the_last_step(steps, n_logs):
    from mupsim.sim.run import log_schedule

    s = log_schedule(steps, n_logs)
    assert s[0] == 0 and s[-1] == steps and np.all(np.diff(s) > 0)
    assert s.size == min(n_logs, steps + 1)


# ------------------------------------------------------------------------ alpha, power-law fits
seq = (
    st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 5000) | junk, max_size=6) | junk
)


@FAST
@given(x=num | st.floats(0, 1) | st.lists(st.floats(0, 1), max_size=3))
def test_alpha_conversions_answer_or_mupsim_error(x):
    for f, lo, hi in (
        (mupsim.alpha_from_rank_exponent, 0.5, 1.0),
        (mupsim.rank_exponent_from_alpha, 0.0, 1.0),
    ):
        try:
            v = np.asarray(f(x), float)
        except MupsimError:
            continue
        assert np.all(np.isfinite(v)) and np.all((v >= lo) & (v <= hi))


@FAST
@given(widths=seq, values=seq)
def test_alpha_from_stable_ranks_answers_or_mupsim_error(widths, values):
    try:
        est = mupsim.alpha_from_stable_ranks(widths, values)
    except MupsimError:
        return
    assert 0.5 <= est.alpha_rule <= 1 and math.isfinite(est.rho)


@FAST
@given(
    widths=seq,
    values=seq,
    n_boot=st.integers(-1, 50) | junk,
    level=st.floats(-1, 2) | junk,
    seed=st.integers(-1, 10) | junk,
)
def test_power_law_fit_answers_or_mupsim_error(widths, values, n_boot, level, seed):
    from mupsim.analysis import power_law_fit

    try:
        fit = power_law_fit(widths, values, n_boot=n_boot, level=level, seed=seed)
    except MupsimError:
        return
    assert math.isfinite(fit.exponent) and len(fit.widths) >= 2


# ------------------------------------------------------------------------ hostile API table
# Each call is refused with a MupsimError whose message names the problem (never another
# exception, never an answer): bools where numbers are expected, sets and dicts where an
# ordered sequence is expected, text where a flag is expected, NaN/inf, integers too long to
# print, and options that would be ignored without a word.
from fractions import Fraction  # noqa: E402

from mupsim import analysis as A  # noqa: E402
from mupsim.analysis.transfer import seed_optimum  # noqa: E402

HUGE = 10**5000
T = dict(base_width=64, width=128, lr=1e-3)
HOSTILE = [
    # integers too long for str(): echoed as a digit count
    (
        "SimConfig(width=HUGE)",
        lambda: SimConfig(width=HUGE),
        "width must be an integer >= 1; got <an integer of 5001 digits>",
    ),
    ("SimConfig(seed=HUGE)", lambda: SimConfig(seed=HUGE), "beyond float range"),
    ("SimConfig(steps=HUGE)", lambda: SimConfig(steps=HUGE), "<an integer of 5001 digits>"),
    ("SimConfig(n_logs=HUGE)", lambda: SimConfig(n_logs=HUGE), "<an integer of 5001 digits>"),
    ("SimConfig(depth=HUGE)", lambda: SimConfig(depth=HUGE), "<an integer of 5001 digits>"),
    ("SimConfig(base_depth=HUGE)", lambda: SimConfig(base_depth=HUGE), "<an integer of 5001 digits>"),
    ("SimConfig(teacher_rank=HUGE)", lambda: SimConfig(teacher_rank=HUGE), "<an integer of 5001 digits>"),
    ("SimConfig(n_train=HUGE)", lambda: SimConfig(n_train=HUGE), "<an integer of 5001 digits>"),
    ("SimConfig(warmup_steps=HUGE)", lambda: SimConfig(warmup_steps=HUGE), "<an integer of 5001 digits>"),
    ("SimConfig(width=-HUGE)", lambda: SimConfig(width=-HUGE), "got -<an integer of 5001 digits>"),
    ("SimConfig(model=HUGE)", lambda: SimConfig(model=HUGE), "unknown model <an integer of 5001 digits>"),
    ("SimConfig(wd_rule=HUGE)", lambda: SimConfig(wd_rule=HUGE), "unknown wd_rule <an integer"),
    ("SimConfig(lr=HUGE)", lambda: SimConfig(lr=HUGE), "lr=inf"),
    ("SimConfig(alignment=HUGE)", lambda: SimConfig(alignment=HUGE), "alignment=inf"),
    (
        "SimConfig(multipliers=(HUGE, 0, 1))",
        lambda: SimConfig(multipliers=(HUGE, 0, 1)),
        "multipliers[0]=inf",
    ),
    ("SimConfig(width=[HUGE])", lambda: SimConfig(width=[HUGE]), "width must be an integer"),
    (
        "transfer(width=HUGE)",
        lambda: mupsim.transfer(64, HUGE, 1e-3),
        "width must be a positive integer up to 2^40, got <an integer of 5001 digits>",
    ),
    ("transfer(base_width=HUGE)", lambda: mupsim.transfer(HUGE, 64, 1e-3), "<an integer of 5001 digits>"),
    (
        "transfer(lr=HUGE)",
        lambda: mupsim.transfer(64, 128, HUGE),
        "lr must be a finite non-negative number, got <an integer",
    ),
    (
        "transfer(wd=-HUGE)",
        lambda: mupsim.transfer(64, 128, 1e-3, -HUGE),
        "wd must be a finite non-negative number",
    ),
    (
        "transfer(eps=HUGE)",
        lambda: mupsim.transfer(64, 128, 1e-3, eps=HUGE),
        "eps must be a finite non-negative number",
    ),
    (
        "transfer(steps=HUGE)",
        lambda: mupsim.transfer(**T, steps=HUGE),
        "steps must be a positive integer up to 2^40",
    ),
    (
        "transfer(tokens=HUGE)",
        lambda: mupsim.transfer(**T, tokens=HUGE, batch_size=8),
        "tokens must be a positive integer",
    ),
    (
        "transfer(depth=HUGE)",
        lambda: mupsim.transfer(**T, depth=HUGE, base_depth=1, depth_rule="completep"),
        "depth must be a positive integer",
    ),
    (
        "transfer(base_init_std=HUGE)",
        lambda: mupsim.transfer(**T, base_init_std=HUGE),
        "base_init_std must be a finite",
    ),
    (
        "transfer(base_multiplier={hidden: HUGE})",
        lambda: mupsim.transfer(**T, base_multiplier={"hidden": HUGE}),
        "base_multiplier[hidden]",
    ),
    (
        "exponents(alignment=HUGE)",
        lambda: mupsim.exponents(alignment=HUGE),
        "unknown alignment <an integer of 5001 digits>",
    ),
    (
        "exponents(multipliers=(HUGE, 0, 0))",
        lambda: mupsim.exponents(multipliers=(HUGE, 0, 0)),
        "within ±16, got <an integer",
    ),
    (
        "exponents(alignment_exponent=HUGE)",
        lambda: mupsim.exponents(wd_rule="alignment", alignment_exponent=HUGE),
        "alignment exponent must lie within",
    ),
    (
        "exponents(depth_alpha=HUGE)",
        lambda: mupsim.exponents(depth_rule="completep", depth_alpha=HUGE),
        "alpha_L must lie within",
    ),
    (
        "exponents(layer_alignment=HUGE)",
        lambda: mupsim.exponents(layer_alignment={"hidden": (HUGE, 1, 1)}),
        "hidden alignment alpha must lie within",
    ),
    (
        "exponents(parameterization=HUGE)",
        lambda: mupsim.exponents(parameterization=HUGE),
        "unknown parameterization <an integer",
    ),
    (
        "sigma_max(fan_out=HUGE)",
        lambda: ss.sigma_max(1.0, HUGE, 4, 0.75),
        "fan_out must be an integer in 1..2^40; got <an integer",
    ),
    ("sigma_max(alpha=HUGE)", lambda: ss.sigma_max(1.0, 4, 4, HUGE), "alpha must be a number in [1/2, 1]"),
    (
        "equilibrium_rms(lr=HUGE)",
        lambda: ss.equilibrium_rms(1.0, HUGE, 0.1),
        "lr must be a number or an array",
    ),
    (
        "equilibrium_rms(update_rms=HUGE)",
        lambda: ss.equilibrium_rms(HUGE, 1e-3, 0.1),
        "update_rms must be a number",
    ),
    ("relaxation_time(wd=[HUGE])", lambda: ss.relaxation_time(1e-3, [HUGE]), "wd must be a number"),
    (
        "alpha_from_stable_ranks(HUGE width)",
        lambda: mupsim.alpha_from_stable_ranks([1, 2, HUGE], [1, 2, 3]),
        "widths must be a number",
    ),
    (
        "power_law_fit(HUGE width)",
        lambda: A.power_law_fit([1, 2, HUGE], [1, 2, 3]),
        "widths must be a number",
    ),
    ("relax_time(HUGE)", lambda: A.relax_time(HUGE, 0.1), "lr must be a real number, got <an integer"),
    # bools where numbers are expected
    (
        "alpha_from_stable_ranks([True, 2, 4])",
        lambda: mupsim.alpha_from_stable_ranks([True, 2, 4], [1, 2, 3]),
        "widths must be a number or an array",
    ),
    (
        "alpha_from_stable_ranks(ranks with False)",
        lambda: mupsim.alpha_from_stable_ranks([1, 2, 4], [1, False, 3]),
        "stable_ranks must be a number",
    ),
    (
        "alpha_from_stable_ranks(np bool array)",
        lambda: mupsim.alpha_from_stable_ranks(np.array([True, False, True]), [1, 2, 3]),
        "widths must be",
    ),
    (
        "alpha_from_rank_exponent([True, 0.5])",
        lambda: mupsim.alpha_from_rank_exponent([True, 0.5]),
        "rank exponent rho=",
    ),
    (
        "rank_exponent_from_alpha(np.True_)",
        lambda: mupsim.rank_exponent_from_alpha(np.True_),
        "alignment exponent alpha=",
    ),
    (
        "equilibrium_rms(update_rms=[True, 1.0])",
        lambda: ss.equilibrium_rms([True, 1.0], 1e-3, 0.1),
        "update_rms must be a number",
    ),
    ("equilibrium_rms(lr=True)", lambda: ss.equilibrium_rms(1.0, True, 0.1), "lr must be a number"),
    ("equilibrium_rms(wd=np.True_)", lambda: ss.equilibrium_rms(1.0, 1e-3, np.True_), "wd must be a number"),
    (
        "angular_update(beta1=True)",
        lambda: ss.angular_update(1e-3, 0.1, beta1=True),
        "beta1 must lie in [0, 1)",
    ),
    ("sigma_max(rms=True)", lambda: ss.sigma_max(True, 4, 4, 0.75), "rms must be a number"),
    ("sigma_max(fan_in=np.True_)", lambda: ss.sigma_max(1.0, 4, np.True_, 0.75), "fan_in must be an integer"),
    ("sigma_max(alpha=True)", lambda: ss.sigma_max(1.0, 4, 4, True), "alpha must be a number"),
    (
        "transfer(width=True)",
        lambda: mupsim.transfer(64, True, 1e-3),
        "width must be a positive integer, got True",
    ),
    (
        "transfer(lr=False)",
        lambda: mupsim.transfer(64, 128, False),
        "lr must be a finite non-negative number, got False",
    ),
    (
        "transfer(steps=True)",
        lambda: mupsim.transfer(**T, steps=True),
        "steps must be a positive integer, got True",
    ),
    (
        "transfer(batch_size=True)",
        lambda: mupsim.transfer(**T, batch_size=True, tokens=8),
        "batch_size must be a positive integer",
    ),
    (
        "transfer(base_multiplier=True)",
        lambda: mupsim.transfer(**T, base_multiplier=True),
        "base_multiplier must be a number",
    ),
    (
        "transfer(base_init_std={hidden: True})",
        lambda: mupsim.transfer(**T, base_init_std={"hidden": True}),
        "base_init_std[hidden]",
    ),
    ("exponents(alignment=True)", lambda: mupsim.exponents(alignment=True), "unknown alignment True"),
    (
        "exponents(multipliers=(True, 0, 1))",
        lambda: mupsim.exponents(multipliers=(True, 0, 1)),
        "multiplier exponent of the embedding",
    ),
    (
        "exponents(alignment_exponent=True)",
        lambda: mupsim.exponents(wd_rule="alignment", alignment_exponent=True),
        "alignment exponent must be a finite number",
    ),
    (
        "exponents(depth_alpha=False)",
        lambda: mupsim.exponents(depth_rule="completep", depth_alpha=False),
        "alpha_L must be a finite number",
    ),
    (
        "exponents(layer_alignment bool)",
        lambda: mupsim.exponents(layer_alignment={"hidden": (True, 0.5, 1)}),
        "hidden alignment alpha",
    ),
    ("SimConfig(width=True)", lambda: SimConfig(width=True), "width must be an integer >= 1; got True"),
    ("SimConfig(lr=True)", lambda: SimConfig(lr=True), "lr must be a real number; got True"),
    (
        "SimConfig(multipliers=(0, False, 1))",
        lambda: SimConfig(multipliers=(0, False, 1)),
        "multipliers[1] must be a real number",
    ),
    ("SimConfig(alignment=np.True_)", lambda: SimConfig(alignment=np.True_), "unknown alignment"),
    (
        "power_law_fit([True, 2, 4])",
        lambda: A.power_law_fit([True, 2, 4], [1, 2, 3]),
        "widths must be a number",
    ),
    (
        "parabola_vertex([True, 2, 3])",
        lambda: A.parabola_vertex([True, 2, 3], [1, 0, 1]),
        "x must be a number",
    ),
    (
        "percentile_interval(level=True)",
        lambda: A.percentile_interval([1, 2, 3], level=True),
        "level must be a real number",
    ),
    ("relax_time(True, 0.1)", lambda: A.relax_time(True, 0.1), "lr must be a real number, got True"),
    (
        "horizon_mean(horizon=True)",
        lambda: A.horizon_mean([1, 2, 3], [1, 2, 3], True),
        "horizon must be a real number",
    ),
    (
        "normalized_spectrum(lr=True)",
        lambda: A.normalized_spectrum([3, 2, 1], True, 0.1),
        "lr must be a real number",
    ),
    (
        "steady_state_mean(fraction=True)",
        lambda: A.steady_state_mean([1, 2, 3], [1, 2, 3], fraction=True),
        "fraction must be a real number",
    ),
    (
        "steady_state_mean([True, 2, 3])",
        lambda: A.steady_state_mean([True, 2, 3], [1, 2, 3]),
        "steps must be a number",
    ),
    (
        "spectral_collapse(top_fraction=True)",
        lambda: A.spectral_collapse([[3, 2], [3, 2]], top_fraction=True),
        "top_fraction must be a real number",
    ),
    (
        "transfer_optimum(x with True)",
        lambda: A.transfer_optimum([True, 2, 3], [1, 0, 1]),
        "x must be a number",
    ),
    # sets and dicts where an ordered sequence is expected
    (
        "exponents(multipliers={0, 1, 2})",
        lambda: mupsim.exponents(multipliers={0, 1, 2}),
        "must be an ordered triple (input, hidden, output)",
    ),
    (
        "exponents(multipliers=frozenset)",
        lambda: mupsim.exponents(multipliers=frozenset({0, 1, 2})),
        "must be an ordered triple",
    ),
    (
        "exponents(multipliers=dict)",
        lambda: mupsim.exponents(multipliers={0: 0, 1: 0, 2: 1}),
        "must be an ordered triple",
    ),
    (
        "exponents(multipliers=iterator)",
        lambda: mupsim.exponents(multipliers=iter((0, 0, 1))),
        "must be an ordered triple",
    ),
    (
        "transfer(multipliers={0, 0.5, 1})",
        lambda: mupsim.transfer(**T, multipliers={0, 0.5, 1}),
        "must be an ordered triple",
    ),
    (
        "exponents(layer_alignment set triple)",
        lambda: mupsim.exponents(layer_alignment={"hidden": {1, 0.5, 0.75}}),
        "layer alignment for 'hidden' must be an ordered triple",
    ),
    (
        "exponents(layer_alignment text triple)",
        lambda: mupsim.exponents(layer_alignment={"hidden": "111"}),
        "must be an ordered triple",
    ),
    ("SimConfig(multipliers={0, 0.5, 1})", lambda: SimConfig(multipliers={0, 0.5, 1}), "in a list or tuple"),
    ("SimConfig(multipliers=dict)", lambda: SimConfig(multipliers={0: 0, 1: 0, 2: 1}), "in a list or tuple"),
    (
        "SimConfig(multipliers=generator)",
        lambda: SimConfig(multipliers=(x for x in (0, 0, 1))),
        "in a list or tuple",
    ),
    ("SimConfig(multipliers='0,0,1')", lambda: SimConfig(multipliers="0,0,1"), "in a list or tuple"),
    (
        "alpha_from_stable_ranks(widths=set)",
        lambda: mupsim.alpha_from_stable_ranks({1, 2, 4}, [1, 2, 3]),
        "widths must be a number or an array",
    ),
    (
        "alpha_from_stable_ranks(ranks=set)",
        lambda: mupsim.alpha_from_stable_ranks([1, 2, 4], {1, 2, 3}),
        "stable_ranks must be",
    ),
    (
        "alpha_from_stable_ranks(groups=set)",
        lambda: mupsim.alpha_from_stable_ranks([1, 2, 4, 8], [1, 2, 3, 4], groups={"a", "b"}),
        "groups must be a list or tuple",
    ),
    (
        "alpha_from_stable_ranks(groups='abcd')",
        lambda: mupsim.alpha_from_stable_ranks([1, 2, 4, 8], [1, 2, 3, 4], groups="abcd"),
        "groups must be a list or tuple",
    ),
    ("alpha_from_rank_exponent({0.5})", lambda: mupsim.alpha_from_rank_exponent({0.5}), "rank exponent rho="),
    (
        "equilibrium_rms(lr={1e-3})",
        lambda: ss.equilibrium_rms(1.0, {1e-3}, 0.1),
        "lr must be a number or an array",
    ),
    (
        "equilibrium_rms(update_rms=dict)",
        lambda: ss.equilibrium_rms({"a": 1.0}, 1e-3, 0.1),
        "update_rms must be",
    ),
    ("sigma_max(alpha={0.7})", lambda: ss.sigma_max(1.0, 4, 4, {0.7}), "alpha must be a number"),
    ("power_law_fit(widths=set)", lambda: A.power_law_fit({1, 2, 4}, [1, 2, 3]), "widths must be a number"),
    ("parabola_vertex(x=set)", lambda: A.parabola_vertex({1, 2, 3}, [1, 0, 1]), "x must be a number"),
    (
        "normalized_spectrum(set)",
        lambda: A.normalized_spectrum({3, 2, 1}, 1e-3, 0.1),
        "singular_values must be",
    ),
    (
        "steady_state_mean(steps=set)",
        lambda: A.steady_state_mean({1, 2, 3}, [1, 2, 3]),
        "steps must be a number",
    ),
    ("half_drift(values=set)", lambda: A.half_drift([1, 2, 3], {1, 2, 3}), "values must be a number"),
    (
        "relaxation_time_fit(set)",
        lambda: A.relaxation_time_fit({1, 2, 3, 4}, [1, 2, 3, 4]),
        "steps must be a number",
    ),
    (
        "spectral_collapse(set spectra)",
        lambda: A.spectral_collapse([{3, 2}, [3, 2]]),
        "each spectrum must be",
    ),
    ("percentile_interval(set)", lambda: A.percentile_interval({1, 2, 3}), "samples must be"),
    ("seed_optimum(x=set)", lambda: seed_optimum({1, 2, 3}, [1, 0, 1]), "x must be a number"),
    # text (or numbers) where a flag is expected
    (
        "relaxation_time(exact='yes')",
        lambda: ss.relaxation_time(1e-3, 0.1, exact="yes"),
        "exact must be True or False, got 'yes'",
    ),
    (
        "relaxation_time(exact=1)",
        lambda: ss.relaxation_time(1e-3, 0.1, exact=1),
        "exact must be True or False, got 1",
    ),
    (
        "relaxation_time(exact=None)",
        lambda: ss.relaxation_time(1e-3, 0.1, exact=None),
        "exact must be True or False, got None",
    ),
    (
        "relaxation_time(exact='False')",
        lambda: ss.relaxation_time(1e-3, 0.1, exact="False"),
        "exact must be True or False",
    ),
    (
        "equilibrium_rms(exact='no')",
        lambda: ss.equilibrium_rms(1.0, 1e-3, 0.1, exact="no"),
        "exact must be True or False, got 'no'",
    ),
    (
        "equilibrium_rms(exact=0.0)",
        lambda: ss.equilibrium_rms(1.0, 1e-3, 0.1, exact=0.0),
        "exact must be True or False",
    ),
    (
        "transfer(global_lr='yes')",
        lambda: mupsim.transfer(**T, global_lr="yes"),
        "global_lr must be True or False, got 'yes'",
    ),
    (
        "transfer(global_lr=1)",
        lambda: mupsim.transfer(**T, global_lr=1),
        "global_lr must be True or False, got 1",
    ),
    (
        "transfer(global_lr=None)",
        lambda: mupsim.transfer(**T, global_lr=None),
        "global_lr must be True or False",
    ),
    ("SimConfig(bias=1)", lambda: SimConfig(bias=1), "bias must be true or false; got 1"),
    ("SimConfig(bias='true')", lambda: SimConfig(bias="true"), "bias must be true or false"),
    (
        "SimConfig(rank_metrics='false')",
        lambda: SimConfig(rank_metrics="false"),
        "rank_metrics must be true or false",
    ),
    ("SimConfig(global_lr=None)", lambda: SimConfig(global_lr=None), "global_lr must be true or false"),
    ("SimConfig(norm_gain=0)", lambda: SimConfig(norm_gain=0), "norm_gain must be true or false"),
    # NaN and infinity
    (
        "transfer(lr=nan)",
        lambda: mupsim.transfer(64, 128, float("nan")),
        "lr must be a finite non-negative number, got nan",
    ),
    ("transfer(wd=inf)", lambda: mupsim.transfer(64, 128, 1e-3, float("inf")), "wd must be a finite"),
    (
        "transfer(width=inf)",
        lambda: mupsim.transfer(64, float("inf"), 1e-3),
        "width must be a positive integer",
    ),
    (
        "transfer(width=nan)",
        lambda: mupsim.transfer(64, float("nan"), 1e-3),
        "width must be a positive integer",
    ),
    (
        "transfer(base_multiplier=nan)",
        lambda: mupsim.transfer(**T, base_multiplier=float("nan")),
        "base_multiplier must be a finite",
    ),
    ("exponents(alignment=nan)", lambda: mupsim.exponents(alignment=float("nan")), "unknown alignment nan"),
    (
        "exponents(multipliers=(nan, 0, 1))",
        lambda: mupsim.exponents(multipliers=(float("nan"), 0, 1)),
        "must be a finite number",
    ),
    (
        "exponents(alignment_exponent=inf)",
        lambda: mupsim.exponents(wd_rule="alignment", alignment_exponent=float("inf")),
        "must be a finite number",
    ),
    ("SimConfig(lr=nan)", lambda: SimConfig(lr=float("nan")), "lr=nan"),
    ("SimConfig(width=nan)", lambda: SimConfig(width=float("nan")), "width must be an integer >= 1; got nan"),
    (
        "SimConfig(multipliers=(0, inf, 1))",
        lambda: SimConfig(multipliers=(0, float("inf"), 1)),
        "multipliers[1]=inf",
    ),
    (
        "equilibrium_rms(update_rms=nan)",
        lambda: ss.equilibrium_rms(float("nan"), 1e-3, 0.1),
        "update_rms must be finite",
    ),
    ("relaxation_time(lr=inf)", lambda: ss.relaxation_time(float("inf"), 0.1), "lr must be finite"),
    ("sigma_max(rms=-inf)", lambda: ss.sigma_max(float("-inf"), 4, 4, 0.75), "rms must be finite"),
    (
        "alpha_from_stable_ranks(nan rank)",
        lambda: mupsim.alpha_from_stable_ranks([1, 2, 4], [1, float("nan"), 3]),
        "positive finite numbers",
    ),
    ("relax_time(nan)", lambda: A.relax_time(float("nan"), 0.1), "lr and wd must be finite"),
    ("relax_time(-1)", lambda: A.relax_time(-1.0, 0.1), "lr and wd must be finite and >= 0"),
    (
        "normalized_spectrum(wd=inf)",
        lambda: A.normalized_spectrum([3, 2, 1], 1e-3, float("inf")),
        "needs finite lr > 0 and wd > 0",
    ),
    (
        "normalized_spectrum(lr=nan)",
        lambda: A.normalized_spectrum([3, 2, 1], float("nan"), 0.1),
        "needs finite lr > 0",
    ),
    (
        "steady_state_mean(fraction=nan)",
        lambda: A.steady_state_mean([1, 2, 3], [1, 2, 3], fraction=float("nan")),
        "fraction must be in (0, 1]",
    ),
    (
        "horizon_mean(fraction=2)",
        lambda: A.horizon_mean([1, 2, 3], [1, 2, 3], 3, fraction=2),
        "fraction must be in (0, 1]",
    ),
    (
        "percentile_interval(level=nan)",
        lambda: A.percentile_interval([1, 2, 3], level=float("nan")),
        "level must be a number in (0, 1)",
    ),
    # text, complex numbers, None where numbers are expected
    (
        "alpha_from_stable_ranks(['1', '2', '4'])",
        lambda: mupsim.alpha_from_stable_ranks(["1", "2", "4"], [1, 2, 3]),
        "widths must be a number",
    ),
    (
        "alpha_from_stable_ranks(complex)",
        lambda: mupsim.alpha_from_stable_ranks([1, 2, 4j], [1, 2, 3]),
        "widths must be a number",
    ),
    (
        "alpha_from_stable_ranks(None)",
        lambda: mupsim.alpha_from_stable_ranks(None, [1, 2, 3]),
        "widths must be a number",
    ),
    (
        "alpha_from_stable_ranks(ragged)",
        lambda: mupsim.alpha_from_stable_ranks([[1, 2], [4]], [1, 2, 3]),
        "widths must be a number",
    ),
    ("equilibrium_rms(lr=complex)", lambda: ss.equilibrium_rms(1.0, 1e-3 + 0j, 0.1), "lr must be a number"),
    (
        "equilibrium_rms(update_rms=['1'])",
        lambda: ss.equilibrium_rms(["1"], 1e-3, 0.1),
        "update_rms must be a number",
    ),
    ("relax_time('1e-3', 0.1)", lambda: A.relax_time("1e-3", 0.1), "lr must be a real number, got '1e-3'"),
    (
        "normalized_spectrum(lr='1')",
        lambda: A.normalized_spectrum([3, 2, 1], "1", 0.1),
        "lr must be a real number",
    ),
    (
        "power_law_fit(values=['a'])",
        lambda: A.power_law_fit([1, 2, 4], ["a", "b", "c"]),
        "values must be a number",
    ),
    (
        "steady_state_mean(values=None)",
        lambda: A.steady_state_mean([1, 2, 3], None),
        "values must be a number",
    ),
    (
        "steady_state_mean(length mismatch)",
        lambda: A.steady_state_mean([1, 2, 3], [1, 2]),
        "same length; got 3 and 2",
    ),
    ("half_drift(length mismatch)", lambda: A.half_drift([1, 2, 3, 4], [1, 2]), "same length"),
    (
        "SimConfig(lr=Decimal)",
        lambda: SimConfig(lr=__import__("decimal").Decimal("0.001")),
        "lr must be a real number",
    ),
    (
        "SimConfig(width=Fraction(33, 2))",
        lambda: SimConfig(width=Fraction(33, 2)),
        "width must be an integer >= 1",
    ),
    ("SimConfig(model=b'linear')", lambda: SimConfig(model=b"linear"), "unknown model b'linear'"),
    (
        "exponents(parameterization=None)",
        lambda: mupsim.exponents(parameterization=None),
        "unknown parameterization None",
    ),
    (
        "exponents(layer_alignment='hidden=1,1,1')",
        lambda: mupsim.exponents(layer_alignment="hidden=1,1,1"),
        "must be a dict layer",
    ),
    # options that would be ignored without a word
    (
        "transfer(depth_alpha without depth)",
        lambda: mupsim.transfer(**T, depth_alpha=0.7),
        "needs a depth transfer",
    ),
    (
        "transfer(depth_alpha=1 without depth)",
        lambda: mupsim.transfer(**T, depth_alpha=1),
        "needs a depth transfer",
    ),
    (
        "transfer(fan2025, batch_size without length)",
        lambda: mupsim.transfer(**T, wd=0.1, wd_rule="fan2025", batch_size=512),
        "batch_size alone sets nothing",
    ),
    (
        "transfer(batch_size without length)",
        lambda: mupsim.transfer(**T, batch_size=512),
        "batch_size alone sets nothing",
    ),
    (
        "transfer(global_lr, HUGE wd_rule)",
        lambda: mupsim.transfer(**T, global_lr=True, wd_rule=HUGE),
        "unknown wd rule <an integer",
    ),
    (
        "transfer(base_batch_size without tau_epoch)",
        lambda: mupsim.transfer(**T, base_batch_size=512),
        "tau_epoch",
    ),
    (
        "exponents(depth_alpha without depth_rule)",
        lambda: mupsim.exponents(depth_alpha=0.7),
        "depth_alpha needs depth_rule",
    ),
    (
        "exponents(alignment_exponent without rule)",
        lambda: mupsim.exponents(alignment_exponent=0.7),
        "only used by wd rule 'alignment'",
    ),
]


@pytest.mark.parametrize("call,needle", [(c, n) for _, c, n in HOSTILE], ids=[i for i, _, _ in HOSTILE])
def test_hostile_api_input_is_a_mupsim_error_naming_the_problem(call, needle):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MupsimWarning)
        with pytest.raises(MupsimError) as e:
            call()
    assert needle in str(e.value), str(e.value)
    assert len(str(e.value)) < 2000  # echoed values are shortened


@pytest.mark.parametrize(
    "make_a,make_b",
    [
        (lambda: SimConfig(lr=-0.0), lambda: SimConfig(lr=0.0)),
        (lambda: SimConfig(wd=-0.0), lambda: SimConfig(wd=0)),
        (lambda: SimConfig(multipliers=(-0.0, 0, 1)), lambda: SimConfig(multipliers=(0, 0, 1))),
        (
            lambda: SimConfig(multipliers=np.array([-0.0, -0.0, 1.0])),
            lambda: SimConfig(multipliers=[0, 0, 1]),
        ),
        (lambda: SimConfig(label_noise=-0.0, input_spectrum=-0.0), lambda: SimConfig()),
        (lambda: SimConfig(momentum=-0.0, beta1=-0.0), lambda: SimConfig(momentum=0, beta1=0)),
        (lambda: SimConfig(teacher_decay=-0.0), lambda: SimConfig(teacher_decay=0)),
        (lambda: SimConfig.from_dict({"lr": -0.0}), lambda: SimConfig.from_dict({"lr": 0})),
    ],
)
def test_negative_zero_config_is_identical_to_zero(make_a, make_b):
    a, b = make_a(), make_b()
    assert a == b and a.to_dict() == b.to_dict() and a.key() == b.key()
    assert "-0.0" not in json.dumps(a.to_dict())


@pytest.mark.parametrize("kw", [dict(lr=-0.0), dict(wd=-0.0), dict(eps=-0.0), dict(multipliers=(-0.0, 0, 1))])
def test_negative_zero_transfer_is_identical_to_zero(kw):
    zero = {k: (0.0 if k != "multipliers" else (0, 0, 1)) for k in kw}
    a = mupsim.transfer(**{**T, **kw}).to_dict()
    assert a == mupsim.transfer(**{**T, **zero}).to_dict()
    assert "-0.0" not in json.dumps(a)


@pytest.mark.parametrize(
    "call",
    [
        lambda: ss.relaxation_time(1e-3, 0.1, exact=np.True_),
        lambda: mupsim.transfer(**T, global_lr=np.False_),
        lambda: mupsim.alpha_from_stable_ranks(np.array([1, 2, 4]), (1.0, 2.0, 3.0)),
        lambda: mupsim.exponents(multipliers=np.array([0, 0, 1])),
        lambda: mupsim.exponents(layer_alignment={"hidden": [1, 0.5, 1]}),
        lambda: A.power_law_fit(np.array([8, 8, 16, 16, 32]), (1.0, 1.1, 2.0, 2.1, 4.2), n_boot=10),
    ],
)
def test_numpy_scalars_arrays_and_lists_are_still_accepted(call):
    call()

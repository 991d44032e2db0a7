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
from hypothesis import HealthCheck, assume, given, settings, strategies as st

import mupsim
from mupsim import steady_state as ss
from mupsim.errors import MupsimError, MupsimWarning
from mupsim.sim import limits
from mupsim.sim.config import SimConfig
from mupsim.sim.settings import settings_for

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# ------------------------------------------------------------------------ value strategies
huge_ints = st.integers(-2 ** 70, 2 ** 70) | st.sampled_from([2 ** 63 - 1, 2 ** 63, 2 ** 64,
                                                                10 ** 400, -(2 ** 63)])
any_float = st.floats(allow_nan=True, allow_infinity=True)
junk = (st.none() | st.booleans() | huge_ints | any_float | st.text(max_size=6)
        | st.lists(st.integers(-3, 3), max_size=4) | st.just(object()))

PLAUSIBLE = {
    "model": st.sampled_from(["normalized", "linear", "Linear", "cnn"]),
    "width": st.integers(1, 4096) | st.sampled_from([0, 2 ** 62, 10 ** 6]),
    "base_width": st.integers(1, 512),
    "input_dim": st.integers(1, 64), "output_dim": st.integers(1, 8),
    "depth": st.integers(1, 8) | st.just(10 ** 8), "ffn_ratio": st.integers(1, 4),
    "activation": st.sampled_from(["relu", "gelu", "tanh"]),
    "norm": st.sampled_from(["rms", "layer", "none"]),
    "norm_position": st.sampled_from(["pre", "post", "both"]),
    "norm_gain": st.booleans(), "bias": st.booleans(),
    "branch_multiplier": st.floats(0, 2),
    "task": st.sampled_from(["regression", "classification"]),
    "teacher_width": st.integers(1, 128), "teacher_rank": st.none() | st.integers(1, 128),
    "label_noise": st.floats(0, 1), "n_train": st.none() | st.integers(1, 10 ** 12),
    "n_test": st.integers(1, 4096), "batch_size": st.integers(1, 512),
    "steps": st.integers(1, 10 ** 9), "optimizer": st.sampled_from(
        ["sgd", "adam", "adamw", "lion", "signsgd", "muon"]),
    "lr": st.floats(0, 10) | st.sampled_from([1e308, 10 ** 400]),
    "wd": st.floats(0, 10) | st.just(0.0),
    "wd_mode": st.sampled_from(["coupled", "independent"]),
    "momentum": st.floats(0, 1), "beta1": st.floats(0, 1), "beta2": st.floats(0, 1),
    "eps": st.floats(0, 1e-3), "schedule": st.sampled_from(["constant", "cosine", "wsd"]),
    "warmup_steps": st.integers(0, 100), "decay_fraction": st.floats(0, 1),
    "parameterization": st.sampled_from(["sp", "ntk", "mup", "mfp"]),
    "alignment": st.sampled_from(["full", "none", 0.5, 0.75, 1.0, "0.6", 2.0]),
    "multipliers": st.none() | st.tuples(*[st.floats(-20, 20)] * 3) | st.tuples(
        *[st.integers(-2, 2)] * 3),
    "wd_rule": st.none() | st.sampled_from(["constant", "fan2025", "timescale", "alignment",
                                            "none"]),
    "io_wd_rule": st.none() | st.sampled_from(["constant", "fan2025", "timescale", "alignment",
                                               "none", "tau_epoch"]),
    "alignment_exponent": st.none() | st.floats(0, 1.5),
    "depth_rule": st.none() | st.sampled_from(["depth_mup", "completep"]),
    "base_depth": st.integers(1, 8), "global_lr": st.booleans(),
    "dtype": st.sampled_from(["float32", "float64"]),
    "seed": st.integers(0, 2 ** 64) | st.just(2 ** 63 - 1) | st.just(2 ** 63),
    "n_logs": st.integers(2, 2000), "divergence_bound": st.floats(0, 1e300),
    "rank_metrics": st.booleans(),
}
FIELDS = SimConfig.field_names()


config_dicts = st.fixed_dictionaries({}, optional={f: PLAUSIBLE.get(f, junk) for f in FIELDS})
junk_dicts = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), junk, max_size=4)


def _accepted_config_is_sound(c: SimConfig) -> None:
    assert 0 <= c.seed <= 2 ** 63 - 1
    assert limits.estimate_bytes(c) <= limits.max_bytes()
    assert c.steps <= limits.MAX_STEPS and c.n_logs <= limits.MAX_LOGS
    s = settings_for(c)  # the calculator accepts it: a run cannot fail on its rules
    assert all(math.isfinite(v) for x in s.layers.values() for v in x.to_dict().values()
               if v is not None)
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


@pytest.mark.parametrize("kw,needle", [
    (dict(seed=2 ** 70), "0..2^63-1"),
    (dict(seed=2 ** 63), "0..2^63-1"),
    (dict(width=2 ** 62), "over the limit"),
    (dict(wd=0.1), "needs a weight-decay rule"),
    (dict(alignment_exponent=0.8), "only used by wd rule 'alignment'"),
    (dict(width=1, norm="layer"), "needs width >= 2"),
    (dict(steps=10 ** 12), "steps="),
    (dict(n_logs=10 ** 9), "n_logs="),
    (dict(lr=10 ** 400), "lr=inf"),
])
def test_config_that_would_fail_at_run_time_is_refused_at_construction(kw, needle):
    with pytest.raises(MupsimError, match=needle.replace("^", r"\^").replace("(", r"\(")):
        SimConfig(**kw)


def test_largest_seed_is_accepted():
    assert SimConfig(seed=2 ** 63 - 1).seed == 2 ** 63 - 1


def test_memory_estimate_counts_the_layout_exactly():
    from mupsim.sim.layout import build_layout
    for kw in (dict(), dict(model="linear", depth=3), dict(bias=True, norm_gain=True, depth=2,
                                                           ffn_ratio=3, norm_position="pre")):
        c = SimConfig(width=12, **kw)
        assert limits.n_params(c) == build_layout(c).size


def test_memory_message_names_a_width_that_fits():
    with pytest.raises(MupsimError, match=r"widths up to (\d+) fit") as e:
        SimConfig(width=10 ** 6)
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
    spec = {"base": {"width": 8}, "grid": {f: list(range(1, n + 1))
                                           for f, n in zip(names, sizes)}}
    n = math.prod(sizes)
    assert spec_size(spec) == n
    if n > limits.MAX_SWEEP_CONFIGS:
        with pytest.raises(MupsimError, match="over the limit"):
            expand_spec(spec)


# ------------------------------------------------------------------------ calculator
rule_args = st.fixed_dictionaries({}, optional={
    "parameterization": st.sampled_from(["sp", "ntk", "mup", "mfp", "xyz"]) | junk,
    "optimizer": st.sampled_from(["sgd", "adam", "adamw", "adafactor", "lion", "muon"]) | junk,
    "alignment": st.sampled_from(["full", "none", "1/2", "0.75", 0.6, "3/4"]) | junk,
    "multipliers": st.sampled_from(["0,0,1", "0 1,0,0", "1 6,0,0", "0,0", " 0 , 0 , 1 ",
                                    (0, 0, 1), (0.5, 0, 1)]) | junk,
    "wd_rule": st.sampled_from(["constant", "fan2025", "timescale", "alignment"]) | junk,
    "alignment_exponent": st.sampled_from([0.5, 0.75, 1, "3/4", 0.3]) | junk,
})


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
@given(kw=rule_args, n0=st.integers(-4, 4096) | junk, n=st.integers(-4, 2 ** 41) | junk,
       lr=st.floats(0, 1) | junk, wd=st.floats(0, 1) | junk,
       base=st.none() | st.floats(0, 10) | junk)
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
@given(u=num | pos, lr=num | pos, wd=num | pos, b1=num | st.floats(0, 0.999),
       exact=st.booleans())
def test_steady_state_answers_or_mupsim_error(u, lr, wd, b1, exact):
    calls = [lambda: ss.equilibrium_rms(u, lr, wd, beta1=b1, exact=exact),
             lambda: ss.relaxation_time(lr, wd, exact=exact),
             lambda: ss.angular_update(lr, wd, beta1=b1)]
    for call in calls:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MupsimWarning)
            try:
                v = np.asarray(call(), float)
            except MupsimError:
                continue
        assert np.all(np.isfinite(v)) and np.all(v >= 0)


@FAST
@given(rms=num | st.floats(0, 10), fo=st.integers(-3, 2 ** 41) | junk,
       fi=st.integers(-3, 2 ** 41) | junk, alpha=num | st.floats(0.5, 1))
def test_sigma_max_answers_or_mupsim_error(rms, fo, fi, alpha):
    try:
        v = ss.sigma_max(rms, fo, fi, alpha)
    except MupsimError:
        return
    assert np.all(np.isfinite(v)) and np.all(v >= 0)


@pytest.mark.parametrize("call,needle", [
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
])
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
seq = st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 5000) | junk,
               max_size=6) | junk


@FAST
@given(x=num | st.floats(0, 1) | st.lists(st.floats(0, 1), max_size=3))
def test_alpha_conversions_answer_or_mupsim_error(x):
    for f, lo, hi in ((mupsim.alpha_from_rank_exponent, 0.5, 1.0),
                      (mupsim.rank_exponent_from_alpha, 0.0, 1.0)):
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
@given(widths=seq, values=seq, n_boot=st.integers(-1, 50) | junk,
       level=st.floats(-1, 2) | junk, seed=st.integers(-1, 10) | junk)
def test_power_law_fit_answers_or_mupsim_error(widths, values, n_boot, level, seed):
    from mupsim.analysis import power_law_fit
    try:
        fit = power_law_fit(widths, values, n_boot=n_boot, level=level, seed=seed)
    except MupsimError:
        return
    assert math.isfinite(fit.exponent) and len(fit.widths) >= 2

"""The steady-state check and the reproducibility check's comparison with committed intervals."""

import math

import numpy as np

from mupsim.analysis import half_drift, horizon_mean, relax_time, steady_check
from mupsim.experiments import common
from mupsim.experiments.figures import f4_wd_rules as F4
from mupsim.experiments.repro import Check


def _relaxing(tau, steps):
    t = np.unique(np.round(np.geomspace(1, steps, 120))).astype(float)
    return t, 1.0 + 0.5 * np.exp(-t / tau)


def test_relaxation_time_is_one_over_twice_the_per_step_decay():
    assert math.isclose(relax_time(1e-2, 0.5), 100.0, rel_tol=1e-12)
    assert relax_time(1e-2, 0.0) == math.inf


def test_a_series_run_for_six_relaxation_times_is_steady():
    t, v = _relaxing(100.0, 600)
    c = steady_check(t, v, 1e-2, 0.5)
    assert c.ok and c.reason == "" and math.isclose(c.n_relax, 6.0)


def test_a_run_shorter_than_five_relaxation_times_is_refused_with_the_reason():
    t, v = _relaxing(100.0, 300)
    c = steady_check(t, v, 1e-2, 0.5)
    assert not c.ok and "relaxation times" in c.reason


def test_a_quantity_still_moving_is_refused_even_if_the_run_is_long():
    t = np.linspace(1, 1000, 200)
    c = steady_check(t, 1.0 + t / 100.0, 1e-2, 0.5)
    assert not c.ok and "still moving" in c.reason
    assert half_drift(t, 1.0 + t / 100.0)[0] > 0.05


def test_steady_noise_larger_than_the_tolerance_is_not_called_a_drift():
    rng = np.random.default_rng(0)
    t = np.unique(np.round(np.geomspace(1, 600, 60))).astype(float)
    v = 1.0 + 0.08 * rng.standard_normal(t.size)  # 8% batch noise, no trend
    assert steady_check(t, v, 1e-2, 0.5).ok


def test_a_layer_without_weight_decay_has_no_steady_state():
    t, v = _relaxing(100.0, 600)
    assert "no weight decay" in steady_check(t, v, 1e-2, 0.0).reason


def test_horizon_mean_is_what_a_shorter_run_would_have_reported():
    t = np.arange(0, 1001, 10.0)
    assert math.isclose(horizon_mean(t, t, 400.0), 350.0, rel_tol=1e-9)
    assert math.isnan(horizon_mean(t, t, 2000.0))


def test_specs_run_each_width_for_its_own_relaxation_times():
    for c in F4.configs(False, 0.9):
        assert c.steps >= common.RELAX_RUN * common.hidden_relax_time(c) - 1e-9
    const = {c.width: c.steps for c in F4.configs(False, 0.9) if c.wd_rule == "constant"}
    assert const[512] > const[64]  # μP's η ∝ 1/n stretches τ under constant λ


def test_repro_check_passes_inside_and_fails_outside_the_interval():
    assert Check("x", 0.9, (0.85, 0.95), 0.93).ok
    assert not Check("x", 0.9, (0.85, 0.95), 0.80).ok


def _drifting(change, noise, rng, steps=600, n=60):
    """A series flat up to T/2, then moving log-linearly by a factor (1 + change) across the last
    half, with relative noise ``noise``."""
    t = np.linspace(steps / n, steps, n)
    g = np.where(t < steps / 2, 0.0, (t - steps / 2) / (steps / 2)) * math.log1p(change)
    return t, np.exp(g) * (1.0 + noise * rng.standard_normal(n))


def test_a_large_drift_is_refused_however_noisy_the_series():
    # the former rule passed this record: |drift| > 15% but < 2 s.e. of its fitted change
    rng = np.random.default_rng(3)
    t, v = _drifting(0.30, 0.25, rng)
    c = steady_check(t, v, 1e-2, 0.5)
    assert abs(c.drift) > 0.15 and abs(c.drift) < 2 * c.drift_se, "not the noisy case"
    assert not c.ok and c.causes == ("moving",)


def test_the_drift_tolerance_is_symmetric_in_log():
    from mupsim.analysis.steady import drift_within

    assert drift_within(-0.149) and drift_within(1 / 0.851 - 1)
    assert not drift_within(-0.151) and not drift_within(1 / 0.849 - 1)
    # a rise by 17% is outside a relative ±15% but inside a factor 1/0.85 = 1.176 up
    assert drift_within(0.17) and not drift_within(0.18)


def test_a_clean_drift_just_over_the_tolerance_is_refused_and_one_just_under_accepted():
    rng = np.random.default_rng(0)
    over = steady_check(*_drifting(-0.16, 0.002, rng), 1e-2, 0.5)
    under = steady_check(*_drifting(-0.14, 0.002, rng), 1e-2, 0.5)
    assert not over.ok and "still moving" in over.reason
    assert under.ok


def test_a_run_judged_at_a_horizon_is_refused_when_that_horizon_is_short():
    t, v = _relaxing(100.0, 1000)
    assert steady_check(t, v, 1e-2, 0.5).ok
    c = steady_check(t, v, 1e-2, 0.5, horizon=300.0)
    assert not c.ok and c.causes == ("short",) and math.isclose(c.n_relax, 3.0, rel_tol=0.02)


def test_refusal_note_counts_refused_records_by_cause():
    from mupsim.experiments.measures import refusal_counts, refusal_note

    rows = [
        {"steady": True},
        {"steady": False, "refused_for": "moving"},
        {"steady": False, "refused_for": "moving+short"},
        {"status": "diverged"},
    ]
    assert refusal_counts(rows) == {"checked": 3, "refused": 2, "by_cause": {"moving": 2, "short": 1}}
    note = refusal_note(rows)
    assert "refused 2 of 3" in note and "still moving 2" in note and "ran < 5τ 1" in note

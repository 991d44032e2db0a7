"""Stable rank at steady state (mupsim/theory/stable_rank.py): the derivation's limits, the numeric
model, and the model against simulations it was not calibrated on.

The stored measurements are ``theory/data/stable_rank_check.json``, written by
``examples/stable_rank_check.py`` (the task, the sets and the provenance are in the file).
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from mupsim import stable_rank as num
from mupsim.errors import MupsimError
from mupsim.theory import stable_rank as th

DATA = Path(__file__).resolve().parents[1] / "theory" / "data" / "stable_rank_check.json"


# ---------------------------------------------------------------------- memory count
def test_memory_count_is_four_relaxation_times():
    assert th.derive_memory_count().results["count"] == 4 * th.tau


def test_memory_count_without_momentum_is_the_exponential_window():
    exact = th.derive_memory_count().results["count_exact"].subs(th.beta1, 0)
    assert sp.simplify(exact - (1 + th.r) / (1 - th.r)) == 0


def test_momentum_changes_the_count_by_a_constant_only():
    """N = 4τ + c(β1): exact count at ηλ = 1/(2τ) minus 4τ tends to c(β1) (≈ 17.9 at β1 = 0.9)."""
    r = th.derive_memory_count().results
    c = float(r["count_momentum_correction"].subs(th.beta1, 0.9))
    for tau in (1e3, 1e4):
        exact = float(r["count_exact"].subs({th.beta1: 0.9, th.r: 1 - 1 / (2 * tau)}))
        assert exact - 4 * tau == pytest.approx(c, abs=0.05)
    assert c == pytest.approx(3.41 / 0.19)


def test_coherent_count_between_one_and_the_memory_count():
    r = th.derive_memory_count().results
    exact = r["count_coherent_exact"]
    assert sp.simplify(exact.subs(th.g, 0) - (1 + th.r) / (1 - th.r)) == 0  # white: every step independent
    assert exact.subs(th.g, 1) == 1  # frozen direction: one
    assert r["count_coherent"] == 1 + 2 * th.tau / th.tau_c
    assert num.coherent_count(64, 64) == pytest.approx(3.0)


# ---------------------------------------------------------------------- free product
def test_many_directions_give_the_rectangular_marchenko_pastur_edge():
    r = th.derive_free_product().results
    assert sp.simplify(r["srank_many"] - th.d_r * th.d_c / (sp.sqrt(th.d_r) + sp.sqrt(th.d_c)) ** 2) == 0
    assert r["srank_square_noise"] == th.n / 4  # isotropic noise on an n × n matrix


def test_few_directions_give_their_count():
    assert th.derive_free_product().results["srank_few"] == th.K
    assert float(num.free_product_srank(7.0, 1e9, 1e9)) == pytest.approx(7.0, rel=1e-3)


def test_balanced_free_product_is_the_fuss_catalan_edge():
    assert th.derive_free_product().results["srank_balanced"] == sp.Rational(4, 27) * th.n
    assert float(num.free_product_srank(300, 300, 300)) == pytest.approx(300 * 4 / 27, rel=1e-9)


def test_numeric_srank_matches_the_closed_limits():
    assert float(num.free_product_srank(1e12, 256, 256)) == pytest.approx(64.0, rel=1e-6)
    assert float(num.free_product_srank(1e12, 64, 4)) == pytest.approx(64 * 4 / (8 + 2) ** 2, rel=1e-5)


@pytest.mark.parametrize("K,d_r,d_c", [(16, 256, 256), (64, 256, 64), (400, 200, 100)])
def test_free_product_srank_matches_random_matrices(K, d_r, d_c):
    """The formula against explicit sums of K Gaussian rank-one terms (5 draws each). The
    formula is the large-dimension limit; at these sizes the top eigenvalue sits above the edge
    by a few % (Tracy–Widom scale d^(−2/3) ≈ 3% at d = 100), so the tolerance is 12%."""
    rng = np.random.default_rng(0)
    sr = []
    for _ in range(5):
        W = rng.standard_normal((d_r, K)) @ rng.standard_normal((K, d_c))
        s = np.linalg.svd(W, compute_uv=False) ** 2
        sr.append(s.sum() / s[0])
    assert np.mean(sr) == pytest.approx(float(num.free_product_srank(K, d_r, d_c)), rel=0.12)


def test_elasticities_sum_to_one_and_each_is_positive():
    for K, dr, dc in [(3, 100, 50), (1e4, 64, 64), (50, 1e5, 20)]:
        w = num.elasticities(K, dr, dc)
        assert sum(w) == pytest.approx(1.0, abs=1e-9) and all(x > 0 for x in w)


def test_isotropic_noise_gives_alpha_one_half_and_a_counted_matrix_alpha_one():
    r = th.derive_free_product().results
    iso = {sp.Symbol("w_r"): sp.Rational(1, 2), sp.Symbol("w_c"): sp.Rational(1, 2), sp.Symbol("w_K"): 0}
    iso.update({th.rho_r: 1, th.rho_c: 1, th.rho_K: 0})
    assert r["rho"].subs(iso) == 1 and r["alpha"].subs(iso) == sp.Rational(1, 2)
    counted = {
        sp.Symbol("w_r"): 0,
        sp.Symbol("w_c"): 0,
        sp.Symbol("w_K"): 1,
        th.rho_r: 1,
        th.rho_c: 1,
        th.rho_K: 0,
    }
    assert r["alpha"].subs(counted) == 1
    w_K, w_r, w_c = num.elasticities(1e12, 256, 256)
    assert w_r == pytest.approx(0.5, abs=1e-6) and w_c == pytest.approx(0.5, abs=1e-6)
    w_K, w_r, w_c = num.elasticities(3, 1e6, 1e6)  # count-limited: width does not matter
    assert w_K > 0.99


# ---------------------------------------------------------------------- the steady-state model
P = {"kappa": 0.2, "n_star": 2000.0, "c_d": 1.0}


def test_model_limits():
    r = th.derive_steady_stable_rank().results
    assert r["srank_no_memory"] == 1
    assert r["srank_wide_long"] == 1 + th.kappa * th.k_in
    assert sp.simplify(r["srank_long_narrow"] - (1 + th.kappa * th.c_d * th.n / 4)) == 0
    assert float(num.predict_srank(1e9, 1e12, 128, 256, P)) == pytest.approx(1 + 0.2 * 256, rel=1e-3)


def test_srank_grows_with_memory_and_batch_and_only_their_product_matters():
    taus = np.array([8, 32, 128, 512, 2048], float)
    s = num.predict_srank(128, taus, 128, 256, P)
    assert np.all(np.diff(s) > 0)
    sb = num.predict_srank(128, 64, np.array([16, 64, 256, 1024]), 256, P)
    assert np.all(np.diff(sb) > 0)
    assert float(num.predict_srank(128, 64, 512, 256, P)) == pytest.approx(
        float(num.predict_srank(128, 256, 128, 256, P)), rel=1e-12
    )


def test_width_exponent_grows_with_memory_and_bends_back_when_wide():
    rho = num.predict_rho(128, np.array([8, 64, 512, 4096]), 128, 256, P)
    assert np.all(np.diff(rho) > 0)
    wide = num.predict_rho(np.array([64, 1024, 16384, 1 << 20]), 256, 128, 256, P)
    assert wide[-1] < 0.05 and wide[-1] < wide[0]  # saturated columns: α(n) → 1
    assert float(num.predict_alpha(1 << 20, 256, 128, 256, P)) > 0.97


def test_predicted_rho_is_the_slope_of_the_predicted_srank():
    n = np.array([100.0, 101.0])
    s = num.predict_srank(n, 200, 128, 256, P)
    slope = np.log(s[1] / s[0]) / np.log(n[1] / n[0])
    assert float(num.predict_rho(100.5, 200, 128, 256, P)) == pytest.approx(slope, rel=1e-3)


def test_bad_params_are_refused():
    with pytest.raises(MupsimError, match="params must be a dict with keys kappa, n_star, c_d"):
        num.predict_srank(64, 64, 128, 256, {"kappa": 1.0})
    with pytest.raises(MupsimError, match="tau must be finite and > 0"):
        num.predict_srank(64, -1, 128, 256, P)


# ---------------------------------------------------------------------- against stored simulations
@pytest.fixture(scope="module")
def stored():
    return json.loads(DATA.read_text(encoding="utf-8"))


def _steady(stored, matrix, set_name=None):
    return [
        r
        for r in stored["rows"]
        if r["matrix"] == matrix and r["steady"] and (set_name is None or r["set"] == set_name)
    ]


@pytest.mark.parametrize("matrix", ["block0.W1", "block0.W2"])
def test_frozen_constants_are_the_fit_to_the_calibration_set(stored, matrix):
    """CALIBRATED holds what :func:`calibrate` gives on the steady calibration rows (τ = 32–128,
    batch 128) and nothing else; the least-squares optimum is reproduced to 1% (optimizer
    convergence; the stored stable ranks are float64 means of float32 runs)."""
    cal = _steady(stored, matrix, "calibration")
    k = stored["task"]["input_dim"]
    fit = num.calibrate(
        [r["width"] for r in cal],
        [r["tau"] for r in cal],
        [r["batch"] for r in cal],
        [k] * len(cal),
        [r["stable_rank"] for r in cal],
    )
    for p in num.PARAMS:
        assert num.CALIBRATED[matrix][p] == pytest.approx(fit[p], rel=0.01), p
    assert stored["model"]["calibration"][matrix]["n_records"] == len(cal)


def _points(stored, **sel):
    return [p for p in stored["model"]["points"] if all(p[k] == v for k, v in sel.items())]


def test_stored_predictions_are_the_frozen_models(stored):
    """The comparison written to the JSON is what the frozen constants predict (they are rounded
    to 4 digits: 1e-3 relative)."""
    k = stored["task"]["input_dim"]
    for p in stored["model"]["points"]:
        pred = float(num.predict_srank(p["width"], p["tau"], p["batch"], k, num.CALIBRATED[p["matrix"]]))
        assert pred == pytest.approx(p["predicted"], rel=1e-3)


def test_w1_held_out_memory_lengths_are_predicted_from_width_64():
    """Held out: τ = 256 and 512 steps (calibrated on 32–128), batch 128. Tolerance, fixed before
    the held-out runs were looked at: |log(predicted/measured)| ≤ 0.2 for the seed mean (the
    single-seed scatter of log srank is 0.04, the in-sample error 0.06). It holds at widths
    64–256 (largest 0.14). It does NOT hold at width 32, where the model predicts 1.88 and 1.93
    against 1.52 and 1.57 measured (log ratios 0.22 and 0.21): that miss is reported, not
    asserted."""
    stored = json.loads(DATA.read_text(encoding="utf-8"))
    pts = [p for p in _points(stored, set="memory", matrix="block0.W1") if p["width"] >= 64]
    assert len(pts) == 6 and all(p["n_steady"] == 2 for p in pts)
    bad = [(p["tau"], p["width"], round(p["log_ratio"], 3)) for p in pts if abs(p["log_ratio"]) > 0.2]
    assert not bad, bad


def test_w1_held_out_small_batch_at_short_memory_is_predicted():
    """Held out: batch 32 at τ = 64 (b·τ = 2,048, below every calibrated b·τ): within the
    tolerance 0.2 at every width with a steady record (largest 0.15)."""
    stored = json.loads(DATA.read_text(encoding="utf-8"))
    pts = [p for p in _points(stored, set="batch", matrix="block0.W1", batch=32, tau=64.0) if p["n_steady"]]
    assert len(pts) == 4
    assert max(abs(p["log_ratio"]) for p in pts) <= 0.2


def test_w1_width_exponent_grows_with_memory_in_model_and_simulation(stored):
    """Qualitative only. ρ̂ of W1 over widths 32–256 at batch 128 rises with τ = 32 … 512
    (0.12, 0.26, 0.48, 0.54, 0.58) and so does the prediction (0.19, 0.26, 0.35, 0.39, 0.44), but
    at the held-out τ = 256, 512 the model under-predicts ρ by 0.15 and 0.13 (tolerance 0.1:
    missed, reported in the JSON's held_out_summary, not asserted)."""
    ex = sorted(
        (
            e
            for e in stored["model"]["exponents"]
            if e["matrix"] == "block0.W1" and e["set"] in ("calibration", "memory")
        ),
        key=lambda e: e["tau"],
    )
    assert [e["tau"] for e in ex] == [32, 64, 128, 256, 512]
    assert np.all(np.diff([e["rho_hat"] for e in ex]) > 0)
    assert np.all(np.diff([e["rho_predicted"] for e in ex]) > 0)


def test_w1_stable_rank_grows_with_batch_as_predicted_but_batch_is_not_memory(stored):
    """At τ = 64 the measured W1 stable rank rises with the batch (32 < 128 < 512) at every width
    where all three are steady, and the model orders them the same way. But the model's premise
    that only b·τ matters is refuted: batch 512 at τ = 64 gives a larger stable rank than batch
    128 at τ = 256 (same b·τ), and batch 32 at τ = 256 a smaller one than batch 128 at τ = 64 —
    the batch acts more strongly than the memory (asserted here as measured; the model predicts
    equality)."""

    def at(set_name, batch, tau, n):
        p = _points(stored, set=set_name, matrix="block0.W1", batch=batch, tau=float(tau), width=n)[0]
        return p["measured"], p["predicted"]

    for n in (32, 64):  # widths where b = 32, 128 and 512 at τ = 64 all have steady records
        (m32, p32), (m128, p128), (m512, p512) = (
            at("batch", 32, 64, n),
            at("calibration", 128, 64, n),
            at("batch", 512, 64, n),
        )
        assert m32 < m128 < m512 and p32 < p128 < p512
    for n in (64, 128):
        (big_b, pred_a), (long_tau, pred_b) = at("batch", 512, 64, n), at("memory", 128, 256, n)
        assert big_b > 1.2 * long_tau and pred_a == pytest.approx(pred_b)
        (small_b, _), (short_tau, _) = at("batch", 32, 256, n), at("calibration", 128, 64, n)
        assert small_b < short_tau


def test_a_tiny_simulation_at_an_untried_point_matches_the_prediction():
    """Runs W1 at width 48 and τ = 96 steps (neither among the stored runs; inside the calibrated
    range), seed 2, 600 steps ≈ 6τ, ~2 s. Tolerance on |log(measured/predicted)|: 0.28 = the
    held-out tolerance 0.2 plus two single-seed standard deviations of log srank (0.04 each,
    from the stored pairs of seeds), since this is one seed, not a seed mean. Measured
    2026-12-02: 2.22 against 2.01 predicted (log ratio 0.10)."""
    import sys

    from mupsim.analysis import steady_state
    from mupsim.experiments.common import BASE, relaxed
    from mupsim.sim import run

    sys.path.insert(0, str(DATA.parents[2] / "examples"))
    import stable_rank_check as check

    c = relaxed(BASE.replace(**check.TASK).replace(width=48, wd=check.TAU0 / 96, seed=2), 600)
    r = run(c)
    measured = steady_state(r, "stable_rank", "block0.W1")
    predicted = float(num.predict_srank(48, 96, 128, check.TASK["input_dim"], num.CALIBRATED["block0.W1"]))
    assert abs(math.log(measured / predicted)) <= 0.28


def test_w1_held_out_width_beyond_the_inputs_bends_over_as_predicted(stored):
    """Held out: width 512 > k = 256 at batch 128, τ = 256 (seed 0; the τ = 64 run is refused as
    still moving, −18% over its last half). Predicted before the run: stable rank 5.11 and a
    local width exponent from 256 to 512 of 0.27, down from 0.36 between 128 and 256 (the column
    dimensions run out at k). Measured: 5.56 (log ratio −0.08, within 0.2) and 0.26, down from
    0.41 (within 0.1)."""
    p = _points(stored, set="wide", matrix="block0.W1", tau=256.0, width=512)[0]
    assert p["n_steady"] == 1 and abs(p["log_ratio"]) <= 0.2
    e = [
        x for x in stored["model"]["wide_local_exponents"] if x["matrix"] == "block0.W1" and x["tau"] == 256
    ][0]
    assert abs(e["rho_hat"] - e["rho_predicted"]) <= 0.1
    below = _points(stored, set="memory", matrix="block0.W1", tau=256.0)
    s128, s256 = (next(q["measured"] for q in below if q["width"] == n) for n in (128, 256))
    assert e["rho_hat"] < math.log(s256 / s128) / math.log(2)  # the measured exponent bends over too

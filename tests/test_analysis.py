"""Behaviour of mupsim.analysis (pure functions; no simulations run here)."""

from types import SimpleNamespace

import numpy as np
import pytest

from mupsim.analysis import (
    normalized_spectrum,
    optimum_drift,
    parabola_vertex,
    power_law_fit,
    relaxation_time_fit,
    spectral_collapse,
    split_diverged,
    steady_state_mean,
    transfer_optimum,
)
from mupsim.errors import MupsimError


def _fake_result(width, seed, status="ok", loss=0.1):
    steps = np.array([0, 10, 100, 1000])
    tl = np.full(4, loss)
    if status == "diverged":
        tl[2:] = np.nan
    return SimpleNamespace(
        config={"width": width, "seed": seed, "lr": 1e-2, "wd": 0.1},
        status=status,
        diverged_step=100 if status == "diverged" else None,
        steps=steps,
        train_loss=tl,
        test_loss=tl,
    )


def test_power_law_fit_recovers_known_exponent():
    n = np.repeat([64, 128, 256, 512], 3)
    fit = power_law_fit(n, 2.5 * n**0.75)
    assert fit.exponent == pytest.approx(0.75, abs=1e-12)
    assert fit.prefactor == pytest.approx(2.5, rel=1e-10)


def test_bootstrap_interval_covers_true_exponent_for_noisy_data():
    rng = np.random.default_rng(1)
    n = np.repeat([64, 128, 256, 512, 1024], 8)
    covered = 0
    trials = 40
    for t in range(trials):
        y = n**0.6 * np.exp(0.2 * rng.standard_normal(n.size))
        lo, hi = power_law_fit(n, y, n_boot=300, seed=t).ci
        covered += lo <= 0.6 <= hi
    assert covered / trials >= 0.8


def test_bootstrap_interval_is_narrow_without_noise_and_wide_with_it():
    rng = np.random.default_rng(0)
    n = np.repeat([64, 128, 256], 4)
    clean = power_law_fit(n, n**1.0, n_boot=300)
    noisy = power_law_fit(n, n * np.exp(0.5 * rng.standard_normal(n.size)), n_boot=300)
    assert clean.ci[1] - clean.ci[0] < 1e-9
    assert noisy.ci[1] - noisy.ci[0] > 0.1


def test_power_law_fit_drops_nonfinite_values_and_counts_them():
    n = np.array([64, 64, 128, 128, 256, 256])
    y = np.array([1.0, np.nan, 2.0, 2.0, np.inf, 4.0])
    fit = power_law_fit(n, y)
    assert fit.n_dropped == 2
    assert fit.n_per_width == [1, 2, 1]
    assert fit.exponent == pytest.approx(1.0)


def test_power_law_fit_gives_no_interval_when_a_width_has_a_single_seed():
    n = np.array([64, 64, 128, 256, 256])
    fit = power_law_fit(n, n**1.0 * np.array([1.0, 1.1, 1.0, 0.9, 1.0]))
    assert np.isfinite(fit.exponent)
    assert all(np.isnan(fit.ci))


def test_power_law_fit_rejects_a_single_width():
    with pytest.raises(MupsimError, match="2 distinct widths"):
        power_law_fit([64, 64], [1.0, 2.0])


def test_diverged_runs_are_excluded_and_counted():
    runs = [
        _fake_result(64, 0),
        _fake_result(128, 0, "diverged"),
        _fake_result(256, 0),
        _fake_result(256, 1, "ok", loss=np.nan),
    ]
    split = split_diverged(runs)
    assert [r.config["width"] for r in split.kept] == [64, 256]
    assert split.n_dropped == 2
    recs = split.dropped_records()
    assert [r["status"] for r in recs] == ["diverged", "diverged"]
    assert recs[0]["width"] == 128 and recs[0]["diverged_step"] == 100


def test_steady_state_mean_averages_the_last_fraction_of_training():
    steps = np.arange(0, 101)
    values = np.where(steps >= 75, 2.0, 100.0)
    assert steady_state_mean(steps, values, fraction=0.25) == pytest.approx(2.0)


def test_steady_state_mean_widens_window_to_min_points_on_log_spaced_logs():
    steps = np.array([0, 1, 10, 100, 1000])
    values = np.array([9.0, 9.0, 3.0, 2.0, 1.0])
    assert steady_state_mean(steps, values, fraction=0.1, min_points=3) == pytest.approx(2.0)


def test_relaxation_time_fit_recovers_exponential_time_constant():
    steps = np.unique(np.round(np.geomspace(1, 5000, 60))).astype(float)
    steps = np.concatenate([[0.0], steps])
    tau = 400.0
    rms = np.sqrt(0.04 + (1.0 - 0.04) * np.exp(-steps / tau))
    fit = relaxation_time_fit(steps, rms)
    assert fit.ok
    assert fit.tau == pytest.approx(tau, rel=1e-3)
    assert fit.plateau == pytest.approx(0.04, rel=1e-3)


def test_relaxation_time_fit_flags_a_flat_series_as_unreliable():
    steps = np.arange(0, 1000, 10.0)
    fit = relaxation_time_fit(steps, 1.0 + 1e-4 * np.sin(steps))
    assert not fit.ok


def test_spectral_collapse_is_zero_for_spectra_that_differ_by_sqrt_lr_over_wd():
    base = np.linspace(3.0, 0.1, 50)
    pairs = [(1e-2, 0.1), (4e-2, 0.1), (1e-2, 0.4)]
    spectra = [base * np.sqrt(lr / wd) for lr, wd in pairs]
    raw = spectral_collapse(spectra)
    norm = spectral_collapse(spectra, [np.sqrt(lr / wd) for lr, wd in pairs])
    assert raw.max_rel_dev > 0.5
    assert norm.max_rel_dev == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(normalized_spectrum(spectra[1][::-1], 4e-2, 0.1), base)


def test_spectral_collapse_shape_ignores_overall_scale():
    base = np.linspace(3.0, 0.1, 20)
    c = spectral_collapse([base, 1.3 * base])
    assert c.top_rel_dev > 0.1
    assert c.shape_max_rel_dev == pytest.approx(0.0, abs=1e-12)


def test_spectral_collapse_rejects_spectra_of_different_lengths():
    with pytest.raises(MupsimError, match="equal length"):
        spectral_collapse([np.ones(3), np.ones(4)])


def test_transfer_optimum_of_parabola_is_its_vertex():
    x = np.arange(-6.0, 0.5, 1.0)
    loss = np.exp(0.3 * (x + 2.6) ** 2)  # log loss is an exact parabola with vertex -2.6
    opt = transfer_optimum(x, np.column_stack([loss, loss]), n_boot=50)
    assert opt.x_opt == pytest.approx(-2.6, abs=1e-9)
    assert not opt.at_edge
    assert opt.ci == pytest.approx((-2.6, -2.6), abs=1e-9)
    assert parabola_vertex([0, 1, 2], [1, 0, 1])[0] == pytest.approx(1.0)


def test_transfer_optimum_counts_diverged_cells_as_bad_losses():
    x = np.arange(5.0)
    loss = np.array([[5.0, 5.0], [3.0, 3.0], [2.0, 2.0], [1.0, np.inf], [4.0, 4.0]])
    opt = transfer_optimum(x, loss, n_boot=20)
    assert opt.n_diverged == 1
    assert opt.x_best_grid == 2.0


def test_transfer_optimum_flags_an_unbracketed_optimum():
    x = np.arange(5.0)
    opt = transfer_optimum(x, np.array([5.0, 4.0, 3.0, 2.0, 1.0]), n_boot=10)
    assert opt.at_edge and opt.x_opt == pytest.approx(4.0)


def test_optimum_drift_per_doubling_matches_linear_shift():
    x = np.arange(-8.0, 1.0, 1.0)
    widths = [64, 128, 256, 512]
    optima = []
    rng = np.random.default_rng(0)
    for k, _w in enumerate(widths):
        centre = -3.2 - 0.5 * k  # optimum moves by -0.5 per doubling
        L = np.exp(0.2 * (x[:, None] - centre) ** 2 + 0.01 * rng.standard_normal((x.size, 3)))
        optima.append(transfer_optimum(x, L, n_boot=200, seed=k))
    d = optimum_drift(widths, optima)
    assert d.per_doubling == pytest.approx(-0.5, abs=0.05)
    assert d.ci[0] <= d.per_doubling <= d.ci[1]
    assert d.ci[1] < 0


def test_seed_optimum_is_the_vertex_of_a_parabola_through_the_best_points():
    from mupsim.analysis.transfer import seed_optimum

    x = np.arange(0.0, 5.01, 0.5)
    y = 0.3 * (x - 2.35) ** 2 + 1.0  # exact parabola (e.g. log loss vs log2 λ)
    y[-1] = 50.0  # a far point that must not pull the fit
    for n_fit in (3, 4, 5):
        xo, edge = seed_optimum(x, y, n_fit)
        assert xo == pytest.approx(2.35, abs=1e-9) and not edge


def test_seed_optimum_ignores_diverged_points_and_flags_a_grid_edge_optimum():
    from mupsim.analysis.transfer import seed_optimum

    x = np.arange(6.0)
    xo, edge = seed_optimum(x, np.array([np.inf, 4.0, 3.0, 2.0, 1.5, 1.0]))
    assert edge and xo <= 5.0
    y = (x - 2.2) ** 2
    y[0], y[-1] = np.inf, np.nan  # diverged, missing: left out of the fit
    xo, edge = seed_optimum(x, y)
    assert not edge and xo == pytest.approx(2.2, abs=1e-9)
    with pytest.raises(MupsimError, match="n_fit"):
        seed_optimum(x, x, 7)


def test_seed_optimum_drift_recovers_the_slope_and_leaves_out_edge_seeds():
    from mupsim.analysis.transfer import seed_optimum_drift

    rng = np.random.default_rng(1)
    widths = [64, 128, 256]
    x = np.arange(0.0, 6.01, 0.5)
    S = 8
    shared = rng.normal(0, 0.3, S)  # per-seed offset shared by all widths (same data)
    Ls = []
    for k in range(3):
        centre = 3.0 + 0.4 * k + shared  # drift +0.4 per doubling
        centre[0] = 9.0 if k == 2 else centre[0]  # seed 0: optimum beyond the grid at n = 256
        Ls.append(np.exp(0.2 * (x[:, None] - centre[None, :]) ** 2))
    d = seed_optimum_drift(widths, [x] * 3, Ls, n_boot=500)
    assert d.n_seeds == S and d.n_used == S - 1 and d.edge[0][2]
    assert d.per_doubling == pytest.approx(0.4, abs=1e-6)
    assert d.ci == pytest.approx((0.4, 0.4), abs=1e-6)  # the shared offsets cancel in the pairing


def test_curve_shift_recovers_horizontal_offset_of_a_monotone_curve():
    from mupsim.analysis.transfer import curve_shift

    x = np.arange(-4.0, 6.0, 1.0)

    def loss(x, c):
        return 0.04 * (1 + np.exp(2.0 * (x - c)))  # flat, then rising: no bracketed optimum

    ref = np.column_stack([loss(x, 1.0)] * 2)
    moved = np.column_stack([loss(x, 2.5)] * 2)
    s = curve_shift(x, ref, x, moved, n_boot=20)
    assert s.shift == pytest.approx(1.5, abs=0.05)


def test_spectral_collapse_ignores_tails_below_the_relative_floor():
    bulk = np.linspace(3.0, 1.0, 10)
    a = np.concatenate([bulk, np.full(10, 1e-12)])
    b = np.concatenate([bulk, np.full(10, 1e-3)])
    c = spectral_collapse([a, b], rel_floor=0.05)
    assert c.n_compared == 10
    assert c.max_rel_dev == pytest.approx(0.0, abs=1e-12)


def test_seed_optimum_drift_gives_no_interval_from_a_single_usable_seed():
    from mupsim.analysis.transfer import seed_optimum_drift

    x = np.arange(0.0, 6.01, 0.5)
    Ls = [np.exp(0.2 * (x[:, None] - np.array([[3.0 + 0.4 * k, 9.0]])) ** 2) for k in range(3)]
    d = seed_optimum_drift([64, 128, 256], [x] * 3, Ls, n_boot=100)
    assert d.n_used == 1 and d.per_doubling == pytest.approx(0.4, abs=1e-6)
    assert all(np.isnan(d.ci))


def test_a_refused_record_keeps_its_value_and_reason_and_stays_out_of_the_fit():
    from mupsim.experiments.fake import fake_run
    from mupsim.experiments.figures import f3_sigma_max_vs_width as F3
    from mupsim.experiments.measures import fit_dict

    cs = F3.baseline_configs(True)
    short = [c.replace(steps=c.steps // 8) for c in cs[:2]]  # < 5τ: refused
    d = F3.analyse([fake_run(c) for c in cs + short], {})
    refused = [r for r in d["rows"] if r["status"] == "not_steady"]
    assert len(refused) >= 2 * len(d["matrices"])
    assert all(np.isfinite(r["sigma_over_sqrt"]) and r["excluded_reason"] for r in refused)
    m = d["matrices"][0]
    ok = [(r["width"], r["sigma_over_sqrt"]) for r in d["rows"] if r["matrix"] == m and r["status"] == "ok"]
    assert d["series"]["baseline"][m]["exponent"] == fit_dict(*zip(*ok))["exponent"]
    assert f"refused {len(refused)} of {len(d['rows'])} records" in d["headline"]

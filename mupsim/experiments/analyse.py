"""Per-figure analysis: stored Results -> JSON-able numbers behind each figure.

Every ``fN(results, ...)`` takes the loaded Results of that figure's spec (any order) and returns
a dict with:

* ``figure``, ``title``, ``claim``: what the figure shows and which claim it checks;
* ``summary``: the headline numbers (fits with intervals, collapse metrics, drifts);
* ``rows``: one flat dict per (run, matrix/point) plotted — diverged runs included with
  ``status = "diverged"`` and NaN values — written as the figure's CSV;
* ``series``: what the plotting function draws (lists of floats, JSON-able);
* ``dropped``: records of the diverged/errored runs left out of fits.

These functions only read the Results they are given; they never run a simulation.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from mupsim.analysis import (
    is_diverged,
    layer_settings,
    matrix_series,
    power_law_fit,
    relaxation_time_fit,
    spectral_collapse,
    split_diverged,
    steady_state,
    steady_state_mean,
    transfer_optimum,
    optimum_drift,
)
from mupsim.analysis.steady import horizon_mean, relax_time, run_steady_check
from mupsim.analysis.transfer import Shift, _mean_curve, curve_shift, seed_optimum_drift, shift_drift
from mupsim.analysis.runs import activation_series, hidden_matrices, run_record
from mupsim import steady_state as ss
from mupsim.errors import MupsimError
from mupsim.theory import wd_rules

NAN = float("nan")
SS_FRACTION = 0.25     # steady state = mean over the last quarter of training
LOSS_FRACTION = 0.1    # final loss = mean of the test loss over the last 10% of training


# ---------------------------------------------------------------------------- helpers
def _f(x) -> float:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return NAN
    return x


def _clean(obj):
    """Recursively turn numpy types into JSON-able Python (NaN/inf kept as floats)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_clean(v) for v in obj.tolist()]
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _fit_dict(widths, values, **kw) -> dict:
    """power_law_fit as a dict, or a dict of NaNs with the reason if it cannot be fitted."""
    try:
        return power_law_fit(widths, values, **kw).to_dict()
    except MupsimError as e:
        return {"exponent": NAN, "ci": [NAN, NAN], "error": str(e)}


def _status(r) -> str:
    if r.status != "ok":
        return r.status
    return "diverged" if is_diverged(r) else "ok"


def final_loss(result) -> float:
    """Mean test loss over the last LOSS_FRACTION of training (train loss if no test set);
    +inf for a diverged run."""
    if is_diverged(result):
        return math.inf
    loss = np.asarray(result.test_loss, float)
    if not np.isfinite(loss).any():
        loss = np.asarray(result.train_loss, float)
    return steady_state_mean(result.steps, loss, LOSS_FRACTION, min_points=3)


def _nanmean(values) -> float:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else NAN


def _fmt_ci(fit: dict, digits=2) -> str:
    e, (lo, hi) = fit.get("exponent", NAN), fit.get("ci", [NAN, NAN])
    if np.isfinite(e) and not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{e:.{digits}f} (no interval: one seed left at some fitted point)"
    return f"{e:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _base(name, title, claim, results, split) -> dict:
    return {"figure": name, "title": title, "claim": claim, "n_runs": len(results),
            "n_dropped": split.n_dropped, "dropped": split.dropped_records()}


def _open(name, title, claim, results):
    """A figure's diverged split, its :func:`_base` record and the hidden matrices of its runs."""
    split = split_diverged(results)
    mats = hidden_matrices(split.kept[0]) if split.kept else []
    return split, _base(name, title, claim, results, split), mats


def _steady_fields(result, matrix: str, metrics=("sigma_max",)) -> dict:
    """Steady-state check of ``result``'s ``metrics`` for ``matrix`` (all must pass) as CSV
    fields: relax_steps, n_relax, ss_drift (largest relative change over the last half among
    the metrics), steady, excluded_reason."""
    checks = [run_steady_check(result, q, matrix) for q in metrics]
    reasons = [f"{q}: {c.reason}" for q, c in zip(metrics, checks) if not c.ok]
    drifts = [c.drift for c in checks if np.isfinite(c.drift)]
    return {"relax_steps": checks[0].relax_time, "n_relax": checks[0].n_relax,
            "ss_drift": max(drifts, key=abs) if drifts else NAN, "steady": not reasons,
            "excluded_reason": "; ".join(reasons)}


def half_length_value(result, metric: str, matrix: str) -> float:
    """What the run reported as steady ``metric`` at half its length (window [3T/8, T/2])."""
    t, v = matrix_series(result, metric, matrix)
    return horizon_mean(t, v, 0.5 * float(t[-1]), SS_FRACTION) if len(t) else NAN


def normalized_sigma_half(result, matrix: str) -> float:
    """:func:`normalized_sigma` as the run would have reported it at half its length."""
    ls = layer_settings(result, matrix)
    if not (ls["lr"] > 0 and ls["wd"] > 0):
        return NAN
    return half_length_value(result, "sigma_max", matrix) / math.sqrt(ls["lr"] / ls["wd"])


def _settling(full: dict, half: dict) -> dict:
    """Exponent at full length vs at half length: has the fitted exponent stopped moving?"""
    e, h = full.get("exponent", NAN), half.get("exponent", NAN)
    d = e - h if np.isfinite(e) and np.isfinite(h) else NAN
    return {"exponent_at_half_length": h, "change_last_half": d,
            "settled": bool(np.isfinite(d) and abs(d) <= EXPONENT_SETTLED)}


EXPONENT_SETTLED = 0.05
"""A fitted width exponent counts as settled when it moved ≤ 0.05 over the last half of the runs."""


def _excluded(rows) -> list[dict]:
    """The (run, matrix) rows refused for not being in steady state, with the reason."""
    return [{k: row.get(k) for k in ("key", "width", "seed", "wd_rule", "matrix", "n_relax",
                                     "ss_drift", "excluded_reason")}
            for row in rows if row.get("status") == "not_steady"]


# ---------------------------------------------------------------------------- F1
def pair_label(lr_mult: float, wd_mult: float) -> str:
    def m(x):
        return "" if x == 1 else ("/2" if x == 0.5 else f"{x:g}·")
    a = "η" if lr_mult == 1 else (f"η{m(lr_mult)}" if lr_mult < 1 else f"{m(lr_mult)}η")
    b = "λ" if wd_mult == 1 else (f"λ{m(wd_mult)}" if wd_mult < 1 else f"{m(wd_mult)}λ")
    return f"({a}, {b})"


def _pairs(results, lr0, wd0):
    groups = defaultdict(list)
    for r in results:
        key = (round(r.config["lr"] / lr0, 6), round(r.config["wd"] / wd0, 6))
        groups[key].append(r)
    return groups


F1_RUN_LENGTHS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0)
"""Run lengths (in relaxation times τ of each width) at which F1 refits the width exponents."""
F1_FIXED_STEPS = 1200
"""The old design's run length (every width 1,200 steps): its exponents are shown for contrast."""
F1_CURVE_POINTS = 80


def _rule_label(c) -> str:
    return wd_rules.get(c["wd_rule"]).plot_label(c.get("alignment_exponent"))


def f1(results) -> dict:
    """F1 (Fan et al. 2025, Fig. 1, across widths): sublayer gain and σ_max of the hidden
    matrices vs t/τ (τ = 1/(2η_lλ_l) of each width) under each wd rule, and the width exponent
    of the gain/σ_max a run would report had it stopped after x relaxation times."""
    split, out, mats = _open(
        "f1_gain_vs_step", "Gain and σ_max vs t/τ across widths (Fan et al. Fig. 1)",
        "C3/C5: under a width-invariant rule the curves of all widths coincide in steady "
        "state; the measured exponent settles only after several relaxation times", results)
    by_rule = defaultdict(list)
    for r in results:
        by_rule[_rule_label(r.config)].append(r)
    rows, series, summary = [], {}, {"exponent_vs_run_length": {}, "fixed_steps": {},
                                     "final": {}}
    xgrid = np.geomspace(0.05, max(F1_RUN_LENGTHS), F1_CURVE_POINTS)
    fixed_steps = min([F1_FIXED_STEPS] + [int(r.steps[-1]) for r in split.kept])
    for rule, runs in sorted(by_rule.items()):
        ok = [r for r in runs if _status(r) == "ok"]
        series[rule] = {}
        for m in mats:
            per_w = defaultdict(lambda: {"gain": [], "sigma_max": []})
            pts = {x: {"gain": ([], []), "sigma_max": ([], [])} for x in F1_RUN_LENGTHS}
            fixed = {"gain": ([], []), "sigma_max": ([], [])}
            for r in ok:
                w = r.config["width"]
                ls = layer_settings(r, m)
                tau = relax_time(ls["lr"], ls["wd"])
                for q in ("gain", "sigma_max"):
                    t, v = matrix_series(r, q, m)
                    v = v * (ls["multiplier"] if q == "sigma_max" else 1.0)
                    per_w[w][q].append(np.interp(xgrid * tau, t, v, right=NAN))
                    for x in F1_RUN_LENGTHS:
                        pts[x][q][0].append(w)
                        pts[x][q][1].append(horizon_mean(t, v, x * tau, SS_FRACTION))
                    fixed[q][0].append(w)
                    fixed[q][1].append(horizon_mean(t, v, fixed_steps, SS_FRACTION))
                rows.append(run_record(r, rule=rule, matrix=m, status="ok", relax_steps=tau,
                                       n_relax=float(r.steps[-1]) / tau,
                                       **{f"{q}_at_{x:g}tau": pts[x][q][1][-1]
                                          for q in ("gain", "sigma_max") for x in F1_RUN_LENGTHS}))
            series[rule][m] = {str(w): {q: np.nanmean(np.vstack(d[q]), 0).tolist()
                                        for q in ("gain", "sigma_max")}
                               for w, d in sorted(per_w.items())}
            series[rule][m]["x"] = xgrid.tolist()
            summary["exponent_vs_run_length"].setdefault(rule, {})[m] = {
                q: {f"{x:g}": _fit_dict(*pts[x][q], n_boot=1000) for x in F1_RUN_LENGTHS}
                for q in ("gain", "sigma_max")}
            summary["fixed_steps"].setdefault(rule, {})[m] = {
                q: _fit_dict(*fixed[q], n_boot=1000) for q in ("gain", "sigma_max")}
        for r in runs:
            if _status(r) != "ok":
                rows.append(run_record(r, rule=rule, status=_status(r)))
    out.update(rows=rows, series=series, summary=summary, matrices=mats,
               run_lengths=list(F1_RUN_LENGTHS), fixed_steps=fixed_steps)
    m0 = mats[0] if mats else None
    last = f"{max(F1_RUN_LENGTHS):g}"
    parts = []
    for rule, d in summary["exponent_vs_run_length"].items():
        if m0 in d:
            parts.append(f"{rule} {_fmt_ci(d[m0]['gain'][last])} "
                         f"(at {fixed_steps} steps {_fmt_ci(summary['fixed_steps'][rule][m0]['gain'])})")
    out["headline"] = (f"gain exponent of {m0} at {last}τ: " + ", ".join(parts)
                       + f"; dropped {split.n_dropped}")
    return _clean(out)


def _max_over_min(values) -> float:
    v = np.asarray([x for x in values if np.isfinite(x) and x > 0], float)
    return float(v.max() / v.min()) if v.size >= 2 else NAN


# ---------------------------------------------------------------------------- F2
def f2(results, lr0: float, wd0: float) -> dict:
    """F2: final singular spectra of F1's runs, raw and divided by √(η_l/λ_l)."""
    split, out, mats = _open(
        "f2_spectra_collapse", "Final singular spectra, raw and divided by √(η/λ)",
        "C1: in steady state the spectrum scales as √(η/λ) with an invariant shape", results)
    steady_rows = []
    refused = set()
    for r in split.kept:
        for m in mats:
            chk = _steady_fields(r, m, ("gain", "sigma_max"))
            ls = layer_settings(r, m)
            steady_rows.append(run_record(
                r, matrix=m, pair=pair_label(round(r.config["lr"] / lr0, 6),
                                             round(r.config["wd"] / wd0, 6)),
                status="ok" if chk["steady"] else "not_steady",
                gain_ss=steady_state(r, "gain", m, SS_FRACTION),
                sigma_over_sqrt=steady_state(r, "sigma_max", m, SS_FRACTION)
                / math.sqrt(ls["lr"] / ls["wd"]), eta_over_lambda=ls["lr"] / ls["wd"],
                decay_per_step=ls["lr"] * ls["wd"], steps=r.config["steps"], **chk))
            if not chk["steady"]:
                refused.add(id(r))
    groups = _pairs([r for r in split.kept if id(r) not in refused], lr0, wd0)
    series, rows, summary = {}, [], {}
    for m in mats:
        spectra, scales, labels, mults = [], [], [], []
        for (a, b), runs in sorted(groups.items()):
            S = np.vstack([np.sort(r.spectra[m])[::-1] for r in runs])
            s = np.exp(np.log(np.clip(S, 1e-300, None)).mean(0))  # geometric mean over seeds
            ls = layer_settings(runs[0], m)
            scale = math.sqrt(ls["lr"] / ls["wd"])
            spectra.append(s)
            scales.append(scale)
            labels.append(pair_label(a, b))
            mults.append((a, b))
            for k, v in enumerate(s):
                rows.append({"matrix": m, "pair": pair_label(a, b), "lr_mult": a, "wd_mult": b,
                             "index": k, "sigma": float(v), "sigma_normalized": float(v / scale),
                             "sqrt_lr_over_wd": scale, "n_seeds": len(runs)})
        if len(spectra) < 2:
            continue
        raw = spectral_collapse(spectra)
        norm = spectral_collapse(spectra, scales)
        eq = [i for i, (a, b) in enumerate(mults) if a == b]
        eq_eta = [i for i, (a, b) in enumerate(mults) if a == 1]
        eq_decay = [i for i, (a, b) in enumerate(mults) if abs(a * b - 1) < 1e-9]
        sub = {}
        if len(eq_decay) >= 2:
            sub["equal_decay_pairs"] = {
                "raw": spectral_collapse([spectra[i] for i in eq_decay]).to_dict(),
                "normalized": spectral_collapse([spectra[i] for i in eq_decay],
                                                [scales[i] for i in eq_decay]).to_dict(),
                "pairs": [labels[i] for i in eq_decay]}
        if len(eq) >= 2:
            sub["equal_ratio_pairs"] = spectral_collapse([spectra[i] for i in eq],
                                                         [scales[i] for i in eq]).to_dict()
        if len(eq_eta) >= 2:
            sub["equal_eta_pairs"] = spectral_collapse([spectra[i] for i in eq_eta],
                                                       [scales[i] for i in eq_eta]).to_dict()
        # how the normalized σ_max trends with η/λ at equal ηλ (C1 predicts exponent 0)
        eq_rows = [row for row in steady_rows if row["matrix"] == m and row["status"] == "ok"]
        dps = {}
        for row in eq_rows:
            dps.setdefault(round(math.log2(row["decay_per_step"]), 6), []).append(row)
        ref_decay = max(dps, key=lambda k: len({r_["pair"] for r_ in dps[k]})) if dps else None
        trend = {}
        if ref_decay is not None and len({r_["pair"] for r_ in dps[ref_decay]}) >= 2:
            pts = dps[ref_decay]
            trend = _fit_dict([r_["eta_over_lambda"] for r_ in pts],
                              [r_["sigma_over_sqrt"] for r_ in pts], n_boot=1000)
            trend["pairs"] = sorted({r_["pair"] for r_ in pts})
        top_norm = [sp[0] / sc for sp, sc in zip(spectra, scales)]
        summary[m] = {"raw": raw.to_dict(), "normalized": norm.to_dict(), **sub,
                      "sigma_max_normalized_max_over_min": float(max(top_norm) / min(top_norm)),
                      "trend_vs_eta_over_lambda_at_equal_decay": trend}
        series[m] = {lab: {"sigma": s.tolist(), "scale": sc}
                     for lab, s, sc in zip(labels, spectra, scales)}
    # steady sublayer gain per pair (was F1): not a function of η/λ alone
    gains = defaultdict(dict)
    for row in steady_rows:
        if row["status"] == "ok":
            gains[row["matrix"]].setdefault(row["pair"], []).append(row["gain_ss"])
    mult = {pair_label(a, b): (a, b) for (a, b) in _pairs(split.kept, lr0, wd0)}
    gain_summary = {}
    for m, d in gains.items():
        g = {p: float(np.mean(v)) for p, v in d.items()}
        eq = [v for p, v in g.items() if mult[p][0] == mult[p][1]]
        gain_summary[m] = {"steady_gain": g, "max_over_min_equal_ratio": _max_over_min(eq),
                           "max_over_min_all": _max_over_min(list(g.values()))}
    summary["steady_gain"] = gain_summary
    summary["excluded_not_steady"] = _excluded(steady_rows)
    summary["rel_dev_definition"] = (
        "max_rel_dev = max over spectra and indices k (σ_k ≥ 5% σ_1) of |σ_k / geometric mean "
        "over spectra − 1|; max_over_min = largest / smallest value across spectra")
    out.update(rows=rows + steady_rows, series=series, summary=summary, matrices=mats)
    heads = []
    for m in mats:
        d = summary.get(m)
        if not d:
            continue
        h = (f"{m}: σ_max/√(η/λ) max/min {d['sigma_max_normalized_max_over_min']:.2f} over all "
             f"pairs")
        t = d.get("trend_vs_eta_over_lambda_at_equal_decay") or {}
        if t:
            h += f", trend at equal ηλ ∝ (η/λ)^{_fmt_ci(t)}"
        heads.append(h)
    out["headline"] = "; ".join(heads) + f"; dropped {split.n_dropped}" + \
        f"; not steady (excluded) {len(summary['excluded_not_steady'])}"
    return _clean(out)


# ---------------------------------------------------------------------------- F3
def normalized_sigma(result, matrix: str) -> float:
    """Steady-state σ_max of a matrix's raw parameter w divided by √(η_l/λ_l) of its layer
    (the steady-state scale of w; NaN if λ_l = 0). Hidden matrices have multiplier 1 in μP."""
    ls = layer_settings(result, matrix)
    if not (ls["lr"] > 0 and ls["wd"] > 0):
        return NAN
    return steady_state(result, "sigma_max", matrix, SS_FRACTION) / math.sqrt(ls["lr"] / ls["wd"])


def f3(results, variants: dict) -> dict:
    """F3: σ_max/√(η_l/λ_l) vs width; α̂ with a seed-bootstrap CI per variant and matrix.

    ``variants``: {field: (baseline value, other values...)} as in specs.F3_VARIANTS.
    """
    split, out, mats = _open(
        "f3_sigma_max_vs_width", "Top singular value vs width at equal η_l·λ_l",
        "C2: σ_max ≈ √(η/λ)·n^α; α measured with a 95% CI", results)
    base_vals = {k: v[0] for k, v in variants.items()}

    def variant_of(c):
        diff = [(k, c.get(k)) for k in variants if c.get(k) != base_vals[k]]
        return ("baseline", None) if not diff else diff[0]

    groups = defaultdict(list)
    for r in results:
        groups[variant_of(r.config)].append(r)
    rows, fits = [], {}
    for (field, value), runs in groups.items():
        vlabel = "baseline" if field == "baseline" else f"{field}={value}"
        per_matrix = defaultdict(lambda: ([], []))
        per_matrix_half = defaultdict(lambda: ([], []))
        pooled = ([], [])
        for r in runs:
            st = _status(r)
            vals = {}
            for m in mats:
                y = normalized_sigma(r, m) if st == "ok" else NAN
                yh = normalized_sigma_half(r, m) if st == "ok" else NAN
                chk = _steady_fields(r, m) if st == "ok" else {}
                row = run_record(r, variant=vlabel, matrix=m, status=st, sigma_over_sqrt=y)
                if chk and not chk["steady"]:
                    row["status"], y = "not_steady", NAN
                row["sigma_over_sqrt"] = y
                row["sigma_over_sqrt_half_length"] = yh if np.isfinite(y) else NAN
                per_matrix_half[m][0].append(r.config["width"])
                per_matrix_half[m][1].append(row["sigma_over_sqrt_half_length"])
                vals[m] = y
                row.update(chk)
                if st == "ok":
                    ls = layer_settings(r, m)
                    row.update(lr_layer=ls["lr"], wd_layer=ls["wd"],
                               sigma_max_ss=steady_state(r, "sigma_max", m, SS_FRACTION),
                               rms_ss=steady_state(r, "rms", m, SS_FRACTION),
                               gain_ss=steady_state(r, "gain", m, SS_FRACTION))
                rows.append(row)
                per_matrix[m][0].append(r.config["width"])
                per_matrix[m][1].append(y)
            pooled[0].append(r.config["width"])
            pooled[1].append(math.exp(np.mean(np.log(list(vals.values())))) if vals and all(
                np.isfinite(v) and v > 0 for v in vals.values()) else NAN)
        fits[vlabel] = {m: _fit_dict(*per_matrix[m]) for m in mats}
        for m in mats:
            fits[vlabel][m].update(_settling(fits[vlabel][m], _fit_dict(*per_matrix_half[m])))
        fits[vlabel]["pooled_hidden"] = _fit_dict(*pooled)
        fits[vlabel]["diverged_widths"] = sorted(
            {r.config["width"] for r in runs if _status(r) != "ok"})
        fits[vlabel]["field"] = field
    # the variants may cover fewer widths than the baseline: refit the baseline on the
    # widths every group has, for a like-for-like comparison in the variant panels
    common = set.intersection(*[{r.config["width"] for r in runs} for runs in groups.values()]) \
        if groups else set()
    base_widths = {r.config["width"] for r in groups.get(("baseline", None), [])}
    if common and base_widths - common:
        sub = [r for r in groups[("baseline", None)] if r.config["width"] in common]
        fc = {}
        for m in mats:
            pts = [(row["width"], row["sigma_over_sqrt"]) for row in rows
                   if row["variant"] == "baseline" and row["matrix"] == m and row["width"] in common]
            fc[m] = _fit_dict(*zip(*pts)) if pts else {}
        fc["field"] = "baseline_common"
        fc["widths"] = sorted(common)
        fc["n_runs"] = len(sub)
        fits["baseline@common"] = fc
    base = fits.get("baseline", {})
    alpha = base.get("pooled_hidden", {}).get("exponent", NAN)
    summary = {"alpha_hat": alpha, "alpha_hat_ci": base.get("pooled_hidden", {}).get("ci"),
               "fits": fits, "reference_slopes": [0.5, 0.75, 1.0],
               "excluded_not_steady": _excluded(rows)}
    out.update(rows=rows, series=fits, summary=summary, matrices=mats, variants=
               {k: list(v) for k, v in variants.items()})
    per_var = ", ".join(f"{k}: {_fmt_ci(v['pooled_hidden'])}" for k, v in fits.items()
                        if not k.startswith("baseline"))
    out["headline"] = (f"alpha_hat (hidden, pooled) = {_fmt_ci(base.get('pooled_hidden', {}))}"
                       + "".join(f"; {m} {_fmt_ci(base.get(m, {}))}" for m in mats)
                       + f"; variants: {per_var}; dropped {split.n_dropped}"
                       + f"; not steady (excluded) {len(summary['excluded_not_steady'])}")
    return _clean(out)


# ---------------------------------------------------------------------------- F4
def f4(results) -> dict:
    """F4: steady-state sublayer gain and σ_max vs width under each wd rule (μP η)."""
    split, out, mats = _open(
        "f4_wd_rules", "Sublayer gain and σ_max vs width under each weight-decay rule",
        "C3/C5: with λ ∝ n^(2α̂−1) gain and σ_max are width-invariant; constant λ drifts", results)
    by_rule = defaultdict(list)
    for r in results:  # one group per rule and, for alignment, per α̂ (in-sample and out of sample)
        by_rule[_rule_label(r.config)].append(r)
    rows, fits = [], {}
    for label, runs in by_rule.items():
        data = {m: {"gain": ([], []), "sigma_max": ([], [])} for m in mats}
        for r in runs:
            st = _status(r)
            for m in mats:
                row = run_record(r, rule=label, matrix=m, status=st)
                mult = layer_settings(r, m)["multiplier"] if st == "ok" else NAN
                chk = _steady_fields(r, m, ("gain", "sigma_max")) if st == "ok" else {}
                row.update(chk)
                if chk and not chk["steady"]:
                    row["status"] = "not_steady"
                for q in ("gain", "sigma_max"):
                    v = steady_state(r, q, m, SS_FRACTION) if st == "ok" else NAN
                    if q == "sigma_max":
                        v *= mult  # σ_max of the effective weight multiplier·w
                    row[f"{q}_ss"] = v  # reported for every run; fitted only when steady
                    data[m][q][0].append(r.config["width"])
                    data[m][q][1].append(v if row["status"] == "ok" else NAN)
                if st == "ok":
                    ls = layer_settings(r, m)
                    row.update(lr_layer=ls["lr"], wd_layer=ls["wd"], steps=r.config["steps"])
                rows.append(row)
        fits[label] = {m: {q: _fit_dict(*data[m][q]) for q in ("gain", "sigma_max")}
                       for m in mats}
        fits[label]["diverged_widths"] = sorted(
            {r.config["width"] for r in runs if _status(r) != "ok"})
    excl = _excluded(rows)
    n_relax = [row["n_relax"] for row in rows if row.get("status") in ("ok", "not_steady")]
    out.update(rows=rows, series=fits, matrices=mats,
               summary={"fits": fits, "excluded_not_steady": excl,
                        "min_relaxation_times": min(n_relax) if n_relax else NAN})
    m0 = mats[0] if mats else None
    out["headline"] = "gain exponent " + (m0 or "") + ": " + ", ".join(
        f"{k} {_fmt_ci(v[m0]['gain'])}" for k, v in fits.items() if m0) + \
        f"; dropped {split.n_dropped}; not steady (excluded) {len(excl)}"
    return _clean(out)


# ---------------------------------------------------------------------------- F5
def _loss_grid(results, group_key, x_field, loss=None):
    """{group: {width: (x [X], losses [X, S])}} with +inf for diverged runs, NaN if missing;
    ``loss`` (default :func:`final_loss`) turns a result into its loss."""
    loss = loss or final_loss
    cells = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    for r in results:
        c = r.config
        cells[group_key(c)][c["width"]][c[x_field]][c["seed"]] = loss(r)
    out = {}
    for g, per_w in cells.items():
        out[g] = {}
        for w, per_x in per_w.items():
            xs = sorted(per_x)
            seeds = sorted({s for d in per_x.values() for s in d})
            L = np.array([[per_x[x].get(s, NAN) for s in seeds] for x in xs], float)
            out[g][w] = (np.array(xs, float), L)
    return out


def _transfer_panel(grid: dict, per_seed: bool = False) -> dict:
    """Optimum per width and drift per doubling for one panel (x in log2 units), plus the
    curve-shift drift (alignment of each width's whole loss curve with the proxy width's).
    ``per_seed``: also the optimum of every seed's own curve (parabola through its 5 best-placed
    grid points) and the drift from those, seeds paired across widths
    (:func:`~mupsim.analysis.transfer.seed_optimum_drift`; seeds with an optimum at a grid edge
    left out and counted)."""
    panel, optima, widths, shifts = {}, [], [], []
    w_ref = min(grid) if grid else None
    for w in sorted(grid):
        xs, L = grid[w]
        opt = transfer_optimum(np.log2(xs), L, n_boot=1000, seed=int(w))
        if w == w_ref:  # the reference curve is aligned with itself
            sh = Shift(0.0, (0.0, 0.0), boot=np.zeros(SHIFT_BOOT))
        else:
            xr, Lr = grid[w_ref]
            sh = curve_shift(np.log2(xr), Lr, np.log2(xs), L, n_boot=SHIFT_BOOT, seed=int(w))
        shifts.append(sh)
        optima.append(opt)
        widths.append(w)
        mean = _mean_curve(L)
        panel[str(w)] = {"x": xs.tolist(), "loss_mean": mean.tolist(),
                         "loss_min": np.nanmin(np.where(np.isinf(L), np.nan, L), 1).tolist()
                         if np.isfinite(L).any() else [NAN] * len(xs),
                         "diverged": np.isinf(L).any(1).tolist(),
                         "optimum": opt.to_dict(), "curve_shift": sh.to_dict()}
    drift = optimum_drift(widths, optima).to_dict() if len(widths) >= 2 else {}
    sdrift = shift_drift(widths, shifts).to_dict() if len(widths) >= 2 else {}
    out = {"widths": panel, "drift": drift, "shift_drift": sdrift}
    seeds = {grid[w][1].shape[1] for w in widths}
    if per_seed and len(widths) >= 2 and len(seeds) == 1:
        sd = seed_optimum_drift(widths, [np.log2(grid[w][0]) for w in widths],
                                [grid[w][1] for w in widths], n_boot=2000, seed=0)
        out["seed_drift"] = sd.to_dict()
        for k, w in enumerate(widths):
            panel[str(w)]["seed_optimum"] = {
                "x_opt": sd.optima[k], "ci": sd.optima_ci[k],
                "n_edge": int(sum(e[k] for e in sd.edge)), "n_seeds": sd.n_seeds,
                "n_used": sd.n_used, "per_seed": [o[k] for o in sd.per_seed]}
    return out


SHIFT_BOOT = 300


def lr_panels(lr_results) -> dict:
    """F5a panels (one per parameterization variant): optimum per width and drifts."""
    return {p: _transfer_panel(grid)
            for p, grid in sorted(_loss_grid(lr_results, _lr_variant, "lr").items())}


def _lr_variant(c) -> str:
    """F5a series label: the parameterization, marked when trained with one global η."""
    return f"{c['parameterization']} (global η)" if c.get("global_lr") else c["parameterization"]


def f5(lr_results, wd_results, wd_lr: float | None = None, lr_panels_: dict | None = None) -> dict:
    """F5: learning-rate transfer (SP vs μP, no wd) and weight-decay transfer per wd rule.

    ``lr_panels_``: :func:`lr_panels` of ``lr_results`` if already computed."""
    allr = list(lr_results) + list(wd_results)
    split = split_diverged(allr)
    out = _base("f5_transfer", "Loss-optimal η and λ across widths",
                "C4: the optimum found at the proxy width transfers (drift per doubling ≈ 0)",
                allr, split)
    rows = []
    for r in allr:
        rows.append(run_record(r, sweep="lr" if r.config["wd"] == 0 else "wd",
                               status=_status(r), final_loss=final_loss(r)))
    lr_p = lr_panels(lr_results) if lr_panels_ is None else lr_panels_
    wd_panels = {rule: _transfer_panel(grid, per_seed=True)
                 for rule, grid in sorted(_loss_grid(wd_results, wd_rule_label, "wd").items())}
    summary = {"lr": {p: v["drift"] for p, v in lr_p.items()},
               "wd": {p: v["drift"] for p, v in wd_panels.items()},
               "wd_per_seed": {p: v.get("seed_drift", {}) for p, v in wd_panels.items()},
               "lr_curve_shift": {p: v["shift_drift"] for p, v in lr_p.items()},
               "wd_curve_shift": {p: v["shift_drift"] for p, v in wd_panels.items()},
               "wd_sweep_lr": wd_lr,
               "units": "drift = change of log2(optimal value) per doubling of width; "
                        "curve_shift = the same for the shift aligning each width's whole "
                        "loss curve with the proxy width's (usable when the optimum sits at "
                        "the grid edge); wd_per_seed = the drift from each seed's own optimum "
                        "(parabola in log2 λ through its 5 best-placed grid points), mean of "
                        "the per-seed slopes over the seeds bracketed at every width (n_used "
                        "of n_seeds), interval from resampling those seeds"}
    out.update(rows=rows, series={"lr": lr_p, "wd": wd_panels}, summary=summary)

    def d(v):
        if not v:
            return "n/a"
        edge = " (edge!)" if v.get("any_at_edge") else ""
        return f"{v['per_doubling']:+.2f} [{v['ci'][0]:+.2f}, {v['ci'][1]:+.2f}]{edge}"
    def ds(v):
        return _fmt_seed_drift(v, "seeds bracketed")
    out["headline"] = ("optimum drift/doubling lr: "
                       + ", ".join(f"{p} {d(v)}" for p, v in summary["lr"].items())
                       + "; wd (per-seed optima): "
                       + ", ".join(f"{p} {ds(v)}" for p, v in summary["wd_per_seed"].items())
                       + "; wd (seed-mean curve): "
                       + ", ".join(f"{p} {d(v)}" for p, v in summary["wd"].items())
                       + "; curve-shift drift wd: "
                       + ", ".join(f"{p} {d(v)}" for p, v in summary["wd_curve_shift"].items())
                       + f"; dropped {split.n_dropped}")
    return _clean(out)


def _fmt_seed_drift(v: dict, seeds_word: str) -> str:
    """'+0.39 [+0.36, +0.43] (6/6 <seeds_word>)' for a per-seed drift record, 'n/a' if none."""
    if not v:
        return "n/a"
    return (f"{v['per_doubling']:+.2f} [{v['ci'][0]:+.2f}, {v['ci'][1]:+.2f}] "
            f"({v['n_used']}/{v['n_seeds']} {seeds_word})")


def wd_rule_label(c) -> str:
    """A run's weight-decay rule as F5 labels it: the rule, with the embedding/readout override
    when there is one (the fan2025 ablation: 'fan2025 + emb/readout constant')."""
    io = c.get("io_wd_rule")
    return f"{c['wd_rule']} + emb/readout {io}" if io else str(c["wd_rule"])


def best_lr(panels: dict, parameterization: str = "mup") -> float:
    """Grid learning rate nearest the optimum at the smallest width (for F5's wd sweep);
    ``panels`` from :func:`lr_panels`."""
    panel = panels[parameterization]["widths"]
    w0 = min(panel, key=lambda s: int(s))
    xs = np.asarray(panel[w0]["x"], float)
    xo = panel[w0]["optimum"]["x_opt"]
    if not np.isfinite(xo):
        raise MupsimError("no finite learning-rate optimum at the proxy width")
    return float(xs[np.argmin(np.abs(np.log2(xs) - xo))])


# ---------------------------------------------------------------------------- F5c
def end_loss(result) -> float:
    """Held-out loss of the final model (the last logged step; +inf if diverged): F5c's measure,
    where the cosine schedule has brought η to zero and the final model is the one that counts."""
    if is_diverged(result):
        return math.inf
    loss = np.asarray(result.test_loss, float)
    return float(loss[-1]) if loss.size and np.isfinite(loss[-1]) else NAN


def _heat_cells(results) -> dict:
    """{width: {"lr": [...], "wd": [...], "seeds": [...], "loss": [lr][wd] seed-mean (+inf if any
    seed diverged), "loss_no_wd": [lr]}} of F5c's heatmap runs."""
    cells = defaultdict(lambda: defaultdict(dict))
    for r in results:
        c = r.config
        cells[c["width"]][(c["lr"], c["wd"])][c["seed"]] = end_loss(r)
    out = {}
    for w, d in sorted(cells.items()):
        lrs = sorted({k[0] for k in d})
        wds = sorted({k[1] for k in d if k[1] > 0})
        seeds = sorted({s for v in d.values() for s in v})

        def mean(lr, wd):
            v = np.array([d.get((lr, wd), {}).get(s, NAN) for s in seeds], float)
            if np.isinf(v).any():
                return math.inf
            return float(np.mean(v)) if np.isfinite(v).all() else NAN
        out[w] = {"lr": lrs, "wd": wds, "seeds": seeds,
                  "loss": [[mean(lr, wd) for wd in wds] for lr in lrs],
                  "loss_no_wd": [mean(lr, 0.0) for lr in lrs]}
    return out


def best_onepass_lr(heat_results) -> float:
    """F5c: the η of the best heatmap cell (seed-mean final loss, any λ incl. 0) at the smallest
    width — the η the λ sweep runs at."""
    cells = _heat_cells(heat_results)
    if not cells:
        raise MupsimError("no F5c heatmap runs to choose a learning rate from")
    h = cells[min(cells)]
    L = np.column_stack([np.asarray(h["loss"], float), np.asarray(h["loss_no_wd"], float)])
    L = np.where(np.isfinite(L), L, np.inf)
    if not np.isfinite(L).any():
        raise MupsimError("every F5c heatmap run at the proxy width diverged")
    i = int(np.unravel_index(np.argmin(L), L.shape)[0])
    return float(h["lr"][i])


def f5c(heat, sweep, factors: dict, lr: float) -> dict:
    """F5c: the one-pass regime (fresh data, cosine schedule, a task richer than every student).

    ``heat``: the (η, λ) heatmap runs (fan2025 rule: hidden matrices decayed only, and λ = 0);
    ``sweep``: the λ sweep at ``lr`` (its seeds; runs with ``io_wd_rule`` are the ablation with
    embedding and readout decayed); ``factors``: {rule: {width: λ_hidden/λ}} from the calculator
    (:func:`mupsim.experiments.specs.hidden_wd_factors`). With embedding and readout undecayed the
    rules differ only in the hidden λ's width exponent, so a run at base λ under fan2025 is the
    run at base λ·f_fan(n)/f_rule(n) under each other rule: every rule's optimum and drift come
    from the same runs, read in its own coordinates."""
    allr = list({run_record(r)["key"]: r for r in [*heat, *sweep]}.values())  # shared runs once
    split = split_diverged(allr)
    out = _base("f5c_onepass_transfer",
                "One-pass regime: final loss over (η, λ) per width and rule, and λ transfer",
                "C4 in the regime of the paper: the λ optimum transfers under the right rule",
                allr, split)
    main = [r for r in sweep if not r.config.get("io_wd_rule")]
    abl = [r for r in sweep if r.config.get("io_wd_rule")]
    if {r.config["wd_rule"] for r in main} - {"fan2025"}:
        raise MupsimError("F5c reads its λ sweep in every rule's coordinates from fan2025 runs "
                          "(hidden matrices decayed only); got runs under "
                          f"{sorted({str(r.config['wd_rule']) for r in main})}")
    fan = factors.get("fan2025")
    if not fan:
        raise MupsimError("F5c needs the fan2025 rule's hidden-λ factors (its runs use it)")
    rows = []
    for part, rs in (("heat", heat), ("sweep", main), ("ablation", abl)):
        for r in rs:
            c = r.config
            h = layer_settings(r, "W1") if r.status == "ok" else {}
            rows.append(run_record(r, part=part, io_wd_rule=c.get("io_wd_rule"),
                                   hidden_wd=h.get("wd", NAN), final_loss=end_loss(r)))
    cells = _heat_cells(heat)
    ratio = {rule: {w: fan[w] / f[w] for w in f} for rule, f in factors.items()}  # fan → rule λ
    shift = {rule: {str(w): float(np.log2(r[w])) for w in sorted(r)} for rule, r in ratio.items()}
    heat_series = {}
    for w, h in cells.items():
        L = np.asarray(h["loss"], float)
        Lf = np.where(np.isfinite(L), L, np.inf)
        i, j = np.unravel_index(np.argmin(Lf), Lf.shape)
        k = h["lr"].index(lr) if lr in h["lr"] else None
        no_wd = h["loss_no_wd"][k] if k is not None else NAN
        best_at_lr = float(np.min(Lf[k])) if k is not None else NAN
        heat_series[str(w)] = dict(h, best={"lr": h["lr"][i], "wd": h["wd"][j], "loss": float(L[i, j])},
                                   gain_over_no_wd_at_lr=(1.0 - best_at_lr / no_wd)
                                   if np.isfinite(no_wd) and no_wd > 0 else NAN)
    grid = _loss_grid(main, lambda c: "fan2025", "wd", loss=end_loss).get("fan2025", {})
    rules = {}
    for rule, r in ratio.items():
        g = {w: (xs * r[w], L) for w, (xs, L) in grid.items() if w in r}
        rules[rule] = _transfer_panel(g, per_seed=True)
    ablation = _ablation(abl, main, heat_series, lr)
    summary = {
        "lr": lr,
        "wd_per_seed": {r: v.get("seed_drift", {}) for r, v in rules.items()},
        "wd_seed_mean_curve": {r: v["drift"] for r, v in rules.items()},
        "gain_over_no_wd_at_lr": {w: v["gain_over_no_wd_at_lr"] for w, v in heat_series.items()},
        "heat_best": {w: v["best"] for w, v in heat_series.items()},
        "ablation_best_ratio": {w: v["best_ratio_per_seed"] for w, v in ablation.items()},
        "ablation_best_at_grid_edge": {w: v["best_at_edge_per_seed"] for w, v in ablation.items()},
        "ablation_best_vs_no_wd": {w: v["best_vs_no_wd"] for w, v in ablation.items()},
        "hidden_wd_factors": {r: {str(w): x for w, x in f.items()} for r, f in factors.items()},
        "units": "drift = change of log2(optimal base λ) per doubling of width, in each rule's "
                 "own base-λ coordinates (per-seed parabola optima, seeds paired across widths, "
                 "interval from resampling seeds); gain_over_no_wd = 1 − best loss over λ / loss "
                 "at λ = 0 at the sweep's η (heatmap seeds); ablation_best_ratio = best loss over "
                 "the swept λ with embedding and readout decayed too (μP constant rule, same base "
                 "λ) / best loss without, per seed (paired by seed id); ablation_best_at_grid_edge: "
                 "that best sits at the grid's edge (not an optimum); ablation_best_vs_no_wd: the "
                 "seed-mean best / the seed-mean loss at λ = 0 (heatmap, same η)",
    }
    out.update(rows=rows, summary=summary,
               series={"heat": heat_series, "shift": shift, "rules": rules, "ablation": ablation})

    def ds(v):
        return _fmt_seed_drift(v, "seeds")
    gains = ", ".join(f"n={w} {100 * g:.1f}%" for w, g in summary["gain_over_no_wd_at_lr"].items())
    abl_txt = ", ".join(f"n={w} {np.nanmean(v):.3f}"
                        + (" (at the grid edge)" if any(summary["ablation_best_at_grid_edge"][w]) else "")
                        for w, v in summary["ablation_best_ratio"].items())
    out["headline"] = (f"one pass, η = 2^{np.log2(lr):g}: λ-optimum drift/doubling "
                       + ", ".join(f"{r} {ds(v)}" for r, v in summary["wd_per_seed"].items())
                       + f"; best λ vs λ = 0: {gains} lower loss"
                       + f"; emb/readout decayed too: best loss × {abl_txt}"
                       + f"; dropped {split.n_dropped}")
    return _clean(out)


def _ablation(abl, main, heat_series, lr) -> dict:
    """F5c's ablation per width: the seed-mean loss curve (+inf where a seed diverged), each
    seed's best loss over the swept λ against the hidden-only sweep's best for the same seed id,
    whether that best sits at an edge of the grid, and the seed-mean best against λ = 0 (the
    heatmap's runs at the same η)."""
    def per_seed(runs):
        d = defaultdict(lambda: defaultdict(dict))
        for r in runs:
            c = r.config
            d[c["width"]][c["seed"]][c["wd"]] = end_loss(r)
        return d
    a, m = per_seed(abl), per_seed(main)
    out = {}
    for w in sorted(a):
        xs = sorted({x for v in a[w].values() for x in v})
        seeds = sorted(s for s in a[w] if s in m.get(w, {}))
        L = np.array([[a[w][s].get(x, NAN) for s in sorted(a[w])] for x in xs], float)
        mean = _mean_curve(L)
        best, best_fan, edge = [], [], []
        for s in seeds:
            y = np.array([a[w][s].get(x, NAN) for x in xs], float)
            y = np.where(np.isfinite(y), y, np.inf)
            j = int(np.argmin(y))
            best.append(float(y[j]))
            edge.append(j in (0, len(xs) - 1))
            yf = np.array([v for v in m[w][s].values()], float)
            best_fan.append(float(np.min(np.where(np.isfinite(yf), yf, np.inf))))
        h = heat_series.get(str(w), {})
        k = h.get("lr", []).index(lr) if lr in h.get("lr", []) else None
        no_wd = h["loss_no_wd"][k] if k is not None else NAN
        out[str(w)] = {"x": xs, "loss_mean": mean.tolist(), "seeds": seeds,
                       "best_loss_per_seed": best, "best_loss_fan2025_per_seed": best_fan,
                       "best_ratio_per_seed": (np.array(best) / np.array(best_fan)).tolist(),
                       "best_at_edge_per_seed": edge,
                       "best_vs_no_wd": float(np.mean(best) / no_wd) if best and no_wd > 0 else NAN}
    return out


# ---------------------------------------------------------------------------- F6
def f6(results) -> dict:
    """F6: coordinate check — activation RMS after the last step vs width; slope per site."""
    split = split_diverged(results)
    out = _base("f6_coord_check", "Coordinate check: activation RMS vs width after t steps",
                "μP keeps every activation Θ(1) in width; SP does not", results, split)
    groups = defaultdict(list)
    for r in results:
        groups[(r.config["optimizer"], r.config["parameterization"])].append(r)
    rows, series = [], {}
    names = list(split.kept[0].activation_names) if split.kept else []
    for (opt, p), runs in sorted(groups.items()):
        per_site = {a: ([], []) for a in names}
        init_site = {a: ([], []) for a in names}
        for r in runs:
            st = _status(r)
            for a in names:
                v = activation_series(r, a)[1] if st == "ok" else None
                last = float(v[-1]) if v is not None else NAN
                first = float(v[0]) if v is not None else NAN
                rows.append(run_record(r, site=a, status=st, rms_last=last, rms_init=first,
                                       step=int(r.steps[-1]) if len(r.steps) else -1))
                per_site[a][0].append(r.config["width"])
                per_site[a][1].append(last)
                init_site[a][0].append(r.config["width"])
                init_site[a][1].append(first)
        fits = {a: _fit_dict(*per_site[a], n_boot=500) for a in names}
        ws = sorted({r.config["width"] for r in runs})
        mean = {a: [_nanmean([y for x, y in zip(*per_site[a]) if x == w]) for w in ws]
                for a in names}
        div = sorted({r.config["width"] for r in runs if _status(r) != "ok"})
        worst = max(names, key=lambda a: abs(fits[a].get("exponent", 0) or 0)) if names else None
        series[f"{opt}/{p}"] = {"optimizer": opt, "parameterization": p, "widths": ws,
                                "mean": mean, "fits": fits, "diverged_widths": div,
                                "worst_site": worst,
                                "max_abs_slope": abs(fits[worst]["exponent"]) if worst else NAN,
                                "lr": runs[0].config["lr"],
                                "steps": int(runs[0].config["steps"])}
    out.update(rows=rows, series=series, activations=names,
               summary={k: {"max_abs_slope": v["max_abs_slope"], "worst_site": v["worst_site"]}
                        for k, v in series.items()})
    out["headline"] = "max |slope| of activation RMS vs width: " + ", ".join(
        f"{k} {v['max_abs_slope']:.2f} ({v['worst_site']})" for k, v in series.items()) + \
        f"; dropped {split.n_dropped}"
    return _clean(out)


# ---------------------------------------------------------------------------- F7
def update_direction_rms(result, matrix: str) -> float:
    """Steady-state RMS of the optimizer direction u (per unit lr) of a matrix.

    The runner logs RMS(Δw) of the raw step Δw = −η_l(u + λ_l w) (coupled). With u ⟂ w (the
    steady-state assumption the prediction itself makes), RMS(u)² = (RMS(Δw)/η_l)² − (λ_l RMS(w))²;
    evaluated per logged step, then averaged over the steady-state window.
    """
    ls = layer_settings(result, matrix)
    steps, d = matrix_series(result, "update_rms", matrix)
    _, w = matrix_series(result, "rms", matrix)
    with np.errstate(invalid="ignore"):
        u2 = (d / ls["lr"]) ** 2 - (ls["wd"] * w) ** 2
        u = np.sqrt(np.clip(u2, 0.0, None))
    return steady_state_mean(steps, u, SS_FRACTION, min_points=3)


def f7(results) -> dict:
    """F7: predicted vs measured steady-state RMS(W), relaxation time and angular update for
    the hidden (scale-invariant) matrices of every run. Predictions from mupsim.steady_state
    with the per-layer η_l, λ_l the run used and, for RMS(W), the measured update RMS."""
    split = split_diverged(results)
    out = _base("f7_steady_state_theory", "Steady-state theory vs simulation",
                "§3: RMS(W)∞ ≈ RMS(u)·√(η/2λ), τ ≈ 1/(2ηλ), angular update ≈ √(2ηλ(1−β1)/(1+β1))",
                results, split)
    rows = []
    for r in split.kept:
        c = r.config
        for m in hidden_matrices(r):
            ls = layer_settings(r, m)
            lr, wd, b1 = ls["lr"], ls["wd"], c["beta1"]
            u = update_direction_rms(r, m)
            tfit = relaxation_time_fit(*matrix_series(r, "rms", m))
            chk = _steady_fields(r, m, ("rms", "angular_update"))
            rows.append({
                **run_record(r, matrix=m, beta1=b1, lr_layer=lr, wd_layer=wd,
                             status="ok" if chk["steady"] else "not_steady", **chk),
                "rms_measured": steady_state(r, "rms", m, SS_FRACTION),
                "rms_predicted": float(ss.equilibrium_rms(u, lr, wd, beta1=b1)),
                "update_rms_measured": u,
                "tau_measured": tfit.tau, "tau_fit_ok": tfit.ok, "tau_fit_r2": tfit.r2,
                "tau_predicted": float(ss.relaxation_time(lr, wd)),
                "angular_measured": steady_state(r, "angular_update", m, SS_FRACTION),
                "angular_predicted": float(ss.angular_update(lr, wd, beta1=b1)),
            })
    for r in split.dropped:
        rows.append(run_record(r, status=_status(r)))
    summary = {}
    for q in ("rms", "tau", "angular"):
        ratios = [row[f"{q}_measured"] / row[f"{q}_predicted"] for row in rows
                  if (row.get("status") == "ok" or (q == "tau" and row.get("status") == "not_steady"))
                  and (q != "tau" or row["tau_fit_ok"])
                  and np.isfinite(row.get(f"{q}_measured", NAN))]
        ratios = np.asarray(ratios, float)
        summary[q] = {"n": int(ratios.size),
                      "median_ratio": float(np.median(ratios)) if ratios.size else NAN,
                      "min_ratio": float(ratios.min()) if ratios.size else NAN,
                      "max_ratio": float(ratios.max()) if ratios.size else NAN}
    excl = _excluded(rows)
    out.update(rows=rows, series={"points": [row for row in rows if row.get("status") == "ok"]},
               summary=summary)
    out["headline"] = "measured/predicted median [min, max]: " + ", ".join(
        f"{q} {v['median_ratio']:.2f} [{v['min_ratio']:.2f}, {v['max_ratio']:.2f}] (n={v['n']})"
        for q, v in summary.items()) + f"; dropped {split.n_dropped}; not steady (excluded) {len(excl)}"
    summary["excluded_not_steady"] = excl
    return _clean(out)


# ---------------------------------------------------------------------------- F8
def matrix_shapes(result) -> dict:
    """{matrix name: (fan_out, fan_in)} from the model layout of the stored config."""
    from mupsim.sim.config import SimConfig
    from mupsim.sim.layout import build_layout
    lay = build_layout(SimConfig.from_dict(result.config))
    return {lay.names[p]: tuple(lay.shapes[p]) for p in lay.matrices}


def f8(results) -> dict:
    """F8: Muon under μP — σ_max of each effective matrix multiplier·w (and of its update)
    through training, per width, in units of the spectral condition √(fan_out/fan_in).

    The update's spectral norm is not logged (TODO(runner): log σ_max(Δw)); what is shown is
    the lower bound ‖Δw‖_F/√min(fan_out, fan_in) = RMS(Δw)·√max(fan_out, fan_in) ≤ σ_max(Δw),
    exact only when every singular value of Δw is equal. Muon orthogonalizes a gradient of low
    rank r onto r directions, so the bound falls short by √(min(fan)/r): its width trend is not
    the trend of σ_max(ΔW).
    """
    split = split_diverged(results)
    out = _base("f8_muon_spectral", "Muon under μP: spectral norms of weights and updates",
                "Spectral condition: σ_max(W) = Θ(√(fan_out/fan_in)), σ_max(ΔW) likewise × η",
                results, split)
    groups = defaultdict(list)
    for r in results:
        groups["no weight decay" if r.config["wd"] == 0 else
               f"λ = {r.config['wd']:g} ({r.config['wd_rule']}), {r.config['steps']} steps"
               ].append(r)
    rows, series, fits = [], {}, {}
    for g, runs in sorted(groups.items(), key=lambda kv: kv[0] != "no weight decay"):
        rws, series[g], fits[g] = _f8_group(runs)
        rows += [dict(row, group=g) for row in rws]
    out.update(rows=rows, series=series, summary={"fits": fits,
               "update_estimate": "lower bound on sigma_max(dW): RMS(dW)*sqrt(max(fan_out, "
                                  "fan_in)) = ||dW||_F/sqrt(min(fan)); exact only for a flat "
                                  "spectrum"},
               groups=list(series),
               diverged_widths=sorted({r.config["width"] for r in split.dropped}))
    out["headline"] = "; ".join(
        f"{g}: width exponent of σ_max(W)/√(fo/fi): " + ", ".join(
            f"{m} {_fmt_ci(v['weight'])}" for m, v in fg.items()) for g, fg in fits.items()) \
        + f"; dropped {split.n_dropped}"
    return _clean(out)


def _f8_group(results):
    """F8's rows, per-matrix/per-width series and width fits for one group of runs."""
    rows, series = [], {}
    finals = defaultdict(lambda: defaultdict(lambda: ([], [])))
    for r in results:
        st = _status(r)
        w = r.config["width"]
        if st != "ok":
            rows.append(run_record(r, status=st))
            continue
        shapes = matrix_shapes(r)
        for m in r.matrix_names:
            fo, fi = shapes.get(m, (NAN, NAN))
            ref = math.sqrt(fo / fi)
            steps, sig = matrix_series(r, "sigma_max", m)
            _, urms = matrix_series(r, "update_rms", m)
            ls = layer_settings(r, m)
            lr, mult = ls["lr"], ls["multiplier"]
            sig = mult * sig  # effective weight multiplier·w
            upd = mult * urms * math.sqrt(max(fo, fi))
            key = f"{m}"
            series.setdefault(key, {}).setdefault(str(w), {"steps": steps.tolist(), "w": [], "u": []})
            series[key][str(w)]["w"].append((sig / ref).tolist())
            series[key][str(w)]["u"].append((upd / ref).tolist())
            rows.append(run_record(r, matrix=m, status=st, fan_out=fo, fan_in=fi, lr_layer=lr,
                                   sigma_max_final=float(sig[-1]),
                                   sigma_over_spectral_condition=float(sig[-1] / ref),
                                   update_spectral_est_final=float(upd[-1]),
                                   update_est_over_spectral_condition=float(upd[-1] / ref)))
            finals[m]["w"][0].append(w)
            finals[m]["w"][1].append(float(sig[-1] / ref))
            finals[m]["u"][0].append(w)
            finals[m]["u"][1].append(float(np.nanmean(upd[1:] / ref)) if upd.size > 1 else NAN)
    # average seeds in the series
    import warnings
    for m, per_w in series.items():
        for w, d in per_w.items():
            with warnings.catch_warnings():  # step 0 has no update (NaN) in every seed
                warnings.simplefilter("ignore", RuntimeWarning)
                d["w"] = np.nanmean(np.array(d["w"]), 0).tolist()
                d["u"] = np.nanmean(np.array(d["u"]), 0).tolist()
    fits = {m: {"weight": _fit_dict(*finals[m]["w"]), "update": _fit_dict(*finals[m]["u"])}
            for m in finals}
    return rows, series, fits


# ---------------------------------------------------------------------------- F9
def alpha_from_rank_exponent(rho: float) -> float:
    """α predicted from a *fitted* stable-rank exponent ρ̂: 1 − ρ̂/2, the relation derived in
    ``mupsim/theory/alpha.py``. :func:`mupsim.alpha_from_rank_exponent` serves it for ρ in its
    physical range [0, 1] and refuses others; a fit with seed noise can land slightly outside
    (ρ̂ = −0.13 in F9), so the comparison applies the same formula unclipped (NaN stays NaN)."""
    from mupsim.alpha import alpha_relation
    return alpha_relation(rho)


def f9(results, labels: dict, panels: dict) -> dict:
    """F9: α̂ (width exponent of steady σ_max/√(η_l/λ_l)) and ρ̂ (width exponent of the steady
    stable rank ‖W‖_F²/σ_max²) per task point and hidden matrix, seed-bootstrap intervals.

    ``labels``: {config key: point label}; ``panels``: {knob: [(value, point label)]}."""
    split, out, mats = _open(
        "f9_alpha_phase_diagram", "What sets α: α̂ across task families",
        "α = 1 − ρ/2 with ρ the width exponent of the stable rank; α depends on the task", results)
    by_point = defaultdict(list)
    for r in results:
        by_point[labels.get(run_record(r)["key"], "?")].append(r)
    rows, points = [], {}
    for label, runs in by_point.items():
        d = {m: {q: ([], []) for q in ("sigma", "srank", "sigma_half", "srank_half")}
             for m in mats}
        pooled = ([], [])
        for r in runs:
            st = _status(r)
            ys = []
            for m in mats:
                y = normalized_sigma(r, m) if st == "ok" else NAN
                sr = steady_state(r, "stable_rank", m, SS_FRACTION) if st == "ok" else NAN
                chk = _steady_fields(r, m, ("sigma_max",)) if st == "ok" else {}
                row = run_record(r, point=label, matrix=m, status=st, **chk)
                if chk and not chk["steady"]:
                    row["status"], y, sr = "not_steady", NAN, NAN
                yh = normalized_sigma_half(r, m) if np.isfinite(y) else NAN
                srh = half_length_value(r, "stable_rank", m) if np.isfinite(sr) else NAN
                d[m]["sigma_half"][0].append(r.config["width"])
                d[m]["sigma_half"][1].append(yh)
                d[m]["srank_half"][0].append(r.config["width"])
                d[m]["srank_half"][1].append(srh)
                row.update(sigma_over_sqrt=y, stable_rank_ss=sr, sigma_over_sqrt_half_length=yh,
                           stable_rank_half_length=srh,
                           effective_rank_ss=steady_state(r, "effective_rank", m, SS_FRACTION)
                           if st == "ok" else NAN)
                rows.append(row)
                d[m]["sigma"][0].append(r.config["width"])
                d[m]["sigma"][1].append(y)
                d[m]["srank"][0].append(r.config["width"])
                d[m]["srank"][1].append(sr)
                ys.append(y)
            pooled[0].append(r.config["width"])
            pooled[1].append(math.exp(np.mean(np.log(ys))) if ys and all(
                np.isfinite(v) and v > 0 for v in ys) else NAN)
        p = {"n_runs": len(runs), "widths": sorted({r.config["width"] for r in runs})}
        for m in mats:
            a = _fit_dict(*d[m]["sigma"], n_boot=2000)
            a.update(_settling(a, _fit_dict(*d[m]["sigma_half"], n_boot=200)))
            rho = _fit_dict(*d[m]["srank"], n_boot=2000)
            rho.update(_settling(rho, _fit_dict(*d[m]["srank_half"], n_boot=200)))
            pred = alpha_from_rank_exponent(rho.get("exponent", NAN))
            lo, hi = (rho.get("ci") or [NAN, NAN])[:2]
            p[m] = {"alpha": a, "rho": rho, "alpha_predicted": pred,
                    "alpha_predicted_ci": [alpha_from_rank_exponent(hi),
                                           alpha_from_rank_exponent(lo)]}
        p["pooled_hidden"] = _fit_dict(*pooled, n_boot=2000)
        points[label] = p
    # α̂ − (1 − ρ̂/2) over all points and matrices
    resid = [points[l][m]["alpha"]["exponent"] - points[l][m]["alpha_predicted"]
             for l in points for m in mats
             if np.isfinite(points[l][m]["alpha"].get("exponent", NAN))
             and np.isfinite(points[l][m]["alpha_predicted"])]
    summary = {"points": points, "panels": {k: [[v, lab] for v, lab in vals]
                                            for k, vals in panels.items()},
               "alpha_minus_predicted": {"n": len(resid),
                                         "median": float(np.median(resid)) if resid else NAN,
                                         "max_abs": float(np.max(np.abs(resid))) if resid else NAN},
               "excluded_not_steady": _excluded(rows)}
    out.update(rows=rows, series=points, summary=summary, matrices=mats)
    lo_pt = min(points, key=lambda l: points[l]["pooled_hidden"].get("exponent", math.inf)
                if np.isfinite(points[l]["pooled_hidden"].get("exponent", NAN)) else math.inf) \
        if points else None
    out["headline"] = (
        "α̂ pooled: " + ", ".join(f"[{l}] {_fmt_ci(p['pooled_hidden'])}" for l, p in points.items())
        + f"; lowest at {lo_pt}; α̂ − (1 − ρ̂/2) median {summary['alpha_minus_predicted']['median']:+.2f}, "
        f"max |·| {summary['alpha_minus_predicted']['max_abs']:.2f} over {len(resid)} (point, matrix)"
        + f"; dropped {split.n_dropped}; not steady (excluded) {len(summary['excluded_not_steady'])}")
    return _clean(out)

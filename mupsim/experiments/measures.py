"""What every figure's analysis shares: steady-state readings, fits as records, the record layout.

Every figure's ``analyse(results, ...)`` takes the loaded Results of that figure's configs (any
order) and returns a dict with:

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

import numpy as np

from mupsim.analysis import (
    is_diverged,
    layer_settings,
    matrix_series,
    power_law_fit,
    split_diverged,
    steady_state,
    steady_state_mean,
)
from mupsim.analysis.runs import hidden_matrices
from mupsim.analysis.steady import CAUSES, MIN_RELAX, horizon_mean, run_steady_check
from mupsim.errors import MupsimError
from mupsim.theory import wd_rules

NAN = float("nan")

SS_FRACTION = 0.25  # steady state = mean over the last quarter of training

LOSS_FRACTION = 0.1  # final loss = mean of the test loss over the last 10% of training


def clean(obj, strict: bool = False):
    """Recursively turn numpy types into JSON-able Python; NaN/inf kept as floats, or with
    ``strict`` written as None (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): clean(v, strict) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v, strict) for v in obj]
    if isinstance(obj, np.ndarray):
        return [clean(v, strict) for v in obj.tolist()]
    if isinstance(obj, (np.floating,)):
        obj = float(obj)
    elif isinstance(obj, (np.integer,)):
        return int(obj)
    elif isinstance(obj, np.bool_):
        return bool(obj)
    if strict and isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def fit_dict(widths, values, **kw) -> dict:
    """power_law_fit as a dict, or a dict of NaNs with the reason if it cannot be fitted."""
    try:
        return power_law_fit(widths, values, **kw).to_dict()
    except MupsimError as e:
        return {"exponent": NAN, "ci": [NAN, NAN], "error": str(e)}


def run_status(r) -> str:
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


def fmt_ci(fit: dict, digits=2) -> str:
    e, (lo, hi) = fit.get("exponent", NAN), fit.get("ci", [NAN, NAN])
    if np.isfinite(e) and not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{e:.{digits}f} (no interval: one seed left at some fitted point)"
    return f"{e:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def figure_record(name, title, claim, results, split) -> dict:
    return {
        "figure": name,
        "title": title,
        "claim": claim,
        "n_runs": len(results),
        "n_dropped": split.n_dropped,
        "dropped": split.dropped_records(),
    }


def open_figure(name, title, claim, results):
    """A figure's diverged split, its :func:`figure_record` record and the hidden matrices of its runs."""
    split = split_diverged(results)
    mats = hidden_matrices(split.kept[0]) if split.kept else []
    return split, figure_record(name, title, claim, results, split), mats


def steady_fields(result, matrix: str, metrics=("sigma_max",), horizon=None) -> dict:
    """Steady-state check (:mod:`mupsim.analysis.steady`) of ``result``'s ``metrics`` — the
    quantities the figure fits from this record — for ``matrix`` (all must pass; judged at
    ``horizon`` steps if given) as CSV fields: relax_steps, n_relax, ss_drift (the largest
    relative change over the last half among the metrics, in |log(1 + drift)|), steady,
    excluded_reason, refused_for (the refusal causes, ``+``-joined CAUSES codes)."""
    checks = [run_steady_check(result, q, matrix, horizon=horizon) for q in metrics]
    reasons = [f"{q}: {c.reason}" for q, c in zip(metrics, checks) if not c.ok]
    causes = sorted({k for c in checks for k in c.causes})
    drifts = [c.drift for c in checks if np.isfinite(c.drift) and c.drift > -1]
    return {
        "relax_steps": checks[0].relax_time,
        "n_relax": checks[0].n_relax,
        "ss_drift": max(drifts, key=lambda d: abs(math.log1p(d))) if drifts else NAN,
        "steady": not reasons,
        "excluded_reason": "; ".join(reasons),
        "refused_for": "+".join(causes),
    }


def refusal_counts(rows) -> dict:
    """Among the rows that went through the steady-state check (those with a ``steady``
    field): how many, how many refused, and the refusals per cause (CAUSES code → count)."""
    checked = [r for r in rows if "steady" in r]
    refused = [r for r in checked if not r["steady"]]
    by = {}
    for r in refused:
        for k in filter(None, str(r.get("refused_for", "")).split("+")):
            by[k] = by.get(k, 0) + 1
    return {"checked": len(checked), "refused": len(refused), "by_cause": by}


def refusal_note(rows) -> str:
    """Headline phrase: 'refused 8 of 24 records as not in steady state (still moving 6, ran <
    5τ 2); 16 accepted'."""
    c = refusal_counts(rows)
    if not c["checked"]:
        return "no steady-state records"
    why = ", ".join(
        f"{CAUSES.get(k, k).format(min_relax=MIN_RELAX)} {n}" for k, n in sorted(c["by_cause"].items())
    )
    return (
        f"refused {c['refused']} of {c['checked']} records as not in steady state"
        + (f" ({why})" if why else "")
        + f"; {c['checked'] - c['refused']} accepted"
    )


def half_length_value(result, metric: str, matrix: str) -> float:
    """What the run reported as steady ``metric`` at half its length (window [3T/8, T/2])."""
    t, v = matrix_series(result, metric, matrix)
    return horizon_mean(t, v, 0.5 * float(t[-1]), SS_FRACTION) if len(t) else NAN


def normalized_sigma(result, matrix: str) -> float:
    """Steady-state σ_max of a matrix's raw parameter w divided by √(η_l/λ_l) of its layer
    (the steady-state scale of w; NaN if λ_l = 0). Hidden matrices have multiplier 1 in μP."""
    ls = layer_settings(result, matrix)
    if not (ls["lr"] > 0 and ls["wd"] > 0):
        return NAN
    return steady_state(result, "sigma_max", matrix, SS_FRACTION) / math.sqrt(ls["lr"] / ls["wd"])


def normalized_sigma_half(result, matrix: str) -> float:
    """:func:`normalized_sigma` as the run would have reported it at half its length."""
    ls = layer_settings(result, matrix)
    if not (ls["lr"] > 0 and ls["wd"] > 0):
        return NAN
    return half_length_value(result, "sigma_max", matrix) / math.sqrt(ls["lr"] / ls["wd"])


def settling(full: dict, half: dict) -> dict:
    """Exponent at full length vs at half length: has the fitted exponent stopped moving?"""
    e, h = full.get("exponent", NAN), half.get("exponent", NAN)
    d = e - h if np.isfinite(e) and np.isfinite(h) else NAN
    return {
        "exponent_at_half_length": h,
        "change_last_half": d,
        "settled": bool(np.isfinite(d) and abs(d) <= EXPONENT_SETTLED),
    }


EXPONENT_SETTLED = 0.05
"""A fitted width exponent counts as settled when it moved ≤ 0.05 over the last half of the runs."""


def excluded_rows(rows) -> list[dict]:
    """The (run, matrix) rows refused for not being in steady state, with the reason."""
    return [
        {
            k: row.get(k)
            for k in ("key", "width", "seed", "wd_rule", "matrix", "n_relax", "ss_drift", "excluded_reason")
        }
        for row in rows
        if row.get("status") == "not_steady"
    ]


def rule_label(c) -> str:
    return wd_rules.get(c["wd_rule"]).plot_label(c.get("alignment_exponent"))

"""F10: the long-memory regime. Weight-decay memories τ = 1/(2η_lλ_l) of 64–4,096 steps.

F10 never runs a simulation in a full ``make figures``: it reads the committed runs file written by
``make long-memory`` (:mod:`mupsim.experiments.long_memory`, which holds the spec and the
runner) and analyses it; if the file is missing it says so and names that command. With
``--quick`` (``make figures QUICK=1``) it builds the same document from the quick spec's tiny runs
through the figure pipeline (seconds), so the quick figures exercise spec → run → compact record →
analysis → figure.

Panels (every fit uses only the records that pass the one steady-state rule of
:mod:`mupsim.analysis.steady` for the quantities fitted, judged at the run's end unless stated;
refused records keep their values in the rows, with the reason):

* (a) timescale rule (η_lλ_l the same at every width, so τ_l = τ at every width): α̂, the width
  exponent of steady σ_max(w)/√(η_l/λ_l) of W1, W2 and pooled (geometric mean of the two),
  against τ, with seed-bootstrap intervals and the local slopes per width doubling; ρ̂, the
  width exponent of the steady stable rank, and 1 − ρ̂/2 beside it. α̂'s records are judged on
  σ_max, ρ̂'s on the stable rank.
* (b) at τ = BASE_TAU at the base width, per rule (constant, fan2025 as served, fan2025 with
  embedding and readout decayed at constant λ, timescale, alignment at the α̂ of (a) at
  BASE_TAU): the width exponents of the steady sublayer gain and of σ_max, and α̂, of records
  steady in both gain and σ_max (as F4).
* (c) the same exponents as a run stopped at x·τ_l (x in :data:`RUN_LENGTHS`) would report them
  (window [3x/4, x]·τ_l of the same runs), from every finished record: at x < 5 the one rule
  refuses every record (ran < 5τ), so those points say how far the exponent still moves, not
  what it settles to; at the last x the steady-only exponent (rule judged at x·τ_l) is drawn too.
  A run shorter than x·τ_l (capped by MAX_STEPS) is missing at x.

* (d) the stable-rank model of :mod:`mupsim.stable_rank` (constants frozen on another task, 32
  outputs, τ ≤ 128 steps, widths ≤ 256) held out on the timescale runs: steady stable rank per
  width and τ against its prediction, ρ̂ against its ρ, with the tolerances fixed before any
  held-out run was read; and W1's α̂ beside its parts, 1 − ρ̂/2 and the width exponent of
  RMS(W)/√(η/λ) (α = 1 − ρ/2 + that exponent is an identity for a square matrix).
* (e) other tasks (:data:`mupsim.experiments.long_memory.VARIANTS`, timescale rule): the task
  with k = 1,024 inputs (nothing else changed; widths to 1,024) and a next-token task over a
  vocabulary of 4,096: α̂, the stable rank and the local α̂ per doubling, against the model for
  Gaussian inputs, which puts the end of the stable rank's growth near n ≈ k.

Panels (a)–(d) read the runs of the task itself (k = 256 Gaussian inputs) only; the rules of (b) and
(c) are compared over WIDTHS, the widths every rule ran.

Under fan2025, η_lλ_l ∝ n^−½, so the memory τ_l itself grows as √n; under constant λ as n:
along the width axis of those rules the wider runs also have longer memory, which (a) shows
moves α̂. The JSON's ``summary.notes`` states it with the τ_l of the runs read.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from mupsim.alpha import alpha_relation
from mupsim.analysis import steady_check, steady_state_mean
from mupsim.analysis.steady import MIN_RELAX, horizon_mean, relax_time
from mupsim.errors import MupsimError
from mupsim.experiments import long_memory as LM
from mupsim.experiments.figure import Figure as FigureSpec
from mupsim.experiments.measures import (
    NAN,
    SS_FRACTION,
    clean,
    fit_dict,
    fmt_ci,
    refusal_counts,
    refusal_note,
    settling,
)
from mupsim.experiments.style import (
    REF_STYLE,
    apply_style,
    fit_label,
    footer,
    has_positive_data,
    mark_diverged,
    new_figure,
    rule_color,
    styled,
)

NAME = "f10_long_memory"

RUN_LENGTHS = (2.0, 4.0, 8.0)
"""Run lengths x (in τ_l of each run's hidden matrices) at which panel (c) refits the exponents."""

N_BOOT = 2000

QUANTITIES = ("sigma_max", "stable_rank", "gain")
"""The quantities the steady-state rule is applied to, each on its own."""

MISSING = (
    "F10 reads the committed long-memory runs file {path}, which is missing: run `make long-memory` "
    "(python -m mupsim.experiments.long_memory; 135 runs, about 140 min on 2 cores) to compute it, then "
    "commit it"
)


# ---------------------------------------------------------------------------- configs
def configs(quick: bool = False, alpha_hat: float | None = None) -> list:
    """The configs behind F10's file: stage 1 of :mod:`mupsim.experiments.long_memory` and, with
    ``alpha_hat``, stage 2 (the alignment rule). F10 does not run them in a full make."""
    out = LM.configs(1, quick)
    return out + (LM.configs(2, quick, alpha_hat=alpha_hat) if alpha_hat is not None else [])


# ---------------------------------------------------------------------------- reading the file
def load_runs(path=None) -> tuple[dict, dict]:
    """(document, source) of the runs file at ``path`` (the committed one by default); source
    is {path, sha256, bytes}. MupsimError naming ``make long-memory`` if it is missing, and
    naming the problem if it is not a runs file."""
    from mupsim.sim.files import open_regular

    path = Path(path) if path is not None else LM.RUNS_FILE
    if not path.exists():
        raise MupsimError(MISSING.format(path=_shown(path)))
    try:
        with open_regular(path, "long-memory runs file") as f:
            raw = f.read()
    except OSError as e:
        raise MupsimError(f"cannot read the long-memory runs file {path}: {e.strerror or e}") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MupsimError(f"long-memory runs file {path} is not JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != LM.FORMAT:
        got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise MupsimError(
            f"long-memory runs file {path}: format {got!r}; allowed: {LM.FORMAT!r} "
            "(rewrite it with `make long-memory`)"
        )
    return doc, {"path": _shown(path), "sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}


def _shown(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(LM.REPO))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------- one record
def _values(xs) -> np.ndarray:
    return np.array([NAN if x is None else x for x in xs], float)


def _series(run: dict, matrix: str, q: str) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(run["log_steps"], float), _values(run["matrices"][matrix][q])


def _hidden(run: dict) -> dict:
    return run["layers"]["hidden"]


def _sqrt_ratio(run: dict) -> float:
    h = _hidden(run)
    return math.sqrt(h["lr"] / h["wd"]) if h["lr"] > 0 and h["wd"] > 0 else NAN


def _check(run: dict, matrix: str, q: str, horizon=None):
    t, v = _series(run, matrix, q)
    h = _hidden(run)
    return steady_check(t, v, h["lr"], h["wd"], horizon=horizon)


def _at(run: dict, matrix: str, q: str, horizon: float) -> float:
    """What a run stopped at step ``horizon`` would report as the steady value (NaN if shorter)."""
    t, v = _series(run, matrix, q)
    return horizon_mean(t, v, horizon, SS_FRACTION)


def _record_rows(run: dict, matrices: list) -> list[dict]:
    """One row per hidden matrix of ``run``: steady values, the rule's verdict per quantity,
    the values at each run length of RUN_LENGTHS."""
    base = {
        k: run.get(k)
        for k in (
            "key",
            "rule",
            "tau0",
            "width",
            "seed",
            "status",
            "steps",
            "relax_steps",
            "n_relax",
            "capped",
        )
    }
    base["diverged_step"] = run.get("diverged_step")
    if run.get("error"):
        base["error"] = run["error"]
    if run.get("status") != "ok" or "matrices" not in run:
        return [{**base, "matrix": m} for m in matrices]
    rows = []
    h, sq = _hidden(run), _sqrt_ratio(run)
    mult = float(h.get("multiplier", 1.0))
    tau = relax_time(h["lr"], h["wd"])
    for m in matrices:
        if m not in run["matrices"]:
            rows.append({**base, "matrix": m, "status": "missing"})
            continue
        row = {**base, "matrix": m, "lr_layer": h["lr"], "wd_layer": h["wd"]}
        ss = {q: steady_state_mean(*_series(run, m, q), SS_FRACTION) for q in (*QUANTITIES, "rms")}
        row.update(
            sigma_max_ss=ss["sigma_max"] * mult,  # σ_max of the effective weight multiplier·w
            sigma_over_sqrt=ss["sigma_max"] / sq,  # σ_max(w)/√(η_l/λ_l)
            rms_ss=ss["rms"],
            rms_over_sqrt=ss["rms"] / sq,
            stable_rank_ss=ss["stable_rank"],
            gain_ss=ss["gain"],
            final_test_loss=run.get("final_test_loss"),
        )
        half = 0.5 * float(run["log_steps"][-1])
        row["sigma_over_sqrt_half_length"] = _at(run, m, "sigma_max", half) / sq
        row["stable_rank_half_length"] = _at(run, m, "stable_rank", half)
        reasons = []
        for q in QUANTITIES:
            c = _check(run, m, q)
            row[f"steady_{q}"] = c.ok
            row[f"drift_{q}"] = c.drift
            row[f"refused_for_{q}"] = "+".join(c.causes)
            if not c.ok:
                reasons.append(f"{q}: {c.reason}")
        row["excluded_reason"] = "; ".join(reasons)
        for x in RUN_LENGTHS:
            hz = x * tau
            row[f"gain_at_{x:g}tau"] = _at(run, m, "gain", hz)
            row[f"sigma_max_at_{x:g}tau"] = _at(run, m, "sigma_max", hz) * mult
            row[f"sigma_over_sqrt_at_{x:g}tau"] = _at(run, m, "sigma_max", hz) / sq
        xl = max(RUN_LENGTHS)
        for q in ("gain", "sigma_max"):
            c = _check(run, m, q, horizon=xl * tau)
            row[f"steady_{q}_at_{xl:g}tau"] = c.ok
            row[f"refused_for_{q}_at_{xl:g}tau"] = "+".join(c.causes)
        rows.append(row)
    return rows


def _judged(rows: list, qs: tuple, suffix: str = "") -> list[dict]:
    """The finished records among ``rows`` as :func:`mupsim.experiments.measures.refusal_counts`
    reads them: steady when every quantity of ``qs`` passes the rule (judged at the run's end,
    or as ``suffix`` says), refused_for the causes of those that do not."""
    out = []
    for r in rows:
        if r.get("status") != "ok" or f"steady_{qs[0]}{suffix}" not in r:
            continue
        bad = [q for q in qs if not r[f"steady_{q}{suffix}"]]
        causes = sorted({k for q in bad for k in str(r.get(f"refused_for_{q}{suffix}", "")).split("+") if k})
        out.append({"steady": not bad, "refused_for": "+".join(causes)})
    return out


def _steady_value(row: dict, field: str, qs: tuple, suffix: str = "") -> float:
    ok = row.get("status") == "ok" and all(row.get(f"steady_{q}{suffix}") for q in qs)
    return float(row.get(field, NAN)) if ok else NAN


def _pooled(rows_of_run: list, field: str, qs=None) -> float:
    """Geometric mean over the hidden matrices of ``field`` (NaN unless every one is finite,
    positive and, with ``qs``, steady)."""
    vals = [_steady_value(r, field, qs) if qs else float(r.get(field, NAN)) for r in rows_of_run]
    if not vals or not all(np.isfinite(v) and v > 0 for v in vals):
        return NAN
    return math.exp(float(np.mean(np.log(vals))))


def _fit(pairs) -> dict:
    pairs = list(pairs)
    if not pairs:
        return fit_dict([], [], n_boot=N_BOOT)
    return fit_dict(*zip(*pairs), n_boot=N_BOOT)


# ---------------------------------------------------------------------------- analysis
def _by_run(rows: list) -> dict:
    out = defaultdict(list)
    for r in rows:
        out[r["key"]].append(r)
    return out


def alpha_vs_tau(rows: list, mats: list, taus, widths=None) -> dict:
    """Panel (a): per τ of ``taus`` (timescale rule), α̂ and ρ̂ per matrix and pooled, over every
    width run or over ``widths``."""
    out = {}
    for tau in taus:
        sel = [
            r
            for r in rows
            if r["rule"] == "timescale" and _same(r["tau0"], tau) and (widths is None or r["width"] in widths)
        ]
        d = {"n_runs": len({r["key"] for r in sel})}
        for m in mats:
            rm = [r for r in sel if r["matrix"] == m]
            a = _fit((r["width"], _steady_value(r, "sigma_over_sqrt", ("sigma_max",))) for r in rm)
            a.update(
                settling(
                    a,
                    _fit(
                        (r["width"], _steady_value(r, "sigma_over_sqrt_half_length", ("sigma_max",)))
                        for r in rm
                    ),
                )
            )
            rho = _fit((r["width"], _steady_value(r, "stable_rank_ss", ("stable_rank",))) for r in rm)
            d[m] = {
                "alpha": a,
                "rho": rho,
                "alpha_predicted": float(alpha_relation(rho.get("exponent", NAN))),
                "rms_over_sqrt": _fit(
                    (r["width"], _steady_value(r, "rms_over_sqrt", ("sigma_max",))) for r in rm
                ),
                "alpha_all_records": _fit(
                    (r["width"], r.get("sigma_over_sqrt", NAN)) for r in rm if r["status"] == "ok"
                ),
                "steady_sigma_max": refusal_counts(_judged(rm, ("sigma_max",))),
                "steady_stable_rank": refusal_counts(_judged(rm, ("stable_rank",))),
            }
        per_run = _by_run(sel)
        width = {k: v[0]["width"] for k, v in per_run.items()}
        d["pooled"] = _fit(
            (width[k], _pooled(v, "sigma_over_sqrt", ("sigma_max",))) for k, v in per_run.items()
        )
        d["pooled"].update(
            settling(
                d["pooled"],
                _fit(
                    (width[k], _pooled(v, "sigma_over_sqrt_half_length", ("sigma_max",)))
                    for k, v in per_run.items()
                ),
            )
        )
        d["pooled_all_records"] = _fit(
            (width[k], _pooled(v, "sigma_over_sqrt")) for k, v in per_run.items() if v[0]["status"] == "ok"
        )
        out[f"{tau:g}"] = d
    return out


def srank_theory(rows: list, mats: list, taus, alpha: dict, task: dict) -> dict:
    """Held-out test of the stable-rank model (:mod:`mupsim.stable_rank`, constants frozen on the
    calibration task of ``theory/data/stable_rank_check.json``: 32 outputs, τ ≤ 128 steps, widths
    ≤ 256) on the timescale runs, which it was not fitted to (64 outputs, τ up to 4,096, widths up
    to 1,024). Per τ and hidden matrix with frozen constants: the seed geometric mean of the
    steady stable rank per width against the prediction, log(predicted/measured); ρ̂ (panel (a)'s
    fit) against the prediction's exponent over the same records, and the local exponents per
    width doubling; the predicted α = 1 − ρ/2 next to α̂ from σ_max. ``within`` applies the
    tolerances fixed before the held-out runs were read (:data:`mupsim.stable_rank.TOL_LOG_SRANK`,
    :data:`~mupsim.stable_rank.TOL_RHO`)."""
    from mupsim import stable_rank as SR

    batch, k = float(task["batch_size"]), float(task["input_dim"])
    out = {"tolerance": {"log_srank": SR.TOL_LOG_SRANK, "rho": SR.TOL_RHO}, "batch": batch, "input_dim": k}
    for tau in taus:
        d = {}
        for m in mats:
            if m not in SR.CALIBRATED:
                continue
            params = SR.CALIBRATED[m]
            rm = [r for r in rows if r["rule"] == "timescale" and _same(r["tau0"], tau) and r["matrix"] == m]
            steady = [(r["width"], _steady_value(r, "stable_rank_ss", ("stable_rank",))) for r in rm]
            steady = [(w, v) for w, v in steady if np.isfinite(v) and v > 0]
            widths = sorted({r["width"] for r in rm})
            points = []
            for n in widths:
                at = [v for w, v in steady if w == n]
                meas = math.exp(float(np.mean(np.log(at)))) if at else NAN
                pred = float(SR.predict_srank(n, float(tau), batch, k, params))
                points.append(
                    {
                        "width": n,
                        "n_steady": len(at),
                        "n_records": sum(r["width"] == n for r in rm),
                        "measured": meas,
                        "predicted": pred,
                        "log_ratio": math.log(pred / meas) if at else NAN,
                    }
                )
            fit = alpha.get(f"{tau:g}", {}).get(m, {})
            rho_hat = fit.get("rho", {}).get("exponent", NAN)
            rho_pred = SR.predicted_exponent([w for w, _ in steady], float(tau), batch, k, params)
            ok_w = [p["width"] for p in points if p["n_steady"]]
            pred_w = [p["predicted"] for p in points if p["n_steady"]]
            meas_w = [p["measured"] for p in points if p["n_steady"]]
            step = [math.log(b / a) for a, b in zip(ok_w[:-1], ok_w[1:])]  # local exponents: d log y/d log n
            ratios = [abs(p["log_ratio"]) for p in points if p["n_steady"]]
            d[m] = {
                "points": points,
                "rho_hat": rho_hat,
                "rho_predicted": rho_pred,
                "rho_error": rho_pred - rho_hat,
                "local_widths": ok_w,
                "local_rho_hat": [math.log(b / a) / s for a, b, s in zip(meas_w[:-1], meas_w[1:], step)],
                "local_rho_predicted": [
                    math.log(b / a) / s for a, b, s in zip(pred_w[:-1], pred_w[1:], step)
                ],
                "alpha_predicted": 1.0 - rho_pred / 2.0,
                "alpha_hat": fit.get("alpha", {}).get("exponent", NAN),
                "alpha_from_rho_hat": 1.0 - rho_hat / 2.0,
                "max_abs_log_ratio": max(ratios) if ratios else NAN,
                "within": bool(
                    ratios
                    and max(ratios) <= SR.TOL_LOG_SRANK
                    and math.isfinite(rho_hat)
                    and abs(rho_pred - rho_hat) <= SR.TOL_RHO
                ),
            }
        out[f"{tau:g}"] = d
    return out


def alignment_alpha(doc: dict) -> tuple[float | None, dict]:
    """(α̂, how) for the alignment rule's runs: the pooled α̂ of panel (a) at the spec's
    base τ over the spec's widths, those of the other rules (timescale runs, steady records only);
    (None, why) when it has no finite value."""
    s = doc["spec"]
    rows, mats = _rows(doc)
    rows = _of_task(rows)
    tau = s["base_tau"]
    d = alpha_vs_tau(rows, mats, [tau], widths=s["widths"]).get(f"{tau:g}", {})
    fit = d.get("pooled", {})
    e = fit.get("exponent", NAN)
    how = {
        "measured_on": f"timescale rule, tau0 = {tau:g} steps, widths {min(s['widths'])}-{max(s['widths'])}, "
        "pooled hidden matrices, steady records only",
        "alpha_hat_ci": fit.get("ci"),
    }
    if e is None or not math.isfinite(e):
        return None, {**how, "why_none": fit.get("error", "no finite pooled α̂")}
    return float(e), how


def _same(a, b) -> bool:
    return a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-4)


def _rows(doc: dict) -> tuple[list, list]:
    runs = doc.get("runs", [])
    mats = []
    for r in runs:
        for m in r.get("matrices", {}) or {}:
            if m not in mats:
                mats.append(m)
    spec_ = doc.get("spec") or {}
    rows = []
    for r in runs:
        v = LM.variant_of(LM.full_config(doc, r), spec_)
        rows += [{**row, "variant": v} for row in _record_rows(r, mats)]
    return rows, mats


def _of_task(rows: list, variant: str = "task") -> list:
    """The rows of runs of one task: ``"task"`` (the spec's own, every panel but (e)) or a variant."""
    return [r for r in rows if r.get("variant", "task") == variant]


def variant_label(name: str, spec: dict) -> str:
    """How panel (e) names a task: its input dimension, or next-token with its vocabulary."""
    if name == "task":
        return f"k={spec['task']['input_dim']}"
    o = spec["variants"][name]["overrides"]
    if o.get("task") == "next_token":
        return f"next-token V={o.get('output_dim')}"
    return f"k={o.get('input_dim', spec['task']['input_dim'])}"


def variants_axis(rows: list, mats: list, spec: dict) -> dict:
    """Panel (e): the spec's own task and each of its variants (:data:`mupsim.experiments.
    long_memory.VARIANTS`), timescale rule: α̂, ρ̂ and the RMS term per hidden matrix at each
    variant τ, over the variant's widths (the task itself over WIDTHS + WIDE_WIDTHS at every
    variant τ); for Gaussian inputs also the stable-rank model's prediction (it has no account of
    one-hot tokens). The model puts the end of the stable rank's growth near n ≈ k, so k is the
    knob that should move where α̂ bends back to 1."""
    variants = spec.get("variants") or {}
    taus = sorted({t for v in variants.values() for t in v["taus"]})
    plan = {"task": ({}, taus, set(spec["widths"]) | set(spec.get("wide_widths", [])))}
    plan.update({n: (v["overrides"], v["taus"], set(v["widths"])) for n, v in variants.items()})
    out = {}
    for name, (overrides, vtaus, widths) in plan.items():
        at = [r for r in _of_task(rows, name) if r["width"] in widths]
        alpha = alpha_vs_tau(at, mats, vtaus)
        task = {**spec["task"], **overrides}
        d = {"label": variant_label(name, spec), "overrides": overrides, "alpha": alpha}
        if task.get("inputs") == "gaussian":
            d["stable_rank_theory"] = srank_theory(at, mats, vtaus, alpha, task)
        out[name] = d
    return out


def rule_exponents(rows: list, mats: list, base_tau: float, widths=None) -> dict:
    """Panel (b): per rule at ``base_tau``, the width exponents of steady gain, σ_max and
    σ_max/√(η_l/λ_l) (records steady in gain and σ_max), and the τ_l of each width; over
    ``widths`` when given (every rule is compared over the same widths)."""
    out = {}
    qs = ("gain", "sigma_max")
    for rule in _rules(rows, base_tau):
        sel = [
            r
            for r in rows
            if r["rule"] == rule and _same(r["tau0"], base_tau) and (widths is None or r["width"] in widths)
        ]
        d = {}
        for m in mats:
            rm = [r for r in sel if r["matrix"] == m]
            d[m] = {
                "gain": _fit((r["width"], _steady_value(r, "gain_ss", qs)) for r in rm),
                "sigma_max": _fit((r["width"], _steady_value(r, "sigma_max_ss", qs)) for r in rm),
                "alpha": _fit((r["width"], _steady_value(r, "sigma_over_sqrt", qs)) for r in rm),
                "gain_all_records": _fit(
                    (r["width"], r.get("gain_ss", NAN)) for r in rm if r["status"] == "ok"
                ),
                "sigma_max_all_records": _fit(
                    (r["width"], r.get("sigma_max_ss", NAN)) for r in rm if r["status"] == "ok"
                ),
                "steady": refusal_counts(_judged(rm, qs)),
            }
        per_w = defaultdict(list)
        for r in sel:
            if r.get("relax_steps") is not None:
                per_w[r["width"]].append((r["relax_steps"], r.get("n_relax"), bool(r.get("capped"))))
        d["relax_steps"] = {str(w): v[0][0] for w, v in sorted(per_w.items())}
        d["n_relax"] = {str(w): min(x[1] for x in v if x[1] is not None) for w, v in sorted(per_w.items())}
        d["capped_widths"] = sorted({w for w, v in per_w.items() if any(x[2] for x in v)})
        d["diverged_widths"] = sorted({r["width"] for r in sel if r["status"] != "ok"})
        d["tau_exponent"] = _fit((w, v[0][0]) for w, v in per_w.items()).get("exponent", NAN)
        out[rule] = d
    return out


def _rules(rows, base_tau) -> list:
    order = {r: i for i, r in enumerate(LM.RULES)}
    found = {r["rule"] for r in rows if _same(r["tau0"], base_tau)}
    return sorted(found, key=lambda r: (order.get(r.split("(")[0], 99), r))


def run_length_exponents(rows: list, mats: list, base_tau: float, taus, widths=None) -> dict:
    """Panel (c): exponents as a run stopped at x·τ_l would report them (every finished record),
    per rule at ``base_tau`` (gain, σ_max; over ``widths`` when given) and per τ (timescale, α̂
    pooled, every width); at the last x also the steady-only fit (the rule judged at x·τ_l)."""
    xl = max(RUN_LENGTHS)
    out = {"rules": {}, "alpha_by_tau": {}, "run_lengths": list(RUN_LENGTHS)}
    qs = ("gain", "sigma_max")
    for rule in _rules(rows, base_tau):
        sel = [
            r
            for r in rows
            if r["rule"] == rule
            and _same(r["tau0"], base_tau)
            and r["status"] == "ok"
            and (widths is None or r["width"] in widths)
        ]
        out["rules"][rule] = {
            m: {
                q: {
                    f"{x:g}": _fit(
                        (r["width"], r.get(f"{q}_at_{x:g}tau", NAN)) for r in sel if r["matrix"] == m
                    )
                    for x in RUN_LENGTHS
                }
                | {
                    "steady_at_last": _fit(
                        (r["width"], _steady_value(r, f"{q}_at_{xl:g}tau", qs, f"_at_{xl:g}tau"))
                        for r in sel
                        if r["matrix"] == m
                    )
                }
                for q in qs
            }
            for m in mats
        }
    for tau in taus:
        sel = [r for r in rows if r["rule"] == "timescale" and _same(r["tau0"], tau) and r["status"] == "ok"]
        per_run = _by_run(sel)
        width = {k: v[0]["width"] for k, v in per_run.items()}
        out["alpha_by_tau"][f"{tau:g}"] = {
            f"{x:g}": _fit((width[k], _pooled(v, f"sigma_over_sqrt_at_{x:g}tau")) for k, v in per_run.items())
            for x in RUN_LENGTHS
        }
    return out


def memory_notes(rules: dict) -> list[str]:
    """What each rule does to τ_l along the width axis, from the runs' τ_l."""
    notes = []
    for rule, d in rules.items():
        rs = d.get("relax_steps", {})
        if len(rs) < 2:
            continue
        (w0, t0), (w1, t1) = list(rs.items())[0], list(rs.items())[-1]
        e = d.get("tau_exponent", NAN)
        if abs(e) < 0.02:
            notes.append(f"{rule}: τ_l = {t0:.0f} steps at every width")
        else:
            notes.append(
                f"{rule}: τ_l grows as n^{e:.2f}, {t0:.0f} steps at n = {w0} to {t1:.0f} at n = {w1}: "
                "along its width axis the wider runs also remember longer"
            )
    return notes


def analyse(doc: dict, source: dict | None = None) -> dict:
    """F10's numbers from a long-memory runs document (see :mod:`mupsim.experiments.long_memory`)."""
    s = doc["spec"]
    all_rows, mats = _rows(doc)
    rows = _of_task(all_rows)
    runs = doc.get("runs", [])
    bad = [r for r in runs if r.get("status") != "ok"]
    base_tau = s["base_tau"]
    alpha = alpha_vs_tau(rows, mats, s["taus"])
    rules = rule_exponents(rows, mats, base_tau, s["widths"])
    lengths = run_length_exponents(rows, mats, base_tau, s["taus"], s["widths"])
    theory = srank_theory(rows, mats, s["taus"], alpha, s["task"])
    by_variant = variants_axis(all_rows, mats, s) if s.get("variants") else {}
    capped = [
        {k: r.get(k) for k in ("key", "rule", "tau0", "width", "seed", "steps", "n_relax")}
        for r in runs
        if r.get("capped")
    ]
    excluded = [
        {
            k: r.get(k)
            for k in (
                "key",
                "rule",
                "tau0",
                "width",
                "seed",
                "matrix",
                "n_relax",
                "capped",
                "excluded_reason",
            )
        }
        for r in all_rows
        if r.get("status") == "ok" and r.get("excluded_reason")
    ]
    notes = memory_notes(rules)
    notes.append(
        f"runs capped at {s['max_steps']} steps: {len(capped)} (n_relax < {s['n_relax']:g}); "
        f"the steady-state rule refuses those below {MIN_RELAX:g} τ_l or still moving"
    )
    summary = {
        "alpha_vs_tau": alpha,
        "rules_at_base_tau": rules,
        "exponent_vs_run_length": lengths,
        "stable_rank_theory": theory,
        "variants": by_variant,
        "alignment": doc.get("alignment", {}),
        "capped": capped,
        "notes": notes,
        "spec": s,
        "excluded_not_steady": excluded,
    }
    m0 = mats[0] if mats else None
    at_base = [r for r in rows if _same(r["tau0"], base_tau)]
    timescale = [r for r in rows if r["rule"] == "timescale"]
    out = {
        "figure": NAME,
        "title": "The long-memory regime: α̂ and the rules' exponents at τ = "
        + f"{min(s['taus']):,g}–{max(s['taus']):,g} steps",
        "claim": (
            "the steady-state width exponent α depends on the weight-decay memory τ = 1/(2η_lλ_l); "
            "at a long memory the rules' gain and σ_max exponents are measured again. Under fan2025 "
            "η_lλ_l ∝ n^-1/2, so τ_l grows as √n (under constant λ as n): along those rules' width "
            "axis the wider runs also have longer memory"
        ),
        "n_runs": len(runs),
        "n_dropped": len(bad),
        "dropped": [
            {
                k: r.get(k)
                for k in ("key", "rule", "tau0", "width", "seed", "status", "diverged_step", "error")
            }
            for r in bad
        ],
        "rows": all_rows,
        "series": {
            "alpha_vs_tau": alpha,
            "rules": rules,
            "run_length": lengths,
            "stable_rank_theory": theory,
            "variants": by_variant,
        },
        "summary": summary,
        "matrices": mats,
        "provenance": {"runs_file": {**(source or {}), **doc.get("provenance", {})}},
    }

    def per_tau(fit_of, alpha=alpha) -> str:
        parts = []
        for tau, d in alpha.items():
            p = fit_of(d)
            loc = "/".join(f"{v:.2f}" for v in p.get("local_exponents", []) if v is not None)
            ws = p.get("widths") or []
            span = f" n={min(ws):g}-{max(ws):g}" if ws else ""
            parts.append(f"τ={tau}: {fmt_ci(p)}{span}" + (f" (local {loc})" if loc else ""))
        return "; ".join(parts)

    def model(m, theory=theory) -> str:
        parts = []
        for tau, d in theory.items():
            e = d.get(m) if isinstance(d, dict) else None
            if not e:
                continue
            parts.append(
                f"τ={tau}: rho_hat {e['rho_hat']:+.2f} vs {e['rho_predicted']:+.2f}, "
                f"max |log srank ratio| {e['max_abs_log_ratio']:.2f}"
                + (" (within)" if e["within"] else " (outside)")
            )
        return "; ".join(parts)

    rho = ", ".join(
        f"τ={tau}: {d[m0]['rho'].get('exponent', NAN):+.2f}" for tau, d in alpha.items() if m0 in d
    )
    gains = ", ".join(
        f"{rule} {fmt_ci(d[m0]['gain'])} ({d[m0]['steady']['checked'] - d[m0]['steady']['refused']} of "
        f"{d[m0]['steady']['checked']} steady)"
        for rule, d in rules.items()
        if m0 in d
    )
    out["headline"] = (
        f"alpha_hat {m0} (timescale, steady records) vs tau: {per_tau(lambda d: d.get(m0, {}).get('alpha', {}))}"
        + f"; alpha_hat pooled hidden: {per_tau(lambda d: d.get('pooled', {}))}"
        + f"; rho_hat {m0}: {rho}"
        + "".join(
            f"; {e['label']}: "
            + ", ".join(
                f"alpha_hat {m} " + per_tau(lambda d, m=m: d.get(m, {}).get("alpha", {}), e["alpha"])
                for m in mats
            )
            + (
                f", stable-rank model {model(m0, e['stable_rank_theory'])}"
                if "stable_rank_theory" in e
                else ""
            )
            for name, e in by_variant.items()
            if name != "task"  # the task's own numbers are panel (a)'s
        )
        + f"; stable-rank model held out ({m0}, constants frozen on another task): {model(m0)}"
        + f"; gain exponent {m0} at tau={base_tau:g}: {gains}"
        + f"; capped {len(capped)}; dropped {len(bad)}"
        + f"; alpha_hat records (timescale, sigma_max): {refusal_note(_judged(timescale, ('sigma_max',)))}"
        + f"; rule records (tau={base_tau:g}, gain and sigma_max): "
        + refusal_note(_judged(at_base, ("gain", "sigma_max")))
    )
    return clean(out)


# ---------------------------------------------------------------------------- plot
TAU_CMAP = "plasma"


def _tau_colors(taus) -> dict:
    cmap = plt.get_cmap(TAU_CMAP)
    taus = list(taus)
    return {t: cmap(0.1 + 0.7 * i / max(len(taus) - 1, 1)) for i, t in enumerate(taus)}


def _memory_line(rules: dict) -> str:
    """One line: how τ_l grows with width under fan2025 and constant λ (from the runs' τ_l)."""
    parts, span = [], ""
    for rule in ("fan2025", "constant"):
        d = rules.get(rule, {})
        rs, e = d.get("relax_steps", {}), d.get("tau_exponent", NAN)
        if len(rs) >= 2 and np.isfinite(e):
            (w0, t0), (w1, t1) = list(rs.items())[0], list(rs.items())[-1]
            parts.append(f"{rule} ∝ n^{e:.2f} ({t0:.0f}→{t1:.0f} steps)")
            span = f" over n = {w0}–{w1}"
    return f"τ_l grows with width: {', '.join(parts)}{span}: wider runs remember longer" if parts else ""


def _has_finite(ax) -> bool:
    """Does a line on ``ax`` in data coordinates (not a reference line) have a finite point?"""
    return any(
        ln.get_transform() is ax.transData and np.isfinite(np.asarray(ln.get_ydata(), float)).any()
        for ln in ax.get_lines()
    )


def _legend(ax, **kw) -> None:
    """A legend if anything on ``ax`` is labelled (every record refused: nothing is)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)


def _err(fit: dict) -> tuple[float, float, float]:
    e = fit.get("exponent", NAN)
    lo, hi = (fit.get("ci") or [NAN, NAN])[:2]
    return e, (e - lo if np.isfinite(lo) else 0.0), (hi - e if np.isfinite(hi) else 0.0)


def _bare(fit: dict) -> bool:
    return np.isfinite(fit.get("exponent", NAN)) and not np.all(np.isfinite(fit.get("ci") or [NAN]))


@styled
def plot(data: dict) -> Figure:
    s = data["summary"]
    mats = data["matrices"]
    alpha, rules, lengths = s["alpha_vs_tau"], s["rules_at_base_tau"], s["exponent_vs_run_length"]
    fig, axes = new_figure(4, 3, w=4.5, h=3.4, title=data["title"] + "\n" + _memory_line(rules))
    taus = list(alpha)
    tcol = _tau_colors(taus)
    rows = _of_task(data["rows"])

    # (a1) the data behind α̂: σ_max(W1)/√(η/λ) vs width per τ (W1: the matrix steady at every τ)
    m0 = mats[0] if mats else None
    ax = axes[0, 0]
    for tau in taus:
        fit = alpha[tau].get(m0, {}).get("alpha", {})
        ws, ys = [], []
        for r in rows:
            if r["rule"] == "timescale" and _same(r["tau0"], float(tau)) and r.get("matrix") == m0:
                y = _steady_value(r, "sigma_over_sqrt", ("sigma_max",))
                if np.isfinite(y):
                    ws.append(r["width"])
                    ys.append(y)
        ax.plot(ws, ys, "o", color=tcol[tau], ms=3, alpha=0.6)
        if np.isfinite(fit.get("exponent", NAN)):
            loc = "/".join(f"{v:.2f}" for v in fit.get("local_exponents", []))
            ax.plot(
                fit["widths"],
                fit["geo_mean"],
                "-",
                color=tcol[tau],
                label=f"τ={tau}: {fit_label(fit)}\nlocal {loc}",
            )
    if has_positive_data(ax):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
    ax.set_xlabel("width n")
    ax.set_ylabel(f"σ_max(w)/√(η_l/λ_l), {_short(m0)}")
    ax.set_title(
        f"(a) timescale rule, steady records of {_short(m0)}: α̂ per τ\n(local slopes per width doubling)",
        fontsize=8,
    )
    _legend(ax, fontsize=5.5, loc="upper left")

    # (a2) α̂ and ρ̂ vs τ
    ax = axes[0, 1]
    xt = np.array([float(t) for t in taus])
    styles = {m: (c, mk) for m, c, mk in zip(mats, ("C0", "C3", "C2", "C4"), ("o", "s", "^", "v"))}
    series = [("pooled", "pooled", "k", "D")] + [(m, m.split(".")[-1], *styles[m]) for m in mats]
    for j, (m, lab, col, mk) in enumerate(series):
        fits = [alpha[t].get(m, {}) if m == "pooled" else alpha[t].get(m, {}).get("alpha", {}) for t in taus]
        e = np.array([_err(f) for f in fits])
        off = xt * (1 + 0.04 * (j - 1))
        ax.errorbar(
            off,
            e[:, 0],
            yerr=[e[:, 1], e[:, 2]],
            fmt="-" + mk,
            color=col,
            ms=3.5,
            capsize=2,
            label=f"α̂ {lab}",
        )
        bare = [(x, f["exponent"]) for x, f in zip(off, fits) if _bare(f)]
        if bare:
            ax.plot(*zip(*bare), mk, mfc="white", mec=col, ms=3.5, zorder=6)
        if m != "pooled":
            rho = [alpha[t].get(m, {}).get("rho", {}) for t in taus]
            r = np.array([_err(f) for f in rho])
            ax.errorbar(
                off,
                r[:, 0],
                yerr=[r[:, 1], r[:, 2]],
                fmt=":" + mk,
                color=col,
                mfc="white",
                ms=3,
                capsize=1.5,
                alpha=0.8,
                label=f"ρ̂ {lab}",
            )
            pred = [alpha[t].get(m, {}).get("alpha_predicted", NAN) for t in taus]
            ax.plot(off, pred, "x", color=col, ms=4, label=f"1 − ρ̂/2 {lab}" if j == 1 else None)
    for y0 in (0.0, 0.5, 0.75, 1.0):
        ax.axhline(y0, **REF_STYLE, alpha=0.4)
    if has_positive_data(ax, "x"):
        ax.set_xscale("log", base=2)
    ax.set_xlabel("τ at n0 (steps) = 1/(2ηλ); timescale rule: the same τ at every width")
    ax.set_ylabel("width exponent")
    ax.set_title("(a) α̂ (σ_max/√(η/λ) ∝ n^α) and ρ̂ (stable rank ∝ n^ρ)\nhollow: no interval", fontsize=8)
    _legend(ax, fontsize=5.5, ncol=2)

    # (a3) local slopes per width doubling vs τ, W1, and the stable-rank model's 1 − ρ/2
    ax = axes[0, 2]
    theory = s.get("stable_rank_theory", {})
    for tau in taus:
        fit = alpha[tau].get(m0, {}).get("alpha", {})
        w = fit.get("widths") or []
        loc = fit.get("local_exponents") or []
        if loc:
            mids = [math.sqrt(a * b) for a, b in zip(w[:-1], w[1:])]
            ax.plot(mids, loc, "-o", color=tcol[tau], ms=3, label=f"τ={tau}: α̂")
        e = (theory.get(tau) or {}).get(m0) or {}
        lw, lp = e.get("local_widths") or [], e.get("local_rho_predicted") or []
        if lp:
            mids = [math.sqrt(a * b) for a, b in zip(lw[:-1], lw[1:])]
            ax.plot(mids, [1 - v / 2 for v in lp], ":", color=tcol[tau], lw=1.2)
    if has_positive_data(ax, "x"):
        ax.set_xscale("log", base=2)
    for y0 in (0.5, 0.75, 0.85, 1.0):
        ax.axhline(y0, **REF_STYLE, alpha=0.4)
    ax.set_xlabel("width (geometric middle of each doubling)")
    ax.set_ylabel(f"local exponent per doubling, {_short(m0)}")
    ax.set_title(
        "(a) local α̂ of σ_max/√(η/λ), steady records (solid);\n"
        "dotted: 1 − ρ/2 of the stable-rank model (held out)",
        fontsize=8,
    )
    _legend(ax, fontsize=6)

    # (b) per rule at BASE_TAU: gain, σ_max and α̂ exponents
    ax = axes[1, 0]
    names = list(rules)
    qcol = {"gain": "C0", "sigma_max": "C3", "alpha": "C2"}
    for k, q in enumerate(("gain", "sigma_max", "alpha")):
        for j, m in enumerate(mats):
            xs = np.arange(len(names)) + 0.12 * (k - 1) + 0.04 * (j - 0.5)
            fits = [rules[r].get(m, {}).get(q, {}) for r in names]
            e = np.array([_err(f) for f in fits]) if fits else np.zeros((0, 3))
            if not len(e):
                continue
            ax.errorbar(
                xs,
                e[:, 0],
                yerr=[e[:, 1], e[:, 2]],
                fmt="o" if j == 0 else "s",
                color=qcol[q],
                mfc=qcol[q] if j == 0 else "white",
                ms=3.5,
                capsize=2,
                ls="none",
                label=f"{q if q != 'alpha' else 'α̂ (σ_max/√(η_l/λ_l))'} {m.split('.')[-1]}",
            )
    ax.axhline(0, color="k", lw=0.6)
    labels = []
    for r in names:
        rs, nr = rules[r].get("relax_steps", {}), rules[r].get("n_relax", {})
        span = f"{min(rs.values()):.0f}–{max(rs.values()):.0f}" if rs else "?"
        st = rules[r].get(mats[0], {}).get("steady", {}) if mats else {}
        steady = f"{st.get('checked', 0) - st.get('refused', 0)}/{st.get('checked', 0)} steady"
        cap = "".join(
            f"\ncapped n={w}: {nr.get(str(w), NAN):.1f}τ_l" for w in rules[r].get("capped_widths", [])
        )
        labels.append(f"{r}\nτ_l {span}; {steady}{cap}")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(labels, fontsize=5.5, rotation=20, ha="right")
    for j, r in enumerate(names):
        ax.get_xticklabels()[j].set_color(rule_color(r))
    ax.set_ylabel("width exponent (steady records)")
    base_tau = s["spec"]["base_tau"]
    ax.set_title(
        f"(b) τ = {base_tau:g} at n0: steady exponents per rule; fan2025_io:\n"
        "embedding/readout decayed; capped runs judged by the same rule",
        fontsize=7.5,
    )
    _legend(ax, fontsize=5, ncol=2, loc="best")
    div = [i for i, r in enumerate(names) if rules[r].get("diverged_widths")]
    mark_diverged(ax, div, label=False)

    # (c) exponent vs run length, rules at BASE_TAU (W1): gain solid, σ_max dashed
    ax = axes[1, 1]
    xs = lengths["run_lengths"]
    m0 = mats[0] if mats else None
    for r, d in lengths["rules"].items():
        col = rule_color(r)
        for q, ls in (("gain", "-"), ("sigma_max", "--")):
            f = d.get(m0, {}).get(q, {})
            e = [f.get(f"{x:g}", {}).get("exponent", NAN) for x in xs]
            ax.plot(xs, e, ls, marker="o", ms=3, color=col, label=f"{r} {q}" if q == "gain" else None)
            sl = f.get("steady_at_last", {})
            if np.isfinite(sl.get("exponent", NAN)):
                ax.plot([xs[-1] * 1.04], [sl["exponent"]], "*", color=col, ms=7, mec="k", mew=0.4)
    ax.axvline(MIN_RELAX, **REF_STYLE)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel("run length x = t/τ_l (window [¾x, x]·τ_l of the same runs)")
    ax.set_ylabel(f"width exponent ({(m0 or '').split('.')[-1]})")
    ax.set_title(
        "(c) exponent if stopped at x·τ_l, all finished records\n"
        "solid gain, dashed σ_max; ★ steady only; capped runs absent past their end",
        fontsize=7,
    )
    _legend(ax, fontsize=5.5)

    # (c) α̂ (timescale, pooled) vs run length per τ
    ax = axes[1, 2]
    for tau, d in lengths["alpha_by_tau"].items():
        e = [d.get(f"{x:g}", {}).get("exponent", NAN) for x in xs]
        ax.plot(xs, e, "-o", ms=3, color=tcol.get(tau, "0.3"), label=f"τ={tau}")
        a = alpha.get(tau, {}).get("pooled", {})
        if np.isfinite(a.get("exponent", NAN)):
            ax.plot([xs[-1] * 1.04], [a["exponent"]], "*", color=tcol.get(tau, "0.3"), ms=7, mec="k", mew=0.4)
    ax.axvline(MIN_RELAX, **REF_STYLE)
    for y0 in (0.5, 0.75, 1.0):
        ax.axhline(y0, **REF_STYLE, alpha=0.4)
    ax.set_xlabel("run length x = t/τ")
    ax.set_ylabel("α̂ pooled (timescale)")
    ax.set_title(
        "(c) α̂ if stopped at x·τ, every finished record\n(★ steady records at the run's end)", fontsize=7.5
    )
    _legend(ax, fontsize=6)

    _plot_stable_rank_model(axes[2], data, taus, tcol)
    _plot_variants(axes[3], data)
    for ax in axes.ravel():
        if not _has_finite(ax):
            ax.text(
                0.5,
                0.5,
                "no steady record to fit\n(refusals and reasons: the JSON's excluded_not_steady)",
                transform=ax.transAxes,
                ha="center",
                va="center",
                fontsize=7,
                color="0.4",
            )
    apply_style(fig)
    footer(fig, data)
    return fig


def _short(m) -> str:
    return str(m).split(".")[-1] if m else "?"


def _plot_stable_rank_model(axes, data: dict, taus, tcol) -> None:
    """Row (d): the stable-rank model, constants frozen on another task, against the timescale runs:
    steady stable rank vs width per τ for each hidden matrix, and W1's α̂ beside its parts."""
    s = data["summary"]
    theory = s.get("stable_rank_theory", {})
    mats = [m for m in data["matrices"] if any(m in (theory.get(t) or {}) for t in taus)][:2]
    for ax, m in zip(axes[:2], mats):
        for tau in taus:
            e = (theory.get(tau) or {}).get(m)
            if not e:
                continue
            pts = e["points"]
            ws = [p["width"] for p in pts]
            meas = [p["measured"] for p in pts]
            ax.plot(ws, [p["predicted"] for p in pts], "--", color=tcol[tau], lw=1.2)
            verdict = "within" if e["within"] else "outside"
            ax.plot(
                ws,
                meas,
                "o-",
                color=tcol[tau],
                ms=3.5,
                label=f"τ={tau}: ρ̂ {e['rho_hat']:+.2f}, model {e['rho_predicted']:+.2f} ({verdict})",
            )
        if has_positive_data(ax):
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
        ax.set_xlabel("width n")
        ax.set_ylabel(f"steady stable rank ‖W‖_F²/σ_max², {_short(m)}")
        tol = theory.get("tolerance", {})
        ax.set_title(
            f"(d) {_short(m)}: measured (solid, seed geometric mean of steady records)\n"
            f"vs the model (dashed; tolerance |log ratio| ≤ {tol.get('log_srank', NAN):g}, "
            f"ρ ± {tol.get('rho', NAN):g})",
            fontsize=8,
        )
        _legend(ax, fontsize=5.5, loc="upper left")
    ax = axes[2]
    m0 = mats[0] if mats else None
    xt = np.array([float(t) for t in taus])
    alpha = s["alpha_vs_tau"]
    parts = [
        ("α̂ (σ_max/√(η/λ))", [(alpha[t].get(m0) or {}).get("alpha", {}).get("exponent", NAN) for t in taus], "k", "-o"),
        ("1 − ρ̂/2 (measured stable rank)", [(theory.get(t) or {}).get(m0, {}).get("alpha_from_rho_hat", NAN) for t in taus], "C0", "--s"),
        ("1 − ρ/2 (model, held out)", [(theory.get(t) or {}).get(m0, {}).get("alpha_predicted", NAN) for t in taus], "C1", ":^"),
        (
            "width exponent of RMS(W)/√(η/λ)",
            [(alpha[t].get(m0) or {}).get("rms_over_sqrt", {}).get("exponent", NAN) for t in taus],
            "C2",
            "-.v",
        ),
    ]  # fmt: skip
    for label, ys, col, fmt in parts:
        ax.plot(xt, ys, fmt, color=col, ms=4, label=label)
    for y0 in (0.0, 0.5, 0.75, 1.0):
        ax.axhline(y0, **REF_STYLE, alpha=0.4)
    if has_positive_data(ax, "x"):
        ax.set_xscale("log", base=2)
    ax.set_xlabel("τ at n0 (steps), timescale rule")
    ax.set_ylabel(f"width exponent, {_short(m0)}")
    ax.set_title(
        f"(d) {_short(m0)}: α̂ = 1 − ρ̂/2 + (exponent of RMS/√(η/λ)) for a square matrix;\n"
        "the model predicts ρ only, so its α assumes RMS/√(η/λ) flat in width",
        fontsize=8,
    )
    _legend(ax, fontsize=6)


def _plot_variants(axes, data: dict) -> None:
    """Row (e): the spec's task and its variants (more inputs, next-token), timescale rule:
    σ_max/√(η/λ) of W1 vs width, W1's stable rank against the stable-rank model (Gaussian
    inputs; constants frozen before these runs), and the local α̂ per doubling beside the
    model's 1 − ρ/2. The longest memory of each task is drawn strong, shorter ones faded."""
    s = data["summary"]
    axis = s.get("variants") or {}
    m0 = data["matrices"][0] if data["matrices"] else None
    col = {name: c for name, c in zip(axis, ("C0", "C3", "C2", "C4"))}
    for name, e in axis.items():
        taus = list(e.get("alpha") or {})
        for tau, d in (e.get("alpha") or {}).items():
            fade = 1.0 if tau == taus[-1] else 0.45
            lab = f"{e['label']}, τ={tau}"
            fit = (d.get(m0) or {}).get("alpha", {})
            w = fit.get("widths") or []
            if w:
                loc = "/".join(f"{v:.2f}" for v in fit.get("local_exponents", []))
                axes[0].plot(
                    w, fit["geo_mean"], "-o", color=col[name], ms=3.5, alpha=fade,
                    label=f"{lab}: α̂ {fit_label(fit)}\nlocal {loc}",
                )  # fmt: skip
            if fit.get("local_exponents"):
                axes[2].plot(
                    [math.sqrt(a * b) for a, b in zip(w[:-1], w[1:])], fit["local_exponents"], "-o",
                    color=col[name], ms=3.5, alpha=fade, label=f"{lab}: α̂ (σ_max)",
                )  # fmt: skip
            rho = (d.get(m0) or {}).get("rho", {})
            th = (e.get("stable_rank_theory") or {}).get(tau, {}).get(m0)
            if th:
                pts = th["points"]
                ws = [q["width"] for q in pts]
                axes[1].plot(
                    ws, [q["measured"] for q in pts], "-o", color=col[name], ms=3.5, alpha=fade,
                    label=f"{lab}: ρ̂ {th['rho_hat']:+.2f}, model {th['rho_predicted']:+.2f} "
                    + ("(within)" if th["within"] else "(outside)"),
                )  # fmt: skip
                axes[1].plot(ws, [q["predicted"] for q in pts], "--", color=col[name], lw=1.2, alpha=fade)
                lw = th.get("local_widths") or []
                if th.get("local_rho_predicted"):
                    axes[2].plot(
                        [math.sqrt(a * b) for a, b in zip(lw[:-1], lw[1:])],
                        [1 - v / 2 for v in th["local_rho_predicted"]], ":", color=col[name], lw=1.4,
                        alpha=fade, label=f"{lab}: model 1 − ρ/2",
                    )  # fmt: skip
            elif rho.get("widths"):
                axes[1].plot(
                    rho["widths"], rho["geo_mean"], "-s", color=col[name], ms=3.5, alpha=fade,
                    label=f"{lab}: ρ̂ {fit_label(rho)} (no model: token inputs)",
                )  # fmt: skip
    for ax in axes:
        if has_positive_data(ax, "x"):
            ax.set_xscale("log", base=2)
        ax.set_xlabel("width n")
    for ax in axes[:2]:
        if has_positive_data(ax):
            ax.set_yscale("log")
    for y0 in (0.5, 0.75, 0.85, 1.0):
        axes[2].axhline(y0, **REF_STYLE, alpha=0.4)
    axes[0].set_ylabel(f"σ_max(w)/√(η_l/λ_l), {_short(m0)}")
    axes[1].set_ylabel(f"steady stable rank, {_short(m0)}")
    axes[2].set_ylabel(f"local exponent per doubling, {_short(m0)}")
    axes[2].set_xlabel("width (geometric middle of each doubling)")
    axes[0].set_title("(e) other tasks: α̂ over widths, timescale rule, steady records", fontsize=8)
    axes[1].set_title(
        "(e) stable rank: measured (solid) vs the model (dashed),\nconstants frozen before these runs",
        fontsize=8,
    )
    axes[2].set_title("(e) local α̂ per doubling (solid) and the model's 1 − ρ/2 (dotted)", fontsize=8)
    for ax in axes:
        _legend(ax, fontsize=5)


# ---------------------------------------------------------------------------- figure
def quick_document(pipe) -> dict:
    """The runs document of the quick spec, its runs read (or run) through ``pipe``."""
    results = []

    def records_of(cfgs):
        got = list(pipe.results(cfgs))
        results.extend(got)
        return [LM.compact(r) for r in got]

    records, alignment = LM.run_stages(records_of, quick=True)
    prov = {
        "built_by": "make_figures --quick=1 (the quick spec's runs through the figure pipeline)",
        **{k: sorted(v) for k, v in LM.run_provenance(results).items()},
    }
    return LM.document(records, alignment, prov, quick=True)


def make(pipe) -> dict:
    """Full mode: the committed runs file (never runs anything). Quick mode: the quick spec's
    tiny runs through ``pipe``, compacted as the runner would, then analysed."""
    if pipe.quick:
        return analyse(quick_document(pipe), {"path": None, "sha256": None})
    doc, source = load_runs(LM.RUNS_FILE)
    return analyse(doc, source)


FIGURE = FigureSpec("F10", NAME, configs, analyse, plot, make)

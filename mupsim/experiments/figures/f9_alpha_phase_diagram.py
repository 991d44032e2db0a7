"""F9: what sets α. α̂ (width exponent of steady σ_max/√(η_l/λ_l)) and ρ̂ (width exponent of the
stable rank) of the hidden matrices at task points about a rich centre, one knob at a time,
against the relation α = 1 − ρ/2.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from matplotlib.figure import Figure

from mupsim.analysis import (
    layer_settings,
    steady_state,
)
from mupsim.analysis.runs import run_record
from mupsim.experiments.common import (
    BASE,
    F9_LOGS,
    LR,
    QUICK_SS_LOGS,
    RICH_TOKENS,
    relaxed,
    scale,
    seeded,
)
from mupsim.experiments.figure import Figure as FigureSpec
from mupsim.experiments.measures import (
    NAN,
    SS_FRACTION,
    clean,
    excluded_rows,
    fit_dict,
    fmt_ci,
    half_length_value,
    normalized_sigma,
    normalized_sigma_half,
    open_figure,
    refusal_note,
    run_status,
    settling,
    steady_fields,
)
from mupsim.experiments.style import (
    REF_STYLE,
    apply_style,
    footer,
    has_positive_data,
    new_figure,
    styled,
)
from mupsim.sim.config import SimConfig

# ---------------------------------------------------------------------------- configs
F9_WIDTHS = (64, 128, 256, 512)

F9_WIDTHS_KEY = (1024,)
"""Also run at these widths: the fixed-teacher reference and the rich centre (≈ 20 s a run on one
core, 8 of them the stable-rank logging). ``--wide`` runs every point at 1024–4096."""

F9_WIDE = (1024, 2048, 4096)
"""With ``wide=True`` (make_figures --wide) every point also runs at these: hours on 2 cores."""

F9_SEEDS = (0, 1, 2)

F9_STEPS = 600

F9_WD = 1.0
"""F9 runs μP + the timescale rule (equal η_l·λ_l at every width, as F3) at (η, λ) = (2^-7, 1):
τ = 64 steps, so F9_STEPS = 600 steps ≈ 9 relaxation times; float32 (the n = 1024 runs dominate)."""

F9_RICH = dict(input_dim=256, input_spectrum=1.0, teacher_width_exponent=1.0)
"""The rich centre: k = 256 inputs with covariance eigenvalues ∝ i^-1 and a teacher whose width
grows with the student's (ρ = 1: 64 at n = 64, 1024 at n = 1024); every knob panel but the
fixed-teacher reference varies one knob about it."""

F9_KNOBS = {
    "input_spectrum": (0.0, 1.0, 2.0),
    "teacher_width_exponent": (0.0, 0.5, 1.0),
    "zipf_exponent": (0.5, 1.0, 1.5),
    "batch_size": (32, 128, 512),
    "output_dim": (1, 16, 128),
}
"""Values per knob (the rich centre's value among them). ``zipf_exponent`` switches the inputs to
one-hot tokens (V = 256, the rich centre's teacher scaling)."""


def panels() -> dict:
    """{knob: [(value, point label), ...]} and, under "reference", the fixed-teacher point."""
    panels = {"reference": [(None, point_label({}))]}
    for knob, values in F9_KNOBS.items():
        panels[knob] = [(v, point_label(_knob_kw(knob, v))) for v in values]
    panels[F9_TOKENS_PANEL] = [(RICH_TOKENS["zipf_exponent"], point_label(RICH_TOKENS))]
    return panels


F9_TOKENS_PANEL = "zipf_exponent (V=1024, out=32)"
"""F9's panel holding the rich token regime of F3b/F4b (RICH_TOKENS) as one point."""


def points() -> dict:
    """{point label: SimConfig overrides} of F9 (each distinct point once), reference first."""
    pts = {point_label({}): {}}
    for knob, values in F9_KNOBS.items():
        for v in values:
            kw = _knob_kw(knob, v)
            pts.setdefault(point_label(kw), kw)
    pts.setdefault(point_label(RICH_TOKENS), dict(RICH_TOKENS))
    return pts


def _knob_kw(knob: str, value) -> dict:
    kw = dict(F9_RICH)
    if knob == "zipf_exponent":
        kw.update(inputs="tokens", input_spectrum=0.0, zipf_exponent=value)
    else:
        kw[knob] = value
    return kw


def point_label(kw: dict) -> str:
    """Short label of a point: its overrides that differ from BASE's defaults."""
    short = {
        "input_spectrum": "s",
        "teacher_width_exponent": "ρ",
        "zipf_exponent": "z",
        "batch_size": "B",
        "output_dim": "out",
        "input_dim": "k",
        "inputs": "inputs",
    }
    diff = {k: v for k, v in kw.items() if getattr(BASE, k) != v}
    if kw.get("inputs") == "tokens":
        diff["zipf_exponent"] = kw["zipf_exponent"]
    if not diff:
        return "fixed teacher (F3 task)"
    return ", ".join(
        f"{short.get(k, k)}={v:g}" if isinstance(v, (int, float)) else f"{v}" for k, v in sorted(diff.items())
    )


def labels(configs) -> dict:
    """{config key: point label} for F9's configs (the analysis groups runs by it)."""
    out = {}
    for c in configs:
        kw = {
            k: getattr(c, k)
            for k in (
                "input_dim",
                "input_spectrum",
                "teacher_width_exponent",
                "inputs",
                "zipf_exponent",
                "batch_size",
                "output_dim",
            )
        }
        out[c.key()] = point_label(kw)
    return out


def configs(quick: bool = False, wide: bool = False) -> list[SimConfig]:
    """F9: α̂ phase diagram. For every point of :func:`points`, σ_max/√(η_l/λ_l) and the
    stable rank of the hidden matrices across widths 64–512 (the reference and the rich centre
    also 1024; every point 1024–4096 with ``wide``)."""
    sc = scale(quick)
    base = BASE.replace(
        lr=LR, wd=F9_WD, wd_rule="timescale", rank_metrics=True, n_logs=QUICK_SS_LOGS if quick else F9_LOGS
    )
    floor = sc.steps if quick else F9_STEPS
    pts = points()
    if quick:
        pts = dict(list(pts.items())[:3])
    key = {point_label({}), point_label(F9_RICH)}

    def widths(label):
        if quick:
            return sc.widths
        extra = F9_WIDE if wide else (F9_WIDTHS_KEY if label in key else ())
        return tuple(sorted(set(F9_WIDTHS + extra)))

    cfgs = [relaxed(base.replace(width=w, **kw), floor) for lab, kw in pts.items() for w in widths(lab)]
    return seeded(cfgs, sc.seeds if quick else F9_SEEDS)


# ---------------------------------------------------------------------------- analysis
def alpha_from_rank_exponent(rho: float) -> float:
    """α predicted from a *fitted* stable-rank exponent ρ̂: 1 − ρ̂/2, the relation derived in
    ``mupsim/theory/alpha.py``. :func:`mupsim.alpha_from_rank_exponent` serves it for ρ in its
    physical range [0, 1] and refuses others; a fit with seed noise can land slightly outside
    (ρ̂ = −0.13 in F9), so the comparison applies the same formula unclipped (NaN stays NaN)."""
    from mupsim.alpha import alpha_relation

    return alpha_relation(rho)


IDENTITY_NOTE = (
    "σ_max = ‖W‖_F/√srank and ‖W‖_F = √(n_in·n_out)·RMS(W), with n_in·n_out ∝ n² for a hidden "
    "matrix, give log(σ_max/√(η/λ)) = log n + log(RMS(W)/√(η/λ)) − ½·log srank exactly. Fitted "
    "width exponents are linear in the per-width means of the logs, so α̂ = 1 + (RMS exponent) − ρ̂/2 "
    "up to the windowed averaging of each quantity: α̂ = 1 − ρ̂/2 is that identity plus the premise "
    "that RMS(W)/√(η/λ) is flat in width. alpha_minus_predicted measures the premise, not a theory."
)


def normalized_rms(result, matrix: str) -> float:
    """Steady-state RMS of a matrix's raw parameter w divided by √(η_l/λ_l) (NaN if λ_l = 0)."""
    ls = layer_settings(result, matrix)
    if not (ls["lr"] > 0 and ls["wd"] > 0):
        return NAN
    return steady_state(result, "rms", matrix, SS_FRACTION) / math.sqrt(ls["lr"] / ls["wd"])


def analyse(results, labels: dict, panels: dict) -> dict:
    """F9: α̂ (width exponent of steady σ_max/√(η_l/λ_l)) and ρ̂ (width exponent of the steady
    stable rank ‖W‖_F²/σ_max²) per task point and hidden matrix, seed-bootstrap intervals.

    ``labels``: {config key: point label}; ``panels``: {knob: [(value, point label)]}."""
    split, out, mats = open_figure(
        "f9_alpha_phase_diagram",
        "What sets α: α̂ across task families",
        "α = 1 − ρ/2 with ρ the width exponent of the stable rank; α depends on the task",
        results,
    )
    by_point = defaultdict(list)
    for r in results:
        by_point[labels.get(run_record(r)["key"], "?")].append(r)
    rows, points = [], {}
    for label, runs in by_point.items():
        d = {m: {q: ([], []) for q in ("sigma", "srank", "sigma_half", "srank_half", "rms")} for m in mats}
        pooled = ([], [])
        for r in runs:
            st = run_status(r)
            ys = []
            for m in mats:
                y = normalized_sigma(r, m) if st == "ok" else NAN
                sr = steady_state(r, "stable_rank", m, SS_FRACTION) if st == "ok" else NAN
                rq = normalized_rms(r, m) if st == "ok" else NAN
                yh = normalized_sigma_half(r, m) if st == "ok" else NAN
                srh = half_length_value(r, "stable_rank", m) if st == "ok" else NAN
                chk = steady_fields(r, m, ("sigma_max", "stable_rank")) if st == "ok" else {}
                row = run_record(r, point=label, matrix=m, status=st, **chk)
                row.update(
                    sigma_over_sqrt=y,
                    stable_rank_ss=sr,
                    rms_over_sqrt=rq,
                    sigma_over_sqrt_half_length=yh,
                    stable_rank_half_length=srh,
                    effective_rank_ss=steady_state(r, "effective_rank", m, SS_FRACTION)
                    if st == "ok"
                    else NAN,
                )
                if chk and not chk["steady"]:  # values kept in the row, left out of the fits
                    row["status"], y, sr, rq, yh, srh = "not_steady", NAN, NAN, NAN, NAN, NAN
                d[m]["sigma_half"][0].append(r.config["width"])
                d[m]["sigma_half"][1].append(yh)
                d[m]["srank_half"][0].append(r.config["width"])
                d[m]["srank_half"][1].append(srh)
                d[m]["rms"][0].append(r.config["width"])
                d[m]["rms"][1].append(rq)
                rows.append(row)
                d[m]["sigma"][0].append(r.config["width"])
                d[m]["sigma"][1].append(y)
                d[m]["srank"][0].append(r.config["width"])
                d[m]["srank"][1].append(sr)
                ys.append(y)
            pooled[0].append(r.config["width"])
            pooled[1].append(
                math.exp(np.mean(np.log(ys))) if ys and all(np.isfinite(v) and v > 0 for v in ys) else NAN
            )
        p = {"n_runs": len(runs), "widths": sorted({r.config["width"] for r in runs})}
        for m in mats:
            a = fit_dict(*d[m]["sigma"], n_boot=2000)
            a.update(settling(a, fit_dict(*d[m]["sigma_half"], n_boot=200)))
            rho = fit_dict(*d[m]["srank"], n_boot=2000)
            rho.update(settling(rho, fit_dict(*d[m]["srank_half"], n_boot=200)))
            pred = alpha_from_rank_exponent(rho.get("exponent", NAN))
            lo, hi = (rho.get("ci") or [NAN, NAN])[:2]
            p[m] = {
                "alpha": a,
                "rho": rho,
                "alpha_predicted": pred,
                "alpha_predicted_ci": [alpha_from_rank_exponent(hi), alpha_from_rank_exponent(lo)],
                "rms_over_sqrt": fit_dict(*d[m]["rms"], n_boot=2000),
            }
        p["pooled_hidden"] = fit_dict(*pooled, n_boot=2000)
        points[label] = p
    # α̂ − (1 − ρ̂/2) over all points and matrices
    resid = [
        points[l][m]["alpha"]["exponent"] - points[l][m]["alpha_predicted"]
        for l in points
        for m in mats
        if np.isfinite(points[l][m]["alpha"].get("exponent", NAN))
        and np.isfinite(points[l][m]["alpha_predicted"])
    ]
    premise = [
        points[l][m]["rms_over_sqrt"].get("exponent", NAN)
        for l in points
        for m in mats
        if np.isfinite(points[l][m]["alpha"].get("exponent", NAN))
        and np.isfinite(points[l][m]["alpha_predicted"])
    ]
    summary = {
        "points": points,
        "identity": IDENTITY_NOTE,
        "premise_rms_exponent": {
            "n": len(premise),
            "median": float(np.nanmedian(premise)) if premise else NAN,
            "max_abs": float(np.nanmax(np.abs(premise))) if premise else NAN,
        },
        "panels": {k: [[v, lab] for v, lab in vals] for k, vals in panels.items()},
        "alpha_minus_predicted": {
            "n": len(resid),
            "median": float(np.median(resid)) if resid else NAN,
            "max_abs": float(np.max(np.abs(resid))) if resid else NAN,
        },
        "excluded_not_steady": excluded_rows(rows),
    }
    out.update(rows=rows, series=points, summary=summary, matrices=mats)
    lo_pt = (
        min(
            points,
            key=lambda l: (
                points[l]["pooled_hidden"].get("exponent", math.inf)
                if np.isfinite(points[l]["pooled_hidden"].get("exponent", NAN))
                else math.inf
            ),
        )
        if points
        else None
    )
    out["headline"] = (
        "α̂ pooled: "
        + ", ".join(f"[{l}] {fmt_ci(p['pooled_hidden'])}" for l, p in points.items())
        + f"; lowest at {lo_pt}; α̂ − (1 − ρ̂/2) median {summary['alpha_minus_predicted']['median']:+.2f}, "
        f"max |·| {summary['alpha_minus_predicted']['max_abs']:.2f} over {len(resid)} (point, matrix)"
        + f" (an identity given the premise RMS(w)/√(η/λ) flat in width; its measured exponent "
        f"median {summary['premise_rms_exponent']['median']:+.2f})"
        + f"; dropped {split.n_dropped}; {refusal_note(rows)}"
    )
    return clean(out)


# ---------------------------------------------------------------------------- plot
KNOB_LABELS = {
    "input_spectrum": "input spectrum s (eigenvalues ∝ i^-s)",
    "teacher_width_exponent": "teacher width ∝ n^ρ_teacher",
    "zipf_exponent": "Zipf exponent z (one-hot tokens, V = 256)",
    "batch_size": "batch size",
    "output_dim": "output dimension",
}


@styled
def plot(data: dict) -> Figure:
    pts, mats = data["series"], data["matrices"]
    panels = {k: v for k, v in data["summary"]["panels"].items() if k != "reference"}
    ref = data["summary"]["panels"].get("reference", [[None, None]])[0][1]
    ncols = 3
    nrows = math.ceil((len(panels) + 1) / ncols)
    fig, axes2 = new_figure(nrows, ncols, w=3.3, h=2.7, title=data["title"])
    axes = axes2.ravel()
    mcol = {m: c for m, c in zip(mats, ("C0", "C3", "C2", "C4"))}
    for k, (knob, vals) in enumerate(panels.items()):
        ax = axes[k]
        for j, m in enumerate(mats):
            xs, ys, lo, hi = [], [], [], []
            for v, lab in vals:
                a = pts.get(lab, {}).get(m, {}).get("alpha", {})
                if np.isfinite(a.get("exponent", NAN)):
                    xs.append(v)
                    ys.append(a["exponent"])
                    lo.append(a["exponent"] - a["ci"][0])
                    hi.append(a["ci"][1] - a["exponent"])
            off = 1.0 + 0.03 * (j - 0.5) if knob in ("batch_size", "output_dim") else 0
            xp = [x * off for x in xs] if off else [x + 0.03 * (j - 0.5) for x in xs]
            ax.errorbar(
                xp,
                ys,
                yerr=[lo, hi],
                fmt="-o",
                color=mcol[m],
                capsize=2,
                ms=3.5,
                label=f"α̂ {m.split('.')[-1]}",
            )
            bare = [(x, y) for x, y, l_ in zip(xp, ys, lo) if not np.isfinite(l_)]
            if bare:  # no interval (one seed left at some width): hollow marker
                ax.plot(
                    *zip(*bare),
                    "o",
                    mfc="white",
                    mec=mcol[m],
                    ms=3.5,
                    zorder=6,
                    label="hollow: no interval" if j == 0 and k == 0 else None,
                )
            pr = [pts.get(lab, {}).get(m, {}).get("alpha_predicted", NAN) for v, lab in vals]
            ax.plot(
                [v for v, _ in vals],
                pr,
                ":",
                marker="x",
                color=mcol[m],
                ms=4,
                label=f"1 − ρ̂/2 {m.split('.')[-1]}",
            )
        r = pts.get(ref, {}).get("pooled_hidden", {})
        if np.isfinite(r.get("exponent", NAN)):
            ax.axhspan(r["ci"][0], r["ci"][1], color="0.5", alpha=0.15, lw=0)
            ax.axhline(r["exponent"], color="0.5", lw=0.8, label="fixed teacher (pooled)")
        for y0 in (0.5, 0.75, 1.0):
            ax.axhline(y0, **REF_STYLE, alpha=0.5)
        if knob in ("batch_size", "output_dim") and has_positive_data(ax, "x"):
            ax.set_xscale("log", base=2)
        ax.set_xlabel(KNOB_LABELS.get(knob, knob))
        ax.set_ylabel("α̂ (σ_max/√(η/λ) ∝ n^α)")
        ax.set_ylim(0.4, 1.15)
        if k == 0:
            ax.legend(fontsize=5.5, loc="lower left")
    ax = axes[len(panels)]
    allv = []
    for p in pts.values():
        for m in mats:
            a, x = p.get(m, {}).get("alpha", {}), p.get(m, {}).get("alpha_predicted", NAN)
            xc = p.get(m, {}).get("alpha_predicted_ci", [NAN, NAN])
            if not (np.isfinite(a.get("exponent", NAN)) and np.isfinite(x)):
                continue
            ax.errorbar(
                [x],
                [a["exponent"]],
                yerr=[[a["exponent"] - a["ci"][0]], [a["ci"][1] - a["exponent"]]],
                xerr=[[max(x - xc[0], 0)], [max(xc[1] - x, 0)]],
                fmt="o",
                color=mcol[m],
                ms=3,
                capsize=1.5,
                alpha=0.8,
                mfc=mcol[m] if np.all(np.isfinite(a["ci"])) else "white",
            )
            allv += [x, a["exponent"]]
    if allv:
        lo, hi = min(allv) - 0.05, max(allv) + 0.05
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    s = data["summary"]["alpha_minus_predicted"]
    ax.set_title(
        f"α̂ vs 1 − ρ̂/2 (all points; W1 blue, W2 red)\n"
        f"median α̂ − (1 − ρ̂/2) {s['median']:+.2f}, max |·| {s['max_abs']:.2f}",
        fontsize=7.5,
    )
    ax.set_xlabel("1 − ρ̂/2  (ρ̂: width exponent of the stable rank)")
    ax.set_ylabel("α̂")
    for a_ in axes[len(panels) + 1 :]:
        a_.set_visible(False)
    apply_style(fig)
    footer(fig, data)
    return fig


# ---------------------------------------------------------------------------- figure
def make(pipe) -> dict:
    cfgs = configs(pipe.quick, wide=pipe.wide)
    return analyse(pipe.results(cfgs), labels(cfgs), panels())


FIGURE = FigureSpec("F9", "f9_alpha_phase_diagram", configs, analyse, plot, make)

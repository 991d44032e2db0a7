"""F3: σ_max/√(η_l/λ_l) vs width at equal per-layer η_l·λ_l (μP + the timescale rule): the
steady-state exponent α̂ with a seed-bootstrap interval, for the baseline and for each variant
of the task (teacher rank, batch size, label noise). F3's α̂ sets the alignment rule of F1, F4,
F4b, F5 and F5c (:func:`alpha_hat`); its baseline runs are F4's timescale runs and F9's
fixed-teacher reference.
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict

import matplotlib.pyplot as plt
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
    SMALL_WIDTHS,
    SS_FLOOR,
    SS_WD,
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
    normalized_sigma,
    normalized_sigma_half,
    open_figure,
    refusal_note,
    run_status,
    settling,
    steady_fields,
)
from mupsim.experiments.style import (
    apply_style,
    fit_label,
    footer,
    has_positive_data,
    mark_diverged,
    new_figure,
    ref_slopes,
    styled,
)
from mupsim.sim.config import SimConfig

# ---------------------------------------------------------------------------- configs
F3_VARIANTS = {
    "teacher_rank": (None, 1, 4),
    "batch_size": (128, 32, 512),
    "label_noise": (0.0, 0.3, 1.0),
}
"""Per panel of F3, the values tried; the first of each is the shared baseline."""

F3_BASELINE_SEEDS = (0, 1, 2)

F3_WIDE = (1024,)
"""F3's and F3b's baseline also run at these widths (not F4's rules: the constant rule's
relaxation time grows ∝ n: a 6,200-step run at n = 1024)."""


def configs(quick: bool = False) -> list[SimConfig]:
    """F3: σ_max vs width at equal per-layer η_l·λ_l (μP + timescale rule), for the baseline
    (widths 64..1024, 3 seeds) and for each variant in F3_VARIANTS (teacher rank, batch size,
    label noise; widths 64..256, 2 seeds, to fit the time budget)."""
    sc = scale(quick)
    base = baseline_configs(quick)[0].replace(seed=0)
    cfgs = baseline_configs(quick) + wide_configs(quick)
    widths = sc.widths if quick else SMALL_WIDTHS
    for field, values in F3_VARIANTS.items():
        vals = values[1:2] if quick else values[1:]
        cfgs += seeded([base.replace(width=w, **{field: v}) for v in vals for w in widths], sc.seeds)
    return cfgs


def baseline_configs(quick: bool = False) -> list[SimConfig]:
    """The baseline runs of F3 (also F4's timescale rule). They are F9's fixed-teacher reference
    runs, config for config (40 log points, rank diagnostics on): computed once for both."""
    sc = scale(quick)
    base = BASE.replace(
        n_logs=QUICK_SS_LOGS if quick else F9_LOGS, lr=LR, wd=SS_WD, wd_rule="timescale", rank_metrics=True
    )
    floor = sc.steps if quick else SS_FLOOR
    return seeded(
        [relaxed(base.replace(width=w), floor) for w in sc.widths], sc.seeds if quick else F3_BASELINE_SEEDS
    )


def wide_configs(quick: bool = False) -> list[SimConfig]:
    """F3's baseline at the F3_WIDE widths (none in quick mode)."""
    if quick:
        return []
    base = baseline_configs(False)[0]
    return seeded([relaxed(base.replace(width=w), SS_FLOOR) for w in F3_WIDE], F3_BASELINE_SEEDS)


# ---------------------------------------------------------------------------- analysis
def analyse(results, variants: dict) -> dict:
    """F3: σ_max/√(η_l/λ_l) vs width; α̂ with a seed-bootstrap CI per variant and matrix.

    ``variants``: {field: (baseline value, other values...)} as in F3_VARIANTS.
    """
    split, out, mats = open_figure(
        "f3_sigma_max_vs_width",
        "Top singular value vs width at equal η_l·λ_l",
        "C2: σ_max ≈ √(η/λ)·n^α; α measured with a 95% CI",
        results,
    )
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
            st = run_status(r)
            vals = {}
            for m in mats:
                y = normalized_sigma(r, m) if st == "ok" else NAN
                yh = normalized_sigma_half(r, m) if st == "ok" else NAN
                chk = steady_fields(r, m) if st == "ok" else {}
                row = run_record(
                    r, variant=vlabel, matrix=m, status=st, sigma_over_sqrt=y, sigma_over_sqrt_half_length=yh
                )
                if chk and not chk["steady"]:  # value kept in the row, left out of the fits
                    row["status"], y, yh = "not_steady", NAN, NAN
                per_matrix_half[m][0].append(r.config["width"])
                per_matrix_half[m][1].append(yh)
                vals[m] = y
                row.update(chk)
                if st == "ok":
                    ls = layer_settings(r, m)
                    row.update(
                        lr_layer=ls["lr"],
                        wd_layer=ls["wd"],
                        sigma_max_ss=steady_state(r, "sigma_max", m, SS_FRACTION),
                        rms_ss=steady_state(r, "rms", m, SS_FRACTION),
                        gain_ss=steady_state(r, "gain", m, SS_FRACTION),
                    )
                rows.append(row)
                per_matrix[m][0].append(r.config["width"])
                per_matrix[m][1].append(y)
            pooled[0].append(r.config["width"])
            pooled[1].append(
                math.exp(np.mean(np.log(list(vals.values()))))
                if vals and all(np.isfinite(v) and v > 0 for v in vals.values())
                else NAN
            )
        fits[vlabel] = {m: fit_dict(*per_matrix[m]) for m in mats}
        for m in mats:
            fits[vlabel][m].update(settling(fits[vlabel][m], fit_dict(*per_matrix_half[m])))
        fits[vlabel]["pooled_hidden"] = fit_dict(*pooled)
        fits[vlabel]["diverged_widths"] = sorted({r.config["width"] for r in runs if run_status(r) != "ok"})
        fits[vlabel]["field"] = field
    # the variants may cover fewer widths than the baseline: refit the baseline on the
    # widths every group has, for a like-for-like comparison in the variant panels
    common = (
        set.intersection(*[{r.config["width"] for r in runs} for runs in groups.values()])
        if groups
        else set()
    )
    base_widths = {r.config["width"] for r in groups.get(("baseline", None), [])}
    if common and base_widths - common:
        sub = [r for r in groups[("baseline", None)] if r.config["width"] in common]
        fc = {}
        for m in mats:
            pts = [
                (row["width"], row["sigma_over_sqrt"])
                for row in rows
                if row["variant"] == "baseline"
                and row["matrix"] == m
                and row["width"] in common
                and row["status"] == "ok"
            ]
            fc[m] = fit_dict(*zip(*pts)) if pts else {}
        fc["field"] = "baseline_common"
        fc["widths"] = sorted(common)
        fc["n_runs"] = len(sub)
        fits["baseline@common"] = fc
    base = fits.get("baseline", {})
    alpha = base.get("pooled_hidden", {}).get("exponent", NAN)
    summary = {
        "alpha_hat": alpha,
        "alpha_hat_ci": base.get("pooled_hidden", {}).get("ci"),
        "fits": fits,
        "reference_slopes": [0.5, 0.75, 1.0],
        "excluded_not_steady": excluded_rows(rows),
    }
    out.update(
        rows=rows,
        series=fits,
        summary=summary,
        matrices=mats,
        variants={k: list(v) for k, v in variants.items()},
    )
    per_var = ", ".join(
        f"{k}: {fmt_ci(v['pooled_hidden'])}" for k, v in fits.items() if not k.startswith("baseline")
    )
    out["headline"] = (
        f"alpha_hat (hidden, pooled) = {fmt_ci(base.get('pooled_hidden', {}))}"
        + "".join(f"; {m} {fmt_ci(base.get(m, {}))}" for m in mats)
        + f"; variants: {per_var}; dropped {split.n_dropped}"
        + f"; {refusal_note(rows)}"
    )
    return clean(out)


# ---------------------------------------------------------------------------- plot
def _variant_points(rows, vlabel, matrix):
    ws, ys, div = [], [], []
    for r in rows:
        if r.get("variant") != vlabel or r.get("matrix") != matrix:
            continue
        if r.get("status") != "ok":
            if r.get("status") != "not_steady":  # refused runs: listed in the CSV, not marked
                div.append(r["width"])
            continue
        ws.append(r["width"])
        ys.append(r["sigma_over_sqrt"])
    return np.array(ws, float), np.array(ys, float), div


def _plot_fit(ax, ws, ys, fit, color, label, marker="o"):
    ax.plot(ws, ys, marker, color=color, alpha=0.5, ms=3)
    if np.isfinite(fit.get("exponent", NAN)):
        w = np.asarray(fit["widths"], float)
        ax.plot(w, fit["geo_mean"], "-", color=color, lw=0.8, alpha=0.6)
        ax.plot(
            w,
            fit["prefactor"] * w ** fit["exponent"],
            "--",
            color=color,
            lw=1.2,
            label=f"{label}: α̂ {fit_label(fit)}",
        )


@styled
def plot(data: dict) -> Figure:
    rows, fits, mats = data["rows"], data["series"], data["matrices"]
    fields = list(data["variants"])
    ncols = 2
    nrows = math.ceil((1 + len(fields)) / ncols)
    fig, axes2 = new_figure(nrows, ncols, w=4.2, h=3.2, title=data["title"])
    axes = axes2.ravel()
    for ax in axes[1 + len(fields) :]:
        ax.set_visible(False)
    axes = axes[: 1 + len(fields)]
    m0 = mats[0] if mats else None
    # panel 0: baseline, all hidden matrices
    ax = axes[0]
    cmap = plt.get_cmap("tab10")
    allw = [r["width"] for r in rows]
    for j, m in enumerate(mats):
        ws, ys, div = _variant_points(rows, "baseline", m)
        _plot_fit(ax, ws, ys, fits.get("baseline", {}).get(m, {}), cmap(j), m)
        mark_diverged(ax, div, label=j == 0)
    b = fits.get("baseline", {}).get(m0, {})
    if np.isfinite(b.get("exponent", NAN)):
        ref_slopes(ax, b["widths"][0], b["geo_mean"][0], allw, (0.5, 0.75, 1.0))
    ax.set_title(
        "baseline (grey: slopes ½, ¾, 1; a matrix refused\nas not in steady state at "
        "every width has no points)",
        fontsize=8,
    )
    # variant panels, first hidden matrix
    for k, field in enumerate(fields):
        ax = axes[k + 1]
        labels = ["baseline"] + [
            v for v, f in fits.items() if isinstance(f, dict) and f.get("field") == field
        ]
        vals = data["variants"][field]
        common = fits.get("baseline@common")
        for j, vlabel in enumerate(labels):
            ws, ys, div = _variant_points(rows, vlabel, m0)
            fit = fits.get(vlabel, {}).get(m0, {})
            name = vlabel.split("=")[-1]
            if vlabel == "baseline":
                name = f"{vals[0]} (baseline)"
                if common:
                    keep = np.isin(ws, common["widths"])
                    ws, ys, fit = ws[keep], ys[keep], common.get(m0, {})
            _plot_fit(ax, ws, ys, fit, cmap(j), name)
            mark_diverged(ax, div, label=False)
        ax.set_title(f"{field} ({m0})")
    for ax in axes:
        if has_positive_data(ax):  # every run refused: nothing to put on a log axis
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
        ax.set_xlabel("width n")
        ax.legend(loc="upper left", fontsize=6.5)
        ax.set_ylabel("σ_max(w) / √(η_l/λ_l)  (steady state)")
    apply_style(fig)
    footer(fig, data)
    return fig


# ---------------------------------------------------------------------------- figure
def make(pipe) -> dict:
    variants = {k: (v[:2] if pipe.quick else v) for k, v in F3_VARIANTS.items()}
    return analyse(pipe.results(configs(pipe.quick)), variants)


def alpha_hat(pipe) -> float | None:
    """α̂ from F3 (for the alignment rule), or None with a warning if F3 has none."""
    alpha = pipe.analyse("F3")["summary"]["alpha_hat"]
    if alpha is None or not math.isfinite(alpha):
        print("  warning: no finite α̂ from F3; runs without the alignment rule", file=sys.stderr)
        return None
    return alpha


FIGURE = FigureSpec("F3", "f3_sigma_max_vs_width", configs, analyse, plot, make)

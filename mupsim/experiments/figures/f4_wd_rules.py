"""F4: steady-state sublayer gain and σ_max vs width under μP's η and each weight-decay rule
(claims C3/C5: with λ ∝ n^(2α̂−1) both are width-invariant, constant λ drifts); the alignment
rule at α̂ from F3. The timescale rule's runs are F3's baseline runs.
"""

from __future__ import annotations

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
    LR,
    QUICK_SS_LOGS,
    SS_FLOOR,
    SS_LOGS,
    SS_WD,
    WD_RULES,
    alignment_kw,
    relaxed,
    scale,
    seeded,
)
from mupsim.experiments.figure import Figure as FigureSpec
from mupsim.experiments.figures import f3_sigma_max_vs_width as F3
from mupsim.experiments.measures import (
    NAN,
    SS_FRACTION,
    clean,
    excluded_rows,
    fit_dict,
    fmt_ci,
    open_figure,
    refusal_counts,
    refusal_note,
    rule_label,
    run_status,
    steady_fields,
)
from mupsim.experiments.style import (
    apply_style,
    fit_label,
    footer,
    mark_diverged,
    new_figure,
    rule_color,
    styled,
)
from mupsim.sim.config import SimConfig


# ---------------------------------------------------------------------------- configs
def configs(quick: bool = False, alpha_hat: float | None = None) -> list[SimConfig]:
    """F4: sublayer gain and σ_max vs width under μP's η and each wd rule; the "alignment"
    rule uses ``alpha_hat`` (α̂ from F3, clipped to the calculator's [0.5, 1]). The timescale
    rule's runs are F3's baseline runs (600 steps, 40 log points, shared with F9); the other rules
    log SS_LOGS = 60 points over their longer runs; either gives the steady-state check ≥ 5 points
    in the last half."""
    sc = scale(quick)
    base = BASE.replace(n_logs=QUICK_SS_LOGS if quick else SS_LOGS, lr=LR)
    floor = sc.steps if quick else SS_FLOOR
    cfgs = []
    for rule in WD_RULES:
        if rule == "timescale":
            cfgs += F3.baseline_configs(quick)
            continue
        kw = {"wd_rule": rule}
        if rule == "alignment":
            if alpha_hat is None:
                continue
            kw = alignment_kw(alpha_hat)
        cfgs += seeded(
            [relaxed(base.replace(width=w, wd=SS_WD, **kw), floor) for w in sc.widths],
            sc.seeds if quick else F4_SEEDS,
        )
    return cfgs


F4_SEEDS = F3.F3_BASELINE_SEEDS


# ---------------------------------------------------------------------------- analysis
def analyse(results) -> dict:
    """F4: steady-state sublayer gain and σ_max vs width under each wd rule (μP η)."""
    split, out, mats = open_figure(
        "f4_wd_rules",
        "Sublayer gain and σ_max vs width under each weight-decay rule",
        "C3/C5: with λ ∝ n^(2α̂−1) gain and σ_max are width-invariant; constant λ drifts",
        results,
    )
    by_rule = defaultdict(list)
    for r in results:  # one group per rule and, for alignment, per α̂ (in-sample and out of sample)
        by_rule[rule_label(r.config)].append(r)
    rows, fits = [], {}
    for label, runs in by_rule.items():
        data = {m: {"gain": ([], []), "sigma_max": ([], [])} for m in mats}
        for r in runs:
            st = run_status(r)
            for m in mats:
                row = run_record(r, rule=label, matrix=m, status=st)
                mult = layer_settings(r, m)["multiplier"] if st == "ok" else NAN
                chk = steady_fields(r, m, ("gain", "sigma_max")) if st == "ok" else {}
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
        fits[label] = {m: {q: fit_dict(*data[m][q]) for q in ("gain", "sigma_max")} for m in mats}
        for m in mats:
            fits[label][m]["steady"] = refusal_counts(
                [row for row in rows if row["rule"] == label and row["matrix"] == m]
            )
        fits[label]["diverged_widths"] = sorted({r.config["width"] for r in runs if run_status(r) != "ok"})
    excl = excluded_rows(rows)
    n_relax = [row["n_relax"] for row in rows if row.get("status") in ("ok", "not_steady")]
    out.update(
        rows=rows,
        series=fits,
        matrices=mats,
        summary={
            "fits": fits,
            "excluded_not_steady": excl,
            "min_relaxation_times": min(n_relax) if n_relax else NAN,
        },
    )
    m0 = mats[0] if mats else None
    out["headline"] = (
        "gain exponent "
        + (m0 or "")
        + ": "
        + ", ".join(
            f"{k} {fmt_ci(v[m0]['gain'])} ({_accepted(v[m0]['steady'])})" for k, v in fits.items() if m0
        )
        + f"; dropped {split.n_dropped}; {refusal_note(rows)}"
    )
    return clean(out)


def _accepted(counts: dict) -> str:
    return f"{counts['checked'] - counts['refused']} of {counts['checked']} records steady"


# ---------------------------------------------------------------------------- plot
@styled
def plot(data: dict) -> Figure:
    rows, fits, mats = data["rows"], data["series"], data["matrices"]
    fig, axes = new_figure(1, 2, w=4.2, h=4.4, title=data["title"])
    axes = axes[0]
    for k, q in enumerate(("gain", "sigma_max")):
        ax = axes[k]
        aligned = [r for r in fits if r.startswith("alignment")]
        for rule, f in fits.items():
            # a second alignment rule (α̂ from another regime, out of sample) in brown
            color = "#8c564b" if rule in aligned[1:] else rule_color(rule)
            for j, m in enumerate(mats):
                for steady in (True, False):
                    pts = [
                        (r["width"], r[f"{q}_ss"])
                        for r in rows
                        if r.get("rule") == rule
                        and r.get("matrix") == m
                        and r.get("status") in ("ok", "not_steady")
                        and bool(r.get("steady", True)) == steady
                    ]
                    if pts:
                        ws, ys = np.array(pts, float).T
                        ax.plot(
                            ws,
                            ys,
                            "o" if j == 0 else "s",
                            color=color,
                            alpha=0.5,
                            ms=3.5,
                            mfc=color if steady else "none",
                        )
                fit = f.get(m, {}).get(q, {})
                if np.isfinite(fit.get("exponent", NAN)):
                    ax.plot(
                        fit["widths"],
                        fit["geo_mean"],
                        "-" if j == 0 else ":",
                        color=color,
                        label=f"{rule} {m.split('.')[-1]}: {fit_label(fit)}",
                    )
            mark_diverged(ax, f.get("diverged_widths", []), label=False)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width n")
        ax.set_ylabel({"gain": "sublayer gain (steady state)", "sigma_max": "σ_max (steady state)"}[q])
        ax.set_title(
            f"{q}: fitted width exponent [95% CI]\n"
            "hollow: refused, not in steady state (< 5τ or still moving)"
        )
        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    apply_style(fig)
    footer(fig, data)
    return fig


# ---------------------------------------------------------------------------- figure
def make(pipe) -> dict:
    alpha = F3.alpha_hat(pipe)
    data = analyse(pipe.results(configs(pipe.quick, alpha)))
    data["summary"]["alpha_hat_from_f3"] = alpha
    return data


FIGURE = FigureSpec("F4", "f4_wd_rules", configs, analyse, plot, make)

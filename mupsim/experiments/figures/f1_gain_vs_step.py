"""F1 (Fan et al. 2025, Fig. 1, across widths): sublayer gain and σ_max of the hidden matrices
vs t/τ under the constant, fan2025 and alignment(α̂) rules, and the width exponent a run would
report had it stopped after x relaxation times. F1 has no runs of its own: it reads F4's runs
under those rules (α̂ from F3). The curves use every run (they show the approach to the steady
state); the headline exponents at the last run length use only the records that pass the
steady-state rule judged at that length, like every other figure.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from matplotlib.figure import Figure

from mupsim.analysis import (
    layer_settings,
    matrix_series,
)
from mupsim.analysis.runs import run_record
from mupsim.analysis.steady import (
    MIN_RELAX,  # the analysis' shortest steady run, in τ
    horizon_mean,
    relax_time,
)
from mupsim.experiments.figure import Figure as FigureSpec
from mupsim.experiments.figures import f3_sigma_max_vs_width as F3
from mupsim.experiments.figures import f4_wd_rules as F4
from mupsim.experiments.measures import (
    NAN,
    SS_FRACTION,
    clean,
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
    REF_STYLE,
    apply_style,
    footer,
    new_figure,
    styled,
    width_colors,
)
from mupsim.sim.config import SimConfig

# ---------------------------------------------------------------------------- configs
F1_RULES = ("constant", "fan2025", "alignment")
"""F1 (Fan et al.'s Fig 1 across widths) shows F4's runs under these rules: no runs of its own."""


def configs(quick: bool = False, alpha_hat: float | None = None) -> list[SimConfig]:
    """F1: gain and σ_max vs t/τ across widths under constant / fan2025 / alignment(α̂): the
    runs of F4 under those rules (each width ≥ RELAX_RUN relaxation times)."""
    keep = set(F1_RULES)
    return [c for c in F4.configs(quick, alpha_hat) if c.wd_rule in keep]


# ---------------------------------------------------------------------------- analysis
F1_RUN_LENGTHS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0)
"""Run lengths (in relaxation times τ of each width) at which F1 refits the width exponents."""

F1_FIXED_STEPS = 1200
"""The old design's run length (every width 1,200 steps): its exponents are shown for contrast."""

F1_CURVE_POINTS = 80


def analyse(results) -> dict:
    """F1 (Fan et al. 2025, Fig. 1, across widths): sublayer gain and σ_max of the hidden
    matrices vs t/τ (τ = 1/(2η_lλ_l) of each width) under each wd rule, and the width exponent
    of the gain/σ_max a run would report had it stopped after x relaxation times."""
    split, out, mats = open_figure(
        "f1_gain_vs_step",
        "Gain and σ_max vs t/τ across widths (Fan et al. Fig. 1)",
        "C3/C5: under a width-invariant rule the curves of all widths coincide in steady "
        "state; the measured exponent settles only after several relaxation times",
        results,
    )
    by_rule = defaultdict(list)
    for r in results:
        by_rule[rule_label(r.config)].append(r)
    rows, series, summary = [], {}, {"exponent_vs_run_length": {}, "fixed_steps": {}, "final": {}}
    last_x = max(F1_RUN_LENGTHS)
    xgrid = np.geomspace(0.05, last_x, F1_CURVE_POINTS)
    fixed_steps = min([F1_FIXED_STEPS] + [int(r.steps[-1]) for r in split.kept])
    for rule, runs in sorted(by_rule.items()):
        ok = [r for r in runs if run_status(r) == "ok"]
        series[rule] = {}
        for m in mats:
            per_w = defaultdict(lambda: {"gain": [], "sigma_max": []})
            pts = {x: {"gain": ([], []), "sigma_max": ([], [])} for x in F1_RUN_LENGTHS}
            fixed = {"gain": ([], []), "sigma_max": ([], [])}
            final = {"gain": ([], []), "sigma_max": ([], [])}
            checks = []
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
                # the steady-state rule of every figure, judged at the last run length
                chk = steady_fields(r, m, ("gain", "sigma_max"), horizon=last_x * tau)
                checks.append(chk)
                for q in ("gain", "sigma_max"):
                    final[q][0].append(w)
                    final[q][1].append(pts[last_x][q][1][-1] if chk["steady"] else NAN)
                rows.append(
                    run_record(
                        r,
                        rule=rule,
                        matrix=m,
                        **{
                            f"{q}_at_{x:g}tau": pts[x][q][1][-1]
                            for q in ("gain", "sigma_max")
                            for x in F1_RUN_LENGTHS
                        },
                        **{**chk, "n_relax": float(r.steps[-1]) / tau},
                        status="ok" if chk["steady"] else "not_steady",
                    )
                )
            series[rule][m] = {
                str(w): {q: np.nanmean(np.vstack(d[q]), 0).tolist() for q in ("gain", "sigma_max")}
                for w, d in sorted(per_w.items())
            }
            series[rule][m]["x"] = xgrid.tolist()
            summary["exponent_vs_run_length"].setdefault(rule, {})[m] = {
                q: {f"{x:g}": fit_dict(*pts[x][q], n_boot=1000) for x in F1_RUN_LENGTHS}
                for q in ("gain", "sigma_max")
            }
            summary["fixed_steps"].setdefault(rule, {})[m] = {
                q: fit_dict(*fixed[q], n_boot=1000) for q in ("gain", "sigma_max")
            }
            summary["final"].setdefault(rule, {})[m] = {
                **{q: fit_dict(*final[q], n_boot=1000) for q in ("gain", "sigma_max")},
                "steady": refusal_counts(checks),
            }
        for r in runs:
            if run_status(r) != "ok":
                rows.append(run_record(r, rule=rule, status=run_status(r)))
    out.update(
        rows=rows,
        series=series,
        summary=summary,
        matrices=mats,
        run_lengths=list(F1_RUN_LENGTHS),
        fixed_steps=fixed_steps,
    )
    m0 = mats[0] if mats else None
    last = f"{max(F1_RUN_LENGTHS):g}"
    parts = []
    for rule, d in summary["final"].items():
        if m0 in d:
            c = d[m0]["steady"]
            parts.append(
                f"{rule} {fmt_ci(d[m0]['gain'])} "
                f"({c['checked'] - c['refused']} of {c['checked']} records steady; "
                f"all records at {last}τ "
                f"{fmt_ci(summary['exponent_vs_run_length'][rule][m0]['gain'][last])}, "
                f"at {fixed_steps} steps {fmt_ci(summary['fixed_steps'][rule][m0]['gain'])})"
            )
    out["headline"] = (
        f"gain exponent of {m0} at {last}τ, steady records only: "
        + ", ".join(parts)
        + f"; dropped {split.n_dropped}; {refusal_note(rows)}"
    )
    return clean(out)


# ---------------------------------------------------------------------------- plot
@styled
def plot(data: dict) -> Figure:
    mats = data["matrices"]
    rules = list(data["series"])
    fig, axes = new_figure(max(len(rules), 1), 3, w=3.3, h=2.5, title=data["title"])
    m0 = mats[0] if mats else None
    widths = sorted({int(w) for r in rules for w in data["series"][r].get(m0, {}) if w != "x"})
    colors = width_colors(widths) if widths else {}
    xs = data["run_lengths"]
    for i, rule in enumerate(rules):
        d = data["series"][rule].get(m0, {})
        x = np.asarray(d.get("x", []), float)
        for k, q in enumerate(("gain", "sigma_max")):
            ax = axes[i, k]
            for w in widths:
                if str(w) in d:
                    ax.plot(x, d[str(w)][q], color=colors[w], label=f"n={w}")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.axvline(MIN_RELAX, **REF_STYLE)
            ax.set_ylabel({"gain": f"gain ‖Wx‖/‖x‖ ({m0})", "sigma_max": f"σ_max ({m0})"}[q])
            ax.set_title(rule, fontsize=8)
        ax = axes[i, 2]
        ev = data["summary"]["exponent_vs_run_length"].get(rule, {})
        for j, m in enumerate(mats):
            for q, col in (("gain", "C0"), ("sigma_max", "C3")):
                fits = ev.get(m, {}).get(q, {})
                e = np.array([fits.get(f"{x:g}", {}).get("exponent", NAN) for x in xs], float)
                ci = np.array([fits.get(f"{x:g}", {}).get("ci", [NAN, NAN]) for x in xs], float)
                ls = "-" if j == 0 else ":"
                ax.plot(
                    xs, e, ls, marker="o" if j == 0 else "s", ms=3, color=col, label=f"{q} {m.split('.')[-1]}"
                )
                if j == 0:
                    ax.fill_between(xs, ci[:, 0], ci[:, 1], color=col, alpha=0.15, lw=0)
                    fx = data["summary"]["fixed_steps"].get(rule, {}).get(m, {}).get(q, {})
                    if np.isfinite(fx.get("exponent", NAN)):
                        ax.axhline(fx["exponent"], color=col, lw=0.8, ls="--", alpha=0.7)
        ax.axhline(0.0, color="k", lw=0.6)
        ax.set_xscale("log")
        ax.set_ylabel("width exponent")
        ax.set_title(
            f"exponent if stopped at x·τ (dashed: every width\nstopped at {data['fixed_steps']} steps)",
            fontsize=7.5,
        )
    for k in range(3):
        axes[-1, k].set_xlabel("t / τ,  τ = 1/(2 η_l λ_l) of each width" if k < 2 else "run length x = t/τ")
    if rules:
        axes[0, 0].legend(fontsize=6)
        axes[0, 2].legend(fontsize=6)
    apply_style(fig)
    footer(fig, data)
    return fig


# ---------------------------------------------------------------------------- figure
def make(pipe) -> dict:
    """F4's runs under F1_RULES (α̂ from F3), read through ``pipe`` and analysed."""
    return analyse(pipe.results(configs(pipe.quick, F3.alpha_hat(pipe))))


FIGURE = FigureSpec("F1", "f1_gain_vs_step", configs, analyse, plot, make)

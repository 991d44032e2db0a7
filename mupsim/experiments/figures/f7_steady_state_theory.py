"""F7: the steady-state theory against the simulator over a grid of (η, λ, β1, n): measured vs
predicted RMS(W), relaxation time and angular update of the hidden matrices.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from mupsim import steady_state as ss
from mupsim.analysis import (
    layer_settings,
    matrix_series,
    relaxation_time_fit,
    split_diverged,
    steady_state,
    steady_state_mean,
)
from mupsim.analysis.runs import hidden_matrices, run_record
from mupsim.experiments.common import BASE, QUICK, scale, seeded
from mupsim.experiments.figure import Figure as FigureSpec
from mupsim.experiments.measures import (
    NAN,
    SS_FRACTION,
    clean,
    excluded_rows,
    figure_record,
    refusal_note,
    run_status,
    steady_fields,
)
from mupsim.experiments.style import apply_style, footer, new_figure, styled
from mupsim.sim.config import SimConfig

# ---------------------------------------------------------------------------- configs
F7_GRID = {"lr": (4e-3, 1.6e-2), "wd": (0.5, 2.0), "beta1": (0.5, 0.9)}

F7_WIDTHS = (64, 256)


def configs(quick: bool = False) -> list[SimConfig]:
    """F7: steady-state theory vs measurement over a grid of (η, λ, β1, n). μP with the
    timescale rule keeps every relaxation time 1/(2η_lλ_l) ≤ 250 steps at every width."""
    sc = scale(quick)
    widths = (QUICK.widths[-1],) if quick else F7_WIDTHS
    base = BASE.replace(
        steps=sc.steps if quick else 1500,
        n_logs=sc.n_logs + (0 if quick else 20),
        wd_rule="timescale",
        dtype="float64",
    )
    cfgs = [
        base.replace(lr=lr, wd=wd, beta1=b1, width=w)
        for lr in F7_GRID["lr"]
        for wd in F7_GRID["wd"]
        for b1 in F7_GRID["beta1"]
        for w in widths
    ]
    return seeded(cfgs, sc.seeds[:1])


# ---------------------------------------------------------------------------- analysis
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


def analyse(results) -> dict:
    """F7: predicted vs measured steady-state RMS(W), relaxation time and angular update for
    the hidden (scale-invariant) matrices of every run. Predictions from mupsim.steady_state
    with the per-layer η_l, λ_l the run used and, for RMS(W), the measured update RMS."""
    split = split_diverged(results)
    out = figure_record(
        "f7_steady_state_theory",
        "Steady-state theory vs simulation",
        "§3: RMS(W)∞ ≈ RMS(u)·√(η/2λ), τ ≈ 1/(2ηλ), angular update ≈ √(2ηλ(1−β1)/(1+β1))",
        results,
        split,
    )
    rows = []
    for r in split.kept:
        c = r.config
        for m in hidden_matrices(r):
            ls = layer_settings(r, m)
            lr, wd, b1 = ls["lr"], ls["wd"], c["beta1"]
            u = update_direction_rms(r, m)
            tfit = relaxation_time_fit(*matrix_series(r, "rms", m))
            chk = steady_fields(r, m, ("rms", "angular_update"))
            rows.append(
                {
                    **run_record(
                        r,
                        matrix=m,
                        beta1=b1,
                        lr_layer=lr,
                        wd_layer=wd,
                        status="ok" if chk["steady"] else "not_steady",
                        **chk,
                    ),
                    "rms_measured": steady_state(r, "rms", m, SS_FRACTION),
                    "rms_predicted": float(ss.equilibrium_rms(u, lr, wd, beta1=b1)),
                    "update_rms_measured": u,
                    "tau_measured": tfit.tau,
                    "tau_fit_ok": tfit.ok,
                    "tau_fit_r2": tfit.r2,
                    "tau_predicted": float(ss.relaxation_time(lr, wd)),
                    "angular_measured": steady_state(r, "angular_update", m, SS_FRACTION),
                    "angular_predicted": float(ss.angular_update(lr, wd, beta1=b1)),
                }
            )
    for r in split.dropped:
        rows.append(run_record(r, status=run_status(r)))
    summary = {}
    for q in ("rms", "tau", "angular"):
        ratios = [
            row[f"{q}_measured"] / row[f"{q}_predicted"]
            for row in rows
            if (row.get("status") == "ok" or (q == "tau" and row.get("status") == "not_steady"))
            and (q != "tau" or row["tau_fit_ok"])
            and np.isfinite(row.get(f"{q}_measured", NAN))
        ]
        ratios = np.asarray(ratios, float)
        summary[q] = {
            "n": int(ratios.size),
            "median_ratio": float(np.median(ratios)) if ratios.size else NAN,
            "min_ratio": float(ratios.min()) if ratios.size else NAN,
            "max_ratio": float(ratios.max()) if ratios.size else NAN,
        }
    excl = excluded_rows(rows)
    out.update(
        rows=rows, series={"points": [row for row in rows if row.get("status") == "ok"]}, summary=summary
    )
    out["headline"] = (
        "measured/predicted median [min, max]: "
        + ", ".join(
            f"{q} {v['median_ratio']:.2f} [{v['min_ratio']:.2f}, {v['max_ratio']:.2f}] (n={v['n']})"
            for q, v in summary.items()
        )
        + f"; dropped {split.n_dropped}; {refusal_note(rows)}"
    )
    summary["excluded_not_steady"] = excl
    return clean(out)


# ---------------------------------------------------------------------------- plot
@styled
def plot(data: dict) -> Figure:
    pts = data["series"]["points"]
    fig, axes = new_figure(1, 3, w=3.2, h=3.1, title=data["title"])
    axes = axes[0]
    quantities = (
        ("rms", "RMS(W) steady state"),
        ("tau", "relaxation time (steps)"),
        ("angular", "angular update per step (rad)"),
    )
    widths = sorted({p["width"] for p in pts})
    markers = dict(zip(widths, "os^Dv<>"))
    b1s = sorted({p["beta1"] for p in pts})
    bcol = dict(zip(b1s, ("#d62728", "#1f77b4", "#2ca02c", "#9467bd")))
    for ax, (q, lab) in zip(axes, quantities):
        allv = []
        for p in pts:
            x, y = p[f"{q}_predicted"], p[f"{q}_measured"]
            if not (np.isfinite(x) and np.isfinite(y) and x > 0 and y > 0):
                continue
            ok = p.get("tau_fit_ok", True) if q == "tau" else True
            ax.plot(
                [x],
                [y],
                markers[p["width"]],
                color=bcol[p["beta1"]],
                mfc=bcol[p["beta1"]] if ok else "none",
                ms=4,
                alpha=0.8,
            )
            allv += [x, y]
        if allv:
            lo, hi = min(allv) / 1.3, max(allv) * 1.3
            ax.plot([lo, hi], [lo, hi], color="k", lw=0.8, label="identity")
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
        ax.set_xscale("log")
        ax.set_yscale("log")
        s = data["summary"].get(q, {})
        ax.set_title(
            f"{lab}\nmeasured/predicted median {s.get('median_ratio', NAN):.2f} "
            f"[{s.get('min_ratio', NAN):.2f}, {s.get('max_ratio', NAN):.2f}]"
        )
        ax.set_xlabel("predicted")
    axes[0].set_ylabel("measured")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker=markers[w], color="0.3", ls="none", label=f"n={w}") for w in widths]
    handles += [Line2D([], [], marker="o", color=bcol[b], ls="none", label=f"β1={b:g}") for b in b1s]
    handles += [Line2D([], [], marker="o", mfc="none", color="0.3", ls="none", label="τ fit unreliable")]
    axes[0].legend(handles=handles, fontsize=6, loc="upper left")
    apply_style(fig)
    footer(fig, data)
    return fig


# ---------------------------------------------------------------------------- figure
def make(pipe) -> dict:
    return analyse(pipe.results(configs(pipe.quick)))


FIGURE = FigureSpec("F7", "f7_steady_state_theory", configs, analyse, plot, make)

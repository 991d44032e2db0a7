"""Loss-optimum transfer panels shared by F5 and F5c: per width, the loss curve over a swept
hyperparameter, its optimum (and per-seed optima) and the drift of the optimum per width
doubling; and the axes that draw one panel."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from mupsim.analysis import (
    optimum_drift,
    transfer_optimum,
)
from mupsim.analysis.transfer import (
    Shift,
    _mean_curve,
    curve_shift,
    seed_optimum_drift,
    shift_drift,
)
from mupsim.experiments.measures import NAN, final_loss
from mupsim.experiments.style import REF_STYLE, mark_diverged, rule_color, width_colors


# ---------------------------------------------------------------------------- analysis
def loss_grid(results, group_key, x_field, loss=None):
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


def transfer_panel(grid: dict, per_seed: bool = False) -> dict:
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
        panel[str(w)] = {
            "x": xs.tolist(),
            "loss_mean": mean.tolist(),
            "loss_min": np.nanmin(np.where(np.isinf(L), np.nan, L), 1).tolist()
            if np.isfinite(L).any()
            else [NAN] * len(xs),
            "diverged": np.isinf(L).any(1).tolist(),
            "optimum": opt.to_dict(),
            "curve_shift": sh.to_dict(),
        }
    drift = optimum_drift(widths, optima).to_dict() if len(widths) >= 2 else {}
    sdrift = shift_drift(widths, shifts).to_dict() if len(widths) >= 2 else {}
    out = {"widths": panel, "drift": drift, "shift_drift": sdrift}
    seeds = {grid[w][1].shape[1] for w in widths}
    if per_seed and len(widths) >= 2 and len(seeds) == 1:
        sd = seed_optimum_drift(
            widths, [np.log2(grid[w][0]) for w in widths], [grid[w][1] for w in widths], n_boot=2000, seed=0
        )
        out["seed_drift"] = sd.to_dict()
        for k, w in enumerate(widths):
            panel[str(w)]["seed_optimum"] = {
                "x_opt": sd.optima[k],
                "ci": sd.optima_ci[k],
                "n_edge": int(sum(e[k] for e in sd.edge)),
                "n_seeds": sd.n_seeds,
                "n_used": sd.n_used,
                "per_seed": [o[k] for o in sd.per_seed],
            }
    return out


SHIFT_BOOT = 300


def fmt_seed_drift(v: dict, seeds_word: str) -> str:
    """'+0.39 [+0.36, +0.43] (6/6 <seeds_word>)' for a per-seed drift record, 'n/a' if none."""
    if not v:
        return "n/a"
    return (
        f"{v['per_doubling']:+.2f} [{v['ci'][0]:+.2f}, {v['ci'][1]:+.2f}] "
        f"({v['n_used']}/{v['n_seeds']} {seeds_word})"
    )


# ---------------------------------------------------------------------------- drawing
def transfer_axes(ax, panel, xlabel, title, show_shift=False):
    widths = sorted(int(w) for w in panel["widths"])
    colors = width_colors(widths)
    for w in widths:
        d = panel["widths"][str(w)]
        x = np.asarray(d["x"], float)
        y = np.asarray(d["loss_mean"], float)
        fin = np.isfinite(y)
        ax.plot(x[fin], y[fin], "-o", color=colors[w], ms=2.5, label=f"n={w}")
        mark_diverged(ax, x[~fin].tolist() if (~fin).any() else [], label=False)
        o = d.get("seed_optimum") or d["optimum"]  # per-seed optima where measured
        if np.isfinite(o["x_opt"]):
            xo = 2.0 ** o["x_opt"]
            yo = np.interp(o["x_opt"], np.log2(x[fin]), y[fin]) if fin.sum() >= 2 else NAN
            lo, hi = (2.0 ** np.asarray(o["ci"], float)) if np.all(np.isfinite(o["ci"])) else (xo, xo)
            ax.errorbar(
                [xo],
                [yo],
                xerr=[[xo - lo], [hi - xo]],
                fmt="*",
                color=colors[w],
                ms=8,
                mec="k",
                mew=0.5,
                capsize=2,
                zorder=6,
            )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    sdr = panel.get("seed_drift") or {}
    dr = panel.get("drift") or {}
    if sdr:
        title += (
            f"\nper-seed optimum drift {sdr['per_doubling']:+.2f} "
            f"[{sdr['ci'][0]:+.2f}, {sdr['ci'][1]:+.2f}] ({sdr['n_used']}/{sdr['n_seeds']} seeds)"
        )
    elif dr:
        edge = " edge!" if dr.get("any_at_edge") else ""
        title += f"\noptimum drift {dr['per_doubling']:+.2f} [{dr['ci'][0]:+.2f}, {dr['ci'][1]:+.2f}]{edge}"
    sd = panel.get("shift_drift") or {}
    if show_shift and sd and np.isfinite(sd.get("per_doubling", NAN)):
        title += f"\ncurve-shift drift {sd['per_doubling']:+.2f} [{sd['ci'][0]:+.2f}, {sd['ci'][1]:+.2f}]"
    ax.set_title(title, fontsize=7.5)


def optima_axes(ax, rules: dict, title: str) -> None:
    """Each rule's per-seed optimum vs width (log2 of λ*/λ* at the proxy width, 95% CI), its
    drift per doubling in the legend; a note instead when no rule has a per-seed drift."""
    drawn = False
    for rule, panel in rules.items():
        sd = panel.get("seed_drift") or {}
        if not sd or not np.isfinite(sd.get("per_doubling", NAN)):
            continue
        drawn = True
        ws, xo = np.asarray(sd["widths"], float), np.asarray(sd["optima"], float)
        ci = np.asarray(sd["optima_ci"], float)
        ax.errorbar(
            ws,
            xo - xo[0],
            yerr=[xo - ci[:, 0], ci[:, 1] - xo],
            capsize=2,
            marker="s",
            color=rule_color(rule),
            label=f"{rule}: {sd['per_doubling']:+.2f} [{sd['ci'][0]:+.2f}, {sd['ci'][1]:+.2f}]",
        )
    ax.axhline(0, **REF_STYLE)
    if drawn:
        ax.set_xscale("log", base=2)
        ax.legend(fontsize=6)
    else:
        ax.text(
            0.5,
            0.5,
            "no seed with its optimum\nbracketed at every width",
            ha="center",
            va="center",
            transform=ax.transAxes,
            fontsize=7,
        )
    ax.set_xlabel("width n")
    ax.set_ylabel("log2(λ* / λ* at n0)")
    ax.set_title(title, fontsize=7.5)

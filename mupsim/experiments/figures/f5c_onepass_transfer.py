"""F5c: F5's weight-decay transfer in the one-pass regime (fresh data, cosine schedule, a task
richer than every student; :data:`ONEPASS`): final loss over (η, λ) per width, then a λ sweep
at the heatmap's best η read in every rule's own base-λ coordinates (α̂ from F3 for the
alignment rule), and the ablation with embedding and readout decayed too.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from matplotlib.figure import Figure

from mupsim.analysis import (
    is_diverged,
    layer_settings,
    split_diverged,
)
from mupsim.analysis.runs import run_record
from mupsim.analysis.transfer import _mean_curve
from mupsim.errors import MupsimError
from mupsim.experiments.common import BASE, SMALL_WIDTHS, WD_RULES, alignment_kw, scale, seeded
from mupsim.experiments.figure import Figure as FigureSpec
from mupsim.experiments.figures import f3_sigma_max_vs_width as F3
from mupsim.experiments.measures import NAN, clean, figure_record
from mupsim.experiments.style import (
    apply_style,
    footer,
    new_figure,
    styled,
    width_colors,
)
from mupsim.experiments.transfer_panels import (
    fmt_seed_drift,
    loss_grid,
    optima_axes,
    transfer_axes,
    transfer_panel,
)
from mupsim.sim.config import SimConfig
from mupsim.theory import wd_rules

# ---------------------------------------------------------------------------- configs
ONEPASS = dict(
    input_dim=256,
    input_spectrum=1.0,
    teacher_width=1024,
    output_dim=32,
    batch_size=64,
    schedule="cosine",
    warmup_steps=30,
)
"""F5c's one-pass regime (the regime of Fan et al. and of language-model pretraining): fresh
batches every step (no example seen twice), a cosine schedule to zero after 30 warm-up steps,
and a task richer than every student — k = 256 Gaussian inputs with covariance eigenvalues
∝ i^-1, a fixed teacher of width 1024 (the same function at every student width, so the losses
of different widths are comparable) and 32 outputs; final loss on 1,024 held-out samples.
Exploration (2026-11-23, seed 0, η = 2^-10, 2^-8, 2^-6): under the timescale rule, which decays all
matrices, the best loss was at λ = 0 (decay helped by ≤ 1% only at the too-large η = 2^-6), while
decaying the hidden matrices alone (fan2025, η = 2^-8, seeds 0–3) has an interior optimum (λ ≈ 2 at
n = 64, ≈ 3 at n = 256, 3–4% below λ = 0; per-seed optima within ±0.1 in log2 λ). So F5c decays the hidden matrices only: runs use
``wd_rule="fan2025"`` (Fan et al.'s own choice of decayed parameters) and the other rules are the
same runs read in their own base-λ coordinates (the rules differ only in the hidden λ's width
exponent once embedding and readout are undecayed)."""

ONEPASS_STEPS = 600

F5C_LR_GRID = tuple(2.0**e for e in range(-10, -5))  # 2^-10 .. 2^-6

F5C_HEAT_WD = tuple(2.0**e for e in range(-1, 5))  # 2^-1 .. 2^4 (the valley)

F5C_HEAT_SEEDS = (0, 1)

F5C_DECAY_PRODUCTS = tuple(2.0 ** (e / 2) for e in range(-17, -8))
"""F5c's λ sweep as η·λ products (2^-8.5 .. 2^-4.5, 2^(1/2) apart): at the chosen η = 2^-9,
λ = 2^0.5 .. 2^4.5; the per-seed optima under fan2025 sat at 2^2.5 (n = 64) to 2^3.7 (n = 512)."""

F5C_SEEDS = tuple(range(6))

F5C_WIDTHS = (64, 128, 256, 512)
"""Widths of F5c's λ sweep (the heatmap and the ablation run at SMALL_WIDTHS: n = 512 costs
≈ 2.5 s a run on one core)."""

F5C_ABLATION_SEEDS = (0, 1)

F5C_RULES = WD_RULES


def onepass_base(quick: bool) -> SimConfig:
    """F5c's base config: :data:`ONEPASS` on BASE under the fan2025 rule, 6 log points."""
    sc = scale(quick)
    return BASE.replace(steps=sc.steps if quick else ONEPASS_STEPS, n_logs=6, wd_rule="fan2025", **ONEPASS)


def heat_configs(quick: bool = False) -> list[SimConfig]:
    """F5c heatmap: final held-out loss over (η, λ) per width (fan2025 rule: hidden matrices
    decayed only), plus λ = 0 at every η, seeds ``F5C_HEAT_SEEDS``."""
    sc = scale(quick)
    widths = sc.widths if quick else SMALL_WIDTHS
    base = onepass_base(quick)
    lrs = F5C_LR_GRID[::2] if quick else F5C_LR_GRID
    wds = F5C_HEAT_WD[::3] if quick else F5C_HEAT_WD
    cfgs = [base.replace(width=w, lr=lr, wd=wd) for w in widths for lr in lrs for wd in wds]
    cfgs += [base.replace(width=w, lr=lr, wd=0.0, wd_rule=None) for w in widths for lr in lrs]
    return seeded(cfgs, sc.seeds if quick else F5C_HEAT_SEEDS)


def sweep_configs(quick: bool = False, lr: float = 2.0**-8) -> list[SimConfig]:
    """F5c λ sweep at ``lr`` (the heatmap's best η at the proxy width): λ = F5C_DECAY_PRODUCTS/η,
    widths F5C_WIDTHS, seeds ``F5C_SEEDS`` (per-seed optima, bootstrapped drift); and the ablation
    with embedding and readout decayed at μP's constant λ (``io_wd_rule="constant"``), widths
    SMALL_WIDTHS, seeds F5C_ABLATION_SEEDS."""
    sc = scale(quick)
    base = onepass_base(quick).replace(lr=lr)
    prods = F5C_DECAY_PRODUCTS[::3] if quick else F5C_DECAY_PRODUCTS
    cfgs = seeded(
        [base.replace(width=w, wd=p / lr) for w in (sc.widths if quick else F5C_WIDTHS) for p in prods],
        sc.seeds if quick else F5C_SEEDS,
    )
    cfgs += seeded(
        [
            base.replace(width=w, wd=p / lr, io_wd_rule="constant")
            for w in (sc.widths if quick else SMALL_WIDTHS)
            for p in prods
        ],
        sc.seeds if quick else F5C_ABLATION_SEEDS,
    )
    return cfgs


def hidden_wd_factors(
    widths, rules=F5C_RULES, alpha_hat: float | None = None, base: SimConfig | None = None
) -> dict:
    """{rule: {width: λ_hidden / λ}}: the hidden matrices' per-layer weight decay at base λ = 1
    under each rule, from the calculator (how F5c reads one sweep in every rule's coordinates).
    The alignment rule is left out without ``alpha_hat``."""
    from mupsim.sim.settings import settings_for

    base = (base or onepass_base(False)).replace(wd=1.0)
    out = {}
    for rule in rules:
        kw = {"wd_rule": rule}
        if rule == "alignment":
            if alpha_hat is None:
                continue
            kw = alignment_kw(alpha_hat)
        out[wd_rules.get(kw["wd_rule"]).plot_label(kw.get("alignment_exponent"))] = {
            int(w): float(settings_for(base.replace(width=int(w), **kw)).layers["hidden"].wd) for w in widths
        }
    return out


# ---------------------------------------------------------------------------- analysis
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

        out[w] = {
            "lr": lrs,
            "wd": wds,
            "seeds": seeds,
            "loss": [[mean(lr, wd) for wd in wds] for lr in lrs],
            "loss_no_wd": [mean(lr, 0.0) for lr in lrs],
        }
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


def analyse(heat, sweep, factors: dict, lr: float) -> dict:
    """F5c: the one-pass regime (fresh data, cosine schedule, a task richer than every student).

    ``heat``: the (η, λ) heatmap runs (fan2025 rule: hidden matrices decayed only, and λ = 0);
    ``sweep``: the λ sweep at ``lr`` (its seeds; runs with ``io_wd_rule`` are the ablation with
    embedding and readout decayed); ``factors``: {rule: {width: λ_hidden/λ}} from the calculator
    (:func:`hidden_wd_factors`). With embedding and readout undecayed the
    rules differ only in the hidden λ's width exponent, so a run at base λ under fan2025 is the
    run at base λ·f_fan(n)/f_rule(n) under each other rule: every rule's optimum and drift come
    from the same runs, read in its own coordinates."""
    allr = list({run_record(r)["key"]: r for r in [*heat, *sweep]}.values())  # shared runs once
    split = split_diverged(allr)
    out = figure_record(
        "f5c_onepass_transfer",
        "One-pass regime: final loss over (η, λ) per width and rule, and λ transfer",
        "C4 in the regime of the paper: the λ optimum transfers under the right rule",
        allr,
        split,
    )
    main = [r for r in sweep if not r.config.get("io_wd_rule")]
    abl = [r for r in sweep if r.config.get("io_wd_rule")]
    if {r.config["wd_rule"] for r in main} - {"fan2025"}:
        raise MupsimError(
            "F5c reads its λ sweep in every rule's coordinates from fan2025 runs "
            "(hidden matrices decayed only); got runs under "
            f"{sorted({str(r.config['wd_rule']) for r in main})}"
        )
    fan = factors.get("fan2025")
    if not fan:
        raise MupsimError("F5c needs the fan2025 rule's hidden-λ factors (its runs use it)")
    rows = []
    for part, rs in (("heat", heat), ("sweep", main), ("ablation", abl)):
        for r in rs:
            c = r.config
            h = layer_settings(r, "W1") if r.status == "ok" else {}
            rows.append(
                run_record(
                    r,
                    part=part,
                    io_wd_rule=c.get("io_wd_rule"),
                    hidden_wd=h.get("wd", NAN),
                    final_loss=end_loss(r),
                )
            )
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
        heat_series[str(w)] = dict(
            h,
            best={"lr": h["lr"][i], "wd": h["wd"][j], "loss": float(L[i, j])},
            gain_over_no_wd_at_lr=(1.0 - best_at_lr / no_wd) if np.isfinite(no_wd) and no_wd > 0 else NAN,
        )
    grid = loss_grid(main, lambda c: "fan2025", "wd", loss=end_loss).get("fan2025", {})
    rules = {}
    for rule, r in ratio.items():
        g = {w: (xs * r[w], L) for w, (xs, L) in grid.items() if w in r}
        rules[rule] = transfer_panel(g, per_seed=True)
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
    out.update(
        rows=rows,
        summary=summary,
        series={"heat": heat_series, "shift": shift, "rules": rules, "ablation": ablation},
    )

    def ds(v):
        return fmt_seed_drift(v, "seeds")

    gains = ", ".join(f"n={w} {100 * g:.1f}%" for w, g in summary["gain_over_no_wd_at_lr"].items())
    abl_txt = ", ".join(
        f"n={w} {np.nanmean(v):.3f}"
        + (" (at the grid edge)" if any(summary["ablation_best_at_grid_edge"][w]) else "")
        for w, v in summary["ablation_best_ratio"].items()
    )
    out["headline"] = (
        f"one pass, η = 2^{np.log2(lr):g}: λ-optimum drift/doubling "
        + ", ".join(f"{r} {ds(v)}" for r, v in summary["wd_per_seed"].items())
        + f"; best λ vs λ = 0: {gains} lower loss"
        + f"; emb/readout decayed too: best loss × {abl_txt}"
        + f"; dropped {split.n_dropped}"
    )
    return clean(out)


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
        out[str(w)] = {
            "x": xs,
            "loss_mean": mean.tolist(),
            "seeds": seeds,
            "best_loss_per_seed": best,
            "best_loss_fan2025_per_seed": best_fan,
            "best_ratio_per_seed": (np.array(best) / np.array(best_fan)).tolist(),
            "best_at_edge_per_seed": edge,
            "best_vs_no_wd": float(np.mean(best) / no_wd) if best and no_wd > 0 else NAN,
        }
    return out


# ---------------------------------------------------------------------------- plot
def _cell_edges(c: np.ndarray) -> np.ndarray:
    """Edges of heatmap cells centred on the sorted coordinates ``c`` (midpoints; the outer
    cells as wide as their neighbours; unit width for a single cell)."""
    c = np.asarray(c, float)
    if c.size == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


@styled
def plot(data: dict) -> Figure:
    """One row per rule: final-loss heatmaps over (η, base λ) per width, in the rule's own base-λ
    coordinates (the same runs: a rule that transfers keeps the best cell in the same column),
    then the λ sweep at the chosen η with per-seed optima; last row: the ablation (embedding and
    readout decayed too) and the optimum vs width per rule."""
    from matplotlib.colors import LogNorm

    ser = data["series"]
    heat, rules, shift = ser["heat"], ser["rules"], ser["shift"]
    widths = sorted(int(w) for w in heat)
    ncols = len(widths) + 1
    fig, axes = new_figure(len(rules) + 1, ncols, w=2.9, h=2.3, title=data["title"])
    finite = [v for h in heat.values() for row in h["loss"] for v in row if np.isfinite(v)]
    norm = LogNorm(vmin=min(finite), vmax=np.percentile(finite, 90)) if finite else None
    lr0 = data["summary"]["lr"]
    mesh = None
    for i, (rule, panel) in enumerate(rules.items()):
        for j, w in enumerate(widths):
            ax = axes[i, j]
            h = heat[str(w)]
            sh = shift.get(rule, {}).get(str(w), 0.0)
            x = np.log2(np.asarray(h["wd"], float)) + sh
            y = np.log2(np.asarray(h["lr"], float))
            L = np.asarray(h["loss"], float)
            xe, ye = _cell_edges(x), _cell_edges(y)
            mesh = ax.pcolormesh(
                xe, ye, np.where(np.isfinite(L), L, np.nan), norm=norm, cmap="viridis_r", shading="flat"
            )
            bad = np.argwhere(np.isinf(L))
            ax.plot(x[bad[:, 1]], y[bad[:, 0]], "x", color="k", ms=5) if bad.size else None
            b = h["best"]
            ax.plot(np.log2(b["wd"]) + sh, np.log2(b["lr"]), "*", color="w", mec="k", ms=9)
            ax.axhline(np.log2(lr0), color="w", lw=0.6, ls=":")
            ax.set_title(f"{rule}, n={w}", fontsize=7.5)
            ax.set_xlabel(f"log2 base λ ({rule})", fontsize=7)
            if j == 0:
                ax.set_ylabel("log2 η")
            ax.grid(False)
        transfer_axes(axes[i, -1], panel, f"base λ ({rule})", "")
        sd = panel.get("seed_drift") or {}
        txt = (
            (
                f"drift {sd['per_doubling']:+.2f} [{sd['ci'][0]:+.2f}, {sd['ci'][1]:+.2f}] "
                f"({sd['n_used']}/{sd['n_seeds']} seeds)"
            )
            if sd
            else "no per-seed drift"
        )
        axes[i, -1].set_title(f"λ sweep at η = 2^{np.log2(lr0):g}\n{txt}", fontsize=7)
        axes[i, -1].legend(fontsize=6)
    if mesh is not None:
        fig.colorbar(mesh, ax=axes[: len(rules), : len(widths)], shrink=0.6, label="final held-out loss")
    ax = axes[-1, 0]
    abl = ser["ablation"]
    colors = width_colors({int(w) for p in rules.values() for w in p["widths"]} | set(widths))
    fan = rules.get("fan2025", {}).get("widths", {})
    plotted = False
    for w in widths:
        for src, style, lab in ((fan, "-o", f"n={w}"), (abl, "--s", None)):
            if str(w) not in src:
                continue
            x, y = np.asarray(src[str(w)]["x"], float), np.asarray(src[str(w)]["loss_mean"], float)
            ok = np.isfinite(y) & (y > 0)
            if ok.any():
                ax.plot(x[ok], y[ok], style, color=colors[w], ms=2.5, label=lab)
                plotted = True
    if plotted:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
    ax.set_xlabel("base λ (fan2025)")
    ax.set_ylabel("final held-out loss")
    ax.set_title("ablation: hidden only (—) vs emb/readout\ndecayed too at constant λ (- -)", fontsize=7.5)
    ax.legend(fontsize=6)
    optima_axes(axes[-1, 1], rules, "λ optimum vs width per rule (95% CI);\ndrift per doubling in the legend")
    for k in range(2, ncols):
        axes[-1, k].set_visible(False)
    apply_style(fig)
    footer(fig, data)
    return fig


# ---------------------------------------------------------------------------- figure
def configs(quick: bool = False, lr: float = 2.0**-8) -> list[SimConfig]:
    """Every config of F5c: the heatmap, then the λ sweep at ``lr`` (see :func:`sweep_configs`)."""
    return heat_configs(quick) + sweep_configs(quick, lr)


def make(pipe) -> dict:
    heat = pipe.results(heat_configs(pipe.quick))
    lr = best_onepass_lr(heat)
    sweep = pipe.results(sweep_configs(pipe.quick, lr))
    widths = sorted({r.config["width"] for r in sweep})
    return analyse(heat, sweep, hidden_wd_factors(widths, alpha_hat=F3.alpha_hat(pipe)), lr)


FIGURE = FigureSpec("F5C", "f5c_onepass_transfer", configs, analyse, plot, make)

"""F5: transfer of the loss-optimal learning rate (SP with one global η, SP with per-layer η, μP;
no weight decay) and of the loss-optimal weight decay per rule under μP's η (claim C4: the
optimum found at the proxy width transfers, drift per doubling ≈ 0). The λ sweep runs at the
best η of F5's own η sweep, on a finite noisy training set, and the alignment rule at α̂ from F3.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from mupsim.analysis import (
    split_diverged,
)
from mupsim.analysis.runs import run_record
from mupsim.errors import MupsimError
from mupsim.experiments.common import BASE, SMALL_WIDTHS, alignment_kw, scale, seeded
from mupsim.experiments.figure import Figure as FigureSpec
from mupsim.experiments.figures import f3_sigma_max_vs_width as F3
from mupsim.experiments.measures import clean, figure_record, final_loss, run_status
from mupsim.experiments.style import (
    REF_STYLE,
    apply_style,
    footer,
    new_figure,
    rule_color,
    styled,
)
from mupsim.experiments.transfer_panels import (
    fmt_seed_drift,
    loss_grid,
    transfer_axes,
    transfer_panel,
)
from mupsim.sim.config import SimConfig

# ---------------------------------------------------------------------------- configs
F5_STEPS = 600

F5_LOGS = 30
"""Log points of F5's runs. Each logged step evaluates the held-out set (and F5b's training set):
with 60 log points that was half of a run's cost. The final loss is the mean over the last 10% of
training or the last 3 log points (steps 402, 491, 600 with 30 points)."""

F5_LR_GRID = tuple(2.0**e for e in range(-13, -6))  # 2^-13 .. 2^-7 (optimum ≈ 2^-10)

F5_WD_GRIDS = {
    "constant": tuple(2.0 ** (e / 2) for e in range(2, 11)),  # 2^1 .. 2^5 in steps of 2^(1/2)
    "timescale": tuple(2.0 ** (e / 2) for e in range(2, 11)),
    "alignment": tuple(2.0 ** (e / 2) for e in range(2, 11)),
    "fan2025": tuple(2.0 ** (e / 2) for e in range(13, 22)),  # 2^6.5 .. 2^10.5
}
"""λ grid of F5b per rule, 2^(1/2) apart, placed on each rule's optimum region from a coarse
pass (the previous committed F5b: grid 2^-2 .. 2^9 in steps of 2, seeds 0–2, η = 2^-10). Its
optima of the seed-mean curve, log2 λ at n = 64 / 128 / 256: constant 2.86 / 3.28 / 3.29,
timescale 2.86 / 2.87 / 2.80, alignment 2.86 / 2.83 / 2.70 (95% intervals ≈ ±0.5, up to 4.4),
fan2025 8.18 / 9.0 (grid edge) / 8.55 (edge) — fan2025 decays only the hidden matrices, so its
optimum sits ≈ 2^8.5 (η_l·λ_l ≈ 0.35 per step). The loss minimum is sharp (one step of 2 off the
optimum costs ≈ 5–10% of held-out loss), so each grid spans about ±2 in log2 λ around it."""

F5_WD_DATA = dict(n_train=512, label_noise=1.0, batch_size=64)
"""F5b trains on a finite noisy training set: with fresh batches every step (online) nothing
overfits and the held-out loss only rises with λ, so no λ optimum exists to transfer (measured:
the best λ sat at the low edge of every grid). With 512 samples and label noise 1.0 the
held-out loss has an interior optimum near λ = 4–8 at widths 64 and 256 (exploration run)."""

F5_WD_SEEDS = tuple(range(10))
"""Ten seeds for the λ sweep: the optimum is estimated per seed (a parabola in log2 λ through
the best grid points) and the drift per width doubling bootstrapped over seeds (to resolve it
to ±0.15). Besides the optimum, F5's λ panels report the curve shift (how far each
width's loss-vs-λ curve sits from the proxy width's), a second, whole-curve measure."""


def lr_configs(quick: bool = False) -> list[SimConfig]:
    """F5a: final loss vs η across widths, no weight decay, for SP with one global η (plain
    practice), SP with the calculator's per-layer η exponents (Everett et al.) and μP."""
    sc = scale(quick)
    grid = F5_LR_GRID[::2] if quick else F5_LR_GRID
    widths = sc.widths if quick else SMALL_WIDTHS
    base = BASE.replace(
        steps=sc.steps if quick else F5_STEPS, n_logs=sc.n_logs if quick else F5_LOGS, wd=0.0, wd_rule=None
    )
    cfgs = [
        base.replace(parameterization=p, global_lr=g, width=w, lr=lr)
        for p, g in (("sp", True), ("sp", False), ("mup", False))
        for w in widths
        for lr in grid
    ]
    return seeded(cfgs, sc.seeds)


def wd_configs(quick: bool = False, lr: float = 2.0**-10, alpha_hat: float | None = None) -> list[SimConfig]:
    """F5b: final held-out loss vs λ across widths under μP's η (``lr``: best at the proxy
    width in F5a) and the constant, fan2025, timescale and (given α̂ from F3) alignment
    weight-decay rules, on a finite noisy training set (``F5_WD_DATA``) so that weight decay
    has an optimum; λ on each rule's grid (``F5_WD_GRIDS``), seeds ``F5_WD_SEEDS``."""
    sc = scale(quick)
    widths = sc.widths if quick else SMALL_WIDTHS
    base = BASE.replace(
        steps=sc.steps if quick else F5_STEPS, n_logs=sc.n_logs if quick else F5_LOGS, lr=lr, **F5_WD_DATA
    )
    rules = [{"wd_rule": r} for r in ("constant", "fan2025", "timescale")]
    rules.append(F5_FAN_DECAYED_IO)
    if alpha_hat is not None:
        rules.append(alignment_kw(alpha_hat))
    cfgs = [
        base.replace(width=w, wd=wd, **kw)
        for kw in rules
        for w in widths
        for wd in (_wd_grid(kw)[::3] if quick else _wd_grid(kw))
    ]
    return seeded(cfgs, sc.seeds if quick else F5_WD_SEEDS)


F5_FAN_DECAYED_IO = {"wd_rule": "fan2025", "io_wd_rule": "constant"}
"""The ablation of Fan et al.'s rule: fan2025 on the hidden matrices, and the embedding
and readout decayed too, at μP's constant λ (fan2025 itself leaves them at λ = 0). Its λ grid
is the constant rule's: the decay of embedding and readout is what has the interior optimum in
F5b's overfitting task."""


def _wd_grid(kw: dict) -> tuple:
    """F5b's λ grid for a rule's options (the ablation uses the constant rule's)."""
    return F5_WD_GRIDS["constant" if kw.get("io_wd_rule") else kw["wd_rule"]]


# ---------------------------------------------------------------------------- analysis
def lr_panels(lr_results) -> dict:
    """F5a panels (one per parameterization variant): optimum per width and drifts."""
    return {p: transfer_panel(grid) for p, grid in sorted(loss_grid(lr_results, _lr_variant, "lr").items())}


def _lr_variant(c) -> str:
    """F5a series label: the parameterization, marked when trained with one global η."""
    return f"{c['parameterization']} (global η)" if c.get("global_lr") else c["parameterization"]


def analyse(lr_results, wd_results, wd_lr: float | None = None, lr_panels_: dict | None = None) -> dict:
    """F5: learning-rate transfer (SP vs μP, no wd) and weight-decay transfer per wd rule.

    ``lr_panels_``: :func:`lr_panels` of ``lr_results`` if already computed."""
    allr = list(lr_results) + list(wd_results)
    split = split_diverged(allr)
    out = figure_record(
        "f5_transfer",
        "Loss-optimal η and λ across widths",
        "C4: the optimum found at the proxy width transfers (drift per doubling ≈ 0)",
        allr,
        split,
    )
    rows = []
    for r in allr:
        rows.append(
            run_record(
                r, sweep="lr" if r.config["wd"] == 0 else "wd", status=run_status(r), final_loss=final_loss(r)
            )
        )
    lr_p = lr_panels(lr_results) if lr_panels_ is None else lr_panels_
    wd_panels = {
        rule: transfer_panel(grid, per_seed=True)
        for rule, grid in sorted(loss_grid(wd_results, wd_rule_label, "wd").items())
    }
    summary = {
        "lr": {p: v["drift"] for p, v in lr_p.items()},
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
        "of n_seeds), interval from resampling those seeds",
    }
    out.update(rows=rows, series={"lr": lr_p, "wd": wd_panels}, summary=summary)

    def d(v):
        if not v:
            return "n/a"
        edge = " (edge!)" if v.get("any_at_edge") else ""
        return f"{v['per_doubling']:+.2f} [{v['ci'][0]:+.2f}, {v['ci'][1]:+.2f}]{edge}"

    def ds(v):
        return fmt_seed_drift(v, "seeds bracketed")

    out["headline"] = (
        "optimum drift/doubling lr: "
        + ", ".join(f"{p} {d(v)}" for p, v in summary["lr"].items())
        + "; wd (per-seed optima): "
        + ", ".join(f"{p} {ds(v)}" for p, v in summary["wd_per_seed"].items())
        + "; wd (seed-mean curve): "
        + ", ".join(f"{p} {d(v)}" for p, v in summary["wd"].items())
        + "; curve-shift drift wd: "
        + ", ".join(f"{p} {d(v)}" for p, v in summary["wd_curve_shift"].items())
        + f"; dropped {split.n_dropped}"
    )
    return clean(out)


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


# ---------------------------------------------------------------------------- plot
def _param_label(p: str) -> str:
    """'sp (global η)' → 'SP (global η)', 'sp' → 'SP (per-layer η)', 'mup' → 'μP'."""
    if p == "sp":
        return "SP (per-layer η)"
    return p.replace("mup", "μP").replace("sp", "SP")


@styled
def plot(data: dict) -> Figure:
    lr, wd = data["series"]["lr"], data["series"]["wd"]
    ncols = max(len(lr) + 1, len(wd), 1)
    fig, axes = new_figure(2, ncols, w=3.2, h=2.8, title=data["title"])
    for k, (p, panel) in enumerate(lr.items()):
        transfer_axes(axes[0, k], panel, "base learning rate η", f"{_param_label(p)}, no weight decay")
    axes[0, 0].set_ylabel("final test loss")
    axes[0, 0].legend(loc="upper left")
    # summary panel: optimum vs width for every panel
    ax = axes[0, len(lr)] if len(lr) < ncols else None
    if ax is not None:
        for group, panels in (("η", lr), ("λ", wd)):
            for p, panel in panels.items():
                ws = sorted(int(w) for w in panel["widths"])
                opt = [
                    panel["widths"][str(w)].get("seed_optimum") or panel["widths"][str(w)]["optimum"]
                    for w in ws
                ]
                xo = [o["x_opt"] for o in opt]
                ci = np.array([o["ci"] for o in opt], float)
                xo = np.asarray(xo, float)
                ax.errorbar(
                    ws,
                    xo - xo[0],
                    yerr=[xo - ci[:, 0], ci[:, 1] - xo],
                    capsize=2,
                    marker="o" if group == "η" else "s",
                    color=rule_color(p),
                    ls="-" if group == "η" else ":",
                    label=f"{group}: {p}",
                )
        ax.axhline(0, **REF_STYLE)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("width n")
        ax.set_ylabel("log2(optimum / optimum at n0)")
        ax.set_title("optimum shift vs width (95% CI); drift =\nlog2 change per width doubling", fontsize=7.5)
        ax.legend(fontsize=6)
    for k, (rule, panel) in enumerate(wd.items()):
        transfer_axes(axes[1, k], panel, "base weight decay λ", f"μP η, λ rule {rule}", show_shift=True)
    axes[1, 0].set_ylabel("final test loss")
    for r in range(2):
        used = len(lr) + 1 if r == 0 else len(wd)
        for k in range(used, ncols):
            axes[r, k].set_visible(False)
    apply_style(fig)
    footer(fig, data)
    return fig


# ---------------------------------------------------------------------------- figure
def configs(quick: bool = False, lr: float = 2.0**-10, alpha_hat: float | None = None) -> list[SimConfig]:
    """Every config of F5: the η sweep, then the λ sweep at ``lr`` (see :func:`wd_configs`)."""
    return lr_configs(quick) + wd_configs(quick, lr, alpha_hat)


def make(pipe) -> dict:
    lr_res = pipe.results(lr_configs(pipe.quick))
    panels = lr_panels(lr_res)
    lr = best_lr(panels, "mup")
    return analyse(
        lr_res, pipe.results(wd_configs(pipe.quick, lr, F3.alpha_hat(pipe))), wd_lr=lr, lr_panels_=panels
    )


FIGURE = FigureSpec("F5", "f5_transfer", configs, analyse, plot, make)

"""F10b: λ transfer at a long weight-decay memory — F5c's one-pass regime with its run stretched
40× in steps, so that the loss-optimal memory τ* = 1/(2η_lλ_l) of the hidden matrices is
hundreds to thousands of steps, as in language-model pretraining, instead of F5c's tens.

The runs decay the hidden matrices only (``wd_rule="fan2025"``, as F5c), over a half-octave grid
of base λ, widths 64–512 and 5 seeds; every rule's optimum and drift come from the same runs read
in its own base-λ coordinates (F5c's :func:`~.f5c_onepass_transfer.hidden_wd_factors`: with
embedding and readout undecayed the rules differ only in the hidden λ's width exponent). The
alignment rule is left out: its exponent would be this regime's own α̂, which F10 measures at
τ = 1,024 below the rule's range [½, 1].
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from mupsim.analysis import layer_settings, split_diverged
from mupsim.analysis.runs import run_record
from mupsim.analysis.steady import relax_time
from mupsim.errors import MupsimError
from mupsim.experiments.common import hidden_relax_time, seeded
from mupsim.experiments.figure import Figure as FigureSpec
from mupsim.experiments.figures import f5c_onepass_transfer as F5C
from mupsim.experiments.measures import NAN, clean, figure_record
from mupsim.experiments.style import REF_STYLE, apply_style, footer, new_figure, rule_color, styled
from mupsim.experiments.transfer_panels import (
    fmt_seed_drift,
    loss_grid,
    optima_axes,
    transfer_axes,
    transfer_panel,
)
from mupsim.sim.config import SimConfig

STRETCH = 40
"""F10b's run and warm-up are F5c's (600 steps, 30 warm-up) times this: 24,000 steps, 1,200 warm-up."""

LR = 2.0**-10
"""η at the base width: the best of 2^-10, 2^-9, 2^-8 at n = 64 in an exploration at half this
horizon (12,000 steps, seed 0, λ over τ = 64–8,192 steps), where the optimum sat at τ ≈ 512."""

TAUS = tuple(2.0 ** (e / 2) for e in range(16, 25))
"""The λ grid as memories τ0 = 1/(2·η·λ) at the base width (steps; 256 … 4,096, half-octaves):
base λ = 1/(2·LR·τ0), under fan2025 the hidden matrices' τ_l = τ0·(n/n0)^½."""

STRONG_DECAY_TAUS = {512: tuple(2.0 ** (e / 2) for e in range(12, 16))}
"""Grid points added per width toward strong decay (τ0 = 64 … 181 steps at n = 512): in the
first sweep, over :data:`TAUS` alone, every n = 512 seed had its lowest loss at τ0 = 256, the
grid's edge (per-seed optima at an edge are left out of the drift)."""

WIDTHS = (64, 128, 256, 512)
SEEDS = (0, 1, 2, 3, 4)
"""Seeds of every (width, λ); seeds 3 and 4 were added after 3 seeds left the timescale rule's
drift unresolved (interval [−0.31, +0.04] per doubling, wider than the ±0.1 equivalence margin)."""
RULES = ("constant", "fan2025", "timescale")

QUICK_STEPS = 120
QUICK_TAUS = (8.0, 16.0, 32.0, 64.0, 128.0)
QUICK_WIDTHS = (32, 64)


def base(quick: bool = False) -> SimConfig:
    """F5c's one-pass base, stretched (:data:`STRETCH`) at η = :data:`LR`."""
    b = F5C.onepass_base(False).replace(lr=LR)
    if quick:
        return b.replace(steps=QUICK_STEPS, warmup_steps=6)
    return b.replace(steps=STRETCH * F5C.ONEPASS_STEPS, warmup_steps=STRETCH * F5C.ONEPASS["warmup_steps"])


def base_wd(tau: float) -> float:
    """Base λ whose memory at the base width is ``tau`` steps at η = LR: 1/(2·LR·τ)."""
    return 1.0 / (2.0 * LR * tau)


def configs(quick: bool = False) -> list[SimConfig]:
    """Every run: base λ over :data:`TAUS` (and :data:`STRONG_DECAY_TAUS`) × :data:`WIDTHS` ×
    :data:`SEEDS` (fan2025 rule)."""
    b = base(quick)
    if quick:
        grid = {w: QUICK_TAUS for w in QUICK_WIDTHS}
    else:
        grid = {w: STRONG_DECAY_TAUS.get(w, ()) + TAUS for w in WIDTHS}
    cfgs = [b.replace(width=w, wd=base_wd(t)) for w, taus in grid.items() for t in taus]
    return seeded(cfgs, SEEDS[:2] if quick else SEEDS)


# ---------------------------------------------------------------------------- analysis
def hidden_memory(width: int, wd: float, b: SimConfig) -> float:
    """τ_l = 1/(2·η_l·λ_l) of the hidden matrices (steps, at the peak η) of the run ``b`` at
    ``width`` and base λ ``wd`` (:func:`mupsim.experiments.common.hidden_relax_time`)."""
    return hidden_relax_time(b.replace(width=int(width), wd=float(wd)))


TRANSFER_MARGIN = 0.1
"""Largest drift of the optimal base λ (log2 units per doubling of width) called a transfer: 0.3
of an octave over the 8× of :data:`WIDTHS`, less than the grid's half-octave spacing."""


def verdict(drift: dict, margin: float = TRANSFER_MARGIN) -> str:
    """From a per-seed drift's 95% interval: 'transfers' when it lies within ±``margin``;
    'grows with width' / 'falls with width' when it excludes 0 on that side; 'unresolved'
    when it holds 0 but is wider than the margin, or there is no drift."""
    if not drift or not all(np.isfinite(drift.get("ci", [NAN, NAN]))):
        return "unresolved"
    lo, hi = drift["ci"]
    if -margin <= lo and hi <= margin:
        return "transfers"
    if lo > 0:
        return "grows with width"
    if hi < 0:
        return "falls with width"
    return "unresolved"


def analyse(results, factors: dict) -> dict:
    """F10b: per rule, each width's final-loss curve over base λ (the fan2025 runs read in the
    rule's coordinates), per-seed optima and their drift per doubling of width with a
    seed-resampling interval, the verdict, and the hidden matrices' memory τ*_l at the optimum."""
    allr = list({run_record(r)["key"]: r for r in results}.values())
    split = split_diverged(allr)
    b = SimConfig.from_dict(allr[0].config) if allr else base(False)
    out = figure_record(
        "f10b_long_memory_transfer",
        f"λ transfer at a long memory: F5c's one-pass regime over {b.steps:,} steps",
        "C4 where the optimal weight-decay memory is thousands of steps, as in LM pretraining",
        allr,
        split,
    )
    if {r.config["wd_rule"] for r in allr} - {"fan2025"}:
        raise MupsimError("F10b reads its λ sweep in every rule's coordinates from fan2025 runs only")
    fan = factors.get("fan2025")
    if not fan:
        raise MupsimError("F10b needs the fan2025 rule's hidden-λ factors (its runs use it)")
    rows = []
    for r in allr:
        c = r.config
        h = layer_settings(r, "W1") if r.status == "ok" else {}
        rows.append(
            run_record(
                r,
                hidden_wd=h.get("wd", NAN),
                tau0=relax_time(c["lr"], c["wd"]),
                tau_hidden=hidden_memory(c["width"], c["wd"], b),
                final_loss=F5C.end_loss(r),
            )
        )
    grid = loss_grid(allr, lambda c: "fan2025", "wd", loss=F5C.end_loss).get("fan2025", {})
    rules = {}
    for rule, f in factors.items():
        ratio = {w: fan[w] / f[w] for w in f}
        rules[rule] = transfer_panel(
            {w: (xs * ratio[w], L) for w, (xs, L) in grid.items() if w in ratio}, per_seed=True
        )
    memory = {}
    for w, p in rules["fan2025"]["widths"].items():
        o = p.get("seed_optimum") or p["optimum"]
        ok = np.isfinite(o["x_opt"])
        tau = hidden_memory(int(w), 2.0 ** o["x_opt"], b) if ok else NAN
        memory[w] = {
            "tau_hidden_at_optimum": tau,
            "fraction_of_run": tau / b.steps,
            "tau0_at_optimum": relax_time(b.lr, 2.0 ** o["x_opt"]) if ok else NAN,
            "loss_span": _span(p["loss_mean"]),
        }
    drift = {r: v.get("seed_drift", {}) for r, v in rules.items()}
    summary = {
        "lr": b.lr,
        "steps": b.steps,
        "warmup_steps": b.warmup_steps,
        "wd_per_seed": drift,
        "verdict": {r: verdict(d) for r, d in drift.items()},
        "memory_at_optimum": memory,
        "hidden_wd_factors": {r: {str(w): x for w, x in f.items()} for r, f in factors.items()},
        "units": "drift = change of log2(optimal base λ) per doubling of width in each rule's own "
        "base-λ coordinates (per-seed parabola optima, seeds paired across widths, 95% interval "
        f"from resampling seeds); verdict 'transfers' when that interval lies within ±{TRANSFER_MARGIN:g}, "
        "'grows/falls with width' when it excludes 0, else 'unresolved'; "
        "tau_hidden_at_optimum = 1/(2 η_l λ_l) of the hidden matrices at the fan2025 optimum "
        "(steps, peak η), fraction_of_run = that / the run's steps; tau0 = the same at the base width's settings; loss_span = (max − min) / "
        "min of the seed-mean final loss over the λ grid",
    }
    out.update(rows=rows, summary=summary, series={"rules": rules})
    taus = ", ".join(f"n={w} {v['tau_hidden_at_optimum']:,.0f}" for w, v in memory.items())
    out["headline"] = (
        f"one pass, {b.steps:,} steps, η = 2^{np.log2(b.lr):g}: hidden τ* at the optimum {taus} steps; "
        "λ-optimum drift/doubling "
        + ", ".join(f"{r} {fmt_seed_drift(d, 'seeds')} ({summary['verdict'][r]})" for r, d in drift.items())
        + f"; dropped {split.n_dropped}"
    )
    return clean(out)


def _span(curve) -> float:
    y = np.asarray(curve, float)
    y = y[np.isfinite(y)]
    return float((y.max() - y.min()) / y.min()) if y.size and y.min() > 0 else NAN


# ---------------------------------------------------------------------------- plot
@styled
def plot(data: dict) -> Figure:
    """Top: per rule, the final-loss curves over the rule's own base λ per width with per-seed
    optima; bottom: the optimum vs width per rule (95% CI), and the hidden matrices' memory at
    the optimum vs width."""
    rules = data["series"]["rules"]
    fig, axes = new_figure(2, len(rules), w=3.5, h=2.7, title=data["title"])
    for i, (rule, panel) in enumerate(rules.items()):
        transfer_axes(axes[0, i], panel, f"base λ ({rule})", rule)
        axes[0, i].legend(fontsize=6)
        if i == 0:
            axes[0, i].set_ylabel("final held-out loss")
    optima_axes(axes[1, 0], rules, "λ optimum vs width per rule (95% CI)")
    ax = axes[1, 1]
    mem = data["summary"]["memory_at_optimum"]
    ws = np.array(sorted(int(w) for w in mem), float)
    tau = np.array([mem[str(int(w))]["tau_hidden_at_optimum"] for w in ws], float)
    ok = np.isfinite(tau)
    if ok.any():
        ax.plot(ws[ok], tau[ok], "-o", color=rule_color("fan2025"), label="hidden τ*_l at the optimum")
        ax.plot(
            ws[ok],
            tau[ok][0] * np.sqrt(ws[ok] / ws[ok][0]),
            **REF_STYLE,
            label="∝ √n (fan2025 at a fixed base λ)",
        )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.legend(fontsize=6)
    ax.set_xlabel("width n")
    ax.set_ylabel("τ*_l = 1/(2η_lλ_l) (steps)")
    ax.set_title(f"memory at the optimum ({data['summary']['steps']:,}-step run)", fontsize=7.5)
    for k in range(2, len(rules)):
        axes[1, k].set_visible(False)
    apply_style(fig)
    footer(fig, data)
    return fig


# ---------------------------------------------------------------------------- figure
def make(pipe) -> dict:
    results = pipe.results(configs(pipe.quick))
    widths = sorted({r.config["width"] for r in results})
    b = base(pipe.quick)
    return analyse(results, F5C.hidden_wd_factors(widths, rules=RULES, base=b))


FIGURE = FigureSpec("F10B", "f10b_long_memory_transfer", configs, analyse, plot, make)

"""F6: coordinate check. Residual MLP without normalization, a few steps, SP vs μP for SGD,
Adam and Muon: activation RMS at every site vs width (μP keeps every activation Θ(1)).
"""

from __future__ import annotations

from collections import defaultdict

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from mupsim.analysis import (
    split_diverged,
)
from mupsim.analysis.runs import activation_series, run_record
from mupsim.experiments.common import BASE, QUICK, seeded
from mupsim.experiments.figure import Figure as FigureSpec
from mupsim.experiments.measures import NAN, clean, figure_record, fit_dict, run_status
from mupsim.experiments.style import (
    apply_style,
    footer,
    mark_diverged,
    new_figure,
    styled,
)
from mupsim.sim.config import SimConfig

# ---------------------------------------------------------------------------- configs
F6_LRS = {"sgd": 0.05, "adam": 1e-2, "muon": 2e-2}

F6_STEPS = 10

F6_WIDTHS = (64, 128, 256, 512)


def configs(quick: bool = False) -> list[SimConfig]:
    """F6: coordinate check. Residual MLP without normalization, a few steps, SP vs μP,
    for SGD, Adam and Muon; activation RMS at every site vs width."""
    widths = QUICK.widths if quick else F6_WIDTHS
    steps = 3 if quick else F6_STEPS
    base = BASE.replace(norm="none", steps=steps, n_logs=steps + 1, wd=0.0, wd_rule=None, dtype="float64")
    cfgs = [
        base.replace(optimizer=opt, lr=lr, parameterization=p, width=w)
        for opt, lr in F6_LRS.items()
        for p in ("sp", "mup")
        for w in widths
    ]
    seeds = QUICK.seeds[:1] if quick else (0, 1, 2)
    return seeded(cfgs, seeds)


# ---------------------------------------------------------------------------- analysis
def _nanmean(values) -> float:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else NAN


def analyse(results) -> dict:
    """F6: coordinate check — activation RMS after the last step vs width; slope per site."""
    split = split_diverged(results)
    out = figure_record(
        "f6_coord_check",
        "Coordinate check: activation RMS vs width after t steps",
        "μP keeps every activation Θ(1) in width; SP does not",
        results,
        split,
    )
    groups = defaultdict(list)
    for r in results:
        groups[(r.config["optimizer"], r.config["parameterization"])].append(r)
    rows, series = [], {}
    names = list(split.kept[0].activation_names) if split.kept else []
    for (opt, p), runs in sorted(groups.items()):
        per_site = {a: ([], []) for a in names}
        init_site = {a: ([], []) for a in names}
        for r in runs:
            st = run_status(r)
            for a in names:
                v = activation_series(r, a)[1] if st == "ok" else None
                last = float(v[-1]) if v is not None else NAN
                first = float(v[0]) if v is not None else NAN
                rows.append(
                    run_record(
                        r,
                        site=a,
                        status=st,
                        rms_last=last,
                        rms_init=first,
                        step=int(r.steps[-1]) if len(r.steps) else -1,
                    )
                )
                per_site[a][0].append(r.config["width"])
                per_site[a][1].append(last)
                init_site[a][0].append(r.config["width"])
                init_site[a][1].append(first)
        fits = {a: fit_dict(*per_site[a], n_boot=500) for a in names}
        ws = sorted({r.config["width"] for r in runs})
        mean = {a: [_nanmean([y for x, y in zip(*per_site[a]) if x == w]) for w in ws] for a in names}
        div = sorted({r.config["width"] for r in runs if run_status(r) != "ok"})
        worst = max(names, key=lambda a: abs(fits[a].get("exponent", 0) or 0)) if names else None
        series[f"{opt}/{p}"] = {
            "optimizer": opt,
            "parameterization": p,
            "widths": ws,
            "mean": mean,
            "fits": fits,
            "diverged_widths": div,
            "worst_site": worst,
            "max_abs_slope": abs(fits[worst]["exponent"]) if worst else NAN,
            "lr": runs[0].config["lr"],
            "steps": int(runs[0].config["steps"]),
        }
    out.update(
        rows=rows,
        series=series,
        activations=names,
        summary={
            k: {"max_abs_slope": v["max_abs_slope"], "worst_site": v["worst_site"]} for k, v in series.items()
        },
    )
    out["headline"] = (
        "max |slope| of activation RMS vs width: "
        + ", ".join(f"{k} {v['max_abs_slope']:.2f} ({v['worst_site']})" for k, v in series.items())
        + f"; dropped {split.n_dropped}"
    )
    return clean(out)


# ---------------------------------------------------------------------------- plot
@styled
def plot(data: dict) -> Figure:
    ser = data["series"]
    opts = sorted({v["optimizer"] for v in ser.values()})
    params = sorted({v["parameterization"] for v in ser.values()}, key=lambda p: p != "sp")
    fig, axes = new_figure(len(opts), len(params), w=3.3, h=2.5, title=data["title"])
    names = data["activations"]
    cmap = plt.get_cmap("tab10")
    for i, o in enumerate(opts):
        for j, p in enumerate(params):
            ax = axes[i, j]
            s = ser.get(f"{o}/{p}")
            if s is None:
                ax.set_visible(False)
                continue
            for k, a in enumerate(names):
                ax.plot(s["widths"], s["mean"][a], "-o", ms=2.5, color=cmap(k % 10), label=a)
            mark_diverged(ax, s["diverged_widths"], label=False)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(
                f"{o}, {p.upper()} (η={s['lr']:g}, t={s['steps']}): max|slope| {s['max_abs_slope']:.2f}",
                fontsize=7.5,
            )
            if j == 0:
                ax.set_ylabel("activation RMS")
            if i == len(opts) - 1:
                ax.set_xlabel("width n")
    axes[0, -1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    apply_style(fig)
    footer(fig, data)
    return fig


# ---------------------------------------------------------------------------- figure
def make(pipe) -> dict:
    return analyse(pipe.results(configs(pipe.quick)))


FIGURE = FigureSpec("F6", "f6_coord_check", configs, analyse, plot, make)

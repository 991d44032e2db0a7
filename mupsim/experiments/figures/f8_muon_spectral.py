"""F8: Muon under μP (matrices Muon, vectors Adam): spectral norms of the weights and of the
updates through training across widths, in units of the spectral condition √(fan_out/fan_in),
without and with weight decay.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from matplotlib.figure import Figure

from mupsim.analysis import (
    layer_settings,
    matrix_series,
    split_diverged,
)
from mupsim.analysis.runs import run_record
from mupsim.experiments.common import BASE, SMALL_WIDTHS, relaxed, scale, seeded
from mupsim.experiments.figure import Figure as FigureSpec
from mupsim.experiments.measures import (
    NAN,
    clean,
    figure_record,
    fit_dict,
    fmt_ci,
    run_status,
)
from mupsim.experiments.style import (
    apply_style,
    fit_label,
    footer,
    new_figure,
    styled,
    width_colors,
)
from mupsim.sim.config import SimConfig

# ---------------------------------------------------------------------------- configs
F8_STEPS = 1000

F8_LR = 2e-2

F8_WD = 0.1


def configs(quick: bool = False) -> list[SimConfig]:
    """F8: Muon under μP (matrices Muon, vectors Adam), no weight decay; spectral norms of
    the weights and of the updates through training, across widths (64..256: Muon's
    Newton–Schulz costs 194 ms/step at n = 512)."""
    sc = scale(quick)
    base = BASE.replace(
        optimizer="muon",
        lr=F8_LR,
        wd=0.0,
        wd_rule=None,
        steps=sc.steps if quick else F8_STEPS,
        n_logs=sc.n_logs,
    )
    widths = sc.widths if quick else SMALL_WIDTHS
    # with weight decay: constant λ keeps Muon's hidden η_l·λ_l width-free (η_l is), each width
    # run for RELAX_RUN relaxation times (τ = 250 steps at F8_WD)
    decayed = [relaxed(base.replace(width=w, wd=F8_WD, wd_rule="constant"), base.steps) for w in widths]
    return seeded([base.replace(width=w) for w in widths] + decayed, sc.seeds)


# ---------------------------------------------------------------------------- analysis
def matrix_shapes(result) -> dict:
    """{matrix name: (fan_out, fan_in)} from the model layout of the stored config."""
    from mupsim.sim.config import SimConfig
    from mupsim.sim.layout import build_layout

    lay = build_layout(SimConfig.from_dict(result.config))
    return {lay.names[p]: tuple(lay.shapes[p]) for p in lay.matrices}


def analyse(results) -> dict:
    """F8: Muon under μP — σ_max of each effective matrix multiplier·w (and of its update)
    through training, per width, in units of the spectral condition √(fan_out/fan_in).

    The update's spectral norm is not logged (TODO(runner): log σ_max(Δw)); what is shown is
    the lower bound ‖Δw‖_F/√min(fan_out, fan_in) = RMS(Δw)·√max(fan_out, fan_in) ≤ σ_max(Δw),
    exact only when every singular value of Δw is equal. Muon orthogonalizes a gradient of low
    rank r onto r directions, so the bound falls short by √(min(fan)/r): its width trend is not
    the trend of σ_max(ΔW).
    """
    split = split_diverged(results)
    out = figure_record(
        "f8_muon_spectral",
        "Muon under μP: spectral norms of weights and updates",
        "Spectral condition: σ_max(W) = Θ(√(fan_out/fan_in)), σ_max(ΔW) likewise × η",
        results,
        split,
    )
    groups = defaultdict(list)
    for r in results:
        groups[
            "no weight decay"
            if r.config["wd"] == 0
            else f"λ = {r.config['wd']:g} ({r.config['wd_rule']}), {r.config['steps']} steps"
        ].append(r)
    rows, series, fits = [], {}, {}
    for g, runs in sorted(groups.items(), key=lambda kv: kv[0] != "no weight decay"):
        rws, series[g], fits[g] = _group(runs)
        rows += [dict(row, group=g) for row in rws]
    out.update(
        rows=rows,
        series=series,
        summary={
            "fits": fits,
            "update_estimate": "lower bound on sigma_max(dW): RMS(dW)*sqrt(max(fan_out, "
            "fan_in)) = ||dW||_F/sqrt(min(fan)); exact only for a flat "
            "spectrum",
        },
        groups=list(series),
        diverged_widths=sorted({r.config["width"] for r in split.dropped}),
    )
    out["headline"] = (
        "; ".join(
            f"{g}: width exponent of σ_max(W)/√(fo/fi): "
            + ", ".join(f"{m} {fmt_ci(v['weight'])}" for m, v in fg.items())
            for g, fg in fits.items()
        )
        + f"; dropped {split.n_dropped}"
    )
    return clean(out)


def _group(results):
    """F8's rows, per-matrix/per-width series and width fits for one group of runs."""
    rows, series = [], {}
    finals = defaultdict(lambda: defaultdict(lambda: ([], [])))
    for r in results:
        st = run_status(r)
        w = r.config["width"]
        if st != "ok":
            rows.append(run_record(r, status=st))
            continue
        shapes = matrix_shapes(r)
        for m in r.matrix_names:
            fo, fi = shapes.get(m, (NAN, NAN))
            ref = math.sqrt(fo / fi)
            steps, sig = matrix_series(r, "sigma_max", m)
            _, urms = matrix_series(r, "update_rms", m)
            ls = layer_settings(r, m)
            lr, mult = ls["lr"], ls["multiplier"]
            sig = mult * sig  # effective weight multiplier·w
            upd = mult * urms * math.sqrt(max(fo, fi))
            key = f"{m}"
            series.setdefault(key, {}).setdefault(str(w), {"steps": steps.tolist(), "w": [], "u": []})
            series[key][str(w)]["w"].append((sig / ref).tolist())
            series[key][str(w)]["u"].append((upd / ref).tolist())
            rows.append(
                run_record(
                    r,
                    matrix=m,
                    status=st,
                    fan_out=fo,
                    fan_in=fi,
                    lr_layer=lr,
                    sigma_max_final=float(sig[-1]),
                    sigma_over_spectral_condition=float(sig[-1] / ref),
                    update_spectral_est_final=float(upd[-1]),
                    update_est_over_spectral_condition=float(upd[-1] / ref),
                )
            )
            finals[m]["w"][0].append(w)
            finals[m]["w"][1].append(float(sig[-1] / ref))
            finals[m]["u"][0].append(w)
            finals[m]["u"][1].append(float(np.nanmean(upd[1:] / ref)) if upd.size > 1 else NAN)
    # average seeds in the series
    import warnings

    for per_w in series.values():
        for d in per_w.values():
            with warnings.catch_warnings():  # step 0 has no update (NaN) in every seed
                warnings.simplefilter("ignore", RuntimeWarning)
                d["w"] = np.nanmean(np.array(d["w"]), 0).tolist()
                d["u"] = np.nanmean(np.array(d["u"]), 0).tolist()
    fits = {m: {"weight": fit_dict(*finals[m]["w"]), "update": fit_dict(*finals[m]["u"])} for m in finals}
    return rows, series, fits


# ---------------------------------------------------------------------------- plot
@styled
def plot(data: dict) -> Figure:
    groups = data.get("groups") or list(data["series"])
    mats = list(data["series"][groups[0]]) if groups else []
    fig, axes = new_figure(2 * max(len(groups), 1), max(len(mats), 1), w=2.9, h=2.3, title=data["title"])
    allw = sorted({int(w) for g in groups for m in data["series"][g] for w in data["series"][g][m]})
    colors = width_colors(allw) if allw else {}
    for gi, g in enumerate(groups):
        ser, fits = data["series"][g], data["summary"]["fits"][g]
        for j, m in enumerate(mats):
            for w in sorted(ser.get(m, {}), key=int):
                d = ser[m][w]
                st = np.asarray(d["steps"], float)
                axes[2 * gi, j].plot(st[1:], d["w"][1:], color=colors[int(w)], label=f"n={w}")
                axes[2 * gi + 1, j].plot(st[1:], d["u"][1:], color=colors[int(w)], label=f"n={w}")
            for r, kind in enumerate(("weight", "update")):
                ax = axes[2 * gi + r, j]
                ax.set_xscale("log")
                ax.set_yscale("log")
                f = fits.get(m, {}).get(kind, {})
                ax.set_title(f"{g}\n{m}: width exp. {fit_label(f)}", fontsize=7)
        axes[2 * gi, 0].set_ylabel("σ_max(W) / √(fan_out/fan_in)")
        axes[2 * gi + 1, 0].set_ylabel("‖ΔW‖_F/√min(fan) ≤ σ_max(ΔW)\n(÷ √(fan_out/fan_in))")
    for j in range(len(mats)):
        axes[-1, j].set_xlabel("step t")
    if mats:
        axes[0, 0].legend()
    if data.get("diverged_widths"):
        fig.text(
            0.01, 0.002, f"diverged widths (not drawn): {data['diverged_widths']}", fontsize=7, color="r"
        )
    apply_style(fig)
    footer(fig, data)
    return fig


# ---------------------------------------------------------------------------- figure
def make(pipe) -> dict:
    return analyse(pipe.results(configs(pipe.quick)))


FIGURE = FigureSpec("F8", "f8_muon_spectral", configs, analyse, plot, make)

"""Plotting: one function per figure, analysed numbers (the dicts of
:mod:`mupsim.experiments.analyse`) -> matplotlib Figure, Agg backend, one consistent style.

Nothing here runs or reads simulations. Diverged runs are never dropped silently: where a run
diverged, the axis gets an 'x' at its top at that x position (and the CSV lists it).
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from mupsim.analysis.steady import MIN_RELAX  # noqa: E402  (the analysis' shortest steady run, in τ)
from mupsim.theory import wd_rules  # noqa: E402

STYLE = {
    "font.size": 8.5, "axes.titlesize": 9, "axes.labelsize": 8.5, "legend.fontsize": 7,
    "xtick.labelsize": 7.5, "ytick.labelsize": 7.5, "axes.grid": True, "grid.alpha": 0.25,
    "axes.spines.top": False, "axes.spines.right": False, "lines.linewidth": 1.4,
    "lines.markersize": 4, "figure.dpi": 110, "savefig.dpi": 150,
}
RULE_COLORS = {**{n: r.color for n, r in wd_rules.WD_RULES.items()},
               "sp (global": "#ff7f0e", "sp": "#d62728", "mup": "#1f77b4"}
REF_STYLE = dict(color="0.55", lw=0.9, ls="--")
DIVERGED_STYLE = dict(marker="x", color="k", ms=6, mew=1.5, ls="none", clip_on=False, zorder=5)
NAN = float("nan")


def _param_label(p: str) -> str:
    """'sp (global η)' → 'SP (global η)', 'sp' → 'SP (per-layer η)', 'mup' → 'μP'."""
    if p == "sp":
        return "SP (per-layer η)"
    return p.replace("mup", "μP").replace("sp", "SP")


def _rule_color(label: str) -> str:
    for k, c in RULE_COLORS.items():
        if label.startswith(k):
            return c
    return "0.3"


def width_colors(widths) -> dict:
    """One colour per width (viridis over log width), the same mapping in every figure."""
    ws = sorted({int(w) for w in widths})
    cmap = plt.get_cmap("viridis")
    if len(ws) == 1:
        return {ws[0]: cmap(0.1)}
    lo, hi = math.log(ws[0]), math.log(ws[-1])
    return {w: cmap(0.05 + 0.8 * (math.log(w) - lo) / (hi - lo)) for w in ws}


def _new(nrows, ncols, w=3.2, h=2.6, title=None) -> tuple[Figure, np.ndarray]:
    with plt.rc_context(STYLE):
        fig = Figure(figsize=(w * ncols, h * nrows), constrained_layout=True)
        axes = np.atleast_2d(fig.subplots(nrows, ncols, squeeze=False))
    if title:
        fig.suptitle(title, fontsize=10)
    return fig, axes


def _apply_style(fig: Figure) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for ax in fig.axes:
        ax.grid(True, alpha=STYLE["grid.alpha"])
        for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
            if scale != "log" or axis.get_major_locator().__class__.__name__ != "LogLocator":
                continue
            if getattr(axis.get_major_locator(), "_base", 10) != 10:
                continue  # base-2 width axes keep their 2^k labels
            lo, hi = (ax.get_xlim() if axis is ax.xaxis else ax.get_ylim())
            if lo > 0 and hi / lo >= 10:  # at least one labelled decade: no minor labels
                axis.set_minor_formatter(NullFormatter())
            else:  # less than a decade: label 2× and 5× ticks in plain numbers
                axis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
                axis.set_minor_formatter(plain)
                axis.set_major_formatter(plain)
        for s in ("top", "right"):
            ax.spines[s].set_visible(False)


def _has_positive_data(ax, axis: str = "y") -> bool:
    """True if some line on ``ax`` has a finite positive value on ``axis`` (log scale possible)."""
    for ln in ax.get_lines():
        if ln.get_transform() != ax.transData:  # e.g. the diverged markers (axes coordinates)
            continue
        v = np.asarray(ln.get_ydata() if axis == "y" else ln.get_xdata(), dtype=float)
        if np.any(np.isfinite(v) & (v > 0)):
            return True
    return False


def mark_diverged(ax, xs, label: bool = True) -> None:
    """Put an 'x' at the top of ``ax`` at each x in ``xs`` (diverged runs)."""
    xs = [x for x in xs if x is not None and np.isfinite(x)]
    if not xs:
        return
    tr = blended_transform_factory(ax.transData, ax.transAxes)
    ax.plot(xs, [0.98] * len(xs), transform=tr, label="diverged" if label else None,
            **DIVERGED_STYLE)


def _ref_slopes(ax, x0, y0, widths, slopes, labels=True):
    w = np.array([min(widths), max(widths)], float)
    for p in slopes:
        ax.plot(w, y0 * (w / x0) ** p, **REF_STYLE, alpha=0.4 + 0.4 * (p == 0.75))
        if labels:
            ax.annotate(f"n^{p:g}", (w[-1], y0 * (w[-1] / x0) ** p), fontsize=6.5, color="0.45",
                        xytext=(2, 0), textcoords="offset points", va="center")


def _fit_label(fit: dict, name="") -> str:
    e = fit.get("exponent", NAN)
    lo, hi = (fit.get("ci") or [NAN, NAN])[:2]
    return f"{name}{' ' if name else ''}{e:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def _footer(fig, data):
    n, d = data.get("n_runs", 0), data.get("n_dropped", 0)
    txt = f"{n} runs; {d} diverged (x, listed in the CSV)" if d else f"{n} runs; none diverged"
    title = fig._suptitle.get_text() if fig._suptitle is not None else data.get("title", "")
    fig.suptitle(f"{title}\n{txt}", fontsize=9.5)


# ---------------------------------------------------------------------------- F1
def f1(data: dict) -> Figure:
    mats = data["matrices"]
    rules = list(data["series"])
    fig, axes = _new(max(len(rules), 1), 3, w=3.3, h=2.5, title=data["title"])
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
                ax.plot(xs, e, ls, marker="o" if j == 0 else "s", ms=3, color=col,
                        label=f"{q} {m.split('.')[-1]}")
                if j == 0:
                    ax.fill_between(xs, ci[:, 0], ci[:, 1], color=col, alpha=0.15, lw=0)
                    fx = data["summary"]["fixed_steps"].get(rule, {}).get(m, {}).get(q, {})
                    if np.isfinite(fx.get("exponent", NAN)):
                        ax.axhline(fx["exponent"], color=col, lw=0.8, ls="--", alpha=0.7)
        ax.axhline(0.0, color="k", lw=0.6)
        ax.set_xscale("log")
        ax.set_ylabel("width exponent")
        ax.set_title("exponent if stopped at x·τ (dashed: every width\n"
                     f"stopped at {data['fixed_steps']} steps)", fontsize=7.5)
    for k in range(3):
        axes[-1, k].set_xlabel("t / τ,  τ = 1/(2 η_l λ_l) of each width" if k < 2
                               else "run length x = t/τ")
    if rules:
        axes[0, 0].legend(fontsize=6)
        axes[0, 2].legend(fontsize=6)
    _apply_style(fig)
    _footer(fig, data)
    return fig


# ---------------------------------------------------------------------------- F2
def f2(data: dict) -> Figure:
    mats = data["matrices"]
    fig, axes = _new(len(mats), 2, title=data["title"])
    cmap = plt.get_cmap("tab10")
    for i, m in enumerate(mats):
        ser = data["series"].get(m, {})
        for j, (lab, d) in enumerate(ser.items()):
            s = np.asarray(d["sigma"], float)
            k = np.arange(1, s.size + 1)
            axes[i, 0].plot(k, s, color=cmap(j), label=lab)
            axes[i, 1].plot(k, s / d["scale"], color=cmap(j), label=lab)
        summ = data["summary"].get(m, {})
        tops = [np.asarray(d["sigma"], float)[0] for d in ser.values()]
        scl = [d["scale"] for d in ser.values()]
        for ax, kind, ylab, top in (
                (axes[i, 0], "raw", f"σ_k  ({m})", max(tops, default=1.0)),
                (axes[i, 1], "normalized", "σ_k / √(η_l/λ_l)",
                 max((t / c for t, c in zip(tops, scl)), default=1.0))):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_ylim(1e-3 * top, 2 * top)  # tails that decayed to ~0 are cut off
            ax.set_ylabel(ylab)
            c = summ.get(kind, {})
            ax.set_title(f"{kind}; all pairs: max dev. from geo-mean {c.get('max_rel_dev', NAN):.0%}\n"
                         f"(σ_max alone {c.get('top_rel_dev', NAN):.0%})", fontsize=7.5)
        notes = []
        if "equal_decay_pairs" in summ:
            e = summ["equal_decay_pairs"]
            notes.append(f"equal ηλ: raw {e['raw']['max_rel_dev']:.1%} → "
                         f"normalized {e['normalized']['max_rel_dev']:.1%}")
        if "equal_ratio_pairs" in summ:
            notes.append(f"equal η/λ: {summ['equal_ratio_pairs']['max_rel_dev']:.1%}")
        notes.append(f"shape only (÷σ_max): {summ.get('normalized', {}).get('shape_max_rel_dev', NAN):.1%}")
        notes.append(f"σ_max/√(η/λ) max/min: {summ.get('sigma_max_normalized_max_over_min', NAN):.2f}")
        tr = summ.get("trend_vs_eta_over_lambda_at_equal_decay") or {}
        if tr:
            notes.append(f"equal ηλ: σ_max/√(η/λ) ∝ (η/λ)^{_fit_label(tr)}")
        axes[i, 1].text(0.02, 0.03, "max |σ_k/geo-mean − 1| over σ_k ≥ 5% σ_1\n" + "\n".join(notes),
                        transform=axes[i, 1].transAxes, fontsize=6.5, color="0.3")
    for ax in axes[-1]:
        ax.set_xlabel("index k")
    axes[0, 0].legend(ncol=2)
    _apply_style(fig)
    _footer(fig, data)
    return fig


# ---------------------------------------------------------------------------- F3
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
        ax.plot(w, fit["prefactor"] * w ** fit["exponent"], "--", color=color, lw=1.2,
                label=f"{label}: α̂ {_fit_label(fit)}")


def f3(data: dict) -> Figure:
    rows, fits, mats = data["rows"], data["series"], data["matrices"]
    fields = list(data["variants"])
    ncols = 2
    nrows = math.ceil((1 + len(fields)) / ncols)
    fig, axes2 = _new(nrows, ncols, w=4.2, h=3.2, title=data["title"])
    axes = axes2.ravel()
    for ax in axes[1 + len(fields):]:
        ax.set_visible(False)
    axes = axes[:1 + len(fields)]
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
        _ref_slopes(ax, b["widths"][0], b["geo_mean"][0], allw, (0.5, 0.75, 1.0))
    ax.set_title("baseline (grey: slopes ½, ¾, 1; a matrix refused\nas not in steady state at "
                 "every width has no points)", fontsize=8)
    # variant panels, first hidden matrix
    for k, field in enumerate(fields):
        ax = axes[k + 1]
        labels = ["baseline"] + [v for v, f in fits.items()
                                 if isinstance(f, dict) and f.get("field") == field]
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
        if _has_positive_data(ax):  # every run refused: nothing to put on a log axis
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
        ax.set_xlabel("width n")
        ax.legend(loc="upper left", fontsize=6.5)
        ax.set_ylabel("σ_max(w) / √(η_l/λ_l)  (steady state)")
    _apply_style(fig)
    _footer(fig, data)
    return fig


# ---------------------------------------------------------------------------- F4
def f4(data: dict) -> Figure:
    rows, fits, mats = data["rows"], data["series"], data["matrices"]
    fig, axes = _new(1, 2, w=4.2, h=4.4, title=data["title"])
    axes = axes[0]
    for k, q in enumerate(("gain", "sigma_max")):
        ax = axes[k]
        aligned = [r for r in fits if r.startswith("alignment")]
        for rule, f in fits.items():
            # a second alignment rule (α̂ from another regime, out of sample) in brown
            color = "#8c564b" if rule in aligned[1:] else _rule_color(rule)
            for j, m in enumerate(mats):
                for steady in (True, False):
                    pts = [(r["width"], r[f"{q}_ss"]) for r in rows
                           if r.get("rule") == rule and r.get("matrix") == m
                           and r.get("status") in ("ok", "not_steady")
                           and bool(r.get("steady", True)) == steady]
                    if pts:
                        ws, ys = np.array(pts, float).T
                        ax.plot(ws, ys, "o" if j == 0 else "s", color=color, alpha=0.5, ms=3.5,
                                mfc=color if steady else "none")
                fit = f.get(m, {}).get(q, {})
                if np.isfinite(fit.get("exponent", NAN)):
                    ax.plot(fit["widths"], fit["geo_mean"], "-" if j == 0 else ":", color=color,
                            label=f"{rule} {m.split('.')[-1]}: {_fit_label(fit)}")
            mark_diverged(ax, f.get("diverged_widths", []), label=False)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width n")
        ax.set_ylabel({"gain": "sublayer gain (steady state)",
                       "sigma_max": "σ_max (steady state)"}[q])
        ax.set_title(f"{q}: fitted width exponent [95% CI]\n"
                     "hollow: refused, not in steady state (< 5τ or still moving)")
        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    _apply_style(fig)
    _footer(fig, data)
    return fig


# ---------------------------------------------------------------------------- F5
def _transfer_axes(ax, panel, xlabel, title, show_shift=False):
    widths = sorted(int(w) for w in panel["widths"])
    colors = width_colors(widths)
    for w in widths:
        d = panel["widths"][str(w)]
        x = np.asarray(d["x"], float)
        y = np.asarray(d["loss_mean"], float)
        fin = np.isfinite(y)
        ax.plot(x[fin], y[fin], "-o", color=colors[w], ms=2.5, label=f"n={w}")
        mark_diverged(ax, x[~fin].tolist() if (~fin).any() else [], label=False)
        o = d.get("seed_optimum") or d["optimum"]   # per-seed optima where measured
        if np.isfinite(o["x_opt"]):
            xo = 2.0 ** o["x_opt"]
            yo = np.interp(o["x_opt"], np.log2(x[fin]), y[fin]) if fin.sum() >= 2 else NAN
            lo, hi = (2.0 ** np.asarray(o["ci"], float)) if np.all(np.isfinite(o["ci"])) else (xo, xo)
            ax.errorbar([xo], [yo], xerr=[[xo - lo], [hi - xo]], fmt="*",
                        color=colors[w], ms=8, mec="k", mew=0.5, capsize=2, zorder=6)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    sdr = panel.get("seed_drift") or {}
    dr = panel.get("drift") or {}
    if sdr:
        title += (f"\nper-seed optimum drift {sdr['per_doubling']:+.2f} "
                  f"[{sdr['ci'][0]:+.2f}, {sdr['ci'][1]:+.2f}] ({sdr['n_used']}/{sdr['n_seeds']} seeds)")
    elif dr:
        edge = " edge!" if dr.get("any_at_edge") else ""
        title += (f"\noptimum drift {dr['per_doubling']:+.2f} "
                  f"[{dr['ci'][0]:+.2f}, {dr['ci'][1]:+.2f}]{edge}")
    sd = panel.get("shift_drift") or {}
    if show_shift and sd and np.isfinite(sd.get("per_doubling", NAN)):
        title += (f"\ncurve-shift drift {sd['per_doubling']:+.2f} "
                  f"[{sd['ci'][0]:+.2f}, {sd['ci'][1]:+.2f}]")
    ax.set_title(title, fontsize=7.5)


def f5(data: dict) -> Figure:
    lr, wd = data["series"]["lr"], data["series"]["wd"]
    ncols = max(len(lr) + 1, len(wd), 1)
    fig, axes = _new(2, ncols, w=3.2, h=2.8, title=data["title"])
    for k, (p, panel) in enumerate(lr.items()):
        _transfer_axes(axes[0, k], panel, "base learning rate η", f"{_param_label(p)}, no weight decay")
    axes[0, 0].set_ylabel("final test loss")
    axes[0, 0].legend(loc="upper left")
    # summary panel: optimum vs width for every panel
    ax = axes[0, len(lr)] if len(lr) < ncols else None
    if ax is not None:
        for group, panels in (("η", lr), ("λ", wd)):
            for p, panel in panels.items():
                ws = sorted(int(w) for w in panel["widths"])
                opt = [panel["widths"][str(w)].get("seed_optimum") or panel["widths"][str(w)]["optimum"]
                       for w in ws]
                xo = [o["x_opt"] for o in opt]
                ci = np.array([o["ci"] for o in opt], float)
                xo = np.asarray(xo, float)
                ax.errorbar(ws, xo - xo[0], yerr=[xo - ci[:, 0], ci[:, 1] - xo], capsize=2,
                            marker="o" if group == "η" else "s", color=_rule_color(p),
                            ls="-" if group == "η" else ":", label=f"{group}: {p}")
        ax.axhline(0, **REF_STYLE)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("width n")
        ax.set_ylabel("log2(optimum / optimum at n0)")
        ax.set_title("optimum shift vs width (95% CI); drift =\nlog2 change per width doubling",
                     fontsize=7.5)
        ax.legend(fontsize=6)
    for k, (rule, panel) in enumerate(wd.items()):
        _transfer_axes(axes[1, k], panel, "base weight decay λ", f"μP η, λ rule {rule}",
                       show_shift=True)
    axes[1, 0].set_ylabel("final test loss")
    for r in range(2):
        used = len(lr) + 1 if r == 0 else len(wd)
        for k in range(used, ncols):
            axes[r, k].set_visible(False)
    _apply_style(fig)
    _footer(fig, data)
    return fig


# ---------------------------------------------------------------------------- F5c
def _cell_edges(c: np.ndarray) -> np.ndarray:
    """Edges of heatmap cells centred on the sorted coordinates ``c`` (midpoints; the outer
    cells as wide as their neighbours; unit width for a single cell)."""
    c = np.asarray(c, float)
    if c.size == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def f5c(data: dict) -> Figure:
    """One row per rule: final-loss heatmaps over (η, base λ) per width, in the rule's own base-λ
    coordinates (the same runs: a rule that transfers keeps the best cell in the same column),
    then the λ sweep at the chosen η with per-seed optima; last row: the ablation (embedding and
    readout decayed too) and the optimum vs width per rule."""
    from matplotlib.colors import LogNorm
    ser = data["series"]
    heat, rules, shift = ser["heat"], ser["rules"], ser["shift"]
    widths = sorted(int(w) for w in heat)
    ncols = len(widths) + 1
    fig, axes = _new(len(rules) + 1, ncols, w=2.9, h=2.3, title=data["title"])
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
            mesh = ax.pcolormesh(xe, ye, np.where(np.isfinite(L), L, np.nan), norm=norm,
                                 cmap="viridis_r", shading="flat")
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
        _transfer_axes(axes[i, -1], panel, f"base λ ({rule})", "")
        sd = panel.get("seed_drift") or {}
        txt = (f"drift {sd['per_doubling']:+.2f} [{sd['ci'][0]:+.2f}, {sd['ci'][1]:+.2f}] "
               f"({sd['n_used']}/{sd['n_seeds']} seeds)") if sd else "no per-seed drift"
        axes[i, -1].set_title(f"λ sweep at η = 2^{np.log2(lr0):g}\n{txt}", fontsize=7)
        axes[i, -1].legend(fontsize=6)
    if mesh is not None:
        fig.colorbar(mesh, ax=axes[:len(rules), :len(widths)], shrink=0.6, label="final held-out loss")
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
    ax.set_title("ablation: hidden only (—) vs emb/readout\ndecayed too at constant λ (- -)",
                 fontsize=7.5)
    ax.legend(fontsize=6)
    ax = axes[-1, 1]
    drawn = False
    for rule, panel in rules.items():
        sd = panel.get("seed_drift") or {}
        if not sd or not np.isfinite(sd.get("per_doubling", NAN)):
            continue
        drawn = True
        ws = np.asarray(sd["widths"], float)
        xo = np.asarray(sd["optima"], float)
        ci = np.asarray(sd["optima_ci"], float)
        ax.errorbar(ws, xo - xo[0], yerr=[xo - ci[:, 0], ci[:, 1] - xo], capsize=2, marker="s",
                    color=_rule_color(rule),
                    label=f"{rule}: {sd['per_doubling']:+.2f} [{sd['ci'][0]:+.2f}, {sd['ci'][1]:+.2f}]")
    ax.axhline(0, **REF_STYLE)
    if drawn:
        ax.set_xscale("log", base=2)
        ax.legend(fontsize=6)
    else:
        ax.text(0.5, 0.5, "no seed with its optimum\nbracketed at every width", ha="center",
                va="center", transform=ax.transAxes, fontsize=7)
    ax.set_xlabel("width n")
    ax.set_ylabel("log2(λ* / λ* at n0)")
    ax.set_title("λ optimum vs width per rule (95% CI);\ndrift per doubling in the legend",
                 fontsize=7.5)
    for k in range(2, ncols):
        axes[-1, k].set_visible(False)
    _apply_style(fig)
    _footer(fig, data)
    return fig


# ---------------------------------------------------------------------------- F6
def f6(data: dict) -> Figure:
    ser = data["series"]
    opts = sorted({v["optimizer"] for v in ser.values()})
    params = sorted({v["parameterization"] for v in ser.values()}, key=lambda p: p != "sp")
    fig, axes = _new(len(opts), len(params), w=3.3, h=2.5, title=data["title"])
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
            ax.set_title(f"{o}, {p.upper()} (η={s['lr']:g}, t={s['steps']}): "
                         f"max|slope| {s['max_abs_slope']:.2f}", fontsize=7.5)
            if j == 0:
                ax.set_ylabel("activation RMS")
            if i == len(opts) - 1:
                ax.set_xlabel("width n")
    axes[0, -1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _apply_style(fig)
    _footer(fig, data)
    return fig


# ---------------------------------------------------------------------------- F7
def f7(data: dict) -> Figure:
    pts = data["series"]["points"]
    fig, axes = _new(1, 3, w=3.2, h=3.1, title=data["title"])
    axes = axes[0]
    quantities = (("rms", "RMS(W) steady state"), ("tau", "relaxation time (steps)"),
                  ("angular", "angular update per step (rad)"))
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
            ax.plot([x], [y], markers[p["width"]], color=bcol[p["beta1"]],
                    mfc=bcol[p["beta1"]] if ok else "none", ms=4, alpha=0.8)
            allv += [x, y]
        if allv:
            lo, hi = min(allv) / 1.3, max(allv) * 1.3
            ax.plot([lo, hi], [lo, hi], color="k", lw=0.8, label="identity")
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
        ax.set_xscale("log")
        ax.set_yscale("log")
        s = data["summary"].get(q, {})
        ax.set_title(f"{lab}\nmeasured/predicted median {s.get('median_ratio', NAN):.2f} "
                     f"[{s.get('min_ratio', NAN):.2f}, {s.get('max_ratio', NAN):.2f}]")
        ax.set_xlabel("predicted")
    axes[0].set_ylabel("measured")
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], marker=markers[w], color="0.3", ls="none", label=f"n={w}")
               for w in widths]
    handles += [Line2D([], [], marker="o", color=bcol[b], ls="none", label=f"β1={b:g}")
                for b in b1s]
    handles += [Line2D([], [], marker="o", mfc="none", color="0.3", ls="none",
                       label="τ fit unreliable")]
    axes[0].legend(handles=handles, fontsize=6, loc="upper left")
    _apply_style(fig)
    _footer(fig, data)
    return fig


# ---------------------------------------------------------------------------- F8
def f8(data: dict) -> Figure:
    groups = data.get("groups") or list(data["series"])
    mats = list(data["series"][groups[0]]) if groups else []
    fig, axes = _new(2 * max(len(groups), 1), max(len(mats), 1), w=2.9, h=2.3, title=data["title"])
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
                ax.set_title(f"{g}\n{m}: width exp. {_fit_label(f)}", fontsize=7)
        axes[2 * gi, 0].set_ylabel("σ_max(W) / √(fan_out/fan_in)")
        axes[2 * gi + 1, 0].set_ylabel("‖ΔW‖_F/√min(fan) ≤ σ_max(ΔW)\n(÷ √(fan_out/fan_in))")
    for j in range(len(mats)):
        axes[-1, j].set_xlabel("step t")
    if mats:
        axes[0, 0].legend()
    if data.get("diverged_widths"):
        fig.text(0.01, 0.002, f"diverged widths (not drawn): {data['diverged_widths']}",
                 fontsize=7, color="r")
    _apply_style(fig)
    _footer(fig, data)
    return fig


# ---------------------------------------------------------------------------- F9
KNOB_LABELS = {"input_spectrum": "input spectrum s (eigenvalues ∝ i^-s)",
               "teacher_width_exponent": "teacher width ∝ n^ρ_teacher",
               "zipf_exponent": "Zipf exponent z (one-hot tokens, V = 256)",
               "batch_size": "batch size", "output_dim": "output dimension"}


def f9(data: dict) -> Figure:
    pts, mats = data["series"], data["matrices"]
    panels = {k: v for k, v in data["summary"]["panels"].items() if k != "reference"}
    ref = data["summary"]["panels"].get("reference", [[None, None]])[0][1]
    ncols = 3
    nrows = math.ceil((len(panels) + 1) / ncols)
    fig, axes2 = _new(nrows, ncols, w=3.3, h=2.7, title=data["title"])
    axes = axes2.ravel()
    mcol = {m: c for m, c in zip(mats, ("C0", "C3", "C2", "C4"))}
    for k, (knob, vals) in enumerate(panels.items()):
        ax = axes[k]
        for j, m in enumerate(mats):
            xs, ys, lo, hi = [], [], [], []
            for v, lab in vals:
                a = pts.get(lab, {}).get(m, {}).get("alpha", {})
                if np.isfinite(a.get("exponent", NAN)):
                    xs.append(v)
                    ys.append(a["exponent"])
                    lo.append(a["exponent"] - a["ci"][0])
                    hi.append(a["ci"][1] - a["exponent"])
            off = 1.0 + 0.03 * (j - 0.5) if knob in ("batch_size", "output_dim") else 0
            xp = [x * off for x in xs] if off else [x + 0.03 * (j - 0.5) for x in xs]
            ax.errorbar(xp, ys, yerr=[lo, hi], fmt="-o", color=mcol[m], capsize=2, ms=3.5,
                        label=f"α̂ {m.split('.')[-1]}")
            bare = [(x, y) for x, y, l_ in zip(xp, ys, lo) if not np.isfinite(l_)]
            if bare:  # no interval (one seed left at some width): hollow marker
                ax.plot(*zip(*bare), "o", mfc="white", mec=mcol[m], ms=3.5, zorder=6,
                        label="hollow: no interval" if j == 0 and k == 0 else None)
            pr = [pts.get(lab, {}).get(m, {}).get("alpha_predicted", NAN) for v, lab in vals]
            ax.plot([v for v, _ in vals], pr, ":", marker="x", color=mcol[m], ms=4,
                    label=f"1 − ρ̂/2 {m.split('.')[-1]}")
        r = pts.get(ref, {}).get("pooled_hidden", {})
        if np.isfinite(r.get("exponent", NAN)):
            ax.axhspan(r["ci"][0], r["ci"][1], color="0.5", alpha=0.15, lw=0)
            ax.axhline(r["exponent"], color="0.5", lw=0.8, label="fixed teacher (pooled)")
        for y0 in (0.5, 0.75, 1.0):
            ax.axhline(y0, **REF_STYLE, alpha=0.5)
        if knob in ("batch_size", "output_dim") and _has_positive_data(ax, "x"):
            ax.set_xscale("log", base=2)
        ax.set_xlabel(KNOB_LABELS.get(knob, knob))
        ax.set_ylabel("α̂ (σ_max/√(η/λ) ∝ n^α)")
        ax.set_ylim(0.4, 1.15)
        if k == 0:
            ax.legend(fontsize=5.5, loc="lower left")
    ax = axes[len(panels)]
    allv = []
    for lab, p in pts.items():
        for m in mats:
            a, x = p.get(m, {}).get("alpha", {}), p.get(m, {}).get("alpha_predicted", NAN)
            xc = p.get(m, {}).get("alpha_predicted_ci", [NAN, NAN])
            if not (np.isfinite(a.get("exponent", NAN)) and np.isfinite(x)):
                continue
            ax.errorbar([x], [a["exponent"]], yerr=[[a["exponent"] - a["ci"][0]],
                                                     [a["ci"][1] - a["exponent"]]],
                        xerr=[[max(x - xc[0], 0)], [max(xc[1] - x, 0)]], fmt="o",
                        color=mcol[m], ms=3, capsize=1.5, alpha=0.8,
                        mfc=mcol[m] if np.all(np.isfinite(a["ci"])) else "white")
            allv += [x, a["exponent"]]
    if allv:
        lo, hi = min(allv) - 0.05, max(allv) + 0.05
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    s = data["summary"]["alpha_minus_predicted"]
    ax.set_title(f"α̂ vs 1 − ρ̂/2 (all points; W1 blue, W2 red)\n"
                 f"median α̂ − (1 − ρ̂/2) {s['median']:+.2f}, max |·| {s['max_abs']:.2f}",
                 fontsize=7.5)
    ax.set_xlabel("1 − ρ̂/2  (ρ̂: width exponent of the stable rank)")
    ax.set_ylabel("α̂")
    for a_ in axes[len(panels) + 1:]:
        a_.set_visible(False)
    _apply_style(fig)
    _footer(fig, data)
    return fig


def _styled(fn):
    """Run a plotting function inside the shared rc style (fonts are fixed at creation)."""
    import functools

    @functools.wraps(fn)
    def wrapper(data):
        with plt.rc_context(STYLE):
            return fn(data)
    return wrapper


PLOTTERS = {k: _styled(v) for k, v in
            {"F1": f1, "F2": f2, "F3": f3, "F4": f4, "F5": f5, "F5C": f5c, "F6": f6, "F7": f7,
             "F8": f8, "F9": f9, "F3B": f3, "F4B": f4}.items()}

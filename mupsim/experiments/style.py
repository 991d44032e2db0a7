"""The figures' one style: rc parameters, colours, the diverged-run marker and small drawing
helpers (every figure's ``plot`` turns its analysed numbers into a matplotlib Figure, Agg backend).

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

from mupsim.theory import wd_rules  # noqa: E402

STYLE = {
    "font.size": 8.5,
    "axes.titlesize": 9,
    "axes.labelsize": 8.5,
    "legend.fontsize": 7,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.4,
    "lines.markersize": 4,
    "figure.dpi": 110,
    "savefig.dpi": 150,
}

RULE_COLORS = {
    **{n: r.color for n, r in wd_rules.WD_RULES.items()},
    "sp (global": "#ff7f0e",
    "sp": "#d62728",
    "mup": "#1f77b4",
}

REF_STYLE = dict(color="0.55", lw=0.9, ls="--")

DIVERGED_STYLE = dict(marker="x", color="k", ms=6, mew=1.5, ls="none", clip_on=False, zorder=5)

NAN = float("nan")


def rule_color(label: str) -> str:
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


def new_figure(nrows, ncols, w=3.2, h=2.6, title=None) -> tuple[Figure, np.ndarray]:
    with plt.rc_context(STYLE):
        fig = Figure(figsize=(w * ncols, h * nrows), constrained_layout=True)
        axes = np.atleast_2d(fig.subplots(nrows, ncols, squeeze=False))
    if title:
        fig.suptitle(title, fontsize=10)
    return fig, axes


def apply_style(fig: Figure) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for ax in fig.axes:
        ax.grid(True, alpha=STYLE["grid.alpha"])
        for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
            if scale != "log" or axis.get_major_locator().__class__.__name__ != "LogLocator":
                continue
            if getattr(axis.get_major_locator(), "_base", 10) != 10:
                continue  # base-2 width axes keep their 2^k labels
            lo, hi = ax.get_xlim() if axis is ax.xaxis else ax.get_ylim()
            if lo > 0 and hi / lo >= 10:  # at least one labelled decade: no minor labels
                axis.set_minor_formatter(NullFormatter())
            else:  # less than a decade: label 2× and 5× ticks in plain numbers
                axis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
                axis.set_minor_formatter(plain)
                axis.set_major_formatter(plain)
        for s in ("top", "right"):
            ax.spines[s].set_visible(False)


def has_positive_data(ax, axis: str = "y") -> bool:
    """True if some line on ``ax`` draws a point with a finite positive value on ``axis`` (log
    scale possible): the other coordinate must be finite too, or the point is not drawn."""
    for ln in ax.get_lines():
        if ln.get_transform() != ax.transData:  # e.g. the diverged markers (axes coordinates)
            continue
        x, y = (np.asarray(v, dtype=float) for v in (ln.get_xdata(), ln.get_ydata()))
        v, other = (y, x) if axis == "y" else (x, y)
        if np.any(np.isfinite(v) & (v > 0) & np.isfinite(other)):
            return True
    return False


def mark_diverged(ax, xs, label: bool = True) -> None:
    """Put an 'x' at the top of ``ax`` at each x in ``xs`` (diverged runs)."""
    xs = [x for x in xs if x is not None and np.isfinite(x)]
    if not xs:
        return
    tr = blended_transform_factory(ax.transData, ax.transAxes)
    ax.plot(xs, [0.98] * len(xs), transform=tr, label="diverged" if label else None, **DIVERGED_STYLE)


def ref_slopes(ax, x0, y0, widths, slopes, labels=True):
    w = np.array([min(widths), max(widths)], float)
    for p in slopes:
        ax.plot(w, y0 * (w / x0) ** p, **REF_STYLE, alpha=0.4 + 0.4 * (p == 0.75))
        if labels:
            ax.annotate(
                f"n^{p:g}",
                (w[-1], y0 * (w[-1] / x0) ** p),
                fontsize=6.5,
                color="0.45",
                xytext=(2, 0),
                textcoords="offset points",
                va="center",
            )


def fit_label(fit: dict, name="") -> str:
    e = fit.get("exponent", NAN)
    lo, hi = (fit.get("ci") or [NAN, NAN])[:2]
    return f"{name}{' ' if name else ''}{e:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def footer(fig, data):
    n, d = data.get("n_runs", 0), data.get("n_dropped", 0)
    txt = f"{n} runs; {d} diverged (x, listed in the CSV)" if d else f"{n} runs; none diverged"
    title = fig._suptitle.get_text() if fig._suptitle is not None else data.get("title", "")
    fig.suptitle(f"{title}\n{txt}", fontsize=9.5)


def styled(fn):
    """Run a plotting function inside the shared rc style (fonts are fixed at creation)."""
    import functools

    @functools.wraps(fn)
    def wrapper(data):
        with plt.rc_context(STYLE):
            return fn(data)

    return wrapper

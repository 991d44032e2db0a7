"""Loss-optimal hyperparameter per width (parabola through the 3 best points) and its drift."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mupsim.analysis.stats import BootstrapRecord, _ols_slope, percentile_interval
from mupsim.errors import MupsimError, float_array


def parabola_vertex(x, y) -> tuple[float, float, float]:
    """Vertex (x_v, y_v) and curvature (2nd-order coefficient) of the parabola through 3 points.

    Args:
        x: 3 abscissae.
        y: 3 ordinates.

    Returns:
        (x_v, y_v, a); (nan, nan, 0.0) when the points are collinear.

    Raises:
        MupsimError: not exactly 3 points.

    Examples:
        >>> [round(v, 6) for v in parabola_vertex([0, 1, 2], [2, 1, 2])]
        [1.0, 1.0, 1.0]
    """
    x = float_array(x, "x").ravel()
    y = float_array(y, "y").ravel()
    if x.size != 3 or y.size != 3:
        raise MupsimError("parabola_vertex needs exactly 3 points")
    a, b, c = np.polyfit(x, y, 2)
    if a == 0:
        return (float("nan"), float("nan"), 0.0)
    xv = -b / (2 * a)
    return (float(xv), float(c - b * b / (4 * a)), float(a))


def _optimum(x: np.ndarray, ybar: np.ndarray) -> tuple[float, bool]:
    """x of the minimum of ybar(x) (inf = diverged): parabola through argmin and neighbours."""
    finite = np.isfinite(ybar)
    if not finite.any():
        return (float("nan"), False)
    i = int(np.argmin(np.where(finite, ybar, np.inf)))
    at_edge = i == 0 or i == x.size - 1
    if x.size < 3:
        return (float(x[i]), at_edge)
    j = min(max(i - 1, 0), x.size - 3)
    xs, ys = x[j : j + 3], ybar[j : j + 3]
    if not np.all(np.isfinite(ys)):
        return (float(x[i]), at_edge)
    xv, _, a = parabola_vertex(xs, ys)
    if not (a > 0 and np.isfinite(xv)):
        return (float(x[i]), at_edge)
    return (float(np.clip(xv, xs[0], xs[-1])), at_edge)


@dataclass
class Optimum(BootstrapRecord):
    """Loss-optimal x (e.g. log2 lr) at one width with a seed-bootstrap interval.

    Attributes:
        x_opt: the optimum.
        ci: its bootstrap percentile interval.
        at_edge: the best grid point is the first or last: the optimum is not bracketed.
        x_best_grid: the best grid point.
        n_seeds: the seeds (loss columns).
        n_diverged: grid cells with a diverged run (treated as +inf loss).
        level: the interval's coverage.
        boot: the bootstrap optima (not in ``to_dict()``).
    """

    x_opt: float
    ci: tuple[float, float]
    at_edge: bool  # best grid point is the first or last: optimum not bracketed
    x_best_grid: float
    n_seeds: int
    n_diverged: int  # grid cells with a diverged run (treated as +inf loss)
    level: float = 0.95
    boot: np.ndarray = field(default=None, repr=False)


def transfer_optimum(
    x, losses, *, log_loss: bool = True, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> Optimum:
    """Optimum of loss vs x (a log hyperparameter) at one width, with a bootstrap over seeds.

    ``x``: grid [X] (increasing). ``losses``: [X, S] final losses for S seeds; ``+inf`` marks a
    diverged run (a bad loss: it counts), ``nan`` a missing one (ignored). The curve is the mean
    over seeds (of log loss if ``log_loss``); the optimum is the vertex of the parabola through
    the best grid point and its two neighbours (the 3 edge points if the best is at an edge),
    clipped to their range; if that parabola is not convex, the best grid point. The interval
    resamples the S seed columns with replacement (paired across x) ``n_boot`` times.

    Args:
        x: the grid [X], strictly increasing (a log hyperparameter, e.g. log2 lr).
        losses: [X, S] final losses (or [X] for one seed).
        log_loss: average log losses over seeds.
        n_boot: bootstrap resamples.
        level: the interval's coverage.
        seed: seeds the bootstrap.

    Returns:
        Optimum: the optimum, its interval and whether it is bracketed.

    Raises:
        MupsimError: not one loss row per x, or x not strictly increasing.

    Examples:
        >>> import numpy as np
        >>> x = np.arange(-4.0, 1.0)  # e.g. log2 lr
        >>> def losses(best):  # [X, S]: two seeds, log loss a parabola with its vertex at ``best``
        ...     return np.exp((x - best) ** 2)[:, None] * [1.0, 1.1]
        >>> opt = transfer_optimum(x, losses(-1.5))
        >>> round(opt.x_opt, 6), opt.at_edge, opt.n_seeds
        (-1.5, False, 2)
    """
    x = float_array(x, "x").ravel()
    L = float_array(losses, "losses")
    if L.ndim == 1:
        L = L[:, None]
    if L.shape[0] != x.size:
        raise MupsimError(f"losses must have one row per x; got {L.shape[0]} rows for {x.size} x")
    if np.any(np.diff(x) <= 0):
        raise MupsimError("x must be strictly increasing")
    if log_loss:
        L = _log_losses(L)

    curve = _mean_curve
    ybar = curve(L)
    ybar = np.where(np.isnan(ybar), np.inf, ybar)
    x_opt, at_edge = _optimum(x, ybar)
    i_best = int(np.argmin(ybar)) if np.isfinite(ybar).any() else 0
    rng = np.random.default_rng(seed)
    S = L.shape[1]
    boot = np.empty(n_boot)
    for b in range(n_boot):
        cols = rng.integers(0, S, size=S)
        yb = curve(L[:, cols])
        boot[b] = _optimum(x, np.where(np.isnan(yb), np.inf, yb))[0]
    return Optimum(
        x_opt=x_opt,
        ci=percentile_interval(boot, level),
        at_edge=at_edge,
        x_best_grid=float(x[i_best]),
        n_seeds=S,
        n_diverged=int(np.isinf(L).sum()),
        level=level,
        boot=boot,
    )


@dataclass
class Drift(BootstrapRecord):
    """Slope of the optimum (in x units) per doubling of width, with a bootstrap interval.

    Attributes:
        per_doubling: the slope of x_opt vs log2(width).
        ci: its bootstrap percentile interval.
        widths: the widths.
        optima: the optimum at each width.
        any_at_edge: some width's optimum is not bracketed.
        level: the interval's coverage.
    """

    per_doubling: float
    ci: tuple[float, float]
    widths: list[float]
    optima: list[float]
    any_at_edge: bool
    level: float = 0.95


def optimum_drift(widths, optima, *, level: float = 0.95) -> Drift:
    """Drift of the optimum per doubling of width: OLS slope of x_opt vs log2(width).

    ``optima``: one :class:`Optimum` per width (with equal-length ``boot`` arrays). Runs at
    different widths are independent, so the interval pairs the b-th bootstrap optimum of every
    width and takes the percentile interval of the resulting slopes. If x is log2(lr), a drift
    of d means the optimal lr changes by a factor 2^d per doubling.

    Args:
        widths: the widths (>= 2).
        optima: one :class:`Optimum` per width.
        level: the interval's coverage.

    Returns:
        Drift: the slope per doubling and its interval.

    Raises:
        MupsimError: fewer than 2 widths, or not one Optimum per width.

    Examples:
        >>> import numpy as np
        >>> x = np.arange(-4.0, 1.0)  # e.g. log2 lr
        >>> def losses(best):  # [X, S]: two seeds, log loss a parabola with its vertex at ``best``
        ...     return np.exp((x - best) ** 2)[:, None] * [1.0, 1.1]
        >>> optima = [transfer_optimum(x, losses(-1.5)), transfer_optimum(x, losses(-2.5))]
        >>> round(optimum_drift([64, 128], optima).per_doubling, 6)
        -1.0
    """
    w = float_array(widths, "widths").ravel()
    if w.size != len(optima) or w.size < 2:
        raise MupsimError("optimum_drift needs >= 2 widths and one Optimum per width")
    return _drift(
        w,
        np.array([o.x_opt for o in optima]),
        [o.boot for o in optima],
        any(o.at_edge for o in optima),
        level,
    )


def _drift(w, xo, boots, any_at_edge: bool, level: float) -> Drift:
    """OLS slope of xo vs log2(w) with the interval from pairing the b-th bootstrap value of
    every width (widths are independent runs)."""
    lx = np.log2(w)
    ok = np.isfinite(xo)
    if ok.sum() < 2:
        return Drift(float("nan"), (float("nan"), float("nan")), w.tolist(), xo.tolist(), any_at_edge, level)
    slope = float(_ols_slope(lx[ok], xo[ok]))
    B = np.vstack([boots[i] for i in np.nonzero(ok)[0]]).T  # [n_boot, W]
    good = np.all(np.isfinite(B), axis=1)
    boot = _ols_slope(lx[ok], B[good]) if good.any() else np.array([np.nan])
    return Drift(
        per_doubling=slope,
        ci=percentile_interval(boot, level),
        widths=w.tolist(),
        optima=xo.tolist(),
        any_at_edge=any_at_edge,
        level=level,
    )


# ---------------------------------------------------------------------------- curve alignment
def _log_losses(L: np.ndarray) -> np.ndarray:
    """log of the losses; +inf (diverged) stays +inf, non-positive values become NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isinf(L), np.inf, np.log(np.where(L > 0, L, np.nan)))


def _mean_curve(L: np.ndarray) -> np.ndarray:
    """Mean over seed columns; a row with any +inf (diverged) is +inf, NaN cells ignored."""
    out = np.full(L.shape[0], np.nan)
    for r in range(L.shape[0]):
        row = L[r][~np.isnan(L[r])]
        out[r] = np.inf if np.any(np.isinf(row)) else (row.mean() if row.size else np.nan)
    return out


def _best_shift(x_ref, y_ref, x, y, shifts) -> float:
    """Shift s minimising mean (y_ref(u) − y(u + s))² over the overlap (u on the ref grid)."""
    fr, f = np.isfinite(y_ref), np.isfinite(y)
    if fr.sum() < 2 or f.sum() < 2:
        return float("nan")
    xr, yr, xx, yy = x_ref[fr], y_ref[fr], x[f], y[f]
    shifts = np.asarray(shifts, float)
    U = xr[None, :] + shifts[:, None]
    inside = (U >= xx[0]) & (U <= xx[-1])
    err = (yr[None, :] - np.interp(U, xx, yy)) ** 2
    n_in = inside.sum(axis=1)
    cost = np.where(n_in >= 3, np.where(inside, err, 0.0).sum(axis=1) / np.maximum(n_in, 1), np.inf)
    if not np.isfinite(cost).any():
        return float("nan")
    return float(shifts[int(np.argmin(cost))])


@dataclass
class Shift(BootstrapRecord):
    """Horizontal shift (x units) aligning a loss curve with the reference width's curve.

    Attributes:
        shift: s such that loss_n(x + s) best matches loss_ref(x).
        ci: its bootstrap percentile interval.
        level: the interval's coverage.
        boot: the bootstrap shifts (not in ``to_dict()``).
    """

    shift: float
    ci: tuple[float, float]
    level: float = 0.95
    boot: np.ndarray = field(default=None, repr=False)


def curve_shift(
    x_ref,
    losses_ref,
    x,
    losses,
    *,
    log_loss: bool = True,
    max_shift: float = 4.0,
    resolution: float = 0.02,
    n_boot: int = 300,
    level: float = 0.95,
    seed: int = 0,
) -> Shift:
    """Shift s such that loss_n(x + s) best matches loss_ref(x) (least squares on the overlap).

    A transfer measure that works when the optimum is not bracketed (e.g. a loss that only rises
    with weight decay): if the whole curve moves with width, s says by how much. ``losses`` are
    [X, S] arrays as in :func:`transfer_optimum` (+inf diverged: such points are left out of
    the comparison). The interval resamples the seed columns of both curves independently.

    Args:
        x_ref: the reference width's grid.
        losses_ref: its [X, S] losses.
        x: this width's grid.
        losses: its [X, S] losses.
        log_loss: compare log losses.
        max_shift: the largest shift tried, in x units.
        resolution: the step between the shifts tried.
        n_boot: bootstrap resamples.
        level: the interval's coverage.
        seed: seeds the bootstrap.

    Returns:
        Shift: the shift (a multiple of ``resolution``; NaN when the curves do not overlap in
        3 points) and its interval.

    Examples:
        >>> import numpy as np
        >>> x = np.arange(-4.0, 1.0)  # e.g. log2 lr
        >>> def losses(best):  # [X, S]: two seeds, log loss a parabola with its vertex at ``best``
        ...     return np.exp((x - best) ** 2)[:, None] * [1.0, 1.1]
        >>> round(curve_shift(x, losses(-1.5), x, losses(-2.5)).shift, 6)
        -1.0
    """
    xr = np.asarray(x_ref, float).ravel()
    xx = np.asarray(x, float).ravel()
    Lr = np.asarray(losses_ref, float).reshape(xr.size, -1)
    L = np.asarray(losses, float).reshape(xx.size, -1)
    if log_loss:
        Lr, L = _log_losses(Lr), _log_losses(L)
    shifts = np.arange(-max_shift, max_shift + resolution / 2, resolution)

    def shift_of(A, B):
        a, b = _mean_curve(A), _mean_curve(B)
        return _best_shift(xr, np.where(np.isinf(a), np.nan, a), xx, np.where(np.isinf(b), np.nan, b), shifts)

    s0 = shift_of(Lr, L)
    rng = np.random.default_rng(seed)
    boot = np.array(
        [
            shift_of(
                Lr[:, rng.integers(0, Lr.shape[1], Lr.shape[1])],
                L[:, rng.integers(0, L.shape[1], L.shape[1])],
            )
            for _ in range(n_boot)
        ]
    )
    return Shift(shift=s0, ci=percentile_interval(boot, level), level=level, boot=boot)


def shift_drift(widths, shifts: list, *, level: float = 0.95) -> Drift:
    """Drift per doubling of width from curve shifts: OLS slope of the shift vs log2(width).

    Args:
        widths: the widths.
        shifts: one :class:`Shift` per width, the reference width included with shift 0.
        level: the interval's coverage.

    Returns:
        Drift: the slope per doubling and its interval.
    """
    return _drift(
        np.asarray(widths, float), np.array([s.shift for s in shifts]), [s.boot for s in shifts], False, level
    )


# ---------------------------------------------------------------------------- per-seed optima
def seed_optimum(x, y, n_fit: int = 5) -> tuple[float, bool]:
    """Optimum of one seed's loss curve y(x).

    The vertex of the least-squares parabola through the best finite grid point and its
    neighbours, ``n_fit`` points centred on it where the grid allows, clipped to their range;
    the best point itself if that parabola is not convex.

    Args:
        x: the grid, increasing (e.g. log2 λ).
        y: the log loss at each grid point; +inf or NaN = diverged/missing, left out.
        n_fit: points in the fit, 3 to 5.

    Returns:
        (x_opt, at_edge); at_edge: the best point is the first or last finite point (the
        optimum is not bracketed and x_opt is only a bound).

    Raises:
        MupsimError: ``n_fit`` outside 3..5, or x and y of different lengths.

    Examples:
        >>> x = [-4.0, -3.0, -2.0, -1.0, 0.0]
        >>> x_opt, at_edge = seed_optimum(x, [(v + 1.5) ** 2 for v in x])
        >>> round(x_opt, 6), at_edge
        (-1.5, False)
    """
    if not 3 <= n_fit <= 5:
        raise MupsimError(f"n_fit must be 3, 4 or 5 grid points; got {n_fit}")
    x = float_array(x, "x").ravel()
    y = float_array(y, "y").ravel()
    if x.size != y.size:
        raise MupsimError(f"x and y must have the same length; got {x.size} and {y.size}")
    ok = np.isfinite(y)
    xf, yf = x[ok], y[ok]
    if xf.size == 0:
        return (float("nan"), False)
    i = int(np.argmin(yf))
    at_edge = i == 0 or i == xf.size - 1
    if xf.size < 3:
        return (float(xf[i]), at_edge)
    k = min(n_fit, xf.size)
    j = min(max(i - k // 2, 0), xf.size - k)
    xs, ys = xf[j : j + k], yf[j : j + k]
    a, b, _ = np.polyfit(xs, ys, 2)
    if not a > 0:
        return (float(xf[i]), at_edge)
    return (float(np.clip(-b / (2 * a), xs[0], xs[-1])), at_edge)


@dataclass
class SeedDrift(BootstrapRecord):
    """Optimum per width from per-seed optima, and its drift per width doubling.

    Attributes:
        per_doubling: the mean of the per-seed OLS slopes of x_opt vs log2(width) (seeds paired
            across widths).
        ci: its interval (resampling seeds).
        widths: the widths.
        optima: the mean per-seed optimum at each width (usable seeds).
        optima_ci: their seed-bootstrap intervals.
        per_seed: ``[S][W]`` per-seed optima (NaN where none).
        edge: ``[S][W]`` best grid point at the grid edge.
        n_seeds: the seeds.
        n_used: seeds with a bracketed optimum at every width.
        any_at_edge: some seed's best point is at a grid edge at some width.
        level: the intervals' coverage.
        boot: the bootstrap drifts (not in ``to_dict()``).
    """

    per_doubling: float
    ci: tuple[float, float]
    widths: list[float]
    optima: list[float]  # mean per-seed optimum at each width (usable seeds)
    optima_ci: list[list[float]]
    per_seed: list[list[float]]  # [S][W] per-seed optima (NaN where none)
    edge: list[list[bool]]  # [S][W] best grid point at the grid edge
    n_seeds: int
    n_used: int  # seeds with a bracketed optimum at every width
    any_at_edge: bool
    level: float = 0.95
    boot: np.ndarray = field(default=None, repr=False)


def seed_optimum_drift(
    widths,
    x_per_width,
    losses_per_width,
    *,
    n_fit: int = 5,
    log_loss: bool = True,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> SeedDrift:
    """Drift of the loss-optimal x per doubling of width, from an optimum per seed.

    ``losses_per_width[k]``: [X_k, S] final losses at ``widths[k]`` on grid ``x_per_width[k]``
    (log units; grids may differ), column s = the same seed at every width (same data and
    teacher: the pairing cancels what they share). Each seed's optimum comes from
    :func:`seed_optimum`; a seed whose best point sits at a grid edge at any width is flagged
    and left out (its optimum is only a bound). The drift is the mean over the usable seeds of
    each seed's OLS slope of x_opt vs log2(width); the intervals resample the usable seeds.

    Args:
        widths: the widths (>= 2).
        x_per_width: the grid at each width.
        losses_per_width: the [X_k, S] losses at each width.
        n_fit: points in each seed's parabola (see :func:`seed_optimum`).
        log_loss: fit log losses.
        n_boot: bootstrap resamples.
        level: the intervals' coverage.
        seed: seeds the bootstrap.

    Returns:
        SeedDrift: the drift, the optima per width and the per-seed optima.

    Raises:
        MupsimError: fewer than 2 widths, not one grid and loss array per width, or different
            seed counts across widths.

    Examples:
        >>> import numpy as np
        >>> x = np.arange(-4.0, 1.0)  # e.g. log2 lr
        >>> def losses(best):  # [X, S]: two seeds, log loss a parabola with its vertex at ``best``
        ...     return np.exp((x - best) ** 2)[:, None] * [1.0, 1.1]
        >>> d = seed_optimum_drift([64, 128], [x, x], [losses(-1.5), losses(-2.5)])
        >>> round(d.per_doubling, 6), [round(o, 6) for o in d.optima], d.n_used
        (-1.0, [-1.5, -2.5], 2)
    """
    w = np.asarray(widths, float)
    if w.size < 2 or len(x_per_width) != w.size or len(losses_per_width) != w.size:
        raise MupsimError("seed_optimum_drift needs >= 2 widths and one grid and loss array per width")
    Ls = [np.asarray(L, float).reshape(np.size(x), -1) for x, L in zip(x_per_width, losses_per_width)]
    S = Ls[0].shape[1]
    if any(L.shape[1] != S for L in Ls):
        raise MupsimError("every width needs the same seeds (one column each)")
    if log_loss:
        Ls = [_log_losses(L) for L in Ls]
    opt = np.full((S, w.size), np.nan)
    edge = np.zeros((S, w.size), bool)
    for k, (x, L) in enumerate(zip(x_per_width, Ls)):
        for s in range(S):
            opt[s, k], edge[s, k] = seed_optimum(x, L[:, s], n_fit)
    use = np.all(np.isfinite(opt), axis=1) & ~edge.any(axis=1)
    O = opt[use]
    nan2 = (float("nan"), float("nan"))
    if O.shape[0] == 0:
        return SeedDrift(
            float("nan"),
            nan2,
            w.tolist(),
            [float("nan")] * w.size,
            [list(nan2)] * w.size,
            opt.tolist(),
            edge.tolist(),
            S,
            0,
            bool(edge.any()),
            level,
            np.array([np.nan]),
        )
    lx = np.log2(w)
    slopes = _ols_slope(lx, O)  # one per usable seed
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, O.shape[0], size=(n_boot, O.shape[0]))
    boot = slopes[idx].mean(axis=1)
    boot_opt = O[idx].mean(axis=1)  # [n_boot, W]
    one = O.shape[0] < 2  # a single usable seed: nothing to resample, no interval
    return SeedDrift(
        per_doubling=float(slopes.mean()),
        ci=nan2 if one else percentile_interval(boot, level),
        widths=w.tolist(),
        optima=O.mean(axis=0).tolist(),
        optima_ci=[
            list(nan2) if one else list(percentile_interval(boot_opt[:, k], level)) for k in range(w.size)
        ],
        per_seed=opt.tolist(),
        edge=edge.tolist(),
        n_seeds=S,
        n_used=int(O.shape[0]),
        any_at_edge=bool(edge.any()),
        level=level,
        boot=boot,
    )

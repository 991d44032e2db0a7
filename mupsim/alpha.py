"""The alignment exponent α from how the number of strong directions of a weight grows with
width (numeric side of :mod:`mupsim.theory.alpha`, one source of truth: α(ρ) is lambdified
from the derivation).

Conventions: ρ is the exponent of stable rank ∝ n^ρ (stable rank = ‖W‖_F²/σ_max²) of a
matrix whose two dimensions both grow ∝ n; α is the exponent of σ_max ≈ RMS(W)·n^α; the
weight-decay exponent w is the x of λ ∝ n^(−x), served by :func:`mupsim.exponents` with
``wd_rule="alignment"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp

from mupsim.errors import MupsimError, float_array, show


@lru_cache(maxsize=1)
def _fns():
    from mupsim.theory import alpha as th

    r = th.derive_alpha().results
    return (sp.lambdify(th.rho, r["alpha"], "numpy"), sp.lambdify(th.alpha, r["rho"], "numpy"))


def _apply(fn, x):
    out = np.asarray(fn(x), dtype=float)
    return float(out) if out.ndim == 0 else out


def _in_range(x, what: str, lo: float, hi: float, why: str = ""):
    try:
        v = float_array(x, what)
    except MupsimError:
        v = np.array(np.nan)  # not numbers: refused below with the allowed range
    if not np.all(np.isfinite(v)) or np.any(v < lo) or np.any(v > hi):
        raise MupsimError(
            f"{what}={show(x)} is out of range; allowed: finite values in [{lo:g}, {hi:g}]{why}"
        )
    return v


def alpha_relation(rho):
    """The derived relation α(ρ) = 1 − ρ/2 applied as is, without a range check.

    Unlike :func:`alpha_from_rank_exponent`, ρ may leave [0, 1] (fitted ρ̂ that seed noise puts
    slightly outside) and NaN stays NaN.

    Args:
        rho: the rank exponent ρ of stable rank ∝ n^ρ (float or array).

    Returns:
        α = 1 − ρ/2, a float array of the shape of ``rho``.

    Examples:
        >>> from mupsim.alpha import alpha_relation
        >>> print(alpha_relation(1.5))
        0.25
    """
    return _apply(_fns()[0], np.asarray(rho, dtype=float))


def alpha_from_rank_exponent(rho):
    """The alignment exponent α = 1 − ρ/2 of a rank exponent ρ (stable rank ∝ n^ρ).

    Args:
        rho: ρ in [0, 1] (float or array).

    Returns:
        α in [1/2, 1], a float array of the shape of ``rho``.

    Raises:
        MupsimError: ρ not finite or outside [0, 1].

    Examples:
        >>> import mupsim
        >>> print(mupsim.alpha_from_rank_exponent(0.5))
        0.75
    """
    r = _in_range(rho, "rank exponent rho", 0, 1, " (stable rank ∝ n^rho lies between 1 and n)")
    return _apply(_fns()[0], r)


def rank_exponent_from_alpha(alpha):
    """The rank exponent ρ = 2 − 2α of an alignment exponent α (inverse of α = 1 − ρ/2).

    Args:
        alpha: α in [1/2, 1] (float or array).

    Returns:
        ρ in [0, 1], a float array of the shape of ``alpha``.

    Raises:
        MupsimError: α not finite or outside [1/2, 1].

    Examples:
        >>> import mupsim
        >>> print(mupsim.rank_exponent_from_alpha(0.75))
        0.5
    """
    return _apply(_fns()[1], _in_range(alpha, "alignment exponent alpha", 0.5, 1))


@dataclass(frozen=True)
class AlphaEstimate:
    """α̂ from stable ranks measured across widths (the answer of :func:`alpha_from_stable_ranks`).

    Attributes:
        rho: fitted slope of log(stable rank) on log(width).
        rho_se: its standard error (NaN with two points).
        alpha: 1 − ρ̂/2 (raw, may leave [1/2, 1] when ρ̂ is noisy).
        alpha_rule: α̂ clipped to [1/2, 1] and rounded to 3 decimals, as passed to the calculator.
        wd: the hidden matrix's weight-decay exponent of the ``alignment`` rule at
            ``alpha_rule`` (λ ∝ n^(−wd)).
        exponents: the calculator's full answer.

    Examples:
        >>> import mupsim
        >>> est = mupsim.alpha_from_stable_ranks([64, 256], [8, 16])
        >>> round(est.rho, 6), est.rho_se
        (0.5, nan)
    """

    rho: float
    rho_se: float
    alpha: float
    alpha_rule: float
    wd: float | None
    exponents: object


def _group_index(groups) -> np.ndarray:
    """One integer per point for the group labels ``groups`` (a list, tuple or 1-d array, one
    label per point, in the points' order)."""
    if not (isinstance(groups, (list, tuple)) or getattr(groups, "ndim", None) == 1):
        raise MupsimError(
            f"groups must be a list or tuple of labels, one per point in the points' order; "
            f"got {show(groups)}"
        )
    labels = [show(x) if isinstance(x, int) else str(x) for x in groups]
    return np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)[1].ravel()


def fit_rank_exponent(widths, stable_ranks, groups=None) -> tuple[float, float]:
    """The rank exponent ρ̂ of stable rank ∝ n^ρ, by least squares on logs.

    Fits log srank = c_g + ρ log n over all points (repeat a width for several seeds).

    Args:
        widths: the width n of each point.
        stable_ranks: the stable rank ‖W‖_F²/σ_max² of each point (positive, finite).
        groups: optional, one label per point (e.g. the matrix name): each group gets its own
            intercept c_g and all share one slope ρ, so matrices of different rank levels can be
            pooled.

    Returns:
        (ρ̂, standard error); the standard error is NaN without residual degrees of freedom.

    Raises:
        MupsimError: lengths differ, a width or rank is not positive and finite, or fewer than
            2 distinct widths (within some group).

    Examples:
        >>> from mupsim.alpha import fit_rank_exponent
        >>> rho, se = fit_rank_exponent([64, 256, 1024], [8, 16, 32])
        >>> round(rho, 6), round(se, 6)
        (0.5, 0.0)
    """
    n = float_array(widths, "widths").ravel()
    s = float_array(stable_ranks, "stable_ranks").ravel()
    g = np.zeros(n.size, np.int64) if groups is None else _group_index(groups)
    if n.shape != s.shape or g.shape != n.shape:
        raise MupsimError(
            f"widths, stable_ranks (and groups) must have the same number of "
            f"entries; got {n.size}, {s.size}" + ("" if groups is None else f", {g.size}")
        )
    if not (np.all(np.isfinite(n)) and np.all(n > 0) and np.all(np.isfinite(s)) and np.all(s > 0)):
        raise MupsimError("widths and stable_ranks must be positive finite numbers")
    x, y = np.log(n), np.log(s)
    xc, yc = x.copy(), y.copy()
    for k in np.unique(g):
        sel = g == k
        xc[sel] -= x[sel].mean()
        yc[sel] -= y[sel].mean()
    sxx = float(xc @ xc)
    if sxx <= 0.0:
        raise MupsimError("fitting a rank exponent needs at least 2 distinct widths")
    slope = float(xc @ yc / sxx)
    dof = x.size - np.unique(g).size - 1
    if dof <= 0:
        return slope, float("nan")
    resid = yc - slope * xc
    return slope, float(np.sqrt(resid @ resid / dof / sxx))


def alpha_from_stable_ranks(
    widths,
    stable_ranks,
    groups=None,
    parameterization="mup",
    optimizer="adamw",
    alignment="full",
    multipliers=None,
) -> AlphaEstimate:
    """α̂ and the ``alignment`` weight-decay rule from stable ranks measured across widths.

    Fits ρ̂ from stable ranks of hidden matrices measured at several widths, turns it into
    α̂ = 1 − ρ̂/2 and into the ``alignment`` weight-decay rule via :func:`mupsim.exponents`.

    Args:
        widths: the width of each point.
        stable_ranks: the stable rank of each point.
        groups: see :func:`fit_rank_exponent`.
        parameterization: passed to :func:`mupsim.exponents`.
        optimizer: passed to :func:`mupsim.exponents`.
        alignment: passed to :func:`mupsim.exponents`.
        multipliers: passed to :func:`mupsim.exponents`.

    Returns:
        AlphaEstimate: ρ̂, its standard error, α̂ (raw and as passed to the rule) and the
        hidden matrix's wd exponent.

    Raises:
        MupsimError: as :func:`fit_rank_exponent`, or an invalid calculator argument.

    Examples:
        >>> import mupsim
        >>> est = mupsim.alpha_from_stable_ranks([64, 256, 1024], [8, 16, 32])
        >>> round(est.alpha, 6), est.alpha_rule, est.wd
        (0.75, 0.75, -0.5)
    """
    from mupsim.calculator import exponents

    rho, se = fit_rank_exponent(widths, stable_ranks, groups)
    a = alpha_relation(rho)
    a_rule = round(min(1.0, max(0.5, a)), 3)
    e = exponents(
        parameterization, optimizer, alignment, multipliers, wd_rule="alignment", alignment_exponent=a_rule
    )
    wd = e.layers["hidden"].wd
    return AlphaEstimate(
        rho=rho, rho_se=se, alpha=a, alpha_rule=a_rule, wd=None if wd is None else float(wd), exponents=e
    )

"""Numeric steady-state predictions for a scale-invariant matrix under coupled AdamW.

Each function is the lambdified result of ``mupsim.theory.steady_state``
(one source of truth). Units: ``lr`` and ``wd`` are the per-layer values the
optimizer uses (per-step decay lr·wd); RMS over raw parameter entries; times
in optimizer steps; angles in radians per step. Inputs may be numpy arrays.

Inputs are validated (MupsimError): lr, wd finite and > 0, update_rms and rms finite and >= 0,
beta1 in [0, 1), alpha in [1/2, 1], fans positive integers. The leading-order formulas
(``exact=False``, and ``angular_update``) assume lr·wd ≪ 1: they warn (MupsimWarning) above
lr·wd = 0.1 and refuse from lr·wd = 1 on; ``exact=True`` holds up to lr·wd < 2.
"""

from __future__ import annotations

import warnings
from functools import cache, lru_cache

import numpy as np
import sympy as sp

from mupsim.errors import MupsimError, MupsimWarning, flag, float_array, show
from mupsim.theory import steady_state as _th


@lru_cache(maxsize=1)
def _derived():
    return _th.derive_equilibrium().results


@cache
def _fn(name: str):
    expr = _stable(_derived()[name])
    syms = (_th.U, _th.eta, _th.lam, _th.beta)
    return sp.lambdify(syms, expr, "numpy")


def _stable(expr):
    """The same expression with log(y) evaluated as log1p(y − 1): log((1−ηλ)²) loses every
    digit when ηλ is below the float epsilon (exact relaxation time −1/0 = −inf otherwise)."""
    from sympy.codegen.cfunctions import log1p

    return expr.replace(lambda e: isinstance(e, sp.log), lambda e: log1p(sp.expand(e.args[0] - 1)))


APPROX_WARN = 0.1
"""lr·wd above which the leading-order formulas warn (MupsimWarning): they drop O(lr·wd)
relative terms (at lr·wd = x the RMS is low by the factor sqrt(1 − x/2), and the relaxation
time 1/(2x) is long against the exact −1/(2·log(1 − x)))."""
APPROX_MAX = 1.0
"""lr·wd from which the leading-order formulas refuse: the decay alone then removes the whole
weight in one step and the expansion in lr·wd means nothing (``exact=True`` goes to 2)."""
MAX_FAN = 2**40


def _numbers(x, name: str, positive: bool = False):
    """``x`` (a number or array of numbers) as a float array, finite and >= 0 (> 0)."""
    a = float_array(x, name)
    if not np.all(np.isfinite(a)) or np.any(a < 0) or (positive and np.any(a == 0)):
        raise MupsimError(f"{name} must be finite and {'> 0' if positive else '>= 0'}; got {show(x)}")
    return a


def _broadcastable(**arrays) -> None:
    """Refuse arrays that numpy cannot broadcast together, naming them and their shapes."""
    try:
        np.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError:
        shapes = " and ".join(f"{k} {a.shape}" for k, a in arrays.items())
        raise MupsimError(f"{', '.join(arrays)} must have broadcastable shapes; got {shapes}") from None


def _answer(compute, what: str):
    """``compute()`` with float overflow and division by zero allowed, refused if the answer
    is not finite (inputs so extreme that the prediction leaves floating point)."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        v = compute()
    if not np.all(np.isfinite(v)):
        raise MupsimError(
            f"the predicted {what} is not a finite float for these inputs (under- "
            f"or overflow); allowed: values whose prediction fits in floating point"
        )
    return v


def _check(lr, wd, beta1: float = 0.0, exact: bool = False, has_exact: bool = True):
    exact = flag(exact, "exact")
    lr, wd = _numbers(lr, "lr", positive=True), _numbers(wd, "wd", positive=True)
    _broadcastable(lr=lr, wd=wd)
    with np.errstate(over="ignore"):
        x = lr * wd
    if (
        isinstance(beta1, bool)
        or not isinstance(beta1, (int, float, np.integer, np.floating))
        or not (0 <= beta1 < 1)
    ):
        raise MupsimError(f"beta1 must lie in [0, 1), got {show(beta1)}")
    if exact:
        if np.any(x >= 2):
            raise MupsimError("the exact fixed point needs lr·wd < 2 (the decay alone overshoots past zero)")
        return lr, wd
    top = float(np.max(x)) if x.size else 0.0
    if top >= APPROX_MAX:
        hint = "; exact=True holds up to lr·wd < 2" if has_exact else ""
        raise MupsimError(
            f"the leading-order steady state needs lr·wd << 1; got lr·wd = {top:.3g} "
            f"(allowed: < {APPROX_MAX:g}, accurate below ~{APPROX_WARN:g}){hint}"
        )
    if top > APPROX_WARN:
        warnings.warn(
            f"lr·wd = {top:.3g} > {APPROX_WARN:g}: the leading-order steady-state "
            f"formula is off by O(lr·wd) here",
            MupsimWarning,
            stacklevel=3,
        )
    return lr, wd


def equilibrium_rms(update_rms, lr, wd, beta1: float = 0.0, exact: bool = False):
    """RMS(w) at equilibrium: RMS(u)·sqrt(lr/(2·wd)) for uncorrelated steps (beta1=0).

    With beta1 > 0 the momentum EMA's lagged correlations are included, assuming per-step
    gradients orthogonal to w and i.i.d. in time: × sqrt((1+β1)/(1−β1)).

    Args:
        update_rms: the RMS of the update direction u (per unit lr), finite and >= 0.
        lr: the layer's learning rate η_l, finite and > 0.
        wd: the layer's weight decay λ_l (coupled: per-step decay lr·wd), finite and > 0.
        beta1: the momentum coefficient β1 in [0, 1).
        exact: keep the O(lr·wd) terms: 2 → 2 − lr·wd and, with momentum, the coupling ρβ1
            (ρ = 1 − lr·wd): × sqrt((1+ρβ1)/(1−ρβ1)).

    Returns:
        The equilibrium RMS of the raw parameter entries (float array, inputs broadcast).

    Raises:
        MupsimError: an input out of range, shapes that do not broadcast, or lr·wd >= 1
            (>= 2 with ``exact``). Warns (MupsimWarning) for lr·wd > 0.1 without ``exact``.

    Examples:
        >>> from mupsim import steady_state
        >>> print(round(float(steady_state.equilibrium_rms(1.0, lr=1e-3, wd=0.1)), 6))
        0.070711
    """
    lr, wd = _check(lr, wd, beta1, exact)
    u = _numbers(update_rms, "update_rms")
    _broadcastable(update_rms=u, lr=lr, wd=wd)

    def compute():
        if exact:
            return np.sqrt(_fn("ms_exact_momentum")(u, lr, wd, beta1))
        return _fn("rms")(u, lr, wd, beta1) * np.sqrt(_fn("momentum_factor")(u, lr, wd, beta1))

    return _answer(compute, "equilibrium RMS")


def relaxation_time(lr, wd, exact: bool = False):
    """e-folding time (steps) of the mean square's approach to equilibrium: ≈ 1/(2·lr·wd).

    Args:
        lr: the layer's learning rate η_l, finite and > 0.
        wd: the layer's weight decay λ_l (coupled: per-step decay lr·wd), finite and > 0.
        exact: −1/log((1 − lr·wd)²) instead of the leading order.

    Returns:
        The relaxation time in optimizer steps (float array, inputs broadcast).

    Raises:
        MupsimError: as :func:`equilibrium_rms`.

    Examples:
        >>> from mupsim import steady_state
        >>> print(round(float(steady_state.relaxation_time(lr=1e-3, wd=0.1)), 6))
        5000.0
    """
    lr, wd = _check(lr, wd, 0.0, exact)
    # lr·wd = 1 (exact): log1p(-1) = -inf, tau = 0 (the decay empties w in one step)
    return _answer(lambda: _fn("tau_exact" if exact else "tau")(1.0, lr, wd, 0.0), "relaxation time")


def angular_update(lr, wd, beta1: float = 0.0):
    """Equilibrium angle (radians) between w_t and w_{t+1}: sqrt(2·lr·wd·(1−β1)/(1+β1)).

    Args:
        lr: the layer's learning rate η_l, finite and > 0.
        wd: the layer's weight decay λ_l (coupled: per-step decay lr·wd), finite and > 0.
        beta1: the momentum coefficient β1 in [0, 1).

    Returns:
        The angular update in radians per step (float array, inputs broadcast).

    Raises:
        MupsimError: as :func:`equilibrium_rms` (leading order only: lr·wd < 1).

    Examples:
        >>> from mupsim import steady_state
        >>> print(round(float(steady_state.angular_update(lr=1e-3, wd=0.1)), 6))
        0.014142
    """
    lr, wd = _check(lr, wd, beta1, has_exact=False)
    return _answer(lambda: _fn("angular")(1.0, lr, wd, beta1), "angular update")


def sigma_max(rms, fan_out: int, fan_in: int, alpha: float):
    """σ_max ≈ RMS·max(dims)^(1/2)·min(dims)^(α−1/2) (= RMS·n^α for n×n).

    Args:
        rms: the RMS of the matrix entries, finite and >= 0 (float or array).
        fan_out: rows, a positive integer (at most 2^40).
        fan_in: columns, a positive integer (at most 2^40).
        alpha: the alignment exponent α in [1/2, 1] (1/2 noise-like, 1 rank-one).

    Returns:
        The predicted top singular value (float array of the shape of ``rms``).

    Raises:
        MupsimError: a fan, ``alpha`` or ``rms`` out of range.

    Examples:
        >>> from mupsim import steady_state
        >>> print(round(float(steady_state.sigma_max(0.01, 256, 256, alpha=1.0)), 6))
        2.56
    """
    fans = []
    for name, f in (("fan_out", fan_out), ("fan_in", fan_in)):
        ok = isinstance(f, (int, np.integer)) and not isinstance(f, bool) and 1 <= f <= MAX_FAN
        if not ok:
            raise MupsimError(f"{name} must be an integer in 1..2^40; got {show(f)}")
        fans.append(int(f))
    try:
        a = float(alpha)
    except (TypeError, ValueError, OverflowError):
        a = float("nan")
    if isinstance(alpha, (bool, str)) or not 0.5 <= a <= 1.0:
        raise MupsimError(
            f"alpha must be a number in [1/2, 1] (1/2 noise-like, 1 rank-one); got {show(alpha)}"
        )
    hi, lo = max(fans), min(fans)
    r = _numbers(rms, "rms")
    return _answer(lambda: r * hi**0.5 * lo ** (a - 0.5), "sigma_max")

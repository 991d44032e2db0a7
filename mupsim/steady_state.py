"""Numeric steady-state predictions for a scale-invariant matrix under coupled AdamW.

Each function is the lambdified result of ``mupsim.theory.steady_state``
(one source of truth). Units: ``lr`` and ``wd`` are the per-layer values the
optimizer uses (per-step decay lr·wd); RMS over raw parameter entries; times
in optimizer steps; angles in radians per step. Inputs may be numpy arrays.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from mupsim.errors import MupsimError
from mupsim.theory import steady_state as _th


@lru_cache(maxsize=1)
def _derived():
    return _th.derive_equilibrium().results


@lru_cache(maxsize=None)
def _fn(name: str):
    expr = _derived()[name]
    syms = (_th.U, _th.eta, _th.lam, _th.beta)
    return sp.lambdify(syms, expr, "numpy")


def _check(lr, wd, beta1: float = 0.0, exact: bool = False):
    lr, wd = np.asarray(lr, float), np.asarray(wd, float)
    if not (np.all(np.isfinite(lr)) and np.all(np.isfinite(wd))) or np.any(lr <= 0) or np.any(wd <= 0):
        raise MupsimError("steady state needs finite lr > 0 and wd > 0")
    if not (0.0 <= float(beta1) < 1.0):
        raise MupsimError(f"beta1 must lie in [0, 1), got {beta1!r}")
    if exact and np.any(lr * wd >= 2):
        raise MupsimError("the exact fixed point needs lr·wd < 2 (the decay alone overshoots past zero)")
    return lr, wd


def equilibrium_rms(update_rms, lr, wd, beta1: float = 0.0, exact: bool = False):
    """RMS(w) at equilibrium: RMS(u)·sqrt(lr/(2·wd)) for uncorrelated steps (beta1=0).

    ``update_rms`` is the RMS of the update direction u (per unit lr).
    With beta1 > 0 the momentum EMA's lagged correlations are included, assuming
    per-step gradients orthogonal to w and i.i.d. in time: × sqrt((1+β1)/(1−β1)).
    ``exact`` keeps the O(lr·wd) terms: 2 → 2 − lr·wd and, with momentum, the
    coupling ρβ1 (ρ = 1 − lr·wd): × sqrt((1+ρβ1)/(1−ρβ1)).
    """
    lr, wd = _check(lr, wd, beta1, exact)
    u = np.asarray(update_rms, float)
    if exact:
        return np.sqrt(_fn("ms_exact_momentum")(u, lr, wd, beta1))
    return _fn("rms")(u, lr, wd, beta1) * np.sqrt(_fn("momentum_factor")(u, lr, wd, beta1))


def relaxation_time(lr, wd, exact: bool = False):
    """e-folding time (steps) of the mean square's approach to equilibrium: ≈ 1/(2·lr·wd)."""
    lr, wd = _check(lr, wd, 0.0, exact)
    return _fn("tau_exact" if exact else "tau")(1.0, lr, wd, 0.0)


def angular_update(lr, wd, beta1: float = 0.0):
    """Equilibrium angle (radians) between w_t and w_{t+1}: sqrt(2·lr·wd·(1−β1)/(1+β1))."""
    lr, wd = _check(lr, wd, beta1)
    return _fn("angular")(1.0, lr, wd, beta1)


def sigma_max(rms, fan_out: int, fan_in: int, alpha: float):
    """σ_max ≈ RMS·max(dims)^(1/2)·min(dims)^(α−1/2) (= RMS·n^α for n×n)."""
    hi, lo = max(fan_out, fan_in), min(fan_out, fan_in)
    return np.asarray(rms, float) * hi ** 0.5 * lo ** (alpha - 0.5)

"""Has a run reached its steady state? (issue 10: measure only after it.)

Two conditions, both recorded per run and matrix:

* **long enough**: the run lasted at least ``min_relax`` relaxation times of the layer,
  τ_l = 1/(2 η_l λ_l) steps (the e-folding time of ‖W‖² under coupled AdamW,
  :func:`mupsim.steady_state.relaxation_time`), with the per-layer η_l, λ_l the run used;
* **stopped moving**: the measured quantity's mean over the last ``fraction`` of training
  differs from its mean over the ``fraction`` before by at most ``max_drift`` (relative).

Why 5 relaxation times and 5%: after 5τ the squared norm's transient is e^(−5) ≈ 0.7% of its
initial offset; a residual 5% drift at one width moves a width exponent fitted over 8× in width
by at most log(1.05)/log(8) ≈ 0.02, below the seed intervals printed in the figures.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from mupsim.errors import MupsimError

MIN_RELAX = 5.0
MAX_DRIFT = 0.05


@dataclass
class SteadyCheck:
    """Steady-state verdict for one (run, matrix, quantity)."""

    relax_time: float    # τ_l = 1/(2 η_l λ_l), steps (inf without weight decay)
    n_relax: float       # run length / τ_l
    drift: float         # |mean(last window) / mean(window before) − 1|
    ok: bool
    reason: str          # "" when ok, else why the run is excluded

    def to_dict(self) -> dict:
        return asdict(self)


def relax_time(lr: float, wd: float) -> float:
    """τ = 1/(2·lr·wd) steps for per-layer (lr, wd); +inf when either is 0 (no relaxation)."""
    if not (lr > 0 and wd > 0):
        return math.inf
    from mupsim import steady_state as ss
    return float(ss.relaxation_time(lr, wd))


def window_drift(steps, values, fraction: float = 0.25) -> float:
    """|mean over the last ``fraction`` of training / mean over the ``fraction`` before − 1|.

    Windows are in steps (t ≥ (1−f)·T and (1−2f)·T ≤ t < (1−f)·T); NaN if either window has no
    finite point or the earlier mean is 0."""
    if not 0 < fraction <= 0.5:
        raise MupsimError(f"fraction must be in (0, 0.5]; got {fraction}")
    t = np.asarray(steps, float)
    v = np.asarray(values, float)
    if t.size == 0:
        return math.nan
    T = t[-1]
    last = v[t >= (1 - fraction) * T]
    prev = v[(t >= (1 - 2 * fraction) * T) & (t < (1 - fraction) * T)]
    if last.size == 0 or prev.size == 0 or not (np.all(np.isfinite(last))
                                                 and np.all(np.isfinite(prev))):
        return math.nan
    m_prev = float(prev.mean())
    if m_prev == 0:
        return math.nan
    return abs(float(last.mean()) / m_prev - 1.0)


def steady_check(steps, values, lr: float, wd: float, *, min_relax: float = MIN_RELAX,
                 max_drift: float = MAX_DRIFT, fraction: float = 0.25) -> SteadyCheck:
    """Verdict for one logged series (``steps``, ``values``) of a layer with per-layer
    (``lr``, ``wd``); see the module docstring."""
    t = np.asarray(steps, float)
    tau = relax_time(lr, wd)
    length = float(t[-1]) if t.size else 0.0
    n = length / tau if math.isfinite(tau) else 0.0
    d = window_drift(t, values, fraction)
    reasons = []
    if not math.isfinite(tau):
        reasons.append("no weight decay on this layer: no steady state")
    elif n < min_relax:
        reasons.append(f"ran {n:.1f} relaxation times (< {min_relax:g}; τ = {tau:.0f} steps)")
    if not math.isfinite(d):
        reasons.append("measured quantity not finite in the last windows")
    elif d > max_drift:
        reasons.append(f"still moving: last-window change {d:.1%} (> {max_drift:.0%})")
    return SteadyCheck(relax_time=tau, n_relax=n, drift=d, ok=not reasons,
                       reason="; ".join(reasons))


def run_steady_check(result, metric: str, matrix: str, **kw) -> SteadyCheck:
    """:func:`steady_check` of a stored Result's per-matrix ``metric`` with its layer's settings."""
    from mupsim.analysis.runs import layer_settings, matrix_series
    ls = layer_settings(result, matrix)
    s, v = matrix_series(result, metric, matrix)
    return steady_check(s, v, ls["lr"], ls["wd"], **kw)


def horizon_mean(steps, values, horizon: float, fraction: float = 0.25, n: int = 16) -> float:
    """What a run stopped at step ``horizon`` would report as its steady state: the mean of the
    series (linearly interpolated between logged steps) over [(1 − fraction)·horizon, horizon].
    NaN if the run is shorter than ``horizon`` or the series is not finite there."""
    t = np.asarray(steps, float)
    v = np.asarray(values, float)
    if t.size < 2 or not (0 < horizon <= t[-1] * (1 + 1e-9)):
        return math.nan
    q = np.linspace((1 - fraction) * horizon, min(horizon, t[-1]), n)
    ok = np.isfinite(v)
    if ok.sum() < 2:
        return math.nan
    return float(np.interp(q, t[ok], v[ok]).mean())

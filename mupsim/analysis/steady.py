"""Has a run reached its steady state? One rule, used by every figure that reads a steady state.

A record (one run, one matrix) is accepted when, for every quantity the figure fits from it,
both conditions hold (both are recorded per run and matrix, with the reason when refused):

* **long enough**: the run lasted at least ``min_relax`` relaxation times of the layer,
  τ_l = 1/(2 η_l λ_l) steps (the e-folding time of ‖W‖² under coupled AdamW,
  :func:`mupsim.steady_state.relaxation_time`), with the per-layer η_l, λ_l the run used;
* **stopped moving**: a straight line fitted to log(quantity) against the step over the last
  half of training changes by at most a factor 1/(1 − ``max_drift``) across that half, up or
  down: |Δ log| ≤ −log(1 − max_drift), so a fall of 15% and a rise of 17.6% (= 1/0.85 − 1) sit
  on the same boundary (falls are what steady runs mostly show: see below). The threshold is the only criterion: a fitted change whose standard error is
  large (few or noisy logged points) is not thereby excused — such a run has not shown that it
  settled. The standard error is recorded next to the drift for the reader.

Refused records keep their values in the figure's rows (``status = "not_steady"`` with the
reason); fits and headlines use only accepted records and say how many were refused and why.

Why 5 relaxation times: after 5τ the squared norm's transient is e^(−5) ≈ 0.7% of its initial
offset. Why 15%: measured (F3, F9 on the 16-core box), σ_max and the stable rank of almost
every run still move by 5–12% between 5τ and 10τ — the learned structure evolves on a slower
timescale than the norm's relaxation — so a 5% threshold refuses nearly every run; the per-run
check refuses gross drifts, and what matters for a width exponent is whether the *exponent*
has settled: the figures also fit it to what the runs showed at half their length
(:func:`horizon_mean`) and report the difference.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from mupsim.errors import MupsimError, real

MIN_RELAX = 5.0
MAX_DRIFT = 0.15


@dataclass
class SteadyCheck:
    """Steady-state verdict for one (run, matrix, quantity)."""

    relax_time: float  # τ_l = 1/(2 η_l λ_l), steps (inf without weight decay)
    n_relax: float  # run length / τ_l
    drift: float  # relative change over the last half of training (fitted line)
    drift_se: float  # its standard error from the scatter about the line
    ok: bool
    reason: str  # "" when ok, else why the run is excluded
    causes: tuple = ()  # short codes of the reasons: CAUSES keys

    def to_dict(self) -> dict:
        d = asdict(self)
        d["causes"] = list(self.causes)
        return d


CAUSES = {
    "no_decay": "no weight decay",
    "short": "ran < {min_relax:g}τ",
    "few_points": "too few logged points",
    "moving": "still moving",
}
"""Refusal causes of :func:`steady_check`: code → short phrase for headlines."""


def drift_within(drift: float, max_drift: float | None = None) -> bool:
    """Is a relative change ``drift`` over the last half within the symmetric tolerance
    |log(1 + drift)| ≤ −log(1 − max_drift)? False for a non-finite drift."""
    m = MAX_DRIFT if max_drift is None else max_drift
    return bool(
        math.isfinite(drift) and drift > -1 and abs(math.log1p(drift)) <= -math.log1p(-m) * (1 + 1e-12)
    )


def relax_time(lr: float, wd: float) -> float:
    """τ = 1/(2·lr·wd) steps for per-layer (lr, wd); +inf when either is 0 (no relaxation)."""
    lr, wd = real(lr, "lr"), real(wd, "wd")
    if not (math.isfinite(lr) and math.isfinite(wd) and lr >= 0 and wd >= 0):
        raise MupsimError(f"lr and wd must be finite and >= 0; got lr={lr!r}, wd={wd!r}")
    if lr == 0 or wd == 0:
        return math.inf
    from mupsim import steady_state as ss

    return float(ss.relaxation_time(lr, wd))


def half_drift(steps, values, min_points: int = 3) -> tuple[float, float]:
    """(change, standard error) of log(values) across the last half of training from a
    least-squares line over the logged points with t ≥ T/2, as a relative change
    exp(slope·T/2) − 1; (nan, nan) with fewer than ``min_points`` finite positive points."""
    from mupsim.analysis.runs import _series

    t, v = _series(steps, values)
    if t.size == 0:
        return math.nan, math.nan
    sel = (t >= 0.5 * t[-1]) & np.isfinite(v) & (v > 0)
    if sel.sum() < min_points:
        return math.nan, math.nan
    x, y = t[sel], np.log(v[sel])
    xc = x - x.mean()
    sxx = float((xc * xc).sum())
    if sxx == 0:
        return math.nan, math.nan
    slope = float((xc * (y - y.mean())).sum() / sxx)
    resid = y - y.mean() - slope * xc
    dof = max(x.size - 2, 1)
    se = math.sqrt(float((resid**2).sum()) / dof / sxx)
    half = 0.5 * float(t[-1])
    return math.expm1(slope * half), se * half


def steady_check(
    steps,
    values,
    lr: float,
    wd: float,
    *,
    min_relax: float = MIN_RELAX,
    max_drift: float = MAX_DRIFT,
    horizon: float | None = None,
) -> SteadyCheck:
    """Verdict for one logged series (``steps``, ``values``) of a layer with per-layer
    (``lr``, ``wd``); see the module docstring. With ``horizon`` (steps), judge the run as if it
    had stopped there: only the logged points with step ≤ horizon count."""
    from mupsim.analysis.runs import _series

    t, v = _series(steps, values)
    if horizon is not None:
        keep = t <= real(horizon, "horizon") * (1 + 1e-9)
        t, v = t[keep], v[keep]
    tau = relax_time(lr, wd)
    length = float(t[-1]) if t.size else 0.0
    n = length / tau if math.isfinite(tau) else 0.0
    d, se = half_drift(t, v)
    reasons, causes = [], []
    if not math.isfinite(tau):
        reasons.append("no weight decay on this layer: no steady state")
        causes.append("no_decay")
    elif n < min_relax:
        reasons.append(f"ran {n:.1f} relaxation times (< {min_relax:g}; τ = {tau:.0f} steps)")
        causes.append("short")
    if not math.isfinite(d):
        reasons.append("too few finite logged points in the last half")
        causes.append("few_points")
    elif not drift_within(d, max_drift):
        reasons.append(
            f"still moving: {d:+.1%} over the last half (tolerance: a factor "
            f"{1 / (1 - max_drift):.3g} up or down; 2 s.e. = {2 * se:.1%})"
        )
        causes.append("moving")
    return SteadyCheck(
        relax_time=tau,
        n_relax=n,
        drift=d,
        drift_se=se,
        ok=not reasons,
        reason="; ".join(reasons),
        causes=tuple(causes),
    )


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
    from mupsim.analysis.runs import _series

    t, v = _series(steps, values)
    horizon, fraction = real(horizon, "horizon"), real(fraction, "fraction")
    if not 0 < fraction <= 1:
        raise MupsimError(f"fraction must be in (0, 1]; got {fraction!r}")
    if t.size < 2 or not (0 < horizon <= t[-1] * (1 + 1e-9)):
        return math.nan
    q = np.linspace((1 - fraction) * horizon, min(horizon, t[-1]), n)
    ok = np.isfinite(v)
    if ok.sum() < 2:
        return math.nan
    return float(np.interp(q, t[ok], v[ok]).mean())

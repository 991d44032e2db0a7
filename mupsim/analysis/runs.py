"""Bookkeeping on Result objects: diverged runs, steady-state means, relaxation times.

A Result (mupsim.sim.result.Result) carries ``config`` (dict),
``provenance`` (dict, with ``settings`` = the calculator's per-layer Settings.to_dict()),
``status``, ``steps`` [T], ``train_loss``/``test_loss`` [T], ``matrix_names`` [M],
``matrix[metric]`` [M, T], ``activation_names``, ``activation_rms`` [A, T] and ``spectra``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

from mupsim.errors import MupsimError, float_array, real

LAYER_CLASSES = ("embedding", "hidden", "readout", "bias", "norm_gain")


# ---------------------------------------------------------------------------- divergence
def is_diverged(result) -> bool:
    """True if the run diverged: status is not "ok" or its last logged train loss is not finite."""
    if getattr(result, "status", "ok") != "ok":
        return True
    loss = np.asarray(result.train_loss, dtype=float)
    return loss.size == 0 or not np.isfinite(loss[-1])


def run_record(result, **extra) -> dict:
    """One flat dict describing a run (for CSV rows): key config fields, status, extras."""
    c = result.config
    rec = {
        "key": _key(result),
        "width": c.get("width"),
        "lr": c.get("lr"),
        "wd": c.get("wd"),
        "seed": c.get("seed"),
        "optimizer": c.get("optimizer"),
        "parameterization": c.get("parameterization"),
        "wd_rule": c.get("wd_rule"),
        "status": "diverged" if is_diverged(result) else "ok",
        "diverged_step": getattr(result, "diverged_step", None),
    }
    rec.update(extra)
    return rec


def _key(result) -> str:
    try:
        from mupsim.sim.config import SimConfig

        return SimConfig.from_dict(result.config).key()
    except Exception:  # pragma: no cover - only if config is malformed
        return ""


@dataclass
class Split:
    """Runs separated into those kept for analysis and those dropped because they diverged."""

    kept: list = field(default_factory=list)
    dropped: list = field(default_factory=list)

    @property
    def n_dropped(self) -> int:
        return len(self.dropped)

    @property
    def n_total(self) -> int:
        return len(self.kept) + len(self.dropped)

    def dropped_records(self) -> list[dict]:
        return [run_record(r) for r in self.dropped]

    def summary(self) -> str:
        return f"{self.n_dropped} of {self.n_total} runs diverged and were excluded"


def split_diverged(results) -> Split:
    """Split ``results`` into kept (finished) and dropped (diverged) runs, preserving order."""
    s = Split()
    for r in results:
        (s.dropped if is_diverged(r) else s.kept).append(r)
    return s


# ---------------------------------------------------------------------------- accessors
def layer_class(matrix_name: str) -> str:
    """Layer class (calculator key) of a matrix name: embedding, readout, else hidden."""
    base = matrix_name.split(".")[-1].lower()
    if base.startswith("embed") or matrix_name.lower() == "embedding":
        return "embedding"
    if base.startswith("readout") or base.startswith("output"):
        return "readout"
    if base.startswith("bias"):
        return "bias"
    if "gain" in base:
        return "norm_gain"
    return "hidden"


def layer_settings(result, matrix_name: str) -> dict:
    """Per-layer settings (multiplier, init_std, lr, wd, eps) the run used for ``matrix_name``.

    Read from ``result.provenance["settings"]["layers"][class]``, the settings stored with the
    result; if a stored result lacks them, those of its stored config
    (:attr:`mupsim.sim.config.SimConfig.settings`, a pure function, no simulation).
    """
    cls = layer_class(matrix_name)
    settings = (getattr(result, "provenance", None) or {}).get("settings") or {}
    layers = settings.get("layers", settings) if isinstance(settings, dict) else {}
    if isinstance(layers, dict) and cls in layers and isinstance(layers[cls], dict):
        return dict(layers[cls])
    from mupsim.sim.config import SimConfig

    return SimConfig.from_dict(result.config).settings.layers[cls].to_dict()


def matrix_index(result, matrix_name: str) -> int:
    names = list(result.matrix_names)
    if matrix_name not in names:
        raise MupsimError(f"unknown matrix {matrix_name!r}; this run has: {', '.join(names)}")
    return names.index(matrix_name)


def matrix_series(result, metric: str, matrix_name: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of a per-matrix metric (rms, sigma_max, gain, update_rms, ...)."""
    if metric not in result.matrix:
        raise MupsimError(f"unknown matrix metric {metric!r}; allowed: {', '.join(sorted(result.matrix))}")
    i = matrix_index(result, matrix_name)
    return (np.asarray(result.steps), np.asarray(result.matrix[metric][i], dtype=float))


def activation_series(result, name: str) -> tuple[np.ndarray, np.ndarray]:
    names = list(result.activation_names)
    if name not in names:
        raise MupsimError(f"unknown activation {name!r}; this run has: {', '.join(names)}")
    return (np.asarray(result.steps), np.asarray(result.activation_rms[names.index(name)], float))


def hidden_matrices(result) -> list[str]:
    return [m for m in result.matrix_names if layer_class(m) == "hidden"]


# ---------------------------------------------------------------------------- steady state
def _series(steps, values) -> tuple[np.ndarray, np.ndarray]:
    """``steps`` and ``values`` as 1-d float arrays of one length (MupsimError otherwise)."""
    t, v = float_array(steps, "steps").ravel(), float_array(values, "values").ravel()
    if t.size != v.size:
        raise MupsimError(f"steps and values must have the same length; got {t.size} and {v.size}")
    return t, v


def steady_state_mean(steps, values, fraction: float = 0.25, min_points: int = 3) -> float:
    """Mean of ``values`` over logged steps in the last ``fraction`` of training.

    The window is steps >= (1 − fraction)·last step; since logging is log-spaced it is widened
    to the last ``min_points`` logged points if it holds fewer. Non-finite values give nan.
    """
    steps, v = _series(steps, values)
    if not 0 < real(fraction, "fraction") <= 1:
        raise MupsimError(f"fraction must be in (0, 1]; got {fraction}")
    if v.size == 0:
        return float("nan")
    sel = steps >= (1.0 - fraction) * steps[-1]
    if sel.sum() < min_points:
        sel = np.zeros_like(sel)
        sel[-min(min_points, v.size) :] = True
    w = v[sel]
    return float(w.mean()) if np.all(np.isfinite(w)) else float("nan")


def steady_state(result, metric: str, matrix_name: str, fraction: float = 0.25, min_points: int = 3) -> float:
    """Steady-state mean of a per-matrix metric of one run (see :func:`steady_state_mean`)."""
    s, v = matrix_series(result, metric, matrix_name)
    return steady_state_mean(s, v, fraction, min_points)


# ---------------------------------------------------------------------------- relaxation
@dataclass
class RelaxationFit:
    """Fit of y(t) = plateau + (y(t0) − plateau)·exp(−(t − t0)/tau) to a logged series.

    With ``squared=True`` (default) y = values², i.e. the squared norm whose recursion
    ‖W_{t+1}‖² ≈ (1−ηλ)²‖W_t‖² + η²‖u‖² relaxes as exp(−2ηλ t). ``ok`` is False when the
    amplitude is too small against the plateau or the fit failed; tau is then unreliable.
    """

    tau: float
    plateau: float
    amplitude: float
    r2: float
    ok: bool
    method: str
    t0: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _crossing_time(t, y, plateau, y0):
    """First time |y − plateau| falls below |y0 − plateau|/e (linear interpolation)."""
    d = np.abs(y - plateau)
    thr = abs(y0 - plateau) / math.e
    below = np.nonzero(d <= thr)[0]
    if below.size == 0:
        return float("nan")
    k = int(below[0])
    if k == 0:
        return float(t[0])
    t1, t2, d1, d2 = t[k - 1], t[k], d[k - 1], d[k]
    return float(t1 + (t2 - t1) * (d1 - thr) / (d1 - d2)) if d1 != d2 else float(t2)


def relaxation_time_fit(
    steps,
    values,
    *,
    squared: bool = True,
    t_start: float = 0.0,
    tail_fraction: float = 0.25,
    min_rel_amplitude: float = 0.1,
) -> RelaxationFit:
    """Relaxation time of a series approaching a plateau (e.g. RMS(W)(t) under AdamW).

    Fits plateau + A·exp(−(t − t0)/tau) by nonlinear least squares (scipy) on the logged
    points with t >= ``t_start``, starting from the plateau = tail mean, A = y(t0) − plateau
    and tau = the 1/e crossing time. Falls back to the crossing time (method "crossing") if the
    fit fails. ``ok`` requires |A| >= ``min_rel_amplitude``·|plateau| and a finite tau.
    """
    t, y = _series(steps, values)
    t_start = real(t_start, "t_start")
    if squared:
        y = y * y
    sel = (t >= t_start) & np.isfinite(y)
    t, y = t[sel], y[sel]
    if t.size < 4:
        return RelaxationFit(float("nan"), float("nan"), float("nan"), float("nan"), False, "too-few-points")
    t0 = float(t[0])
    tt = t - t0
    plateau0 = steady_state_mean(t, y, tail_fraction, min_points=3)
    a0 = float(y[0] - plateau0)
    tau0 = _crossing_time(tt, y, plateau0, y[0])
    if not np.isfinite(tau0) or tau0 <= 0:
        tau0 = max(tt[-1] / 3.0, 1.0)

    def model(x, p, a, tau):
        return p + a * np.exp(-x / tau)

    method = "curve_fit"
    try:
        from scipy.optimize import curve_fit

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            popt, _ = curve_fit(
                model,
                tt,
                y,
                p0=(plateau0, a0, tau0),
                bounds=([-np.inf, -np.inf, 1e-3], [np.inf, np.inf, 100.0 * max(tt[-1], 1.0)]),
                maxfev=20000,
            )
        p, a, tau = (float(v) for v in popt)
    except Exception:
        p, a, tau, method = plateau0, a0, tau0, "crossing"
    pred = model(tt, p, a, tau)
    ss_res = float(((y - pred) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    ok = bool(
        np.isfinite(tau)
        and abs(a) >= min_rel_amplitude * abs(p)
        and tau < tt[-1]
        and (not np.isfinite(r2) or r2 > 0.5)
    )
    return RelaxationFit(tau=tau, plateau=p, amplitude=a, r2=r2, ok=ok, method=method, t0=t0)

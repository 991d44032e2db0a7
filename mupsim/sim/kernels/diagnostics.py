"""Per-matrix and per-activation diagnostics (numba). Definitions (w = the raw stored
parameter, without its multiplier; RMS(a) = sqrt(mean of a²) over all entries):

* ``rms``            RMS(w)
* ``sigma_max``      top singular value of w by power iteration (warm-started from the
                     previous logged vector; 20 iterations, 100 at the first log)
* ``gain``           RMS(m·x Wᵀ) / RMS(x) on the logged batch, x = the matrix's actual input
                     (embedding: data x; W1: output of the pre-norm incl. gain; W2: activation;
                     readout: final residual stream; linear hidden l: h_l), m = its multiplier,
                     bias excluded
* with Δw = w_s − w_{s−1} the update applied by the step that produced the logged model s
  (NaN at s = 0):
  ``update_rms``     RMS(Δw) (raw change, incl. lr, schedule and weight decay)
  ``rel_update``     ‖Δw‖_F / ‖w_{s−1}‖_F
  ``angular_update`` arccos(⟨w_{s−1}, w_s⟩ / (‖w_{s−1}‖‖w_s‖)) in radians
  ``cos_w_update``   ⟨w_{s−1}, Δw⟩ / (‖w_{s−1}‖‖Δw‖)
* ``eff_lr``         lr_p·s(t=s) / RMS(w_s)²  (effective lr of a scale-invariant matrix,
                     η/‖W‖² normalised per entry; s(t) the schedule factor of the next step)
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

M_RMS, M_SIGMA, M_GAIN, M_UPD, M_REL, M_ANG, M_COS, M_EFF = range(8)
N_METRICS = 8


@njit(cache=True)
def rms(a):
    s = 0.0
    for x in a.ravel():
        s += x * x
    return math.sqrt(s / a.size)


@njit(cache=True)
def rms2(A):
    s = 0.0
    b, d = A.shape
    for i in range(b):
        for j in range(d):
            s += A[i, j] * A[i, j]
    return math.sqrt(s / (b * d))


@njit(cache=True)
def rms_minus_bias(A, bvec, mb, has_b):
    """RMS of A − mb·bvec over all entries (bias broadcast over rows; none when not has_b)."""
    s = 0.0
    b, d = A.shape
    for i in range(b):
        for j in range(d):
            x = A[i, j]
            if has_b:
                x -= mb * bvec[j]
            s += x * x
    return math.sqrt(s / (b * d))


@njit(cache=True)
def power_iteration(W, v, u, iters):
    """Top singular value of W (rows, cols); v (cols) is the warm start, updated in place;
    u (rows) is scratch. Returns ‖W v‖ for the final unit v."""
    nv = 0.0
    for j in range(v.shape[0]):
        nv += v[j] * v[j]
    nv = math.sqrt(nv)
    if nv == 0.0 or not math.isfinite(nv):
        for j in range(v.shape[0]):
            v[j] = 1.0
        nv = math.sqrt(v.shape[0])
    for j in range(v.shape[0]):
        v[j] /= nv
    s = 0.0
    for _ in range(iters):
        np.dot(W, v, u)
        np.dot(W.T, u, v)
        nv = 0.0
        for j in range(v.shape[0]):
            nv += v[j] * v[j]
        nv = math.sqrt(nv)
        if nv == 0.0 or not math.isfinite(nv):
            return nv
        for j in range(v.shape[0]):
            v[j] /= nv
    np.dot(W, v, u)
    s = 0.0
    for i in range(u.shape[0]):
        s += u[i] * u[i]
    return math.sqrt(s)


@njit(cache=True)
def update_geometry(w_prev, w):
    """(update_rms, rel_update, angular_update, cos_w_update) for the step w_prev -> w."""
    dd = 0.0
    pp = 0.0
    ww = 0.0
    pw = 0.0
    pd = 0.0
    for i in range(w.shape[0]):
        a = w_prev[i]
        c = w[i]
        d = c - a
        dd += d * d
        pp += a * a
        ww += c * c
        pw += a * c
        pd += a * d
    upd = math.sqrt(dd / w.shape[0])
    rel = math.sqrt(dd / pp) if pp > 0 else np.nan
    cw = pw / math.sqrt(pp * ww) if pp > 0 and ww > 0 else np.nan
    if cw > 1.0:
        cw = 1.0
    if cw < -1.0:
        cw = -1.0
    ang = math.acos(cw)
    cu = pd / math.sqrt(pp * dd) if pp > 0 and dd > 0 else np.nan
    return upd, rel, ang, cu

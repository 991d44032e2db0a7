"""In-place optimizer steps and the learning-rate schedule (numba).

One call updates every parameter p of the flat buffer ``theta`` with its own learning rate
``lr_p = p_lr[p]·s(t)`` (s = schedule factor) and weight decay ``p_wd[p]``. Let g be the
gradient, u the optimizer direction, and ``dec`` the per-step decay factor:

    coupled      (PyTorch convention):  dec = lr_p·wd_p
    independent  (Wortsman et al.):     dec = s(t)·wd_p     (wd not multiplied by the peak lr)

and then ``w <- w − lr_p·u − dec·w`` (w on the right is the pre-step value) for

* sgd:   buf <- μ·buf + g ; u = buf  (decay decoupled from the momentum, same formula)
* adam:  classic L2 Adam: g <- g + wd_p·w, then u = m̂/(sqrt(v̂)+ε) and no decoupled decay
* adamw: m <- β1 m + (1−β1) g ; v <- β2 v + (1−β2) g² ; u = m̂/(sqrt(v̂)+ε) (bias-corrected
         with the step count t+1)
* lion:  u = sign(β1 m + (1−β1) g) ; m <- β2 m + (1−β2) g     (signSGD = lion, β1=β2=0)
* muon:  matrices with ``muon_scale[p] > 0`` (optimizer "muon": hidden matrices only, the
         calculator's convention; "muon_all": embedding, hidden and readout):
         buf <- μ·buf + g ; u = muon_scale[p]·NS5(g + μ·buf) (Nesterov; muon_scale is 1, or
         0.2·√max(fan_in, fan_out) in the RMS-matched convention), where NS5 is 5 steps of
         the quintic Newton–Schulz iteration (a, b, c) = (3.4445, −4.7750, 2.0315) on the
         Frobenius-normalised input, whose singular values end in ≈ [0.7, 1.2]: the update's
         spectral norm is ≈ lr_p·muon_scale[p] (any √(fan_out/fan_in) factor comes from the
         calculator's lr and multiplier).
         Every other parameter uses the adamw rule with β1, β2.

``hyper`` = [μ (momentum), β1, β2, ε]. State arrays ``m``, ``v`` share theta's layout.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

OPT_SGD, OPT_ADAM, OPT_ADAMW, OPT_LION, OPT_MUON = 0, 1, 2, 3, 4
OPT_CODES = {
    "sgd": OPT_SGD,
    "adam": OPT_ADAM,
    "adamw": OPT_ADAMW,
    "lion": OPT_LION,
    "signsgd": OPT_LION,
    "muon": OPT_MUON,
    "muon_all": OPT_MUON,
}
SCHED_CONSTANT, SCHED_COSINE, SCHED_WSD = 0, 1, 2
SCHED_CODES = {"constant": SCHED_CONSTANT, "cosine": SCHED_COSINE, "wsd": SCHED_WSD}
NS_COEFFS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5


@njit(cache=True)
def schedule(t, steps, code, warmup, decay_steps):
    """LR factor at update t (0-based): linear warmup (t+1)/warmup for t < warmup, then
    constant 1; cosine 0.5(1+cos(π·(t−warmup)/(steps−warmup))); wsd: 1, then linear decay
    (steps − t)/decay_steps over the last ``decay_steps`` updates."""
    if t < warmup:
        return (t + 1.0) / warmup
    if code == SCHED_COSINE:
        span = max(steps - warmup, 1)
        prog = min((t - warmup) / span, 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * prog))
    if code == SCHED_WSD and decay_steps > 0 and t >= steps - decay_steps:
        return max(steps - t, 0) / decay_steps
    return 1.0


@njit(cache=True)
def newton_schulz(G):
    """Quintic Newton–Schulz orthogonalisation of G (returns a new float64 array of G's
    shape; computed in float64 whatever G's dtype)."""
    a, b, c = NS_COEFFS
    r, cc = G.shape
    tr = r > cc
    if tr:
        X = np.ascontiguousarray(G.T).astype(np.float64)
    else:
        X = G.astype(np.float64)
    nrm = 0.0
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            nrm += X[i, j] * X[i, j]
    X /= math.sqrt(nrm) + 1e-7
    for _ in range(NS_STEPS):
        A = np.dot(X, X.T)
        B = b * A + c * np.dot(A, A)
        X = a * X + np.dot(B, X)
    if tr:
        return np.ascontiguousarray(X.T)
    return X


@njit(cache=True, error_model="numpy")
def opt_step(
    theta, grad, m, v, off, rows, cols, muon_scale, p_lr, p_wd, sched, t, opt, hyper, independent, p_eps
):
    """Update every parameter in place (see the module docstring for the rules).

    Loops run over per-parameter slices with loop-invariant constants hoisted, and
    ``error_model="numpy"`` (no per-division zero check), so numba vectorises them; the
    formulas are mathematically unchanged (rounding differs in the last bits). A zero divisor (eps = 0) yields inf/NaN, which the training
    loop's divergence check records. ``p_eps[p]`` is Adam's ε of parameter p (``hyper[3]`` is the
    config's base ε; by default every entry of ``p_eps`` equals it).
    """
    mu, b1, b2, eps = hyper[0], hyper[1], hyper[2], hyper[3]
    bc1 = 1.0 - b1 ** (t + 1)
    bc2 = 1.0 - b2 ** (t + 1)
    ibc1 = 1.0 / bc1
    ibc2 = 1.0 / bc2
    P = off.shape[0]
    for p in range(P):
        o = off[p]
        sz = rows[p] * cols[p]
        lr = p_lr[p] * sched
        wd = p_wd[p]
        eps = p_eps[p]
        dec = sched * wd if independent else lr * wd
        keep = 1.0 - dec
        th = theta[o : o + sz]
        gr = grad[o : o + sz]
        mm = m[o : o + sz]
        vv = v[o : o + sz]
        if opt == OPT_SGD:
            for i in range(sz):
                mi = mu * mm[i] + gr[i]
                mm[i] = mi
                th[i] = keep * th[i] - lr * mi
        elif opt == OPT_ADAM:
            a = lr * ibc1
            for i in range(sz):
                w = th[i]
                g = gr[i] + wd * w
                mi = b1 * mm[i] + (1.0 - b1) * g
                vi = b2 * vv[i] + (1.0 - b2) * g * g
                mm[i] = mi
                vv[i] = vi
                th[i] = w - a * mi / (math.sqrt(vi * ibc2) + eps)
        elif opt == OPT_LION:
            for i in range(sz):
                g = gr[i]
                c = b1 * mm[i] + (1.0 - b1) * g
                u = 1.0 if c > 0.0 else (-1.0 if c < 0.0 else 0.0)
                mm[i] = b2 * mm[i] + (1.0 - b2) * g
                th[i] = keep * th[i] - lr * u
        elif opt == OPT_MUON and muon_scale[p] > 0.0:
            r = rows[p]
            cc = cols[p]
            Gf = np.empty(sz, dtype=theta.dtype)
            for i in range(sz):
                mi = mu * mm[i] + gr[i]
                mm[i] = mi
                Gf[i] = gr[i] + mu * mi
            U = np.ascontiguousarray(newton_schulz(Gf.reshape((r, cc)))).reshape(sz)
            lrs = lr * muon_scale[p]
            for i in range(sz):
                th[i] = keep * th[i] - lrs * U[i]
        else:  # adamw (also muon's non-hidden parameters)
            a = lr * ibc1
            for i in range(sz):
                g = gr[i]
                mi = b1 * mm[i] + (1.0 - b1) * g
                vi = b2 * vv[i] + (1.0 - b2) * g * g
                mm[i] = mi
                vv[i] = vi
                th[i] = keep * th[i] - a * mi / (math.sqrt(vi * ibc2) + eps)

"""The whole training loop in one compiled function (numba).

Step convention: the model after t updates is "step t" (step 0 = init). For t = 0..steps the
loop draws batch t, runs the forward pass and the loss; if the loss is non-finite or above the
divergence bound the run stops and returns t; if t is a logged step the diagnostics are
recorded (the train loss is the loss on batch t for online data, the loss on the whole fixed
train set otherwise; the held-out loss is on the whole held-out set); then, for t < steps, the
backward pass and update t are applied. Nothing is allocated inside the step loop except the
Muon orthogonalisation's temporaries, the small index arrays of the one-hot embedding lookup
and the next-token sampler's cumulative table (V floats), and, at logged steps only, the
evaluation chunks.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from mupsim.sim.kernels import diagnostics as D
from mupsim.sim.kernels.data import STREAM_ONLINE, make_batch, make_next_token_batch, sample_batch
from mupsim.sim.kernels.model import backward, forward, loss_and_grad, pview, vview, ws_size, ws_views
from mupsim.sim.kernels.optim import opt_step, schedule
from mupsim.sim.layout import (
    A_CTX,
    A_DEPTH,
    A_MODEL,
    A_N,
    A_POST,
    A_TASK,
    B_B1,
    B_B2,
    B_GPOST,
    B_W1,
    B_W2,
    MODEL_LINEAR,
    TASK_CLASSIFICATION,
    TASK_REGRESSION,
)


@njit(cache=True)
def eval_loss(theta, off, rows, cols, mult, emb, ro, blocks, arch, farch, Xall, Tall, ws, bsz):
    """Mean loss over all rows of (Xall, Tall), evaluated in chunks of at most bsz rows."""
    N = Xall.shape[0]
    tot = 0.0
    s = 0
    task_cls = arch[A_TASK] != TASK_REGRESSION  # softmax cross-entropy
    while s < N:
        e = min(s + bsz, N)
        Xc = np.ascontiguousarray(Xall[s:e])
        Y = forward(theta, off, rows, cols, mult, emb, ro, blocks, arch, farch, Xc, ws)
        dY = ws_views(ws, arch, e - s)[10]
        tot += loss_and_grad(Y, np.ascontiguousarray(Tall[s:e]), dY, task_cls, False) * (e - s)
        s = e
    return tot / N


@njit(cache=True)
def _ratio(a, b):
    """a / b, NaN when b is 0 (an input that vanished, e.g. underflow, or the all-zero output
    of a one-coordinate LayerNorm): a diagnostic, never a ZeroDivisionError."""
    return a / b if b != 0.0 else np.nan


@njit(cache=True)
def compute_gains(theta, off, rows, cols, mult, emb, ro, blocks, arch, X, ws, gains):
    """gains[p] for every matrix p (see diagnostics docstring), from the forward workspace."""
    b = X.shape[0]
    L = arch[A_DEPTH]
    H, Zh, Z, rs_pre, A1, S, A2, Oh, rs_post, Y, dY, G1, G2, G3, GS = ws_views(ws, arch, b)
    gains[emb] = _ratio(D.rms2(H[0]), D.rms2(X))
    gains[ro] = _ratio(D.rms2(Y), D.rms2(H[L]))
    if arch[A_MODEL] == MODEL_LINEAR:
        for l in range(L):
            gains[blocks[l, B_W1]] = _ratio(D.rms2(H[l + 1]), D.rms2(H[l]))
        return
    for l in range(L):
        p1 = blocks[l, B_W1]
        p2 = blocks[l, B_W2]
        pb = blocks[l, B_B1]
        hb = pb >= 0
        bv = vview(theta, off, rows, cols, pb if hb else p1)
        gains[p1] = _ratio(D.rms_minus_bias(A1[l], bv, mult[pb] if hb else 0.0, hb), D.rms2(Z[l]))
        pb = blocks[l, B_B2]
        hb = pb >= 0
        bv = vview(theta, off, rows, cols, pb if hb else p2)
        gains[p2] = _ratio(D.rms_minus_bias(A2[l], bv, mult[pb] if hb else 0.0, hb), D.rms2(S[l]))


@njit(cache=True)
def activation_rms(theta, off, rows, cols, mult, blocks, arch, b, ws, out, col):
    """RMS of every activation site (order of layout.activation_names) into out[:, col]."""
    L = arch[A_DEPTH]
    H, Zh, Z, rs_pre, A1, S, A2, Oh, rs_post, Y, dY, G1, G2, G3, GS = ws_views(ws, arch, b)
    out[0, col] = D.rms2(H[0])
    if arch[A_MODEL] == MODEL_LINEAR:
        for l in range(L):
            out[1 + l, col] = D.rms2(H[l + 1])
        out[1 + L, col] = D.rms2(Y)
        return
    n = arch[A_N]
    for l in range(L):
        i0 = 1 + 6 * l
        out[i0, col] = D.rms2(Z[l])
        out[i0 + 1, col] = D.rms2(A1[l])
        out[i0 + 2, col] = D.rms2(S[l])
        out[i0 + 3, col] = D.rms2(A2[l])
        if arch[A_POST]:
            pg = blocks[l, B_GPOST]
            if pg >= 0:
                g = vview(theta, off, rows, cols, pg)
                s = 0.0
                for i in range(b):
                    for j in range(n):
                        x = Oh[l, i, j] * mult[pg] * g[j]
                        s += x * x
                out[i0 + 4, col] = math.sqrt(s / (b * n))
            else:
                out[i0 + 4, col] = D.rms2(Oh[l])
        else:
            out[i0 + 4, col] = D.rms2(A2[l])
        out[i0 + 5, col] = D.rms2(H[l + 1])
    out[1 + 6 * L, col] = D.rms2(Y)


@njit(cache=True)
def train(
    theta,
    off,
    rows,
    cols,
    muon_scale,
    mult,
    emb,
    ro,
    blocks,
    arch,
    farch,
    mats,
    p_lr,
    p_wd,
    opt,
    hyper,
    independent,
    sched_code,
    warmup,
    decay_steps,
    steps,
    seed,
    bsz,
    A1t,
    A2t,
    xscale,
    cdf,
    noise,
    logit_scale,
    Xtr,
    Ttr,
    Xte,
    Tte,
    log_steps,
    div_bound,
    pvec,
    out_loss,
    out_mat,
    out_act,
    p_eps,
    rank_metrics,
):
    """Train in place (theta is updated). Returns the step of divergence, or -1.

    Xtr/Ttr with 0 rows = online data (fresh batch per step from the teacher A1t, A2t, with
    input scale ``xscale`` and token table ``cdf``, see data.make_batch; for the next-token
    task, ``arch[A_CTX]`` = c > 0, data.make_next_token_batch with β = ``logit_scale``);
    Xte with 0 rows = no held-out set. out_loss (2, T), out_mat (D.N_METRICS, M, T), out_act (A, T)
    must be NaN-filled by the caller; pvec holds the power-iteration vectors of the matrices
    concatenated (their cols), random start. rank_metrics False: the spectrum-based metrics
    (D.M_SRANK, D.M_ERANK, D.M_SV..) are not computed and stay NaN; nothing else changes.
    """
    k = Xte.shape[1]
    out = Tte.shape[1]
    has_train = Xtr.shape[0] > 0
    has_test = Xte.shape[0] > 0
    task_cls = arch[A_TASK] != TASK_REGRESSION  # softmax cross-entropy loss
    argmax_cls = arch[A_TASK] == TASK_CLASSIFICATION  # targets: one-hot argmax of the teacher
    ctx = arch[A_CTX]
    P = off.shape[0]
    M = mats.shape[0]
    T = log_steps.shape[0]
    dt = theta.dtype
    grad = np.zeros_like(theta)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    ws = np.zeros(ws_size(arch, bsz), dtype=dt)
    ws_eval = np.zeros(ws_size(arch, bsz), dtype=dt)
    Xb = np.zeros((bsz, k), dtype=dt)
    Tb = np.zeros((bsz, out), dtype=dt)
    hid = np.zeros((bsz, A1t.shape[0]), dtype=dt)
    perm = np.arange(Xtr.shape[0])
    # saved copies of the matrices before a logged update, and power-iteration offsets
    prev_off = np.zeros(M + 1, np.int64)
    pv_off = np.zeros(M + 1, np.int64)
    maxr = 1
    for mi in range(M):
        p = mats[mi]
        prev_off[mi + 1] = prev_off[mi] + rows[p] * cols[p]
        pv_off[mi + 1] = pv_off[mi] + cols[p]
        maxr = max(maxr, rows[p])
    prev = np.zeros(prev_off[M], dtype=dt)
    u_scr = np.zeros(maxr, dtype=dt)
    gains = np.zeros(P)
    li = 0
    for t in range(steps + 1):
        if has_train:
            sample_batch(perm, Xtr, Ttr, Xb, Tb, seed, t)
        elif ctx > 0:
            make_next_token_batch(Xb, Tb, hid, A1t, A2t, cdf, ctx, logit_scale, seed, STREAM_ONLINE, t)
        else:
            make_batch(Xb, Tb, hid, A1t, A2t, xscale, cdf, argmax_cls, noise, seed, STREAM_ONLINE, t)
        Y = forward(theta, off, rows, cols, mult, emb, ro, blocks, arch, farch, Xb, ws)
        dY = ws_views(ws, arch, bsz)[10]
        loss = loss_and_grad(Y, Tb, dY, task_cls, t < steps)
        if not (math.isfinite(loss) and loss <= div_bound):
            return t
        sch = schedule(t, steps, sched_code, warmup, decay_steps)
        if li < T and log_steps[li] == t:
            if has_train:
                out_loss[0, li] = eval_loss(
                    theta, off, rows, cols, mult, emb, ro, blocks, arch, farch, Xtr, Ttr, ws_eval, bsz
                )
            else:
                out_loss[0, li] = loss
            if has_test:
                out_loss[1, li] = eval_loss(
                    theta, off, rows, cols, mult, emb, ro, blocks, arch, farch, Xte, Tte, ws_eval, bsz
                )
            compute_gains(theta, off, rows, cols, mult, emb, ro, blocks, arch, Xb, ws, gains)
            activation_rms(theta, off, rows, cols, mult, blocks, arch, bsz, ws, out_act, li)
            for mi in range(M):
                p = mats[mi]
                w = vview(theta, off, rows, cols, p)
                r = D.rms(w)
                out_mat[D.M_RMS, mi, li] = r
                out_mat[D.M_SIGMA, mi, li] = D.power_iteration(
                    pview(theta, off, rows, cols, p),
                    pvec[pv_off[mi] : pv_off[mi + 1]],
                    u_scr[: rows[p]],
                    100 if li == 0 else 20,
                )
                out_mat[D.M_GAIN, mi, li] = gains[p]
                out_mat[D.M_EFF, mi, li] = _ratio(p_lr[p] * sch, r * r)
                if rank_metrics:
                    sv = D.singular_values(pview(theta, off, rows, cols, p))
                    out_mat[D.M_SRANK, mi, li], out_mat[D.M_ERANK, mi, li] = D.rank_stats(sv)
                    for q in range(min(D.N_TOP_SV, sv.shape[0])):
                        out_mat[D.M_SV + q, mi, li] = sv[q]
                if t > 0:
                    upd, rel, ang, cu = D.update_geometry(prev[prev_off[mi] : prev_off[mi + 1]], w)
                    out_mat[D.M_UPD, mi, li] = upd
                    out_mat[D.M_REL, mi, li] = rel
                    out_mat[D.M_ANG, mi, li] = ang
                    out_mat[D.M_COS, mi, li] = cu
            li += 1
        if t == steps:
            break
        backward(theta, grad, off, rows, cols, mult, emb, ro, blocks, arch, farch, Xb, ws)
        if li < T and log_steps[li] == t + 1:
            for mi in range(M):
                prev[prev_off[mi] : prev_off[mi + 1]] = vview(theta, off, rows, cols, mats[mi])
        opt_step(
            theta, grad, m, v, off, rows, cols, muon_scale, p_lr, p_wd, sch, t, opt, hyper, independent, p_eps
        )
    return -1

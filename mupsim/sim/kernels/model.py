"""Forward and manual backward of the two simulated networks (numba).

Parameters are in a flat buffer ``theta`` (see :mod:`mupsim.sim.layout`); ``mult[p]`` is
parameter p's multiplier (effective weight = mult[p]·w). Activations are rows (batch, dim).

Normalized network, one residual block (β = branch multiplier):

    z   = Norm_pre(h)·(m_g·g_pre)      (z = h if no pre-norm; gain only if norm_gain)
    a1  = m_hid·z W1ᵀ + m_b·b1
    s   = act(a1)                       (relu or exact gelu x·Φ(x))
    a2  = m_hid·s W2ᵀ + m_b·b2
    o   = Norm_post(a2)·(m_g·g_post)    (o = a2 if no post-norm)
    h  <- h + β·o

with h0 = m_emb·x Eᵀ and y = m_out·h_L Rᵀ. RMSNorm: x/sqrt(mean(x²)+ε); LayerNorm:
(x−mean)/sqrt(var+ε) (no gain unless norm_gain). Deep linear net: h0 = m_emb·x Eᵀ,
h_{l+1} = m_hid·h_l W_lᵀ, y = m_out·h_L Rᵀ.

Loss: "regression" MSE = mean over batch and outputs of (y − t)²; "classification" and
"next_token" softmax cross-entropy averaged over the batch, targets one-hot rows.

One-hot inputs (``arch[A_LOOKUP]``, the next-token task): h0 = m_emb·x Eᵀ is computed as the sum of
the columns of E at x's nonzeros (:func:`onehot_embed`) and dE = m_emb·dh0ᵀ x as a scatter
of the rows of dh0 into those columns (:func:`onehot_embed_grad`), instead of dense products
over all k columns; see :func:`onehot_embed` for the measured gain and the rounding.

Workspace: one flat buffer ``ws`` (same dtype as theta) of ``ws_size(arch, bmax)``; the views
are carved per call for the actual batch size b <= bmax, so nothing is allocated per step.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from mupsim.sim.layout import (
    A_ACT,
    A_DEPTH,
    A_LOOKUP,
    A_MODEL,
    A_N,
    A_NORM,
    A_OUT,
    A_POST,
    A_PRE,
    A_R,
    A_TASK,
    ACT_GELU,
    B_B1,
    B_B2,
    B_GPOST,
    B_GPRE,
    B_W1,
    B_W2,
    MODEL_LINEAR,
    NORM_LAYER,
    TASK_REGRESSION,
)

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)


@njit(cache=True)
def ws_size(arch, b):
    n, out, L, r = arch[A_N], arch[A_OUT], arch[A_DEPTH], arch[A_R]
    rn = r * n
    return (
        (L + 1) * b * n
        + 2 * L * b * n
        + 2 * L * b
        + 2 * L * b * rn
        + 2 * L * b * n
        + 2 * b * out
        + 3 * b * n
        + 2 * b * rn
    )


@njit(cache=True)
def ws_views(ws, arch, b):
    """(H, Zh, Z, rs_pre, A1, S, A2, Oh, rs_post, Y, dY, G1, G2, G3, GS) views of ``ws``."""
    n, out, L, r = arch[A_N], arch[A_OUT], arch[A_DEPTH], arch[A_R]
    rn = r * n
    o = 0
    H = ws[o : o + (L + 1) * b * n].reshape((L + 1, b, n))
    o += (L + 1) * b * n
    Zh = ws[o : o + L * b * n].reshape((L, b, n))
    o += L * b * n
    Z = ws[o : o + L * b * n].reshape((L, b, n))
    o += L * b * n
    rs_pre = ws[o : o + L * b].reshape((L, b))
    o += L * b
    A1 = ws[o : o + L * b * rn].reshape((L, b, rn))
    o += L * b * rn
    S = ws[o : o + L * b * rn].reshape((L, b, rn))
    o += L * b * rn
    A2 = ws[o : o + L * b * n].reshape((L, b, n))
    o += L * b * n
    Oh = ws[o : o + L * b * n].reshape((L, b, n))
    o += L * b * n
    rs_post = ws[o : o + L * b].reshape((L, b))
    o += L * b
    Y = ws[o : o + b * out].reshape((b, out))
    o += b * out
    dY = ws[o : o + b * out].reshape((b, out))
    o += b * out
    G1 = ws[o : o + b * n].reshape((b, n))
    o += b * n
    G2 = ws[o : o + b * n].reshape((b, n))
    o += b * n
    G3 = ws[o : o + b * n].reshape((b, n))
    o += b * n
    GS = ws[o : o + b * rn].reshape((b, rn))
    return H, Zh, Z, rs_pre, A1, S, A2, Oh, rs_post, Y, dY, G1, G2, G3, GS


@njit(cache=True)
def pview(theta, off, rows, cols, p):
    o = off[p]
    return theta[o : o + rows[p] * cols[p]].reshape((rows[p], cols[p]))


@njit(cache=True)
def vview(theta, off, rows, cols, p):
    o = off[p]
    return theta[o : o + rows[p] * cols[p]]


# ----------------------------------------------------------------------------- pieces
@njit(cache=True)
def _scale_bias(A, m, bvec, mb, has_b):
    """A <- m·A (+ mb·bvec broadcast over rows)."""
    b, d = A.shape
    for i in range(b):
        for j in range(d):
            v = A[i, j] * m
            if has_b:
                v += mb * bvec[j]
            A[i, j] = v


@njit(cache=True)
def _scale(A, m):
    b, d = A.shape
    for i in range(b):
        for j in range(d):
            A[i, j] = A[i, j] * m


@njit(cache=True)
def norm_fwd(X, Xh, rs, layer, eps):
    """Xh = normalized rows of X, rs = 1/sqrt(mean(x²)+eps) (RMS) or 1/sqrt(var+eps) (layer)."""
    b, d = X.shape
    for i in range(b):
        mu = 0.0
        if layer:
            for j in range(d):
                mu += X[i, j]
            mu /= d
        ss = 0.0
        for j in range(d):
            c = X[i, j] - mu
            ss += c * c
        r = 1.0 / math.sqrt(ss / d + eps)
        rs[i] = r
        for j in range(d):
            Xh[i, j] = (X[i, j] - mu) * r


@njit(cache=True)
def norm_bwd(dXh, Xh, rs, dX, layer):
    """dX = (dXh − [mean dXh] − Xh·mean(dXh·Xh))·rs  (bracket only for LayerNorm)."""
    b, d = Xh.shape
    for i in range(b):
        m1 = 0.0
        m2 = 0.0
        for j in range(d):
            m1 += dXh[i, j]
            m2 += dXh[i, j] * Xh[i, j]
        m1 /= d
        m2 /= d
        if not layer:
            m1 = 0.0
        r = rs[i]
        for j in range(d):
            dX[i, j] = (dXh[i, j] - m1 - Xh[i, j] * m2) * r


@njit(cache=True)
def _gain_apply(Xh, g, mg, Out):
    b, d = Xh.shape
    for i in range(b):
        for j in range(d):
            Out[i, j] = Xh[i, j] * (mg * g[j])


@njit(cache=True)
def _gain_bwd(dOut, Xh, g, mg, dg):
    """dg = mg·Σ_b dOut·Xh ; dOut <- dOut·(mg·g) in place (becomes d Xh)."""
    b, d = Xh.shape
    for j in range(d):
        dg[j] = 0.0
    for i in range(b):
        for j in range(d):
            dg[j] += dOut[i, j] * Xh[i, j]
            dOut[i, j] = dOut[i, j] * (mg * g[j])
    for j in range(d):
        dg[j] = dg[j] * mg


@njit(cache=True)
def _bias_grad(dA, mb, db):
    b, d = dA.shape
    for j in range(d):
        db[j] = 0.0
    for i in range(b):
        for j in range(d):
            db[j] += dA[i, j]
    for j in range(d):
        db[j] = db[j] * mb


@njit(cache=True)
def _act_fwd(A, S, gelu):
    b, d = A.shape
    for i in range(b):
        for j in range(d):
            x = A[i, j]
            if gelu:
                S[i, j] = 0.5 * x * (1.0 + math.erf(x * _INV_SQRT2))
            else:
                S[i, j] = x if x > 0.0 else 0.0


@njit(cache=True)
def _act_bwd(A, dS, gelu):
    """dS <- dS·act'(A) in place."""
    b, d = A.shape
    for i in range(b):
        for j in range(d):
            x = A[i, j]
            if gelu:
                dS[i, j] = dS[i, j] * (
                    0.5 * (1.0 + math.erf(x * _INV_SQRT2)) + x * _INV_SQRT2PI * math.exp(-0.5 * x * x)
                )
            elif x <= 0.0:
                dS[i, j] = 0.0


@njit(cache=True)
def loss_and_grad(Y, T, dY, task_cls, want_grad):
    """Loss (float64) of outputs Y vs targets T; writes dL/dY into dY if want_grad."""
    b, out = Y.shape
    tot = 0.0
    if task_cls:
        for i in range(b):
            mx = Y[i, 0]
            for j in range(1, out):
                if Y[i, j] > mx:
                    mx = Y[i, j]
            se = 0.0
            for j in range(out):
                se += math.exp(Y[i, j] - mx)
            lse = mx + math.log(se)
            for j in range(out):
                tot += T[i, j] * (lse - Y[i, j])
                if want_grad:
                    dY[i, j] = (math.exp(Y[i, j] - lse) - T[i, j]) / b
        return tot / b
    for i in range(b):
        for j in range(out):
            e = Y[i, j] - T[i, j]
            tot += e * e
            if want_grad:
                dY[i, j] = 2.0 * e / (b * out)
    return tot / (b * out)


@njit(cache=True)
def nonzeros(X):
    """(start, col, val) of the nonzeros of X (b × k), row by row in increasing column:
    row i's are col[start[i]:start[i+1]] with values val[...] (a vectorised count of each
    row, then a scan of the row up to its last nonzero)."""
    b, k = X.shape
    start = np.zeros(b + 1, np.int64)
    for i in range(b):
        c = 0
        for j in range(k):
            c += X[i, j] != 0.0
        start[i + 1] = start[i] + c
    col = np.empty(start[b], np.int64)
    val = np.empty(start[b], X.dtype)
    for i in range(b):
        q = start[i]
        j = 0
        while q < start[i + 1]:
            x = X[i, j]
            if x != 0.0:
                col[q] = j
                val[q] = x
                q += 1
            j += 1
    return start, col, val


@njit(cache=True)
def onehot_embed(X, E, H):
    """H = X Eᵀ (b × n) for sparse rows X (b × k), E (n × k): H[i] = Σ_j X[i, j]·E[:, j] over
    the nonzeros j of row i, in increasing j.

    Rounding against the dense product: with at most two nonzeros per row (next-token
    contexts of c = 2) the sum is order-independent and the dense product adds only
    exact zeros, so H is bit-identical. With c > 2 one-hots the c terms are summed in a fixed
    order a BLAS kernel need not use: an entry can differ by the rounding of a c-term sum,
    at most (c−1)·2^-53 relative to the sum of the |terms| in float64 ((c−1)·2^-24 in float32).

    Cost of a whole training step, dense product against this lookup (and
    :func:`onehot_embed_grad`), measured 2026-12-02 with ``python -m benchmarks.next_token
    --steps --K 20 --repeats 5`` (benchmarks/NEXT_TOKEN.json, section ``step_ms``): V = 4,096,
    c = 2 (8,192 input columns), batch 128, float32, depth 1, AdamW, one thread of the 2-core
    x86-64 development machine, median process CPU time per step while the machine ran other
    jobs (load average 6–7):

    * width 256: dense 39.3 ms, lookup 33.3 ms (1.18×);
    * width 512: dense 73.8 ms, lookup 52.3 ms (1.41×)

    (the section ``lookup_step_ms``, measured minutes later: 31.2 and 55.4 ms). What remains
    is mostly the readout's products (V × n) and the V-wide softmax of the loss and the
    sampler, plus AdamW over all of E.
    """
    start, col, val = nonzeros(X)
    b = X.shape[0]
    n = H.shape[1]
    for i in range(b):
        for r in range(n):
            H[i, r] = 0.0
        for q in range(start[i], start[i + 1]):
            j = col[q]
            x = val[q]
            for r in range(n):
                H[i, r] += x * E[r, j]


@njit(cache=True)
def onehot_embed_grad(G, X, gE, m):
    """gE = m·(Gᵀ X) (n × k) for sparse rows X (b × k) and G (b × n): gE is zeroed, then for
    each row i in order and each nonzero X[i, j], gE[:, j] += G[i]·X[i, j]; the touched
    columns are multiplied by m last (as the dense path scales its product). A column shared
    by several rows (a repeated token) sums them in row order. A dense product accumulating
    over the batch in order gives the same bits; OpenBLAS does up to its block length over
    the batch (measured here, float32 and float64: identical whole runs at batch ≤ 384,
    2e-16 (float64) apart at 512, where it adds per-block partial sums)."""
    start, col, val = nonzeros(X)
    b, k = X.shape
    n = G.shape[1]
    gE[:, :] = 0.0
    for i in range(b):
        for q in range(start[i], start[i + 1]):
            j = col[q]
            x = val[q]
            for r in range(n):
                gE[r, j] += G[i, r] * x
    done = np.zeros(k, np.bool_)
    for q in range(col.shape[0]):
        j = col[q]
        if not done[j]:
            done[j] = True
            for r in range(n):
                gE[r, j] = gE[r, j] * m


# ----------------------------------------------------------------------------- networks
@njit(cache=True)
def forward(theta, off, rows, cols, mult, emb, ro, blocks, arch, farch, X, ws):
    """Forward pass on batch X (b, k); fills the workspace views; returns Y view (b, out)."""
    b = X.shape[0]
    L = arch[A_DEPTH]
    H, Zh, Z, rs_pre, A1, S, A2, Oh, rs_post, Y, dY, G1, G2, G3, GS = ws_views(ws, arch, b)
    E = pview(theta, off, rows, cols, emb)
    if arch[A_LOOKUP]:
        onehot_embed(X, E, H[0])
    else:
        np.dot(X, E.T, H[0])
    _scale(H[0], mult[emb])
    if arch[A_MODEL] == MODEL_LINEAR:
        for l in range(L):
            p = blocks[l, B_W1]
            np.dot(H[l], pview(theta, off, rows, cols, p).T, H[l + 1])
            _scale(H[l + 1], mult[p])
    else:
        beta = farch[0]
        eps = farch[1]
        layer = arch[A_NORM] == NORM_LAYER
        gelu = arch[A_ACT] == ACT_GELU
        n = arch[A_N]
        for l in range(L):
            h = H[l]
            hn = H[l + 1]
            pW1 = blocks[l, B_W1]
            pW2 = blocks[l, B_W2]
            if arch[A_PRE]:
                norm_fwd(h, Zh[l], rs_pre[l], layer, eps)
                pg = blocks[l, B_GPRE]
                if pg >= 0:
                    _gain_apply(Zh[l], vview(theta, off, rows, cols, pg), mult[pg], Z[l])
                else:
                    Z[l][:, :] = Zh[l]
            else:
                Z[l][:, :] = h
            np.dot(Z[l], pview(theta, off, rows, cols, pW1).T, A1[l])
            pb = blocks[l, B_B1]
            if pb >= 0:
                _scale_bias(A1[l], mult[pW1], vview(theta, off, rows, cols, pb), mult[pb], True)
            else:
                _scale(A1[l], mult[pW1])
            _act_fwd(A1[l], S[l], gelu)
            np.dot(S[l], pview(theta, off, rows, cols, pW2).T, A2[l])
            pb = blocks[l, B_B2]
            if pb >= 0:
                _scale_bias(A2[l], mult[pW2], vview(theta, off, rows, cols, pb), mult[pb], True)
            else:
                _scale(A2[l], mult[pW2])
            if arch[A_POST]:
                norm_fwd(A2[l], Oh[l], rs_post[l], layer, eps)
                pg = blocks[l, B_GPOST]
                if pg >= 0:
                    g = vview(theta, off, rows, cols, pg)
                    mg = mult[pg]
                    for i in range(b):
                        for j in range(n):
                            hn[i, j] = h[i, j] + beta * (Oh[l, i, j] * (mg * g[j]))
                else:
                    for i in range(b):
                        for j in range(n):
                            hn[i, j] = h[i, j] + beta * Oh[l, i, j]
            else:
                for i in range(b):
                    for j in range(n):
                        hn[i, j] = h[i, j] + beta * A2[l, i, j]
    np.dot(H[L], pview(theta, off, rows, cols, ro).T, Y)
    _scale(Y, mult[ro])
    return Y


@njit(cache=True)
def backward(theta, grad, off, rows, cols, mult, emb, ro, blocks, arch, farch, X, ws):
    """Gradient of the loss w.r.t. every parameter into ``grad`` (same layout as theta).

    Needs the workspace of a forward pass on the same X and dY filled by loss_and_grad.
    """
    b = X.shape[0]
    L = arch[A_DEPTH]
    H, Zh, Z, rs_pre, A1, S, A2, Oh, rs_post, Y, dY, G1, G2, G3, GS = ws_views(ws, arch, b)
    # readout
    gR = pview(grad, off, rows, cols, ro)
    np.dot(dY.T, H[L], gR)
    _scale(gR, mult[ro])
    np.dot(dY, pview(theta, off, rows, cols, ro), G1)
    _scale(G1, mult[ro])
    if arch[A_MODEL] == MODEL_LINEAR:
        for l in range(L - 1, -1, -1):
            p = blocks[l, B_W1]
            gW = pview(grad, off, rows, cols, p)
            np.dot(G1.T, H[l], gW)
            _scale(gW, mult[p])
            np.dot(G1, pview(theta, off, rows, cols, p), G2)
            _scale(G2, mult[p])
            G1[:, :] = G2
    else:
        beta = farch[0]
        layer = arch[A_NORM] == NORM_LAYER
        gelu = arch[A_ACT] == ACT_GELU
        n = arch[A_N]
        for l in range(L - 1, -1, -1):
            pW1 = blocks[l, B_W1]
            pW2 = blocks[l, B_W2]
            # d(branch output) = β·dh
            for i in range(b):
                for j in range(n):
                    G2[i, j] = beta * G1[i, j]
            if arch[A_POST]:
                pg = blocks[l, B_GPOST]
                if pg >= 0:
                    _gain_bwd(
                        G2,
                        Oh[l],
                        vview(theta, off, rows, cols, pg),
                        mult[pg],
                        vview(grad, off, rows, cols, pg),
                    )
                norm_bwd(G2, Oh[l], rs_post[l], G3, layer)
                dA2 = G3
            else:
                dA2 = G2
            gW2 = pview(grad, off, rows, cols, pW2)
            np.dot(dA2.T, S[l], gW2)
            _scale(gW2, mult[pW2])
            pb = blocks[l, B_B2]
            if pb >= 0:
                _bias_grad(dA2, mult[pb], vview(grad, off, rows, cols, pb))
            np.dot(dA2, pview(theta, off, rows, cols, pW2), GS)
            _scale(GS, mult[pW2])
            _act_bwd(A1[l], GS, gelu)
            gW1 = pview(grad, off, rows, cols, pW1)
            np.dot(GS.T, Z[l], gW1)
            _scale(gW1, mult[pW1])
            pb = blocks[l, B_B1]
            if pb >= 0:
                _bias_grad(GS, mult[pb], vview(grad, off, rows, cols, pb))
            np.dot(GS, pview(theta, off, rows, cols, pW1), G2)
            _scale(G2, mult[pW1])
            if arch[A_PRE]:
                pg = blocks[l, B_GPRE]
                if pg >= 0:
                    _gain_bwd(
                        G2,
                        Zh[l],
                        vview(theta, off, rows, cols, pg),
                        mult[pg],
                        vview(grad, off, rows, cols, pg),
                    )
                norm_bwd(G2, Zh[l], rs_pre[l], G3, layer)
                for i in range(b):
                    for j in range(n):
                        G1[i, j] += G3[i, j]
            else:
                for i in range(b):
                    for j in range(n):
                        G1[i, j] += G2[i, j]
    gE = pview(grad, off, rows, cols, emb)
    if arch[A_LOOKUP]:
        onehot_embed_grad(G1, X, gE, mult[emb])
    else:
        np.dot(G1.T, X, gE)
        _scale(gE, mult[emb])


@njit(cache=True)
def loss_grad(theta, grad, off, rows, cols, mult, emb, ro, blocks, arch, farch, X, T, ws):
    """Forward + loss + backward; returns the loss. (Used by the gradient tests.)"""
    Y = forward(theta, off, rows, cols, mult, emb, ro, blocks, arch, farch, X, ws)
    views = ws_views(ws, arch, X.shape[0])
    dY = views[10]
    loss = loss_and_grad(Y, T, dY, arch[A_TASK] != TASK_REGRESSION, True)
    backward(theta, grad, off, rows, cols, mult, emb, ro, blocks, arch, farch, X, ws)
    return loss


@njit(cache=True)
def loss_only(theta, off, rows, cols, mult, emb, ro, blocks, arch, farch, X, T, ws):
    Y = forward(theta, off, rows, cols, mult, emb, ro, blocks, arch, farch, X, ws)
    views = ws_views(ws, arch, X.shape[0])
    return loss_and_grad(Y, T, views[10], arch[A_TASK] != TASK_REGRESSION, False)

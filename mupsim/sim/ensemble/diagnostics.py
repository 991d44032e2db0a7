"""The ensemble's diagnostics: what the numba loop logs, for every member at once.

At a logged step (:mod:`mupsim.sim.kernels.diagnostics`, batched): train and held-out loss,
activation RMS at every site, and per matrix RMS, σ_max by warm-started power iteration, the
sublayer gain, the update geometry (update RMS, relative and angular update, cos(w, Δw)) and the
effective learning rate — on the device, in float64. The spectrum-based metrics (stable rank,
effective rank, top singular values; only with ``SimConfig.rank_metrics``) and the final
singular spectra are computed on the host with LAPACK, as the numba loop does.

:class:`Diagnostics` is a mixin of :class:`~mupsim.sim.ensemble.engine.Ensemble`; it writes the
engine's ``out_loss``, ``out_act`` and ``out_mat`` (NaN for diverged members).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from mupsim.sim.kernels.diagnostics import gram_floor
from mupsim.sim.layout import B_B1, B_B2, B_W1, B_W2
from mupsim.sim.result import MATRIX_METRICS

N_METRICS = len(MATRIX_METRICS)
N_DEVICE_METRICS = MATRIX_METRICS.index("eff_lr") + 1  # rms .. eff_lr: computed on the device
# the rest (stable_rank, effective_rank, sv1..sv4) come from all singular values, on the host
RANK_METRICS = MATRIX_METRICS[N_DEVICE_METRICS:]  # NaN with SimConfig.rank_metrics=False
EVAL_CHUNK = 1024  # rows of the held-out set per evaluation forward pass
GPU_SVD_MIN = 1024  # CUDA: matrices with min(rows, cols) >= this use the device's SVD
# (host faster at 512, device at 4096 — measured; 1024 itself is a guess)


class Diagnostics:
    """Logged quantities and final spectra of :class:`~mupsim.sim.ensemble.engine.Ensemble`
    (a mixin)."""

    def _eval(self, X, T):
        """Mean loss (S,) over all rows of X (S, n, k), T (S, n, out), in chunks."""
        n = X.shape[1]
        tot = torch.zeros(self.S, dtype=torch.float64, device=self.dev)
        for a in range(0, n, EVAL_CHUNK):
            z = min(a + EVAL_CHUNK, n)
            Y, _ = self.forward(X[:, a:z])
            tot += self.loss(Y, T[:, a:z], want_grad=False)[0] * (z - a)
        return tot / n

    def _diagnostics(self, li, tt, X, L, c):
        lay, m = self.lay, self.mult
        ok = self.alive
        f = torch.float64

        def rms(x):
            x = x.to(f)
            return torch.sqrt((x * x).mean(dim=tuple(range(1, x.dim()))))

        def put(dst, val):
            dst.copy_(torch.where(ok, val, torch.nan))

        # train loss: the batch's, or (fixed train set) the whole train set's
        put(self.out_loss[:, 0, li], L if self.Xtr is None else self._eval(self.Xtr, self.Ttr))
        if self.Xte.shape[1]:
            put(self.out_loss[:, 1, li], self._eval(self.Xte, self.Tte))
        H, Y = c["H"], c["Y"]
        gains = {lay.emb: _ratio(rms(H[0]), rms(X)), lay.readout: _ratio(rms(Y), rms(H[-1]))}
        acts = [rms(H[0])]
        blocks = lay.blocks
        for l in range(self.L):
            if self.linear:
                gains[int(blocks[l, B_W1])] = _ratio(rms(H[l + 1]), rms(H[l]))
                acts.append(rms(H[l + 1]))
                continue
            p1, p2 = int(blocks[l, B_W1]), int(blocks[l, B_W2])
            a1, a2 = c["A1"][l], c["A2"][l]
            pb = int(blocks[l, B_B1])
            gains[p1] = _ratio(rms(a1 - m[pb] * self._vec(pb) if pb >= 0 else a1), rms(c["Z"][l]))
            pb = int(blocks[l, B_B2])
            gains[p2] = _ratio(rms(a2 - m[pb] * self._vec(pb) if pb >= 0 else a2), rms(c["S"][l]))
            acts += [rms(c["Z"][l]), rms(a1), rms(c["S"][l]), rms(a2), rms(c["O"][l]), rms(H[l + 1])]
        acts.append(rms(Y))
        put(self.out_act[:, :, li].T, torch.stack(acts))
        s64 = self.sched64_dev[:, tt]
        iters = 100 if li == 0 else 20
        for mi, p in enumerate(self.mats):
            w = self.W[p]
            r = rms(w)
            vals = [r, power_iteration(w, self.pvec[mi], iters), gains[p]]
            if tt > 0:
                vals += list(update_geometry(self.prev[mi], w))
            else:
                vals += [torch.full_like(r, torch.nan)] * 4
            vals.append(_ratio(self.p_lr64[:, p] * s64, r * r))
            put(self.out_mat[:, :N_DEVICE_METRICS, mi, li].T, torch.stack(vals))
        if self.want_rank:
            self._submit_rank_metrics(li)

    def _submit_rank_metrics(self, li):
        """Queue the spectrum-based metrics of every live member at log column li on host
        threads (float64 LAPACK, as the numba loop computes them); the device goes on."""
        import os
        from concurrent.futures import ThreadPoolExecutor

        if self._pool is None:
            self._pool = ThreadPoolExecutor(min(16, os.cpu_count() or 1))
        live = np.flatnonzero(self.alive.cpu().numpy())
        for mi, p in enumerate(self.mats):
            # a copy: on CPU a float64 W is a view of theta, which the next update overwrites
            W = self.W[p].to(torch.float64).cpu().numpy().copy()
            for s in live:
                self._rank_jobs.append((s, mi, li, self._pool.submit(rank_metrics, W[s])))

    def finish(self):
        """Wait for the host-side metrics and write them into ``out_mat`` (host copy)."""
        out = self.out_mat.cpu().numpy()
        for s, mi, li, fut in self._rank_jobs:
            out[s, N_DEVICE_METRICS:, mi, li] = fut.result()
        self._rank_jobs = []
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        return out

    def spectra(self, threads: int | None = None):
        """{name: (S, min(r, c)) float64} singular values at the end (NaN if diverged).

        Computed on the host with ``np.linalg.svd`` of the float64 matrix, as :func:`run`
        does (so they match it to LAPACK rounding), in a thread pool (LAPACK releases the
        GIL): batched float64 SVD on the GPU measured slower for many small matrices, faster
        for one big one (H100 timings in benchmarks/RESULTS.md), hence :data:`GPU_SVD_MIN`."""
        import os
        from concurrent.futures import ThreadPoolExecutor

        ok = (self.div_step < 0).cpu().numpy()
        out, mats = {}, {}
        for p in self.mats:
            W = self.W[p].to(torch.float64)
            name = self.lay.names[p]
            out[name] = np.full((self.S, min(W.shape[1:])), np.nan)
            fin = ok & torch.isfinite(W).flatten(1).all(dim=1).cpu().numpy()
            if self.dev.type == "cuda" and min(W.shape[1:]) >= GPU_SVD_MIN and fin.any():
                # big matrices: the device's SVD (see the docstring)
                idx = torch.as_tensor(np.flatnonzero(fin), device=self.dev)
                out[name][fin] = torch.linalg.svdvals(W.index_select(0, idx)).cpu().numpy()
                continue
            mats[name] = (W.cpu().numpy(), fin)
        jobs = [(k, s) for k, (W, fin) in mats.items() for s in range(self.S) if fin[s]]

        def one(job):
            k, s = job
            out[k][s] = np.linalg.svd(mats[k][0][s], compute_uv=False)

        threads = threads or min(16, os.cpu_count() or 1)
        if threads > 1 and len(jobs) > 1:
            with ThreadPoolExecutor(threads) as ex:
                list(ex.map(one, jobs))
        else:
            for j in jobs:
                one(j)
        return out


def _ratio(a, b):
    """a / b, NaN where b is 0 (the numba loop's ``_ratio``: a diagnostic, never inf)."""
    return torch.where(b != 0, a / torch.where(b != 0, b, 1.0), torch.nan)


def rank_metrics(W):
    """(stable_rank, effective_rank, sv1..sv4) of one float64 matrix: the numba loop's
    ``singular_values`` (eigenvalues of the smaller Gram matrix, LAPACK) + ``rank_stats``."""
    out = np.full(len(RANK_METRICS), np.nan)
    if not np.all(np.isfinite(W)):
        return out
    r, c = W.shape
    G = W @ W.T if r <= c else W.T @ W
    ev = np.linalg.eigvalsh(G)[::-1]
    sv = np.sqrt(np.where(ev > gram_floor(ev[0], r, c), ev, 0.0))
    k = min(len(RANK_METRICS) - 2, sv.size)
    out[2 : 2 + k] = sv[:k]
    if sv[0] > 0.0:
        tot = sv.sum()
        pr = sv / tot
        pr = pr[pr > 0.0]
        out[0] = (sv * sv).sum() / (sv[0] * sv[0])
        out[1] = math.exp(-(pr * np.log(pr)).sum())
    return out


def power_iteration(W, v, iters):
    """Top singular value of each W[s] (S, r, c), warm-started from v (S, c), updated in
    place; the numba ``power_iteration`` batched (zero/non-finite starts reset to ones)."""
    nv = torch.linalg.vector_norm(v.to(torch.float64), dim=1, keepdim=True)
    bad = (nv == 0) | ~torch.isfinite(nv)
    x = torch.where(bad, torch.ones_like(v), v)
    x = x / torch.where(bad, math.sqrt(v.shape[1]), nv).to(v.dtype)
    Wt = W.transpose(1, 2)
    for _ in range(iters):
        u = torch.bmm(W, x.unsqueeze(2))
        y = torch.bmm(Wt, u).squeeze(2)
        ny = torch.linalg.vector_norm(y.to(torch.float64), dim=1, keepdim=True)
        x = y / torch.where(ny == 0, 1.0, ny).to(y.dtype)
    v.copy_(x)
    u = torch.bmm(W, x.unsqueeze(2)).squeeze(2)
    return torch.linalg.vector_norm(u.to(torch.float64), dim=1)


def update_geometry(w_prev, w):
    """(update_rms, rel_update, angular_update, cos_w_update) per member, float64."""
    a = w_prev.flatten(1).to(torch.float64)
    c = w.flatten(1).to(torch.float64)
    d = c - a
    dd, pp, ww = (d * d).sum(1), (a * a).sum(1), (c * c).sum(1)
    pw, pd = (a * c).sum(1), (a * d).sum(1)
    nan = torch.full_like(dd, torch.nan)
    upd = torch.sqrt(dd / a.shape[1])
    rel = torch.where(pp > 0, torch.sqrt(dd / pp), nan)
    cw = torch.where((pp > 0) & (ww > 0), pw / torch.sqrt(pp * ww), nan).clamp(-1.0, 1.0)
    ang = torch.acos(cw)
    cu = torch.where((pp > 0) & (dd > 0), pd / torch.sqrt(pp * dd), nan)
    return upd, rel, ang, cu

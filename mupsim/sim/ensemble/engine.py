"""The numba training loop, stacked: S runs of one shape trained together in PyTorch.

Every tensor carries the member index first: parameters live in one flat buffer ``theta``
(S, P) in the layout of :mod:`mupsim.sim.layout` (parameter p of member s is
``theta[s, off_p : off_p + rows_p·cols_p]`` as a C-ordered (rows_p, cols_p) matrix), so the
optimizer is a handful of elementwise ops over the whole stack and every matrix product is
one batched product. Per-member quantities (multipliers, per-layer lr/wd from the calculator,
β's, ε, schedule, decay mode, branch multiplier, divergence bound) are (S, 1[, 1]) tensors.

The step is the numba loop's (:mod:`mupsim.sim.kernels.loop`), op for op: batch t → forward
→ loss → divergence check → diagnostics if t is logged → backward → update t. The step index
lives in a 0-d device tensor, so a whole step can be captured in a CUDA graph and replayed
(the schedule factor and bias corrections are read from it on the device). A member whose loss
is non-finite or above its bound is recorded as diverged at that step and masked out: its
learning rate and decay become 0 and all its later log entries are NaN; the other members are
unaffected (nothing mixes members). Diagnostics are computed in float64.

Split as the numba kernels are (:mod:`mupsim.sim.kernels`): this module holds the network
(forward, loss, manual backward), the step and the driver; :mod:`.optim` the batched optimizer
(:class:`~.optim.BatchedOptimizer`), :mod:`.diagnostics` the logged quantities and final spectra
(:class:`~.diagnostics.Diagnostics`); the batches come from :mod:`.rng`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from mupsim.sim.ensemble import optim
from mupsim.sim.ensemble.diagnostics import N_METRICS, Diagnostics
from mupsim.sim.ensemble.optim import BatchedOptimizer
from mupsim.sim.ensemble.rng import BatchGenerator, TrainSetBatches, sample_rows
from mupsim.sim.layout import (
    A_ACT,
    A_DEPTH,
    A_MODEL,
    A_NORM,
    A_POST,
    A_PRE,
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
    TASK_CLASSIFICATION,
    TASK_REGRESSION,
    activation_names,
)

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)
GRAPH_STEPS = 16  # plain steps per CUDA graph replay
PREGEN_BYTES = 1 << 30  # pre-generate all batches if they take at most this much memory
PREGEN_CHUNK = 256  # steps generated per call when pre-generating


def schedule_table(cfg, decay_steps: int) -> np.ndarray:
    """s(t) for t = 0..steps (float64), the numba loop's ``schedule``."""
    from mupsim.sim.kernels.optim import SCHED_CODES, schedule

    code = SCHED_CODES[cfg.schedule]
    return np.array(
        [schedule(t, cfg.steps, code, cfg.warmup_steps, decay_steps) for t in range(cfg.steps + 1)],
        np.float64,
    )


class Ensemble(BatchedOptimizer, Diagnostics):
    """S prepared runs (:class:`mupsim.sim.run.Prepared`) of one group, on ``device``."""

    def __init__(self, preps, device):
        cfg = preps[0].config
        self.lay = lay = preps[0].layout
        self.dev = dev = torch.device(device)
        self.dt = dt = torch.float64 if cfg.dtype == "float64" else torch.float32
        S = self.S = len(preps)
        self.L = int(lay.arch[A_DEPTH])
        self.linear = lay.arch[A_MODEL] == MODEL_LINEAR
        self.pre = bool(lay.arch[A_PRE])
        self.post = bool(lay.arch[A_POST])
        self.layer = lay.arch[A_NORM] == NORM_LAYER
        self.gelu = lay.arch[A_ACT] == ACT_GELU
        self.task_cls = lay.arch[A_TASK] == TASK_CLASSIFICATION  # targets: argmax of the teacher
        self.xent = lay.arch[A_TASK] != TASK_REGRESSION  # softmax cross-entropy loss
        self.norm_eps = float(lay.farch[1])
        self.steps = cfg.steps
        self.b = cfg.batch_size
        self.want_rank = cfg.rank_metrics  # False: RANK_METRICS stay NaN (not computed)

        def T(a, dtype=dt):
            return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=dev)

        self.theta = T(np.stack([p.theta0 for p in preps]))
        self.grad = torch.zeros_like(self.theta)
        self.m = torch.zeros_like(self.theta)
        self.v = torch.zeros_like(self.theta)
        P = len(lay.names)
        self.offs = [(int(lay.offsets[p]), int(lay.rows[p]), int(lay.cols[p])) for p in range(P)]
        self.W = [self._view(self.theta, p) for p in range(P)]
        self.G = [self._view(self.grad, p) for p in range(P)]
        mult = np.stack([p.mult for p in preps])  # (S, P)
        self.mult = [T(mult[:, p]).view(S, 1, 1) for p in range(P)]
        self.beta = T([p.layout.farch[0] for p in preps]).view(S, 1, 1)
        # per-element learning rate and weight decay (calculator values, before schedule)
        p_lr = np.stack([p.p_lr for p in preps])
        p_wd = np.stack([p.p_wd for p in preps])
        sizes = lay.rows * lay.cols
        self.p_lr64 = T(p_lr, torch.float64)  # for the eff_lr diagnostic
        self.lr_el = T(np.repeat(p_lr, sizes, axis=1))
        self.wd_el = T(np.repeat(p_wd, sizes, axis=1))
        hyper = np.stack([p.hyper for p in preps])  # (S, 4)
        self.mu, self.b1, self.b2, self.eps = (T(hyper[:, i]).view(S, 1) for i in range(4))
        self.b1_64 = T(hyper[:, 1], torch.float64).view(S, 1)
        self.b2_64 = T(hyper[:, 2], torch.float64).view(S, 1)
        # Adam's ε per element (the calculator's per-layer ε with eps_rule="derived")
        p_eps = np.stack([p.p_eps for p in preps])
        self.eps_el = T(np.repeat(p_eps, sizes, axis=1))
        self.indep = T([p.independent for p in preps], torch.bool).view(S, 1)
        self.sched64 = np.stack([schedule_table(p.config, p.decay_steps) for p in preps])
        self.sched = T(self.sched64)  # (S, steps+1)
        self.sched64_dev = T(self.sched64, torch.float64)
        self.bound = T([p.config.divergence_bound for p in preps], torch.float64)
        self.alive = torch.ones(S, dtype=torch.bool, device=dev)
        self.alive_f = torch.ones(S, 1, dtype=dt, device=dev)
        self.div_step = torch.full((S,), -1, dtype=torch.int64, device=dev)
        self.t = torch.zeros((), dtype=torch.int64, device=dev)
        self.opt = cfg.optimizer
        self.muon = self.opt in ("muon", "muon_all")  # muon_all: every matrix (muon_mask)
        self.segments = self._segments(preps[0].muon_mask)
        # data: one stream per distinct data set (seed, teacher, noise, inputs)
        keys = [data_key(p.config) for p in preps]
        uniq = list(dict.fromkeys(keys))
        first = [keys.index(k) for k in uniq]
        self.stream = T([uniq.index(k) for k in keys], torch.int64)
        self.identity_streams = len(uniq) == S
        self.gen = _batches([preps[i] for i in first], self.b, self.task_cls, T)
        # all batches of the run at once when they fit (the generator's ops leave every step)
        U = len(uniq)
        per_step = U * self.b * (cfg.input_dim + cfg.output_dim) * self.theta.element_size()
        self.Xall = self.Tall = None
        if per_step * (self.steps + 1) <= PREGEN_BYTES:
            xs, ts = [], []
            for a in range(0, self.steps + 1, PREGEN_CHUNK):
                idx = torch.arange(a, min(a + PREGEN_CHUNK, self.steps + 1), device=dev)
                x, t_ = self.gen.many(idx)
                xs.append(x)
                ts.append(t_)
            self.Xall, self.Tall = torch.cat(xs, dim=1), torch.cat(ts, dim=1)
        self.Xte = T(np.stack([p.data.X_test for p in preps]))
        self.Tte = T(np.stack([p.data.T_test for p in preps]))
        self.Xtr = self.Ttr = None  # fixed train sets: the logged train loss is over all rows
        if cfg.n_train is not None:
            self.Xtr = T(np.stack([p.data.X_train for p in preps]))
            self.Ttr = T(np.stack([p.data.T_train for p in preps]))
        # diagnostics
        self.log_steps = preps[0].log_steps
        self.mats = [int(p) for p in lay.matrices]
        Tn, M = self.log_steps.size, len(self.mats)
        self.A = len(activation_names(lay))
        nan = float("nan")
        f64 = dict(dtype=torch.float64, device=dev)
        self.out_loss = torch.full((S, 2, Tn), nan, **f64)
        self.out_mat = torch.full((S, N_METRICS, M, Tn), nan, **f64)
        self.out_act = torch.full((S, self.A, Tn), nan, **f64)
        pv = np.stack([p.pvec0 for p in preps])
        self.pvec, o = [], 0
        for p in self.mats:
            c = int(lay.cols[p])
            self.pvec.append(T(pv[:, o : o + c]))
            o += c
        self.prev = [torch.zeros_like(self.W[p]) for p in self.mats]
        self.graphs = {}
        self._pool, self._rank_jobs = None, []
        self.fused_cpu = dev.type == "cpu"  # numba optimizer on CPU; torch ops elsewhere
        self.compiled = dev.type == "cuda" and optim.COMPILE_OPT  # one fused Triton kernel per rule
        if self.fused_cpu:  # numpy views (shared memory) for the fused CPU optimizer
            hy = np.ascontiguousarray(hyper, dtype=np.float64)
            self._np = dict(
                theta=self.theta.numpy(),
                grad=self.grad.numpy(),
                m=self.m.numpy(),
                v=self.v.numpy(),
                lr=self.lr_el.numpy(),
                wd=self.wd_el.numpy(),
                mu=hy[:, 0].copy(),
                b1=hy[:, 1].copy(),
                b2=hy[:, 2].copy(),
                eps=self.eps_el.numpy(),
                indep=self.indep.view(-1).numpy().copy(),
            )

    # ------------------------------------------------------------------ helpers
    def _view(self, buf, p):
        o, r, c = self.offs[p]
        return buf[:, o : o + r * c].view(self.S, r, c)

    def _norm(self, x):
        if self.layer:
            x = x - x.mean(dim=2, keepdim=True)
        r = torch.rsqrt((x * x).mean(dim=2, keepdim=True) + self.norm_eps)
        return x * r, r

    def _norm_back(self, d, xh, r):
        out = d - xh * (d * xh).mean(dim=2, keepdim=True)
        if self.layer:
            out = out - d.mean(dim=2, keepdim=True)
        return out * r

    def _act(self, a):
        if self.gelu:
            return 0.5 * a * (1.0 + torch.erf(a * _INV_SQRT2))
        return torch.relu(a)

    def _act_grad(self, a):
        if self.gelu:
            return 0.5 * (1.0 + torch.erf(a * _INV_SQRT2)) + a * _INV_SQRT2PI * torch.exp(-0.5 * a * a)
        return (a > 0).to(a.dtype)

    def _norm_gain(self, x, pg):
        """(x̂, 1/rms, x̂·gain): the RMS/LayerNorm of x, then its gain parameter ``pg`` with its
        multiplier when the model has one (pg < 0: none)."""
        xh, r = self._norm(x)
        return xh, r, (xh * (self.mult[pg] * self._vec(pg)) if pg >= 0 else xh)

    def _dense(self, x, W, p, pb):
        """x·(m_p·W_p)ᵀ per member, plus the bias ``pb`` with its multiplier (pb < 0: none)."""
        a = torch.bmm(x, W[p].transpose(1, 2)).mul_(self.mult[p])
        return a + self.mult[pb] * self._vec(pb) if pb >= 0 else a

    def _vec(self, p):
        return self.W[p][:, :, 0].unsqueeze(1)  # (S, 1, r) for broadcasting over rows

    # ------------------------------------------------------------------ network
    def forward(self, X):
        """Forward pass on X (S, b, k); returns (Y, cache)."""
        lay, W, m = self.lay, self.W, self.mult
        c = {"X": X}
        h = torch.bmm(X, W[lay.emb].transpose(1, 2)).mul_(m[lay.emb])
        H = [h]
        blocks = lay.blocks
        if self.linear:
            for l in range(self.L):
                p = int(blocks[l, B_W1])
                h = torch.bmm(h, W[p].transpose(1, 2)).mul_(m[p])
                H.append(h)
        else:
            Zh, Z, Rz, A1, Sx, A2, Oh, Ro, O = ([] for _ in range(9))
            for l in range(self.L):
                p1, p2 = int(blocks[l, B_W1]), int(blocks[l, B_W2])
                zh, r, z = self._norm_gain(h, int(blocks[l, B_GPRE])) if self.pre else (None, None, h)
                a1 = self._dense(z, W, p1, int(blocks[l, B_B1]))
                s = self._act(a1)
                a2 = self._dense(s, W, p2, int(blocks[l, B_B2]))
                oh, ro, o = self._norm_gain(a2, int(blocks[l, B_GPOST])) if self.post else (None, None, a2)
                h = h + self.beta * o
                for lst, val in zip((Zh, Z, Rz, A1, Sx, A2, Oh, Ro, O), (zh, z, r, a1, s, a2, oh, ro, o)):
                    lst.append(val)
                H.append(h)
            c.update(Zh=Zh, Z=Z, Rz=Rz, A1=A1, S=Sx, A2=A2, Oh=Oh, Ro=Ro, O=O)
        c["H"] = H
        Y = torch.bmm(h, W[lay.readout].transpose(1, 2)).mul_(m[lay.readout])
        c["Y"] = Y
        return Y, c

    def loss(self, Y, T, want_grad=True):
        """(loss (S,) float64, dL/dY or None)."""
        b, out = Y.shape[1], Y.shape[2]
        if self.xent:
            mx = Y.max(dim=2, keepdim=True).values
            lse = mx + torch.log(torch.exp(Y - mx).sum(dim=2, keepdim=True))
            L = (T * (lse - Y)).to(torch.float64).sum(dim=(1, 2)) / b
            dY = (torch.exp(Y - lse) - T) / b if want_grad else None
            return L, dY
        e = Y - T
        L = (e * e).to(torch.float64).sum(dim=(1, 2)) / (b * out)
        return L, (e * (2.0 / (b * out)) if want_grad else None)

    def backward(self, c, dY):
        lay, W, G, m = self.lay, self.W, self.G, self.mult
        H = c["H"]
        ro = lay.readout
        torch.mul(torch.bmm(dY.transpose(1, 2), H[-1]), m[ro], out=G[ro])
        dh = torch.bmm(dY, W[ro]).mul_(m[ro])
        blocks = lay.blocks
        for l in range(self.L - 1, -1, -1):
            if self.linear:
                p = int(blocks[l, B_W1])
                torch.mul(torch.bmm(dh.transpose(1, 2), H[l]), m[p], out=G[p])
                dh = torch.bmm(dh, W[p]).mul_(m[p])
                continue
            p1, p2 = int(blocks[l, B_W1]), int(blocks[l, B_W2])
            d = self.beta * dh
            da2 = self._gain_norm_back(d, int(blocks[l, B_GPOST]), c["Oh"][l], c["Ro"][l]) if self.post else d
            torch.mul(torch.bmm(da2.transpose(1, 2), c["S"][l]), m[p2], out=G[p2])
            pb = int(blocks[l, B_B2])
            if pb >= 0:
                torch.mul(da2.sum(dim=1), m[pb][:, 0], out=G[pb][:, :, 0])
            gs = torch.bmm(da2, W[p2]).mul_(m[p2])
            a1 = c["A1"][l]
            gs = gs * self._act_grad(a1) if self.gelu else torch.ops.aten.threshold_backward(gs, a1, 0.0)
            torch.mul(torch.bmm(gs.transpose(1, 2), c["Z"][l]), m[p1], out=G[p1])
            pb = int(blocks[l, B_B1])
            if pb >= 0:
                torch.mul(gs.sum(dim=1), m[pb][:, 0], out=G[pb][:, :, 0])
            dz = torch.bmm(gs, W[p1]).mul_(m[p1])
            if self.pre:
                dz = self._gain_norm_back(dz, int(blocks[l, B_GPRE]), c["Zh"][l], c["Rz"][l])
            dh = dh + dz
        e = lay.emb
        torch.mul(torch.bmm(dh.transpose(1, 2), c["X"]), m[e], out=G[e])

    def _gain_norm_back(self, d, pg, xh, r):
        """Back through ``norm(x)·(m·gain)`` (gain parameter pg, or none if pg < 0): writes
        the gain's gradient, returns dL/dx. ``xh``, ``r``: the forward's normalized x and 1/rms."""
        m = self.mult
        if pg >= 0:
            torch.mul((d * xh).sum(dim=1), m[pg][:, 0], out=self.G[pg][:, :, 0])
            d = d * (m[pg] * self._vec(pg))
        return self._norm_back(d, xh, r)

    # ------------------------------------------------------------------ steps
    def _batch(self):
        if self.Xall is not None:  # pre-generated: one gather per step
            X = self.Xall.index_select(1, self.t.view(1))[:, 0]
            T = self.Tall.index_select(1, self.t.view(1))[:, 0]
        else:
            X, T = self.gen(self.t)
        if not self.identity_streams:
            X, T = X.index_select(0, self.stream), T.index_select(0, self.stream)
        return X, T

    def _check(self, L):
        """Divergence check at the current step; updates alive / div_step."""
        bad = self.alive & ~(torch.isfinite(L) & (L <= self.bound))
        self.div_step.copy_(torch.where(bad, self.t, self.div_step))
        self.alive &= ~bad
        self.alive_f.copy_(self.alive.to(self.dt).view(-1, 1))

    def plain_step(self, save_prev=False):
        """One step with no diagnostics (t < steps); advances self.t."""
        X, T = self._batch()
        Y, c = self.forward(X)
        L, dY = self.loss(Y, T)
        self._check(L)
        self.backward(c, dY)
        if save_prev:
            for i, p in enumerate(self.mats):
                self.prev[i].copy_(self.W[p])
        self.opt_step(self.t)
        self.t += 1

    def log_step(self, li: int, tt: int):
        """Step tt (= self.t), logged in column li; the update too if tt < steps."""
        X, T = self._batch()
        Y, c = self.forward(X)
        last = tt == self.steps
        L, dY = self.loss(Y, T, want_grad=not last)
        self._check(L)
        self._diagnostics(li, tt, X, L, c)
        if last:
            return
        self.backward(c, dY)
        if li + 1 < self.log_steps.size and self.log_steps[li + 1] == tt + 1:
            for i, p in enumerate(self.mats):
                self.prev[i].copy_(self.W[p])
        self.opt_step(self.t)
        self.t += 1

    # ------------------------------------------------------------------ driver
    def train(self, graphs: bool | None = None, graph_steps: int = GRAPH_STEPS):
        """Run all steps. ``graphs``: replay plain steps (no log, no saved copy) from CUDA
        graphs of ``graph_steps`` and of 1 step (default: on CUDA)."""
        if graphs is None:
            graphs = self.dev.type == "cuda"
        logs = {int(s): i for i, s in enumerate(self.log_steps)}
        # plain[t]: step t has no diagnostics and saves no copy
        plain = [t < self.steps and t not in logs and (t + 1) not in logs for t in range(self.steps + 1)]
        t = 0
        while t <= self.steps:
            if t in logs:
                self.log_step(logs[t], t)
                if not bool(self.alive.any()):
                    break
                t += 1
                continue
            if graphs and plain[t] and t >= 3:  # a few eager steps first (warm-up)
                k = graph_steps if all(plain[t : t + graph_steps]) else 1
                self._graph(k).replay()
                t += k
                continue
            self.plain_step(save_prev=not plain[t])
            t += 1
        if self.dev.type == "cuda":
            torch.cuda.synchronize(self.dev)

    def _graph(self, k):
        """CUDA graph of k plain steps (captured on first use; capture records without
        executing, so the state is unchanged until the first replay)."""
        g = self.graphs.get(k)
        if g is None:
            torch.cuda.synchronize(self.dev)
            g = torch.cuda.CUDAGraph()
            saved_t = self.t.clone()
            with torch.cuda.graph(g):
                for _ in range(k):
                    self.plain_step()
            self.t.copy_(saved_t)
            self.graphs[k] = g
        return g


# ---------------------------------------------------------------------- helpers
def data_key(cfg) -> tuple:
    """Configs with equal keys see the same batches and held-out set (one data stream)."""
    return (
        cfg.seed,
        cfg.teacher_dims(),
        cfg.label_noise,
        cfg.teacher_decay,
        cfg.inputs,
        cfg.input_spectrum,
        cfg.zipf_exponent,
        cfg.n_train,
        cfg.task,
        cfg.context,
        cfg.logit_scale,
    )


def _batches(preps, b, task_cls, T):
    """The batch source of the streams whose first members are ``preps``: the fixed train
    sets' minibatches, or the online generator."""
    cfg = preps[0].config
    if cfg.n_train is not None:
        rows = np.stack([sample_rows(p.config.seed, cfg.n_train, b, cfg.steps) for p in preps])
        return TrainSetBatches(
            T(np.stack([p.data.X_train for p in preps])),
            T(np.stack([p.data.T_train for p in preps])),
            T(rows, torch.int64),
        )
    dev = T(0.0).device
    cdf = None
    if cfg.inputs == "tokens":
        cdf = T(np.stack([p.data.cdf for p in preps]), torch.float64)
    return BatchGenerator(
        T(np.stack([p.data.A1 for p in preps])),
        T(np.stack([p.data.A2 for p in preps])),
        T([p.config.seed for p in preps], torch.int64),
        T([p.config.label_noise for p in preps], torch.float64),
        b,
        task_cls,
        _xscale(preps, cfg.input_dim, dev),
        cdf,
        preps[0].data.context,
        T([p.data.logit_scale for p in preps], torch.float64),
    )


def _xscale(preps, k, dev):
    """(U, k) float64 input scales √λ_i of the streams' Gaussian inputs, or None when every
    stream is isotropic (``Dataset.xscale`` empty)."""
    xs = [p.data.xscale for p in preps]
    if all(x.size == 0 for x in xs):
        return None
    return torch.as_tensor(
        np.stack([x if x.size else np.ones(k) for x in xs]), dtype=torch.float64, device=dev
    )

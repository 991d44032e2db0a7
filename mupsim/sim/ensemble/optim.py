"""The ensemble's batched optimizer: every member's update over the stacked flat buffer.

The numba loop's optimizer (:mod:`mupsim.sim.kernels.optim`), op for op, on (S, P) tensors:
an elementwise rule (sgd, adam, adamw, lion; signSGD runs as Lion with β = 0) over runs of
parameters, and Muon (Nesterov momentum, Newton–Schulz in float64) per hidden matrix. Three
paths for the elementwise rules: on CPU one fused numba pass per segment (:mod:`.cpu_opt`);
elsewhere eager torch ops or, on CUDA, the same rule through ``torch.compile`` (one fused
kernel). Diverged members get schedule factor 0: learning rate and decay both vanish.

:class:`BatchedOptimizer` is a mixin of :class:`~mupsim.sim.ensemble.engine.Ensemble`; it reads
the engine's buffers (theta, grad, m, v, the per-element lr/wd/ε tables, the per-member
hyperparameters, schedule and ``alive`` mask).
"""

from __future__ import annotations

import torch

from mupsim.sim.kernels.optim import NS_COEFFS, NS_STEPS

COMPILE_OPT = True  # CUDA: torch.compile the elementwise optimizer rules


class BatchedOptimizer:
    """Optimizer steps of :class:`~mupsim.sim.ensemble.engine.Ensemble` (a mixin)."""

    def _segments(self, muon_mask):
        """[(start, stop, kind)] of the flat buffer: kind "muon" for one hidden matrix under
        Muon, else the optimizer's elementwise rule over a run of parameters."""
        if not self.muon:
            rule = "lion" if self.opt == "signsgd" else self.opt  # signSGD = Lion, β = 0
            return [(0, self.theta.shape[1], rule)]
        segs = []
        for p, (o, r, c) in enumerate(self.offs):
            kind = "muon" if muon_mask[p] else "adamw"
            if segs and kind == "adamw" and segs[-1][2] == "adamw" and segs[-1][1] == o:
                segs[-1] = (segs[-1][0], o + r * c, "adamw")
            else:
                segs.append((o, o + r * c, kind if kind == "adamw" else ("muon", p)))
        return segs

    def opt_step(self, t):
        """Update t (t: 0-d int64 tensor) of every member; diverged members get lr = decay = 0."""
        if self.fused_cpu:
            return self._opt_step_cpu(int(t))
        s = self.sched.index_select(1, t.view(1)) * self.alive_f  # (S, 1)
        tp1 = (t + 1).to(torch.float64)
        ibc1 = (1.0 / (1.0 - self.b1_64**tp1)).to(self.dt)
        ibc2 = (1.0 / (1.0 - self.b2_64**tp1)).to(self.dt)
        for a, z, kind in self.segments:
            th, g, mm, vv = (x[:, a:z] for x in (self.theta, self.grad, self.m, self.v))
            if isinstance(kind, str):  # elementwise rule: one fused kernel, or eager ops
                rule = _compiled(kind) if self.compiled else _rule(kind)
                rule(
                    th,
                    g,
                    mm,
                    vv,
                    self.lr_el[:, a:z],
                    self.wd_el[:, a:z],
                    s,
                    self.indep,
                    self.mu,
                    self.b1,
                    self.b2,
                    self.eps_el[:, a:z],
                    ibc1,
                    ibc2,
                )
                continue
            self._muon(kind[1], a, z, th, g, mm, s)

    def _muon(self, p, a, z, th, g, mm, s):
        """Muon on matrix p (muon: hidden; muon_all: every matrix), its slice [a, z) of theta,
        schedule factor s (S, 1): Nesterov momentum, Newton–Schulz in float64 (spectral
        convention; the RMS one is refused by support.py), then coupled or independent decay."""
        lr = self.lr_el[:, a:z] * s
        keep = 1.0 - self.wd_el[:, a:z] * torch.where(self.indep, s, lr)
        _, r, c = self.offs[p]
        mm.mul_(self.mu).add_(g)
        U = newton_schulz((g + self.mu * mm).view(self.S, r, c))
        th.mul_(keep).sub_(lr * U.reshape(self.S, r * c).to(self.dt))

    def _opt_step_cpu(self, t):
        """CPU: one fused numba pass per segment (see :mod:`.cpu_opt`)."""
        from mupsim.sim.ensemble.cpu_opt import RULES, opt_segment

        h = self._np
        alive = self.alive.numpy()
        sched = self.sched64[:, t] * alive
        ibc1 = 1.0 / (1.0 - h["b1"] ** (t + 1))
        ibc2 = 1.0 / (1.0 - h["b2"] ** (t + 1))
        s = torch.as_tensor(sched, dtype=self.dt).view(-1, 1)  # Muon segments' schedule factor
        for a, z, kind in self.segments:
            if isinstance(kind, str):
                opt_segment(
                    h["theta"],
                    h["grad"],
                    h["m"],
                    h["v"],
                    h["lr"],
                    h["wd"],
                    a,
                    z,
                    RULES[kind],
                    sched,
                    h["indep"],
                    h["mu"],
                    h["b1"],
                    h["b2"],
                    h["eps"],
                    ibc1,
                    ibc2,
                )
                continue
            th, g, mm = (x[:, a:z] for x in (self.theta, self.grad, self.m))
            self._muon(kind[1], a, z, th, g, mm, s)


def _rule(kind):
    """The elementwise update of one rule (sgd, adam, adamw, lion), run eagerly or through
    torch.compile (one fused kernel)."""

    def step(th, g, mm, vv, lr_el, wd_el, s, indep, mu, b1, b2, eps, ibc1, ibc2):
        lr = lr_el * s
        keep = 1.0 - wd_el * torch.where(indep, s, lr)
        if kind == "sgd":
            m_new = mu * mm + g
            th.copy_(keep * th - lr * m_new)
        elif kind == "adam":
            g = g + wd_el * th
            m_new = b1 * mm + (1.0 - b1) * g
            v_new = b2 * vv + (1.0 - b2) * g * g
            th.copy_(th - (lr * ibc1) * m_new / (torch.sqrt(v_new * ibc2) + eps))
            vv.copy_(v_new)
        elif kind == "lion":
            u = torch.sign(b1 * mm + (1.0 - b1) * g)
            m_new = b2 * mm + (1.0 - b2) * g
            th.copy_(keep * th - lr * u)
        else:  # adamw
            m_new = b1 * mm + (1.0 - b1) * g
            v_new = b2 * vv + (1.0 - b2) * g * g
            th.copy_(keep * th - (lr * ibc1) * m_new / (torch.sqrt(v_new * ibc2) + eps))
            vv.copy_(v_new)
        mm.copy_(m_new)

    return step


_COMPILED = {}


def _compiled(kind):
    f = _COMPILED.get(kind)
    if f is None:
        f = _COMPILED[kind] = torch.compile(_rule(kind), dynamic=True, fullgraph=True)
    return f


def newton_schulz(G):
    """Batched quintic Newton–Schulz (float64) of G (S, r, c); the numba loop's NS5."""
    a, b, c = NS_COEFFS
    X = G.to(torch.float64)
    tr = X.shape[1] > X.shape[2]
    if tr:
        X = X.transpose(1, 2)
    X = X / (torch.sqrt((X * X).sum(dim=(1, 2), keepdim=True)) + 1e-7)
    for _ in range(NS_STEPS):
        A = torch.bmm(X, X.transpose(1, 2))
        B = b * A + c * torch.bmm(A, A)
        X = a * X + torch.bmm(B, X)
    return X.transpose(1, 2) if tr else X

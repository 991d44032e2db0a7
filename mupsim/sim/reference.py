"""Pure-NumPy reference implementation of the simulated networks and optimizers.

Clear and unoptimized: parameters in a dict name -> array, one function per piece. It is the
correctness oracle for the numba kernels (tests/test_sim_reference.py): given the same
:class:`mupsim.sim.run.Prepared` (init, per-layer settings, data), :func:`train_reference`
must reproduce the compiled loop's trajectory. Conventions are documented in
:mod:`mupsim.sim.kernels.model` and :mod:`mupsim.sim.kernels.optim`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erf

from mupsim.sim.data import BatchStream

NS = (3.4445, -4.7750, 2.0315)


# ----------------------------------------------------------------------------- model
def _norm(x, kind, eps):
    if kind == "layer":
        xc = x - x.mean(axis=1, keepdims=True)
    else:
        xc = x
    r = 1.0 / np.sqrt((xc * xc).mean(axis=1, keepdims=True) + eps)
    return xc * r, r


def _norm_back(dxh, xh, r, kind):
    d = dxh - xh * (dxh * xh).mean(axis=1, keepdims=True)
    if kind == "layer":
        d = d - dxh.mean(axis=1, keepdims=True)
    return d * r


def _act(a, kind):
    if kind == "gelu":
        return 0.5 * a * (1.0 + erf(a / math.sqrt(2.0)))
    return np.maximum(a, 0.0)


def _act_grad(a, kind):
    if kind == "gelu":
        return 0.5 * (1.0 + erf(a / math.sqrt(2.0))) + a * np.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)
    return (a > 0).astype(a.dtype)


class RefNet:
    """The network of a SimConfig, with multipliers ``mult`` (dict name -> float)."""

    def __init__(self, cfg, mult, eps):
        self.cfg, self.mult, self.eps = cfg, mult, eps
        self.linear = cfg.model == "linear"
        self.pre = (not self.linear) and cfg.norm != "none" and cfg.norm_position in ("pre", "both")
        self.post = (not self.linear) and cfg.norm != "none" and cfg.norm_position in ("post", "both")

    def loss(self, Y, T):
        if self.cfg.task == "classification":
            mx = Y.max(axis=1, keepdims=True)
            lse = mx + np.log(np.exp(Y - mx).sum(axis=1, keepdims=True))
            L = float((T * (lse - Y)).sum() / Y.shape[0])
            dY = (np.exp(Y - lse) - T) / Y.shape[0]
        else:
            L = float(((Y - T) ** 2).mean())
            dY = 2.0 * (Y - T) / Y.size
        return L, dY

    def forward(self, P, X):
        c, m = self.cfg, self.mult
        cache = {"X": X}
        h = m["embedding"] * X @ P["embedding"].T
        hs = [h]
        for l in range(c.depth):
            if self.linear:
                name = f"hidden{l}"
                h = m[name] * h @ P[name].T
                hs.append(h)
                continue
            pre = f"block{l}."
            if self.pre:
                zh, rz = _norm(h, c.norm, self.eps)
                z = zh * (m[pre + "g_pre"] * P[pre + "g_pre"][:, 0]) if c.norm_gain else zh
                cache[pre + "zh"], cache[pre + "rz"] = zh, rz
            else:
                z = h
            a1 = m[pre + "W1"] * z @ P[pre + "W1"].T
            if c.bias:
                a1 = a1 + m[pre + "b1"] * P[pre + "b1"][:, 0]
            s = _act(a1, c.activation)
            a2 = m[pre + "W2"] * s @ P[pre + "W2"].T
            if c.bias:
                a2 = a2 + m[pre + "b2"] * P[pre + "b2"][:, 0]
            if self.post:
                oh, ro = _norm(a2, c.norm, self.eps)
                o = oh * (m[pre + "g_post"] * P[pre + "g_post"][:, 0]) if c.norm_gain else oh
                cache[pre + "oh"], cache[pre + "ro"] = oh, ro
            else:
                o = a2
            cache[pre + "z"], cache[pre + "a1"], cache[pre + "s"] = z, a1, s
            h = h + c.branch_multiplier * o
            hs.append(h)
        cache["hs"] = hs
        Y = m["readout"] * h @ P["readout"].T
        return Y, cache

    def backward(self, P, cache, dY):
        c, m = self.cfg, self.mult
        G = {}
        hs = cache["hs"]
        G["readout"] = m["readout"] * dY.T @ hs[-1]
        dh = m["readout"] * dY @ P["readout"]
        for l in reversed(range(c.depth)):
            if self.linear:
                name = f"hidden{l}"
                G[name] = m[name] * dh.T @ hs[l]
                dh = m[name] * dh @ P[name]
                continue
            pre = f"block{l}."
            do = c.branch_multiplier * dh
            if self.post:
                oh = cache[pre + "oh"]
                if c.norm_gain:
                    g = pre + "g_post"
                    G[g] = (m[g] * (do * oh).sum(axis=0))[:, None]
                    do = do * (m[g] * P[g][:, 0])
                da2 = _norm_back(do, oh, cache[pre + "ro"], c.norm)
            else:
                da2 = do
            G[pre + "W2"] = m[pre + "W2"] * da2.T @ cache[pre + "s"]
            if c.bias:
                G[pre + "b2"] = (m[pre + "b2"] * da2.sum(axis=0))[:, None]
            da1 = (m[pre + "W2"] * da2 @ P[pre + "W2"]) * _act_grad(cache[pre + "a1"], c.activation)
            G[pre + "W1"] = m[pre + "W1"] * da1.T @ cache[pre + "z"]
            if c.bias:
                G[pre + "b1"] = (m[pre + "b1"] * da1.sum(axis=0))[:, None]
            dz = m[pre + "W1"] * da1 @ P[pre + "W1"]
            if self.pre:
                zh = cache[pre + "zh"]
                if c.norm_gain:
                    g = pre + "g_pre"
                    G[g] = (m[g] * (dz * zh).sum(axis=0))[:, None]
                    dz = dz * (m[g] * P[g][:, 0])
                dz = _norm_back(dz, zh, cache[pre + "rz"], c.norm)
            dh = dh + dz
        G["embedding"] = m["embedding"] * dh.T @ cache["X"]
        return G


# ----------------------------------------------------------------------------- optimizers
def schedule(t, steps, kind, warmup, decay_steps):
    if t < warmup:
        return (t + 1.0) / warmup
    if kind == "cosine":
        prog = min((t - warmup) / max(steps - warmup, 1), 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * prog))
    if kind == "wsd" and decay_steps > 0 and t >= steps - decay_steps:
        return max(steps - t, 0) / decay_steps
    return 1.0


def newton_schulz(G):
    a, b, c = NS
    tr = G.shape[0] > G.shape[1]
    X = G.T if tr else G
    X = X / (np.linalg.norm(X) + 1e-7)
    for _ in range(5):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    return X.T if tr else X


class RefOptimizer:
    def __init__(self, name, lr, wd, muon_mask, momentum, beta1, beta2, eps, independent):
        self.name = name
        self.lr, self.wd, self.muon_mask = lr, wd, muon_mask
        self.mu, self.eps, self.independent = momentum, eps, independent
        self.b1, self.b2 = (0.0, 0.0) if name == "signsgd" else (beta1, beta2)
        self.state = {}

    def step(self, P, G, t, sched):
        for k in P:
            w, g = P[k], G[k]
            st = self.state.setdefault(k, {"m": np.zeros_like(w), "v": np.zeros_like(w)})
            lr = self.lr[k] * sched
            wd = self.wd[k]
            dec = sched * wd if self.independent else lr * wd
            name = self.name
            if name == "sgd":
                st["m"] = self.mu * st["m"] + g
                P[k] = w - lr * st["m"] - dec * w
            elif name == "adam":
                g = g + wd * w
                st["m"] = self.b1 * st["m"] + (1 - self.b1) * g
                st["v"] = self.b2 * st["v"] + (1 - self.b2) * g * g
                mh = st["m"] / (1 - self.b1 ** (t + 1))
                vh = st["v"] / (1 - self.b2 ** (t + 1))
                P[k] = w - lr * mh / (np.sqrt(vh) + self.eps)
            elif name in ("lion", "signsgd"):
                u = np.sign(self.b1 * st["m"] + (1 - self.b1) * g)
                st["m"] = self.b2 * st["m"] + (1 - self.b2) * g
                P[k] = w - lr * u - dec * w
            elif name == "muon" and self.muon_mask[k]:  # hidden matrices only
                st["m"] = self.mu * st["m"] + g
                u = newton_schulz(g + self.mu * st["m"])
                P[k] = w - lr * u - dec * w
            else:  # adamw, and muon's vectors
                st["m"] = self.b1 * st["m"] + (1 - self.b1) * g
                st["v"] = self.b2 * st["v"] + (1 - self.b2) * g * g
                mh = st["m"] / (1 - self.b1 ** (t + 1))
                vh = st["v"] / (1 - self.b2 ** (t + 1))
                P[k] = w - lr * mh / (np.sqrt(vh) + self.eps) - dec * w


# ----------------------------------------------------------------------------- training
def train_reference(prep, steps=None):
    """Train with the NumPy reference from ``prep`` (a run.Prepared).

    Returns (batch_losses float64[steps+1], final flat theta in the layout of prep) — or
    stops early (losses NaN after) on divergence like the compiled loop.
    """
    cfg, lay = prep.config, prep.layout
    steps = cfg.steps if steps is None else steps
    names = lay.names
    P = {k: lay.view(prep.theta0, k).copy() for k in names}
    mult = dict(zip(names, prep.mult))
    net = RefNet(cfg, mult, float(lay.farch[1]))
    opt = RefOptimizer(cfg.optimizer, dict(zip(names, prep.p_lr)), dict(zip(names, prep.p_wd)),
                       dict(zip(names, prep.muon_mask)), cfg.momentum, cfg.beta1, cfg.beta2,
                       cfg.eps, cfg.wd_mode == "independent")
    stream = BatchStream(prep.data, cfg.batch_size)
    losses = np.full(steps + 1, np.nan)
    for t in range(steps + 1):
        X, T = stream.batch(t)
        Y, cache = net.forward(P, X)
        L, dY = net.loss(Y, T)
        if not (np.isfinite(L) and L <= cfg.divergence_bound):
            break
        losses[t] = L
        if t == steps:
            break
        G = net.backward(P, cache, dY)
        opt.step(P, G, t, schedule(t, cfg.steps, cfg.schedule, cfg.warmup_steps,
                                   prep.decay_steps))
    theta = np.concatenate([P[k].ravel() for k in names])
    return losses, theta

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
from mupsim.sim.kernels.optim import NS_COEFFS, NS_STEPS


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
    """The network of a SimConfig, with multipliers ``mult`` (dict name -> float), residual
    branch multiplier ``beta`` and norm epsilon ``eps`` (both as the compiled loop reads them)."""

    def __init__(self, cfg, mult, beta, eps):
        self.cfg, self.mult, self.beta, self.eps = cfg, mult, beta, eps
        self.linear = cfg.model == "linear"
        self.pre = (not self.linear) and cfg.norm != "none" and cfg.norm_position in ("pre", "both")
        self.post = (not self.linear) and cfg.norm != "none" and cfg.norm_position in ("post", "both")

    def loss(self, Y, T):
        if self.cfg.task != "regression":  # classification, next_token: softmax cross-entropy
            mx = Y.max(axis=1, keepdims=True)
            lse = mx + np.log(np.exp(Y - mx).sum(axis=1, keepdims=True))
            L = float((T * (lse - Y)).sum() / Y.shape[0])
            dY = (np.exp(Y - lse) - T) / Y.shape[0]
        else:
            L = float(((Y - T) ** 2).mean())
            dY = 2.0 * (Y - T) / Y.size
        return L, dY

    def _gain_norm(self, P, x, gain):
        """Normalise rows of x, then scale by the norm gain ``gain`` if the config has gains."""
        xh, r = _norm(x, self.cfg.norm, self.eps)
        out = xh * (self.mult[gain] * P[gain][:, 0]) if self.cfg.norm_gain else xh
        return out, xh, r

    def _gain_norm_back(self, P, G, d, xh, r, gain):
        """Backward of :meth:`_gain_norm`: records the gain's gradient in G, returns d/dx."""
        if self.cfg.norm_gain:
            G[gain] = (self.mult[gain] * (d * xh).sum(axis=0))[:, None]
            d = d * (self.mult[gain] * P[gain][:, 0])
        return _norm_back(d, xh, r, self.cfg.norm)

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
                z, cache[pre + "zh"], cache[pre + "rz"] = self._gain_norm(P, h, pre + "g_pre")
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
                o, cache[pre + "oh"], cache[pre + "ro"] = self._gain_norm(P, a2, pre + "g_post")
            else:
                o = a2
            cache[pre + "z"], cache[pre + "a1"], cache[pre + "s"] = z, a1, s
            h = h + self.beta * o
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
            do = self.beta * dh
            if self.post:
                da2 = self._gain_norm_back(P, G, do, cache[pre + "oh"], cache[pre + "ro"], pre + "g_post")
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
                dz = self._gain_norm_back(P, G, dz, cache[pre + "zh"], cache[pre + "rz"], pre + "g_pre")
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
    a, b, c = NS_COEFFS
    tr = G.shape[0] > G.shape[1]
    X = G.T if tr else G
    X = X / (np.linalg.norm(X) + 1e-7)
    for _ in range(NS_STEPS):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    return X.T if tr else X


class RefOptimizer:
    """``hyper`` = (momentum, β1, β2, ε) exactly as the compiled loop gets them (signSGD: β = 0)."""

    def __init__(self, name, lr, wd, muon_mask, hyper, independent, eps=None, muon_scale=None):
        self.name = name
        self.lr, self.wd, self.muon_mask = lr, wd, muon_mask
        self.muon_scale = muon_scale if muon_scale is not None else {k: 1.0 for k in lr}
        self.mu, self.b1, self.b2, base_eps = (float(h) for h in hyper)
        self.eps = eps if eps is not None else {k: base_eps for k in lr}  # per parameter
        self.independent = independent
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
                P[k] = w - lr * mh / (np.sqrt(vh) + self.eps[k])
            elif name in ("lion", "signsgd"):
                u = np.sign(self.b1 * st["m"] + (1 - self.b1) * g)
                st["m"] = self.b2 * st["m"] + (1 - self.b2) * g
                P[k] = w - lr * u - dec * w
            elif name in ("muon", "muon_all") and self.muon_mask[k]:  # muon: hidden; muon_all: every matrix
                st["m"] = self.mu * st["m"] + g
                u = self.muon_scale[k] * newton_schulz(g + self.mu * st["m"])
                P[k] = w - lr * u - dec * w
            else:  # adamw, and muon's vectors
                st["m"] = self.b1 * st["m"] + (1 - self.b1) * g
                st["v"] = self.b2 * st["v"] + (1 - self.b2) * g * g
                mh = st["m"] / (1 - self.b1 ** (t + 1))
                vh = st["v"] / (1 - self.b2 ** (t + 1))
                P[k] = w - lr * mh / (np.sqrt(vh) + self.eps[k]) - dec * w


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
    net = RefNet(cfg, mult, float(lay.farch[0]), float(lay.farch[1]))
    opt = RefOptimizer(
        cfg.optimizer,
        dict(zip(names, prep.p_lr)),
        dict(zip(names, prep.p_wd)),
        dict(zip(names, prep.muon_mask)),
        prep.hyper,
        prep.independent,
        dict(zip(names, (float(e) for e in prep.p_eps))),
        dict(zip(names, (float(x) for x in prep.muon_scale))),
    )
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
        opt.step(P, G, t, schedule(t, cfg.steps, cfg.schedule, cfg.warmup_steps, prep.decay_steps))
    theta = np.concatenate([P[k].ravel() for k in names])
    return losses, theta

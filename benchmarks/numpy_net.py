"""Pure-NumPy baseline: the normalized network + coupled AdamW, written for speed.

Why not :mod:`mupsim.sim.reference`? The reference is the correctness oracle: clear, dict
based, allocating, and its multipliers are ``np.float64`` scalars, so under NumPy 2's
promotion rules (NEP 50) a float32 run silently computes in float64. As a *timed* float32
baseline it would be unfair to NumPy, so this module is an idiomatic, reasonably optimised
NumPy implementation instead: one flat parameter buffer, preallocated activations,
``matmul(..., out=)``, in-place ufuncs, Python-float scalars (dtype preserved).

Scope: model "normalized", depth 1, ffn_ratio 1, ReLU, RMSNorm pre and post without gains,
no biases, regression, AdamW with the coupled decay ``w <- w - lr(u + wd w)`` — exactly the
benchmarked configuration. Parameters, multipliers, per-layer lr/wd and the init come from a
:class:`mupsim.sim.run.Prepared`, so the trajectory equals the simulator's given the same
batches (checked by ``python -m benchmarks.run --check``).
"""

from __future__ import annotations

import numpy as np

NAMES = ("embedding", "block0.W1", "block0.W2", "readout")


def check_supported(cfg) -> None:
    ok = (
        cfg.model == "normalized"
        and cfg.depth == 1
        and cfg.ffn_ratio == 1
        and cfg.activation == "relu"
        and cfg.norm == "rms"
        and cfg.norm_position == "both"
        and not cfg.norm_gain
        and not cfg.bias
        and cfg.task == "regression"
        and cfg.optimizer == "adamw"
        and cfg.wd_mode == "coupled"
        and cfg.schedule == "constant"
        and cfg.warmup_steps == 0
    )
    if not ok:
        raise ValueError(
            "the benchmark baselines only implement the benchmarked network: "
            "normalized, depth 1, relu, rms norm pre+post, no gains/biases, "
            "regression, coupled AdamW, constant schedule"
        )


class NumpyNet:
    def __init__(self, prep, dtype=None):
        cfg, lay = prep.config, prep.layout
        check_supported(cfg)
        if list(lay.names) != list(NAMES):
            raise ValueError(f"unexpected layout {lay.names}")
        dt = np.dtype(dtype or cfg.dtype)
        n, _k, b, out = cfg.width, cfg.input_dim, cfg.batch_size, cfg.output_dim
        self.theta = prep.theta0.astype(dt).copy()
        self.grad = np.zeros_like(self.theta)
        self.m = np.zeros_like(self.theta)
        self.v = np.zeros_like(self.theta)
        self.tmp = np.zeros_like(self.theta)
        self.off = [int(o) for o in lay.offsets] + [self.theta.size]
        shapes = [(int(lay.rows[p]), int(lay.cols[p])) for p in range(4)]
        self.W = [self.theta[self.off[p] : self.off[p + 1]].reshape(shapes[p]) for p in range(4)]
        self.G = [self.grad[self.off[p] : self.off[p + 1]].reshape(shapes[p]) for p in range(4)]
        self.mult = [float(x) for x in prep.mult]
        self.lr = [float(x) for x in prep.p_lr]
        self.wd = [float(x) for x in prep.p_wd]
        self.b1, self.b2, self.eps_adam = cfg.beta1, cfg.beta2, cfg.eps
        self.eps = float(lay.farch[1])
        self.beta = float(lay.farch[0])
        self.t = 0
        z = lambda *s: np.zeros(s, dt)  # noqa: E731
        self.h0, self.zh, self.a1, self.s, self.a2, self.oh, self.h1 = (
            z(b, n),
            z(b, n),
            z(b, n),
            z(b, n),
            z(b, n),
            z(b, n),
            z(b, n),
        )
        self.rz, self.ro = z(b, 1), z(b, 1)
        self.y, self.dy = z(b, out), z(b, out)
        self.g1, self.g2, self.g3, self.gs = z(b, n), z(b, n), z(b, n), z(b, n)

    @staticmethod
    def _rms(x, xh, r, eps):
        np.multiply(x, x, out=xh)
        np.mean(xh, axis=1, keepdims=True, out=r)
        r += eps
        np.sqrt(r, out=r)
        np.divide(1.0, r, out=r)
        np.multiply(x, r, out=xh)

    @staticmethod
    def _rms_back(d, xh, r, out):
        # out = (d - xh * mean(d*xh)) * r
        np.multiply(d, xh, out=out)
        c = out.mean(axis=1, keepdims=True)
        np.multiply(xh, c, out=out)
        np.subtract(d, out, out=out)
        out *= r

    def forward(self, X):
        E, W1, W2, R = self.W
        mE, m1, m2, mR = self.mult
        np.matmul(X, E.T, out=self.h0)
        self.h0 *= mE
        self._rms(self.h0, self.zh, self.rz, self.eps)
        np.matmul(self.zh, W1.T, out=self.a1)
        self.a1 *= m1
        np.maximum(self.a1, 0.0, out=self.s)
        np.matmul(self.s, W2.T, out=self.a2)
        self.a2 *= m2
        self._rms(self.a2, self.oh, self.ro, self.eps)
        np.multiply(self.oh, self.beta, out=self.h1)
        self.h1 += self.h0
        np.matmul(self.h1, R.T, out=self.y)
        self.y *= mR
        return self.y

    def loss_grad(self, T):
        np.subtract(self.y, T, out=self.dy)
        loss = float(np.mean(self.dy.astype(np.float64) ** 2))
        self.dy *= 2.0 / self.dy.size
        return loss

    def backward(self, X):
        E, W1, W2, R = self.W
        gE, gW1, gW2, gR = self.G
        mE, m1, m2, mR = self.mult
        np.matmul(self.dy.T, self.h1, out=gR)
        gR *= mR
        np.matmul(self.dy, R, out=self.g1)  # dh1
        self.g1 *= mR
        np.multiply(self.g1, self.beta, out=self.g2)  # d oh
        self._rms_back(self.g2, self.oh, self.ro, self.g3)  # d a2
        np.matmul(self.g3.T, self.s, out=gW2)
        gW2 *= m2
        np.matmul(self.g3, W2, out=self.gs)
        self.gs *= m2
        self.gs[self.a1 <= 0.0] = 0.0  # d a1
        np.matmul(self.gs.T, self.zh, out=gW1)
        gW1 *= m1
        np.matmul(self.gs, W1, out=self.g2)  # d zh
        self.g2 *= m1
        self._rms_back(self.g2, self.zh, self.rz, self.g3)
        self.g1 += self.g3  # d h0
        np.matmul(self.g1.T, X, out=gE)
        gE *= mE

    def adamw(self):
        t = self.t
        b1, b2 = self.b1, self.b2
        bc1 = 1.0 - b1 ** (t + 1)
        bc2 = 1.0 - b2 ** (t + 1)
        for p in range(4):
            s = slice(self.off[p], self.off[p + 1])
            w, g, m, v, tmp = self.theta[s], self.grad[s], self.m[s], self.v[s], self.tmp[s]
            lr, wd = self.lr[p], self.wd[p]
            m *= b1
            np.multiply(g, 1.0 - b1, out=tmp)
            m += tmp
            v *= b2
            np.multiply(g, g, out=tmp)
            tmp *= 1.0 - b2
            v += tmp
            np.multiply(v, 1.0 / bc2, out=tmp)
            np.sqrt(tmp, out=tmp)
            tmp += self.eps_adam
            np.divide(m, tmp, out=tmp)
            tmp *= lr / bc1
            if wd:
                w *= 1.0 - lr * wd
            w -= tmp
        self.t += 1

    def step(self, X, T):
        """Forward, loss, backward and one AdamW update on batch (X, T); returns the loss."""
        self.forward(X)
        loss = self.loss_grad(T)
        self.backward(X)
        self.adamw()
        return loss

    def flat_params(self) -> np.ndarray:
        return self.theta.astype(np.float64)


class NumpyBatches:
    """Online teacher–student batches generated with NumPy (same distribution as the
    simulator's online data, different random numbers), into preallocated buffers."""

    def __init__(self, prep, dtype=None, seed=0):
        dt = np.dtype(dtype or prep.config.dtype)
        cfg = prep.config
        self.A1 = prep.data.A1.astype(dt)
        self.A2 = prep.data.A2.astype(dt)
        self.rng = np.random.default_rng(seed)
        self.X = np.zeros((cfg.batch_size, cfg.input_dim), dt)
        self.hid = np.zeros((cfg.batch_size, self.A1.shape[0]), dt)
        self.T = np.zeros((cfg.batch_size, cfg.output_dim), dt)

    def __call__(self):
        self.rng.standard_normal(out=self.X, dtype=self.X.dtype)
        np.matmul(self.X, self.A1.T, out=self.hid)
        np.maximum(self.hid, 0.0, out=self.hid)
        np.matmul(self.hid, self.A2.T, out=self.T)
        return self.X, self.T

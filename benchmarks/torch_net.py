"""PyTorch CPU eager baseline: the same normalized network + torch.optim.AdamW.

embedding E (n×k), one residual block h1 = h0 + β·RMSNorm(m2·relu(m1·RMSNorm(h0) W1ᵀ) W2ᵀ),
readout R (out×n), y = m_R·h1 Rᵀ; MSE loss; ``torch.optim.AdamW`` (coupled decay, as the
simulator's "coupled" mode) with one parameter group per layer carrying the calculator's
per-layer lr and wd. Multipliers, init and hyperparameters come from a
:class:`mupsim.sim.run.Prepared`, so given the same batches the trajectory matches the
simulator (``python -m benchmarks.run --check``).

torch is optional (the ``torch`` extra): :func:`available` returns (False, reason) when it
cannot be imported and the benchmark skips this column with that message.
Threads: ``torch.set_num_threads(1)`` (single-thread, like a sweep worker and like the
numba loop). ``variant``: "default" (AdamW's default implementation on CPU, i.e. the
per-tensor for-loop), "foreach" or "fused".
"""

from __future__ import annotations

import numpy as np

from benchmarks.numpy_net import NAMES, check_supported

_torch = None


def available():
    global _torch
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means "skip"
        return (
            False,
            f"torch not importable ({type(e).__name__}: {e}); install the optional "
            f"extra: .venv/bin/pip install -e '.[torch]'",
        )
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    _torch = torch
    return True, f"torch {torch.__version__}"


def version():
    return None if _torch is None else _torch.__version__


class TorchNet:
    def __init__(self, prep, dtype=None, variant="default"):
        torch = _torch
        if torch is None:
            raise RuntimeError("call benchmarks.torch_net.available() first")
        cfg, lay = prep.config, prep.layout
        check_supported(cfg)
        if list(lay.names) != list(NAMES):
            raise ValueError(f"unexpected layout {lay.names}")
        dt = np.dtype(dtype or cfg.dtype)
        self.params = [
            torch.nn.Parameter(torch.from_numpy(np.ascontiguousarray(lay.view(prep.theta0, p), dt).copy()))
            for p in range(4)
        ]
        self.mult = [float(x) for x in prep.mult]
        self.eps = float(lay.farch[1])
        self.beta = float(lay.farch[0])
        groups = [
            dict(params=[w], lr=float(prep.p_lr[p]), weight_decay=float(prep.p_wd[p]))
            for p, w in enumerate(self.params)
        ]
        kw = {}
        if variant == "foreach":
            kw["foreach"] = True
        elif variant == "fused":
            kw["fused"] = True
        elif variant != "default":
            raise ValueError(f"unknown torch variant {variant!r}")
        self.opt = torch.optim.AdamW(groups, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, **kw)

    def _rms(self, x):
        return x * _torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)

    def forward(self, X):
        E, W1, W2, R = self.params
        mE, m1, m2, mR = self.mult
        h0 = mE * (X @ E.T)
        a1 = m1 * (self._rms(h0) @ W1.T)
        a2 = m2 * (_torch.relu(a1) @ W2.T)
        h1 = h0 + self.beta * self._rms(a2)
        return mR * (h1 @ R.T)

    def step(self, X, T):
        self.opt.zero_grad(set_to_none=True)
        y = self.forward(X)
        loss = ((y - T) ** 2).mean()
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def flat_params(self) -> np.ndarray:
        return np.concatenate([w.detach().double().numpy().ravel() for w in self.params])


class TorchBatches:
    """Online teacher–student batches generated with torch (same distribution as the
    simulator's online data, different random numbers)."""

    def __init__(self, prep, dtype=None, seed=0):
        torch = _torch
        cfg = prep.config
        dt = np.dtype(dtype or cfg.dtype)
        self.A1 = torch.from_numpy(prep.data.A1.astype(dt))
        self.A2 = torch.from_numpy(prep.data.A2.astype(dt))
        self.gen = torch.Generator().manual_seed(seed)
        self.shape = (cfg.batch_size, cfg.input_dim)
        self.tdt = self.A1.dtype

    def __call__(self):
        torch = _torch
        with torch.no_grad():
            X = torch.randn(self.shape, generator=self.gen, dtype=self.tdt)
            T = torch.relu(X @ self.A1.T) @ self.A2.T
        return X, T

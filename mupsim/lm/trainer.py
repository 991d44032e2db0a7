"""A causal-LM trainer with the signature ``train(model, optimizers, data, steps) -> held-out loss``.

Batches: ``data.batch_size`` windows of ``data.context`` + 1 tokens at offsets drawn from torch's
global generator (so :func:`mupsim.torch.transfer.transfer_check`, which seeds torch with the run's
seed just before calling the trainer, gives every width of one seed the same batches). Schedule:
linear warm-up over ``warmup`` steps (default min(steps/10, 100)), then the peak lr held constant
(a ``LambdaLR`` per optimizer: every group keeps its own lr, so the bridge's per-layer ratios hold).
The held-out loss is the mean next-token cross-entropy (nats) over ``data.n_eval`` windows evenly
spaced over ``data.held_out``. A non-finite training loss stops the run and returns ``inf``.
The model is called as ``model(input_ids)`` and may return logits or an object with ``.logits``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F


def _logits(model, x):
    out = model(x)
    return getattr(out, "logits", out)


def _loss(model, batch):
    logits = _logits(model, batch[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), batch[:, 1:].reshape(-1))


def _windows(tokens: torch.Tensor, starts: torch.Tensor, length: int) -> torch.Tensor:
    return tokens[starts[:, None] + torch.arange(length)]


def eval_windows(data) -> torch.Tensor:
    """The held-out windows [n_eval, context + 1] (evenly spaced, deterministic)."""
    ho = torch.from_numpy(np.asarray(data.held_out).astype(np.int64))
    n = min(data.n_eval, ho.numel() - data.context - 1)
    starts = torch.linspace(0, ho.numel() - data.context - 2, n).long()
    return _windows(ho, starts, data.context + 1)


@torch.no_grad()
def held_out_loss(model, data, chunk: int = 16) -> float:
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    w = eval_windows(data)
    tot = 0.0
    for i in range(0, len(w), chunk):
        b = w[i : i + chunk].to(device)
        tot += float(_loss(model, b)) * len(b)
    model.train(was)
    return tot / len(w)


def train(model, optimizers, data, steps: int, warmup: int | None = None) -> float:
    """Train ``steps`` steps; return the held-out loss (``inf`` if the training loss diverged)."""
    device = next(model.parameters()).device
    warmup = max(1, min(steps // 10, 100)) if warmup is None else max(1, int(warmup))
    scheds = [torch.optim.lr_scheduler.LambdaLR(o, lambda t: min(1.0, (t + 1) / warmup)) for o in optimizers]
    tr = torch.from_numpy(np.asarray(data.train).astype(np.int64))
    hi = tr.numel() - data.context - 1
    model.train()
    for _ in range(steps):
        starts = torch.randint(0, hi, (data.batch_size,))
        loss = _loss(model, _windows(tr, starts, data.context + 1).to(device))
        if not torch.isfinite(loss):
            return math.inf
        for o in optimizers:
            o.zero_grad(set_to_none=True)
        loss.backward()
        for o in optimizers:
            o.step()
        for s in scheds:
            s.step()
    val = held_out_loss(model, data)
    return val if math.isfinite(val) else math.inf

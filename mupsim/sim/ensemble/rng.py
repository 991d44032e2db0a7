"""The numba loop's splitmix64 batch generator (:mod:`mupsim.sim.kernels.data`) in torch.

Generated on the device, vectorised over data streams and over the draws of a batch: the
generator's state after i draws is ``s0 + i·γ`` (mod 2⁶⁴), so draw i is ``mix64(s0 + i·γ)``
and needs no sequential loop. uint64 arithmetic is done in int64 (two's-complement wrapping
multiplication and addition are the same bits); logical right shifts are arithmetic shifts
with the sign-extended bits masked off. Uniforms, Box–Muller normals, teacher targets and
label noise then follow the numba code line for line, so the batches are the same numbers
(float64: up to the last-bit differences of log/cos/sin between libm and torch).

Supported: online batches (stream 0) for regression (any label noise) and classification
without label noise (with noise the numba code draws a data-dependent number of values per
row; :mod:`.support` refuses it).
"""

from __future__ import annotations

import math

import torch

STREAM_ONLINE = 0


def _i64(u: int) -> int:
    """uint64 constant as the int64 with the same bits."""
    return u - (1 << 64) if u >= (1 << 63) else u


GAMMA = _i64(0x9E3779B97F4A7C15)
C_SEED = _i64(0x632BE59BD9B4E5F)
C_INDEX = _i64(0xD1B54A32D192ED03)
M1 = _i64(0xBF58476D1CE4E5B9)
M2 = _i64(0x94D049BB133111EB)


def _lsr(z, k):
    return (z >> k) & ((1 << (64 - k)) - 1)


def mix64(z):
    z = (z ^ _lsr(z, 30)) * M1
    z = (z ^ _lsr(z, 27)) * M2
    return z ^ _lsr(z, 31)


def rng_state(seed, stream: int, index):
    """State (int64 tensor, broadcast of seed and index) for (seed, stream, index)."""
    z = mix64(seed + C_SEED)
    z = mix64(z ^ _i64((stream * 0x9E3779B97F4A7C15) % (1 << 64)))
    return mix64(z + index * C_INDEX)


def uniforms(state, i0: int, count: int, steps_i):
    """Uniforms (0, 1) of draws i0+1 .. i0+count for every state (shape (..., count)),
    float64. ``steps_i`` is the cached int64 tensor arange(1, count+1)·γ."""
    z = mix64(state.unsqueeze(-1) + (steps_i + _i64((i0 * GAMMA) % (1 << 64))))
    return (_lsr(z, 11).to(torch.float64) + 0.5) * (1.0 / 9007199254740992.0)


class BatchGenerator:
    """Online batches of ``b`` rows for U data streams (one per distinct seed/teacher/noise).

    ``A1`` (U, tw, k), ``A2`` (U, out, tw) teachers in the run dtype; ``seeds`` (U,) int64;
    ``noise`` (U,) float64. ``__call__(t)`` (t a python int or a 0-d int64 device tensor)
    returns X (U, b, k) and T (U, b, out) in the run dtype.
    """

    def __init__(self, A1, A2, seeds, noise, b: int, task_cls: bool):
        self.A1, self.A2, self.b, self.task_cls = A1, A2, b, task_cls
        self.A1t = A1.transpose(1, 2)
        self.A2t = A2.transpose(1, 2)
        self.seeds = seeds
        self.noise = noise
        self.noise_any = bool((noise > 0).any())
        U, tw, k = A1.shape
        out = A2.shape[1]
        self.k, self.out = k, out
        dev = seeds.device
        bk = b * k
        self.npair = (bk + 1) // 2
        n_draw_x = 2 * self.npair
        self.ix = torch.arange(1, n_draw_x + 1, device=dev, dtype=torch.int64) * GAMMA
        self.inoise = torch.arange(1, 2 * b * out + 1, device=dev, dtype=torch.int64) * GAMMA
        self.n_draw_x = n_draw_x
        self.classes = torch.arange(out, device=dev)

    def __call__(self, t):
        b, k, out = self.b, self.k, self.out
        dt = self.A1.dtype
        st = rng_state(self.seeds, STREAM_ONLINE, t)
        u = uniforms(st, 0, self.n_draw_x, self.ix).view(-1, self.npair, 2)
        r = torch.sqrt(-2.0 * torch.log(u[..., 0]))
        a = (2.0 * math.pi) * u[..., 1]
        X = torch.stack((r * torch.cos(a), r * torch.sin(a)), dim=-1).view(-1, 2 * self.npair)
        X = X[:, :b * k].reshape(-1, b, k).to(dt)
        hid = torch.relu(torch.bmm(X, self.A1t))
        T = torch.bmm(hid, self.A2t)
        if self.task_cls:
            # one-hot of the first maximum (no host sync: safe inside a CUDA graph)
            T = (T.argmax(dim=2, keepdim=True) == self.classes).to(dt)
        elif self.noise_any:
            un = uniforms(st, self.n_draw_x, 2 * b * out, self.inoise).view(-1, b * out, 2)
            z = torch.sqrt(-2.0 * torch.log(un[..., 0])) * torch.cos((2.0 * math.pi) * un[..., 1])
            T = (T.to(torch.float64) + self.noise.view(-1, 1, 1) * z.view(-1, b, out)).to(dt)
        return X, T

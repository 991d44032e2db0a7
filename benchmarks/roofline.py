"""Roofline for one training step of the benchmarked network on this machine.

Measured, single thread (BLAS pinned to 1 thread by ``benchmarks/__init__``):

* GEMM rate (GFLOP/s): NumPy ``matmul(..., out=)`` in the benchmark dtype on *exactly the
  matrix products of one training step* at width n (shapes and transposes as in the kernels):
  forward h0 = X·Eᵀ (b×k·k×n), a1 = z·W1ᵀ, a2 = s·W2ᵀ (b×n·n×n), y = h·Rᵀ; backward
  gR = dYᵀ·h, dh = dY·R, gW2 = dA2ᵀ·s (n×b·b×n), dS = dA2·W2, gW1 = dA1ᵀ·z, dz = dA1·W1,
  gE = dhᵀ·X. The step's matmul time is the sum of the per-product medians, so the rate is
  "what NumPy's BLAS achieves at these sizes" (it includes per-call overhead, which matters
  only at small n). A large square GEMM is also reported as the machine's peak.
* Memory bandwidth (GB/s) on arrays far larger than the L3 cache: ``np.copyto`` (1 read +
  1 write per element) and BLAS ``axpy`` y += a·x (2 reads + 1 write); bytes counted as
  logical reads + writes. The roofline uses the larger (= faster) of the two.

Roofline time per step = matmul FLOPs / GEMM rate + optimizer bytes / bandwidth, with AdamW
moving 7 arrays' worth of parameter-sized data (reads w, g, m, v; writes w, m, v).
Elementwise work of the network (norms, ReLU, scaling; O(b·n)) is left out: it is tiny next
to the O(b·n²) matmuls and O(n²) optimizer, so the roofline is a (slightly) optimistic bound.
Caveat: for small n the optimizer's arrays fit in cache and DRAM bandwidth is pessimistic;
the roofline is meant for n ≥ 1024 (n = 1024: 2.1 M parameters · 28 B = 59 MB > 32 MB L3).
"""

from __future__ import annotations

import time

import numpy as np

ADAMW_ARRAYS = 7  # read w, g, m, v ; write w, m, v


def step_matmuls(n, b=64, k=16, out=1):
    """[(name, A shape, B shape, transpose A?, transpose B?)] for one training step."""
    return [
        ("h0=X·Eᵀ", (b, k), (n, k), False, True),
        ("a1=z·W1ᵀ", (b, n), (n, n), False, True),
        ("a2=s·W2ᵀ", (b, n), (n, n), False, True),
        ("y=h·Rᵀ", (b, n), (out, n), False, True),
        ("gR=dYᵀ·h", (b, out), (b, n), True, False),
        ("dh=dY·R", (b, out), (out, n), False, False),
        ("gW2=dA2ᵀ·s", (b, n), (b, n), True, False),
        ("dS=dA2·W2", (b, n), (n, n), False, False),
        ("gW1=dA1ᵀ·z", (b, n), (b, n), True, False),
        ("dz=dA1·W1", (b, n), (n, n), False, False),
        ("gE=dhᵀ·X", (b, n), (b, k), True, False),
    ]


def matmul_flops(n, b=64, k=16, out=1):
    tot = 0
    for _, sa, sb, ta, tb in step_matmuls(n, b, k, out):
        M, K = (sa[1], sa[0]) if ta else sa
        N = sb[0] if tb else sb[1]
        tot += 2 * M * K * N
    return tot


def n_params(n, k=16, out=1):
    return n * k + 2 * n * n + out * n


def _median_time(fn, min_time=0.2, repeats=5):
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    inner = max(1, int(min_time / repeats / one))
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        ts.append((time.perf_counter() - t0) / inner)
    return float(np.median(ts))


def gemm_step_time(n, b=64, k=16, out=1, dtype="float32", min_time=0.2):
    """Median seconds for all matmuls of one step, summed over the products."""
    rng = np.random.default_rng(0)
    dt = np.dtype(dtype)
    total = 0.0
    for _, sa, sb, ta, tb in step_matmuls(n, b, k, out):
        A = rng.standard_normal(sa).astype(dt)
        B = rng.standard_normal(sb).astype(dt)
        A2 = A.T if ta else A
        B2 = B.T if tb else B
        C = np.empty((A2.shape[0], B2.shape[1]), dt)
        total += _median_time(lambda: np.matmul(A2, B2, out=C), min_time=min_time)
    return total


def peak_gemm_rate(size=1024, dtype="float32"):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((size, size)).astype(dtype)
    B = rng.standard_normal((size, size)).astype(dtype)
    C = np.empty_like(A)
    t = _median_time(lambda: np.matmul(A, B, out=C), min_time=0.5, repeats=5)
    return 2 * size**3 / t / 1e9


def bandwidth(mbytes=256, dtype="float32"):
    """(copy GB/s, axpy GB/s) on arrays of ``mbytes`` MB each (logical bytes moved)."""
    from scipy.linalg import blas

    dt = np.dtype(dtype)
    N = int(mbytes * 1e6 // dt.itemsize)
    x = np.ones(N, dt)
    y = np.ones(N, dt)
    t_copy = _median_time(lambda: np.copyto(y, x), min_time=1.0, repeats=5)
    axpy = blas.saxpy if dt == np.float32 else blas.daxpy
    t_axpy = _median_time(lambda: axpy(x, y, a=1e-9), min_time=1.0, repeats=5)
    return 2 * N * dt.itemsize / t_copy / 1e9, 3 * N * dt.itemsize / t_axpy / 1e9


def optimizer_bytes(n, dtype="float32", k=16, out=1):
    return ADAMW_ARRAYS * n_params(n, k, out) * np.dtype(dtype).itemsize


def roofline(widths, b=64, k=16, out=1, dtype="float32", quick=False):
    """dict with machine rates and, per width, FLOPs, bytes, GEMM time/rate, roofline ms."""
    bw_copy, bw_axpy = bandwidth(128 if quick else 256, dtype)
    bw = max(bw_copy, bw_axpy)
    res = {
        "peak_gemm_gflops": peak_gemm_rate(1024, dtype),
        "bw_copy_gbs": bw_copy,
        "bw_axpy_gbs": bw_axpy,
        "bw_gbs": bw,
        "per_width": {},
    }
    for n in widths:
        fl = matmul_flops(n, b, k, out)
        tg = gemm_step_time(n, b, k, out, dtype, min_time=0.1 if quick else 0.25)
        by = optimizer_bytes(n, dtype, k, out)
        t_opt = by / (bw * 1e9)
        res["per_width"][n] = {
            "flops": fl,
            "gemm_s": tg,
            "gemm_gflops": fl / tg / 1e9,
            "opt_bytes": by,
            "opt_s": t_opt,
            "roofline_ms": 1e3 * (tg + t_opt),
        }
    return res

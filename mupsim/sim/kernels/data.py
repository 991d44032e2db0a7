"""Seeded in-loop teacher–student data (numba).

Every batch is a pure function of (seed, stream, index): numba's own RNG (one per thread,
separate from NumPy's) is re-seeded with a splitmix64 hash of the triple before drawing, so
the compiled loop and the NumPy reference see identical data and nothing depends on history.
Streams: 0 = online training batch ``index`` = step, 1 = held-out set, 2 = fixed train set,
3 = minibatch sampling from the fixed train set.

Teacher (weights built by :mod:`mupsim.sim.data`, scalings already inside A1, A2):
``f(x) = A2 · relu(A1 x)``. Regression target: f(x) + label_noise·ξ, ξ ~ N(0, 1).
Classification: one-hot of argmax f(x); with probability label_noise the class is replaced
by a uniformly random one.
"""

from __future__ import annotations

import numpy as np
from numba import njit

STREAM_ONLINE, STREAM_TEST, STREAM_TRAIN, STREAM_SAMPLE = 0, 1, 2, 3
_M64 = 0xFFFFFFFFFFFFFFFF


@njit(cache=True)
def mix_seed(seed, stream, index):
    """splitmix64-style hash of (seed, stream, index) -> seed in [0, 2**32)."""
    z = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
    z = z ^ (np.uint64(stream) * np.uint64(0xBF58476D1CE4E5B9))
    z = z + np.uint64(index) * np.uint64(0x94D049BB133111EB) + np.uint64(0x632BE59BD9B4E5F)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return np.int64(z & np.uint64(0xFFFFFFFF))


@njit(cache=True)
def make_batch(X, T, hid, A1, A2, task_cls, noise, seed, stream, index):
    """Fill X (b, k) with N(0,1) inputs and T (b, out) with teacher targets. ``hid`` is a
    (b, teacher_width) scratch array of X's dtype."""
    np.random.seed(mix_seed(seed, stream, index))
    b, k = X.shape
    out = T.shape[1]
    for i in range(b):
        for j in range(k):
            X[i, j] = np.random.standard_normal()
    np.dot(X, A1.T, hid)
    for i in range(b):
        for j in range(hid.shape[1]):
            if hid[i, j] < 0.0:
                hid[i, j] = 0.0
    np.dot(hid, A2.T, T)
    if task_cls:
        for i in range(b):
            c = 0
            for j in range(1, out):
                if T[i, j] > T[i, c]:
                    c = j
            if noise > 0.0 and np.random.random() < noise:
                c = np.random.randint(0, out)
            for j in range(out):
                T[i, j] = 1.0 if j == c else 0.0
    elif noise > 0.0:
        for i in range(b):
            for j in range(out):
                T[i, j] += noise * np.random.standard_normal()


@njit(cache=True)
def sample_batch(perm, Xtr, Ttr, X, T, seed, index):
    """Minibatch of X.shape[0] distinct rows of the fixed train set (partial Fisher–Yates on
    the persistent permutation ``perm``; deterministic given seed, index and perm)."""
    np.random.seed(mix_seed(seed, STREAM_SAMPLE, index))
    n = perm.shape[0]
    b = X.shape[0]
    for i in range(b):
        j = i + np.random.randint(0, n - i)
        tmp = perm[i]
        perm[i] = perm[j]
        perm[j] = tmp
        r = perm[i]
        X[i, :] = Xtr[r]
        T[i, :] = Ttr[r]

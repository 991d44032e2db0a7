"""The fixed-train-set minibatch rows of every step, as the numba loop samples them (numba).

:func:`mupsim.sim.kernels.data.sample_batch` draws b distinct rows per step by a partial
Fisher–Yates shuffle of a permutation carried from step to step (starting at arange(n)); the
rows depend on (seed, n, b, step) only, not on the data, so they are replayed here once per
data stream and the ensemble gathers its batches from them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from mupsim.sim.kernels.data import STREAM_SAMPLE, randint, rng_state


@njit(cache=True)
def sample_rows(seed, n, b, steps):
    """int64 (steps + 1, b): row indices of the minibatch of steps 0..steps."""
    perm = np.arange(n)
    out = np.empty((steps + 1, b), np.int64)
    for t in range(steps + 1):
        st = rng_state(seed, STREAM_SAMPLE, t)
        for i in range(b):
            j = i + randint(st, n - i)
            tmp = perm[i]
            perm[i] = perm[j]
            perm[j] = tmp
            out[t, i] = perm[i]
    return out

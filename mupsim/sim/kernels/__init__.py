"""Numba kernels of the simulator (compiled code only; orchestration lives in run.py).

* :mod:`.model`        forward + manual backward of the normalized and the deep linear net
* :mod:`.optim`        in-place per-parameter optimizer steps and the LR schedule
* :mod:`.diagnostics`  RMS, power-iteration σ_max, sublayer gains, update geometry
* :mod:`.data`         in-loop teacher–student batch generation (seeded)
* :mod:`.loop`         the whole training loop in one compiled function

Everything is dtype-generic (float32 / float64 arrays; accumulations in float64) and compiled
with ``cache=True`` (set NUMBA_CACHE_DIR).
"""

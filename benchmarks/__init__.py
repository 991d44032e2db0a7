"""Benchmarks of the mupsim simulator (``python -m benchmarks.run``; see RESULTS.md).

Importing this package pins BLAS / OpenMP / numba to one thread for this process and the
processes it starts (two BLAS threads on a shared 2-core machine are catastrophically slow,
and single-thread numbers are what a sweep worker sees), and points numba's cache at the
repository's ``.cache/numba`` unless NUMBA_CACHE_DIR is already set. It must therefore be
imported before numpy / numba / torch, which ``python -m benchmarks.run`` guarantees.
"""

import os as _os
from pathlib import Path as _Path

THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
for _k in THREAD_ENV:
    _os.environ[_k] = "1"
_os.environ.setdefault("NUMBA_CACHE_DIR", str(_Path(__file__).resolve().parent.parent / ".cache" / "numba"))

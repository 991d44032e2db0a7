"""Numba kernels of the simulator (compiled code only; orchestration lives in run.py).

* :mod:`.model`        forward + manual backward of the normalized and the deep linear net
* :mod:`.optim`        in-place per-parameter optimizer steps and the LR schedule
* :mod:`.diagnostics`  RMS, power-iteration σ_max, sublayer gains, update geometry
* :mod:`.data`         in-loop teacher–student batch generation (seeded)
* :mod:`.loop`         the whole training loop in one compiled function

Everything is dtype-generic (float32 / float64 arrays; accumulations in float64) and compiled
with ``cache=True`` (set NUMBA_CACHE_DIR).
"""

import hashlib as _hashlib
import os as _os
from pathlib import Path as _Path


def _invalidate_stale_cache() -> None:
    """numba's on-disk cache keys each function on its own file's contents only, so editing
    e.g. data.py would leave loop.train's cached machine code calling the *old* make_batch.
    We hash every kernel source (and layout.py, whose constants they read); when the hash
    differs from the one recorded in the cache directory, every kernel's cache index is
    flushed so numba recompiles all of them. Best effort: never raises."""
    try:
        here = _Path(__file__).resolve().parent
        srcs = sorted(here.glob("*.py")) + [here.parent / "layout.py"]
        h = _hashlib.sha1()
        for p in srcs:
            h.update(p.name.encode())
            h.update(p.read_bytes())
        digest = h.hexdigest()
        from numba.core.registry import CPUDispatcher

        from mupsim.sim.kernels import data, diagnostics, loop, model, optim

        disps = {
            id(o): o
            for mod in (data, diagnostics, loop, model, optim)
            for o in vars(mod).values()
            if isinstance(o, CPUDispatcher)
        }
        caches = [d._cache for d in disps.values() if hasattr(d._cache, "_cache_path")]
        if not caches:
            return
        stamp = _Path(caches[0]._cache_path) / "mupsim_kernels.sha1"
        if stamp.is_file() and stamp.read_text().strip() == digest:
            return
        for c in caches:
            c.flush()
        tmp = stamp.with_name(f"{stamp.name}.{_os.getpid()}.tmp")
        tmp.write_text(digest)
        _os.replace(tmp, stamp)
    except Exception:  # noqa: BLE001 - a stale cache is a dev-time hazard, not worth failing
        pass


_invalidate_stale_cache()

"""The next-token task at V = 4,096, c = 2: the teacher's entropy against β, and the cost of a
training step with the dense embedding product against the one-hot lookup.

    python -m benchmarks.next_token [--entropy] [--steps] [--out benchmarks/NEXT_TOKEN.json]

``--entropy``: the teacher's mean conditional entropy (nats, :func:`mupsim.sim.data.teacher_entropy`)
over the n_test = 1,024 held-out contexts of seeds 0–2 (V = 4,096, c = 2, teacher width 64,
z = 1), for a grid of β (the held-out contexts do not depend on β; only the targets do).

``--steps``: milliseconds per training step of the compiled loop (model "normalized", depth 1,
AdamW, float32, batch 128, rank metrics off, n_logs 2) at widths 256 and 512, with the
embedding as a dense product over all c·V = 8,192 columns (``arch[A_LOOKUP] = 0``) and as the
lookup the next-token task uses (``arch[A_LOOKUP] = 1``); the per-step time is the slope
between a run of 2 + K steps and one of 2 steps (removing the start-up and the logged steps'
diagnostics), median of ``--repeats`` pairs, in process CPU time (``*_ms``; the machine may be
shared, and CPU time counts only the time this process ran) and wall time (``*_wall_ms``).
Single thread (``benchmarks/__init__``).

``--steps --lookup-only --widths 128,256,512``: the lookup path alone (section
``lookup_step_ms``; it calibrates :data:`mupsim.sim.limits.TIME_CONSTANTS`).

Writes the numbers to ``--out`` (JSON; sections not asked for are kept from the file).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import benchmarks  # noqa: F401  (pins threads before numpy/numba are imported)

V, C, TW = 4096, 2, 64
BETAS = (1.0, 2.0, 2.5, 3.0, 3.2, 3.5, 4.0, 5.0)
TASK = dict(task="next_token", inputs="tokens", context=C, output_dim=V, input_dim=C * V, teacher_width=TW)


def entropy_table(seeds=(0, 1, 2), n_test=1024) -> dict:
    """{"log_V", "rows": [{beta, H (nats) per seed, mean, fraction of log V}]}."""
    from mupsim.sim.config import SimConfig
    from mupsim.sim.data import make_dataset, teacher, teacher_entropy

    data = {}
    for s in seeds:
        cfg = SimConfig(**TASK, width=64, base_width=64, n_test=n_test, seed=s, steps=1)
        data[s] = (cfg, make_dataset(cfg).X_test, *teacher(cfg))
    rows = []
    for beta in BETAS:
        H = [teacher_entropy(cfg.replace(logit_scale=beta), X, A1, A2) for cfg, X, A1, A2 in data.values()]
        rows.append(
            dict(
                beta=beta,
                H=dict(zip(map(str, seeds), H)),
                mean=float(np.mean(H)),
                fraction_of_log_V=float(np.mean(H) / np.log(V)),
            )
        )
    return dict(
        V=V, context=C, teacher_width=TW, zipf_exponent=1.0, n_test=n_test, log_V=float(np.log(V)), rows=rows
    )


def _run_seconds(cfg, lookup: int) -> tuple[float, float]:
    from mupsim.sim.layout import A_LOOKUP
    from mupsim.sim.run import execute, one_blas_thread, prepare

    prep = prepare(cfg)
    prep.layout.arch[A_LOOKUP] = lookup
    with one_blas_thread():
        t0, c0 = time.perf_counter(), time.process_time()
        execute(prep)
        return time.perf_counter() - t0, time.process_time() - c0


def step_times(widths=(256, 512), K=20, repeats=3, modes=(("dense", 0), ("lookup", 1))) -> dict:
    """{width: {"dense_ms", "lookup_ms" (CPU), "dense_wall_ms", "lookup_wall_ms", "speedup"}}
    (see module docstring)."""
    from mupsim.sim.config import SimConfig

    out = {}
    for n in widths:
        base = dict(
            TASK,
            width=n,
            base_width=64,
            dtype="float32",
            batch_size=128,
            n_test=128,
            n_logs=2,
            rank_metrics=False,
            lr=1e-3,
            wd=0.1,
            wd_rule="constant",
        )
        short, long_ = SimConfig(**base, steps=2), SimConfig(**base, steps=2 + K)
        res = {}
        for name, look in modes:
            _run_seconds(short, look)  # compile / load the cache, warm the caches
            wall, cpu = [], []
            for _ in range(repeats):
                (wl, cl), (ws, cs) = _run_seconds(long_, look), _run_seconds(short, look)
                wall.append((wl - ws) / K)
                cpu.append((cl - cs) / K)
            res[f"{name}_ms"] = 1e3 * float(np.median(cpu))
            res[f"{name}_wall_ms"] = 1e3 * float(np.median(wall))
            res[f"{name}_ms_all"] = [1e3 * x for x in cpu]
        if "dense_ms" in res and "lookup_ms" in res:
            res["speedup"] = res["dense_ms"] / res["lookup_ms"]
        out[str(n)] = res
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entropy", action="store_true", help="entropy of the teacher against beta")
    ap.add_argument("--steps", action="store_true", help="ms per step, dense vs lookup embedding")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--K", type=int, default=20, help="extra steps of the long run")
    ap.add_argument("--widths", default="256,512", help="comma-separated widths (--steps)")
    ap.add_argument("--lookup-only", action="store_true", help="time the lookup path only")
    ap.add_argument("--out", default="benchmarks/NEXT_TOKEN.json")
    a = ap.parse_args(argv)
    path = Path(a.out)
    doc = json.loads(path.read_text()) if path.is_file() else {}
    meta = dict(
        date=_dt.date.today().isoformat(),
        machine=platform.machine(),
        processor=platform.processor(),
        cpu_count=os.cpu_count(),
        numpy=np.__version__,
    )
    if a.entropy:
        doc["entropy"] = dict(entropy_table(), **meta)
        for r in doc["entropy"]["rows"]:
            print(f"beta {r['beta']:4}  H {r['mean']:.3f} nats  ({r['fraction_of_log_V']:.3f} log V)")
    if a.steps:
        load0 = os.getloadavg()[0]
        widths = tuple(int(w) for w in a.widths.split(","))
        modes = (("lookup", 1),) if a.lookup_only else (("dense", 0), ("lookup", 1))
        st = step_times(widths, K=a.K, repeats=a.repeats, modes=modes)
        doc["step_ms" if not a.lookup_only else "lookup_step_ms"] = dict(
            widths=st,
            conditions="float32, V=4096, c=2, batch 128, depth 1, AdamW, one thread; slope of (2+K)-step "
            "minus 2-step runs; *_ms process CPU time, *_wall_ms wall time",
            K=a.K,
            repeats=a.repeats,
            load_before=load0,
            load_after=os.getloadavg()[0],
            **meta,
        )
        for n, r in st.items():
            print(f"width {n}: " + ", ".join(f"{k} {v:.3g}" for k, v in r.items() if not k.endswith("_all")))
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

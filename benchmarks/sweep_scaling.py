"""Sweep scaling: the numba sweep's configurations/min with 1 and all cores (local executor), and
the Dask executor's parallel efficiency from 1 to all workers.

    python -m benchmarks.sweep_scaling [--steps 500] [--per-worker 4] [--workers 1,2,4,8,16]
                                       [--out benchmarks/sweep_scaling.json]

Configs: the widths of the sweep mix of :mod:`benchmarks.run` (64, 128, 256, 512; normalized
network, batch 64, AdamW, float32, n_logs=40 diagnostics) at its middle lr and wd (lr and wd
change the cost only through divergence, which would make the mixes of different worker counts
unequal), ``--steps`` steps each. Weak scaling: with k
workers the sweep has k × ``per_worker`` configs (with per_worker = 4: one of each width per
worker), so the ideal wall time is the same for every k, and

    efficiency(k) = rate(k) / (k · rate(1)),  rate = configurations per minute.

* Dask: one ``LocalCluster`` of max(workers) processes (one thread each) is started and warmed
  (kernels loaded on every worker) outside the timings, then scaled down for the smaller counts.
  Each timing is one ``sweep(..., executor="dask", scheduler=address)`` call into a fresh folder:
  client connection, task submission, runs, results returned and written by the client.
* Local: ``sweep(..., workers=k)`` for k = 1 and all cores, *including* worker process start-up
  (what a user of ``mupsim sweep`` sees).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import benchmarks  # noqa: F401  (pins threads before numpy/numba are imported)
from benchmarks.run import SWEEP_LRS, SWEEP_WDS, SWEEP_WIDTHS, config


def mix(n: int, steps: int, offset: int = 0):
    """n configs cycling through the widths, all at the grid's middle lr and wd (stable runs of
    the same cost for every worker count; only the seeds differ)."""
    return [
        config(
            SWEEP_WIDTHS[::-1][i % len(SWEEP_WIDTHS)],
            steps,
            lr=SWEEP_LRS[2],
            wd=SWEEP_WDS[2],
            seed=offset + i // len(SWEEP_WIDTHS),
            n_logs=40,
        )
        for i in range(n)
    ]


def _warm():
    """Load the compiled kernels in this process (from numba's cache)."""
    from mupsim.sim.run import run

    run(config(64, 5))
    return os.getpid()


def timed_sweep(configs, k: int, **kw) -> dict:
    """Time one sweep; also the mean run time (the runs' own wall_time_s) and the workers'
    busy fraction sum(run times) / (k · wall): below 1 = scheduling/IO gaps, while a longer
    mean run time than with 1 worker = the runs slowed each other (shared cores/caches)."""
    import mupsim.sim.sweep as sw

    saving = [0.0]
    real_save = sw._save

    def timed_save(r, stem):
        t = time.perf_counter()
        real_save(r, stem)
        saving[0] += time.perf_counter() - t

    sw._save = timed_save
    try:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            res = sw.sweep(configs, tmp, progress=False, **kw)
            wall = time.perf_counter() - t0
    finally:
        sw._save = real_save
    bad = sum(r.status == "error" for r in res)
    if bad:
        raise RuntimeError(f"{bad} runs errored: {res[0].provenance.get('error')}")
    run_s = [r.provenance["wall_time_s"] for r in res]
    return {
        "configs": len(configs),
        "wall_s": wall,
        "configs_per_min": len(configs) / wall * 60,
        "mean_run_s": sum(run_s) / len(run_s),
        "busy": sum(run_s) / (k * wall),
        "client_save_s": saving[0],
    }


def measure(steps: int, per_worker: int, workers: list[int], local: bool = True) -> dict:
    from dask.distributed import Client, LocalCluster

    from mupsim.sim.sweep import _thread_env

    _warm()  # compile once here: workers then load the kernels from numba's cache
    kmax = max(workers)
    R = {
        "steps": steps,
        "per_worker": per_worker,
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "cpu": _cpu_name(),
        "dask": {},
        "local": {},
    }
    with _thread_env():
        cluster = LocalCluster(n_workers=kmax, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(cluster)
    try:
        client.run(_warm)
        for k in sorted(workers, reverse=True):
            cluster.scale(k)
            t0 = time.monotonic()
            while len(client.scheduler_info()["workers"]) != k:
                if time.monotonic() - t0 > 60:
                    raise RuntimeError(f"cluster did not scale to {k} workers")
                time.sleep(0.1)
            r = timed_sweep(
                mix(k * per_worker, steps, offset=1000 * k),
                k,
                executor="dask",
                scheduler=cluster.scheduler_address,
            )
            R["dask"][k] = r
            print(
                f"[scaling] dask {k:>2} workers: {r['configs']} configs in {r['wall_s']:.1f} s "
                f"= {r['configs_per_min']:.1f}/min; mean run {r['mean_run_s']:.2f} s, busy "
                f"{r['busy']:.0%}, client saving {r['client_save_s']:.2f} s",
                flush=True,
            )
    finally:
        client.close()
        cluster.close()
    base = R["dask"][min(workers)]["configs_per_min"] / min(workers)
    for k, r in R["dask"].items():
        r["efficiency"] = r["configs_per_min"] / (k * base)
    for k in sorted({1, os.cpu_count() or 1}) if local else ():
        r = timed_sweep(mix(k * per_worker, steps, offset=7), k, workers=k)
        R["local"][k] = r
        print(
            f"[scaling] local {k:>2} workers: {r['configs']} configs in {r['wall_s']:.1f} s "
            f"= {r['configs_per_min']:.1f}/min (incl. worker start-up)",
            flush=True,
        )
    return R


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def report(R: dict) -> str:
    lines = [
        f"Sweep scaling on {R['cpu']} ({R['cpu_count']} cores): sweep mix (widths 64-512, "
        f"{R['steps']} steps, n_logs=40), {R['per_worker']} configs per worker "
        f"(weak scaling).",
        "",
        "| executor | workers | configs | wall s | configs/min | efficiency | mean run s | busy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k, r in sorted(R["dask"].items(), key=lambda kv: int(kv[0])):
        lines.append(
            f"| dask | {k} | {r['configs']} | {r['wall_s']:.1f} | "
            f"{r['configs_per_min']:.1f} | {r['efficiency']:.0%} | "
            f"{r['mean_run_s']:.2f} | {r['busy']:.0%} |"
        )
    for k, r in sorted(R["local"].items(), key=lambda kv: int(kv[0])):
        lines.append(
            f"| local (incl. start-up) | {k} | {r['configs']} | {r['wall_s']:.1f} | "
            f"{r['configs_per_min']:.1f} | | {r['mean_run_s']:.2f} | {r['busy']:.0%} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.sweep_scaling", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--per-worker", type=int, default=4)
    ap.add_argument(
        "--workers", default=None, help="comma-separated worker counts (default 1, 2, 4, ... up to the CPUs)"
    )
    ap.add_argument("--no-local", action="store_true", help="skip the local-executor timings")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("sweep_scaling.json"))
    a = ap.parse_args(argv)
    n = os.cpu_count() or 1
    if a.workers:
        workers = [int(x) for x in a.workers.split(",")]
    else:
        workers = sorted({min(2**i, n) for i in range(n.bit_length() + 1)})
    R = measure(a.steps, a.per_worker, workers, local=not a.no_local)
    a.out.write_text(json.dumps(R, indent=1))
    print(report(R))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

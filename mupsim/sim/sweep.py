"""Run many simulations into a folder, resumably and deterministically, on this machine or on Dask.

* Each config's result is stored as ``out_dir/<config.key()>.{npz,json}``, written atomically
  as soon as its run finishes, so an interrupted sweep resumes where it stopped (stale
  ``.tmp`` files of interrupted writes are removed on resume). A stored result is reused only
  if it loads intact (its content hash matches, see :mod:`mupsim.sim.result`); a corrupt,
  edited or outdated one is run again. A result path taken by a folder, FIFO or device is
  reported before anything is computed.
* Sweeps sharing ``out_dir`` (two at once, on one machine or several) never compute a config
  twice: each run is claimed first (:mod:`mupsim.sim.claims`); a sweep waits for the runs
  another one holds and takes their stored results, or runs them itself if that sweep died.
* Worker processes end when the sweep's process dies, even by SIGKILL.
* **Who writes**: workers *return* results and only the calling process (the "client") writes
  them. That is safe with a shared filesystem and without one (Dask workers on other machines
  never touch ``out_dir``), and there is a single writer per folder.
* ``executor="local"``: worker processes (multiprocessing "spawn" context by default), one
  BLAS/numba thread each; ``workers=0`` runs in the calling process. ``executor="dask"``: a
  ``dask.distributed.LocalCluster`` (processes, one thread per worker) by default, or the
  cluster at ``scheduler=ADDRESS``; a task whose worker dies is re-scheduled by Dask (after
  Dask's ``allowed-failures`` retries it is recorded as an error, not saved, and re-run on
  resume).
* Tasks are submitted longest first (estimated from width, batch, steps, depth), so the last
  runs to finish are short ones; results are returned in input order.
* Determinism: every run pins BLAS to one thread inside itself (:func:`mupsim.sim.run.run`), so
  a result's bits do not depend on the executor, the number of workers or thread variables.
* ``backend="ensemble"``: pending configs are grouped by
  :func:`mupsim.sim.ensemble.group_key`; each group runs as one task
  (:func:`mupsim.sim.ensemble.run_group`). Configs the ensemble cannot run fall back to the
  numba loop (``provenance["ensemble_fallback"]`` holds the reason). Every result records
  ``provenance["backend"]`` ("numba" if absent) and a stored result is reused only when it was
  made by the backend that would make it now.
* A run that raises is recorded as a Result with status "error" (message and traceback in
  ``provenance["error"]``/``["traceback"]``) and the sweep goes on; saved error records are
  re-run on resume. Divergence is not an error: the runner returns status "diverged".
* Signals (when called from the main thread): SIGINT (Ctrl-C) or SIGTERM stops the sweep at
  once: pending runs are cancelled, worker processes killed, nothing half-written is left, and
  :class:`SweepInterrupted` (a ``KeyboardInterrupt``) is raised; further signals are ignored
  while it cleans up. Worker processes ignore SIGINT (no tracebacks from them).
* With the default "spawn" context, a script calling ``sweep`` must guard its entry point with
  ``if __name__ == "__main__":`` (the usual multiprocessing rule).

Spec files (JSON)::

    {"name": "wd-transfer",             # optional, defaults to the file stem
     "description": "...",              # optional, free text
     "base": {SimConfig fields},        # optional
     "grid": {field: [v1, v2, ...]},    # optional, Cartesian product
     "zip":  {field: [...], ...}}       # optional, equal-length lists zipped together

Expansion order: for each zip row (in order), every grid combination (itertools.product over
the grid fields in the order written, the last field varying fastest).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import glob
import itertools
import json
import multiprocessing as mp
import os
import pickle
import signal
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mupsim.errors import MupsimError
from mupsim.sim.claims import Claims, holder
from mupsim.sim.config import SimConfig
from mupsim.sim.limits import MAX_SWEEP_CONFIGS
from mupsim.sim.result import Result

THREAD_ENV = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
SPEC_KEYS = ("name", "description", "base", "grid", "zip")
EXECUTORS = ("local", "dask")
BACKENDS = ("numba", "ensemble")
CONTEXTS = ("spawn", "fork", "forkserver")
DASK_CONNECT_TIMEOUT = "10s"  # how long to try reaching a scheduler given by address
PARENT_POLL_S = 1.0  # how often a worker process checks that its parent is alive
CLAIM_POLL_S = 0.5  # how often a sweep looks again at runs another sweep has claimed

Runner = Callable[[SimConfig], Result]


class SweepInterrupted(KeyboardInterrupt):
    """A sweep stopped by a signal. ``signum``: the signal (SIGINT or SIGTERM); ``done``: results
    stored in ``out_dir`` for this sweep's configs; ``total``: distinct configs."""

    def __init__(self, signum: int, done: int, total: int, out_dir) -> None:
        self.signum, self.done, self.total, self.out_dir = signum, done, total, Path(out_dir)
        super().__init__(f"sweep interrupted by {signal.Signals(signum).name}: {done} of {total} "
                         f"results stored in {self.out_dir}; run it again to resume")


class _Signalled(KeyboardInterrupt):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# ---------------------------------------------------------------------- sweep
def sweep(configs: Iterable[SimConfig], out_dir, workers: int | None = None,
          progress: bool = True, runner: Runner | None = None,
          context: str = "spawn", executor: str = "local", scheduler: str | None = None,
          backend: str = "numba") -> list[Result]:
    """Run every config whose result is not yet in ``out_dir``; return all results in input order.

    ``workers``: number of worker processes (default: CPU count, at most the number of tasks);
    0 = run in this process (local executor only). ``runner``: function SimConfig -> Result
    (default ``mupsim.sim.run.run``); with local worker processes it must be picklable, i.e. a
    module-level function. ``context``: multiprocessing start method ("spawn", "fork",
    "forkserver"; local executor). ``executor``: "local" or "dask"; ``scheduler``: address of a
    running Dask scheduler (e.g. "tcp://10.0.0.5:8786"; default: a LocalCluster of ``workers``
    processes). ``backend``: "numba" or "ensemble" (see module docstring).
    Equal configs (same key: e.g. a grid ``seed: [0, 0, 1]``, or ``lr`` 0.0 and -0.0) are run
    and stored once; each input position gets that one result (:func:`table` lists it once).
    Returns ``Result`` objects (status ok/diverged/error).
    Raises :class:`SweepInterrupted` on SIGINT/SIGTERM (see module docstring).
    """
    configs = [_as_config(c) for c in configs]
    _check_args(workers, context, executor, scheduler, backend, runner)
    out = _result_dir(out_dir)
    by_key: dict[str, SimConfig] = {}  # distinct configs in order (the first of equal ones)
    for c in configs:
        by_key.setdefault(c.key(), c)

    results: dict[str, Result] = {}
    todo: dict[str, SimConfig] = {}
    for k, c in by_key.items():
        r = _load_existing(out / k, c, _backend_for(c, backend))
        if r is not None:
            results[k] = r
        else:
            todo[k] = c
    claims = Claims(out)
    try:
        _remove_leftovers(out, results, claims)
        if todo:
            _check_result_paths(out, todo)
            _check_writable(out)
            _run_pending(todo, results, out, claims, backend, runner, workers, context, executor,
                         scheduler, progress)
    except KeyboardInterrupt as e:
        _remove_stale_tmp(out, [k for k in by_key if k in claims])
        done = sum(1 for k in by_key
                   if k in results and not results[k].provenance.get("worker_failed"))
        raise SweepInterrupted(getattr(e, "signum", signal.SIGINT), done, len(by_key),
                               out) from None
    finally:
        claims.release_all()
    return [results[c.key()] for c in configs]


def _run_pending(todo: dict, results: dict, out: Path, claims: Claims, backend, runner, workers,
                 context, executor, scheduler, progress) -> None:
    """Run the configs of ``todo`` into ``out`` and ``results``, in rounds: claim what no other
    sweep holds, run it, and wait (polling) for the rest; a key another sweep held is taken
    over when its claim ends and no result was stored (that sweep died or was interrupted)."""
    waited: set[str] = set()  # keys another sweep held while this one wanted them
    bar = _progress_bar(len(todo), progress)
    try:
        with _stop_on_signals():
            while todo:
                mine = {k: c for k, c in todo.items() if claims.take(k)}
                for k in list(mine):  # stored meanwhile by a sweep that held the claim
                    r = _load_existing(out / k, mine[k], _backend_for(mine[k], backend),
                                       accept_error=k in waited)
                    if r is not None:
                        results[k] = r
                        del mine[k], todo[k]
                        claims.release(k)
                        bar.update(1)
                waited.update(k for k in todo if k not in mine)
                if not mine:
                    if todo:
                        bar.set_description(f"sweep (waiting for {len(todo)} runs claimed by "
                                            f"{holder(out, next(iter(todo)))})", refresh=True)
                        time.sleep(CLAIM_POLL_S)
                    continue
                _remove_stale_tmp(out, mine)
                for k, r in _execute(mine, backend, runner, workers, context, executor,
                                     scheduler):
                    if not r.provenance.get("worker_failed"):
                        r.save(out / k)   # MupsimError if it cannot be written: the sweep stops
                    results[k] = r
                    todo.pop(k, None)
                    claims.release(k)
                    bar.update(1)
                    if r.status != "ok":
                        counts = {s: sum(x.status == s for x in results.values())
                                  for s in ("diverged", "error")}
                        bar.set_postfix(counts, refresh=False)
                bar.set_description("sweep", refresh=False)
    finally:
        bar.close()


def _execute(todo: Mapping[str, SimConfig], backend, runner, workers, context, executor,
             scheduler) -> Iterator[tuple[str, Result]]:
    """(key, Result) of every config of ``todo`` as its task finishes."""
    tasks = _make_tasks(todo, backend, runner)
    n_workers = min((os.cpu_count() or 1) if workers is None else workers, len(tasks))
    if executor == "local":
        run_iter = _execute_local(tasks, n_workers, context)
    else:
        run_iter = _execute_dask(tasks, n_workers, scheduler)
    with contextlib.closing(run_iter):
        yield from run_iter


def _check_args(workers, context, executor, scheduler, backend, runner) -> None:
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 0):
        raise MupsimError(f"workers must be an integer >= 0 (0 = in-process); got {workers!r}")
    if context not in CONTEXTS:
        raise MupsimError(f"unknown multiprocessing context {context!r}; "
                          f"allowed: {', '.join(CONTEXTS)}")
    if executor not in EXECUTORS:
        raise MupsimError(f"unknown executor {executor!r}; allowed: {', '.join(EXECUTORS)}")
    if backend not in BACKENDS:
        raise MupsimError(f"unknown backend {backend!r}; allowed: {', '.join(BACKENDS)}")
    if scheduler is not None:
        if executor != "dask":
            raise MupsimError("a scheduler address needs executor='dask'")
        if not isinstance(scheduler, str) or not scheduler.strip() or any(
                ch.isspace() for ch in scheduler.strip()):
            raise MupsimError(f"scheduler must be a Dask scheduler address such as "
                              f"'tcp://HOST:8786' or 'HOST:8786'; got {scheduler!r}")
    if executor == "dask" and workers == 0:
        raise MupsimError("workers=0 (run in this process) needs executor='local'; with "
                          "executor='dask' give the number of LocalCluster workers (>= 1)")
    if backend == "ensemble" and runner is not None:
        raise MupsimError("runner= replaces the numba run function; it cannot be combined with "
                          "backend='ensemble'")
    if executor == "local" and workers != 0 and runner is not None:
        try:
            pickle.dumps(runner)
        except Exception as e:  # noqa: BLE001
            raise MupsimError(f"runner {runner!r} cannot be sent to worker processes ({e}); use a "
                              f"module-level function, or workers=0 to run in this process") \
                from None


# ---------------------------------------------------------------------- output folder
def _result_dir(out_dir) -> Path:
    """The result folder, created if missing; MupsimError naming the reason if it cannot be."""
    from mupsim.sim.files import _text, file_kind
    text = _text(out_dir, "the result folder")
    if not text.strip():
        raise MupsimError(f"the result folder must be a path; got {text!r}")
    out = Path(text)
    if out.exists() and not out.is_dir():
        raise MupsimError(f"result folder {out} exists and is {file_kind(out.stat().st_mode)}, "
                          f"not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MupsimError(f"cannot create result folder {out}: {e.strerror or e}") from None
    return out


def _check_writable(out: Path) -> None:
    """Fail before computing anything if results cannot be written into ``out``."""
    try:
        fd, tmp = tempfile.mkstemp(dir=out, prefix=".write-check.", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise MupsimError(f"cannot write results into {out}: {e.strerror or e}") from None


def _check_result_paths(out: Path, keys: Iterable[str]) -> None:
    """Fail before computing anything if a result file path of ``keys`` is taken by something
    a result cannot replace (a folder, FIFO, device, or a symlink to one)."""
    from mupsim.sim.files import output_target
    for k in keys:
        for ext in ("npz", "json"):
            output_target(out / f"{k}.{ext}", "result file")


def _remove_stale_tmp(out: Path, keys: Iterable[str]) -> None:
    """Remove temp files of interrupted writes of these results (``.<key>.npz.*.tmp``...)."""
    for k in keys:
        for ext in ("npz", "json"):
            _remove_temps(out / f"{k}.{ext}")


def _remove_leftovers(out: Path, keys: Iterable[str], claims: Claims) -> None:
    """Remove the temp files and claim files that killed sweeps left for these (finished)
    keys, each while holding its claim (a live sweep re-running a key keeps its files)."""
    keys = set(keys)
    if not keys:
        return
    found = set()
    with contextlib.suppress(OSError):
        for name in os.listdir(out):
            k = name[1:].split(".", 1)[0]
            if name.startswith(".") and k in keys and name.endswith((".tmp", ".claim")):
                found.add(k)
    for k in found:
        try:
            if not claims.take(k):
                continue
        except MupsimError:
            continue
        _remove_stale_tmp(out, [k])
        claims.release(k)


def _remove_temps(path: Path) -> None:
    """Remove the temp files beside ``path`` left by killed atomic writes (``.<name>.*.tmp``)."""
    for p in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            p.unlink()


# ---------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class _Task:
    """One unit of work: the keys it produces and the arguments of :func:`_run_task`."""

    keys: tuple
    config_dicts: tuple
    runner: Any
    ensemble: bool
    fallback: tuple  # per config: why the ensemble did not take it (or None)


def _ensemble():
    """The ensemble backend module (imported lazily; tests may replace this function)."""
    try:
        from mupsim.sim import ensemble
    except ImportError as e:
        raise MupsimError(f"backend='ensemble' is not available: {e}") from None
    return ensemble


def _backend_for(c: SimConfig, backend: str) -> str:
    """The backend that would run ``c`` now."""
    if backend == "ensemble" and _ensemble().group_key(c) is not None:
        return "ensemble"
    return "numba"


def _cost(c: SimConfig) -> float:
    """Rough relative run time of a config (matrix products per run)."""
    return float(c.steps) * c.batch_size * c.width * max(c.width, c.input_dim) * \
        max(c.depth, 1) * max(c.ffn_ratio, 1)


def _make_tasks(todo: Mapping[str, SimConfig], backend: str, runner) -> list[_Task]:
    """Tasks, longest first (so the last tasks to finish are short ones: less idle tail)."""
    tasks = _make_tasks_unordered(todo, backend, runner)
    cost = {k: _cost(c) for k, c in todo.items()}
    return sorted(tasks, key=lambda t: -sum(cost[k] for k in t.keys))


def _make_tasks_unordered(todo, backend, runner) -> list[_Task]:
    if backend == "numba":
        return [_Task((k,), (c.to_dict(),), runner, False, (None,)) for k, c in todo.items()]
    ens = _ensemble()
    groups: dict[tuple, list[str]] = {}
    tasks = []
    for k, c in todo.items():
        g = ens.group_key(c)
        if g is None:
            reason = ens.unsupported_reason(c) or "no ensemble group"
            tasks.append(_Task((k,), (c.to_dict(),), None, False, (reason,)))
        else:
            groups.setdefault(g, []).append(k)
    return [_Task(tuple(ks), tuple(todo[k].to_dict() for k in ks), None, True,
                  (None,) * len(ks)) for ks in groups.values()] + tasks


def _run_task(task: _Task) -> list[Result]:
    """Worker body: run one task; one Result per config (a run that raises -> status error)."""
    configs = [SimConfig.from_dict(d) for d in task.config_dicts]
    if task.ensemble:
        return _run_group(configs)
    return [_run_one(c, task.runner, reason) for c, reason in zip(configs, task.fallback)]


def _default_runner(config: SimConfig) -> Result:
    from mupsim.sim.run import run as _run
    return _run(config)


def _run_one(config: SimConfig, runner, fallback: str | None = None) -> Result:
    t0 = time.perf_counter()
    try:
        r = (runner or _default_runner)(config)
        if not isinstance(r, Result):
            raise TypeError(f"runner returned {type(r).__name__}, expected Result")
        if r.provenance.get("wall_time_s") is None:
            r.provenance["wall_time_s"] = time.perf_counter() - t0
    except Exception as e:  # noqa: BLE001 - recorded, the sweep goes on
        from mupsim.sim.result import provenance
        r = Result.error(config.to_dict(), f"{type(e).__name__}: {e}",
                         provenance(config, wall_time_s=time.perf_counter() - t0,
                                    traceback=traceback.format_exc()))
    if fallback is not None:
        r.provenance["backend"] = "numba"
        r.provenance["ensemble_fallback"] = fallback
    return r


def _run_group(configs: list[SimConfig]) -> list[Result]:
    t0 = time.perf_counter()
    try:
        res = list(_ensemble().run_group(configs))
        if len(res) != len(configs) or not all(isinstance(r, Result) for r in res):
            raise TypeError(f"run_group returned {len(res)} items for {len(configs)} configs")
    except Exception as e:  # noqa: BLE001 - recorded for every member, the sweep goes on
        from mupsim.sim.result import provenance
        tb = traceback.format_exc()
        return [Result.error(c.to_dict(), f"ensemble group of {len(configs)} failed: "
                             f"{type(e).__name__}: {e}",
                             provenance(c, wall_time_s=time.perf_counter() - t0, traceback=tb,
                                        backend="ensemble")) for c in configs]
    for r in res:
        r.provenance.setdefault("backend", "ensemble")
    return res


def _worker_failed(task: _Task, e: BaseException) -> list[Result]:
    """Records (never saved) for a task whose worker died; the configs re-run on resume."""
    return [Result.error(d, f"worker failed: {type(e).__name__}: {e}", {"worker_failed": True})
            for d in task.config_dicts]


# ---------------------------------------------------------------------- executors
def _execute_local(tasks: Sequence[_Task], n_workers: int, context: str
                   ) -> Iterator[tuple[str, Result]]:
    """Yield (key, Result) as tasks finish, in this process or a process pool."""
    if n_workers == 0:
        for t in tasks:
            yield from zip(t.keys, _run_task(t))
        return
    ex = None
    try:
        with _thread_env(), _children_ignore_sigint():
            watch = (None, os.getpid()) if context == "forkserver" else (os.getpid(), None)
            ex = cf.ProcessPoolExecutor(max_workers=n_workers, mp_context=mp.get_context(context),
                                        initializer=_init_worker, initargs=watch)
            futs = {ex.submit(_run_task, t): t for t in tasks}
        for fut in cf.as_completed(futs):
            t = futs[fut]
            try:
                res = fut.result()
            except Exception as e:  # worker died (e.g. BrokenProcessPool); not saved
                res = _worker_failed(t, e)
            yield from zip(t.keys, res)
    except BaseException:
        _kill_pool(ex)
        raise
    ex.shutdown(wait=True)


def _kill_pool(ex) -> None:
    """Cancel pending work and kill the pool's worker processes now (results are written by
    this process only, so killing a worker can never leave a half-written result)."""
    if ex is None:
        return
    with _signals_ignored():
        procs = list((getattr(ex, "_processes", None) or {}).values())
        ex.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            with contextlib.suppress(Exception):
                p.kill()
        for p in procs:
            with contextlib.suppress(Exception):
                p.join(5)
        # let the pool's manager thread see the dead workers and close its pipes now: at exit
        # concurrent.futures would otherwise race it (an "Exception ignored" traceback)
        t = getattr(ex, "_executor_manager_thread", None)
        if t is not None:
            with contextlib.suppress(Exception):
                t.join(5)


def _execute_dask(tasks: Sequence[_Task], n_workers: int, scheduler: str | None
                  ) -> Iterator[tuple[str, Result]]:
    """Yield (key, Result) as tasks finish on a Dask cluster (a LocalCluster by default)."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise MupsimError("executor='dask' needs dask[distributed]: pip install -e '.[dask]'") \
            from None
    import logging
    cluster = client = None
    futs: dict = {}
    try:
        with _thread_env(), _children_ignore_sigint():
            if scheduler is None:
                cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=logging.ERROR)
                client = Client(cluster)
            else:
                try:
                    client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT)
                except (OSError, TimeoutError, ValueError, TypeError) as e:
                    raise MupsimError(f"cannot connect to the Dask scheduler at {scheduler!r}: "
                                      f"{type(e).__name__}: {e}") from None
        for t in tasks:
            f = client.submit(_run_task, t, pure=False)
            futs[f.key] = (f, t)
        for fut in as_completed([f for f, _ in futs.values()]):
            t = futs[fut.key][1]
            try:
                res = fut.result()
            except Exception as e:  # noqa: BLE001 - e.g. KilledWorker after retries; not saved
                res = _worker_failed(t, e)
            fut.release()
            yield from zip(t.keys, res)
    except BaseException:
        if cluster is not None:  # ours: kill its worker processes at once (quietly)
            _kill_local_cluster_workers(cluster)
        raise
    finally:
        with _signals_ignored(), _quiet_dask():
            if client is not None:
                if futs:
                    with contextlib.suppress(Exception):
                        client.cancel([f for f, _ in futs.values()], force=True)
                with contextlib.suppress(Exception):
                    client.close(timeout=10)
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close(timeout=10)


def _kill_local_cluster_workers(cluster) -> None:
    """SIGKILL the worker processes of a LocalCluster this sweep started (interrupt path)."""
    with _signals_ignored():
        for nanny in list(getattr(cluster, "workers", {}).values()):
            with contextlib.suppress(Exception):
                pid = nanny.pid
                if pid:
                    os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def _quiet_dask():
    """No log lines from distributed while this process closes its client and cluster."""
    import logging
    log = logging.getLogger("distributed")
    old = log.level
    log.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        log.setLevel(old)


# ---------------------------------------------------------------------- processes and signals
def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_signalled(signum, frame):
    # ignore further signals while the sweep cleans up (restored by _stop_on_signals)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Signalled(signum)


@contextlib.contextmanager
def _signal_handlers(handler):
    """Install ``handler`` for SIGINT and SIGTERM (main thread only); restore on exit."""
    if not _main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in old:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


def _stop_on_signals():
    """SIGINT/SIGTERM raise a KeyboardInterrupt once; later ones are ignored until exit."""
    return _signal_handlers(_raise_signalled)


def _signals_ignored():
    """Ignore SIGINT/SIGTERM (a second Ctrl-C must not interrupt the clean-up)."""
    return _signal_handlers(signal.SIG_IGN)


@contextlib.contextmanager
def _children_ignore_sigint():
    """Start child processes with SIGINT ignored (an ignored disposition is inherited through
    exec; a blocked signal mask is not, with Python's process spawning), so Ctrl-C in a
    terminal, which reaches the whole process group, stops only this process, which then kills
    them: no worker tracebacks, also during their start-up. The price: a Ctrl-C arriving while
    the workers are being started (milliseconds for the local pool, the seconds a LocalCluster
    takes to start) is lost; press it again."""
    if not _main_thread():
        yield
        return
    old = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old if old is not None else signal.SIG_DFL)


@contextlib.contextmanager
def _thread_env():
    """Pin BLAS/numba threads to 1 in this process's environment while workers are started
    (spawned children inherit it before importing numpy/numba); restore afterwards."""
    old = {v: os.environ.get(v) for v in THREAD_ENV}
    os.environ.update({v: "1" for v in THREAD_ENV})
    try:
        yield
    finally:
        for v, val in old.items():
            if val is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = val


def _init_worker(parent: int | None = None, sweep_pid: int | None = None) -> None:
    """Pool worker set-up: one thread, SIGINT ignored, and exit when the sweep's process dies
    (see :func:`_exit_with_parent`)."""
    _exit_with_parent(parent, sweep_pid)
    os.environ.update({v: "1" for v in THREAD_ENV})
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # fork context: the parent handler
    import sys
    if "numba" in sys.modules:  # e.g. fork context after the parent imported numba
        with contextlib.suppress(Exception):
            sys.modules["numba"].set_num_threads(1)


def _exit_with_parent(parent: int | None, sweep_pid: int | None = None) -> None:
    """End this worker process as soon as the sweep's process dies (e.g. it was sent SIGKILL),
    whatever the worker is doing.

    ``parent``: the worker's parent pid when that is the sweep's process ("spawn", "fork"): on
    Linux the kernel then sends SIGKILL at its death (``prctl(PR_SET_PDEATHSIG)``), and
    everywhere a daemon thread checks every ``PARENT_POLL_S`` that the parent is unchanged.
    ``sweep_pid``: the sweep's process when it is not the parent ("forkserver", whose server
    outlives it while workers hold its pipe): the thread checks that it is still running (the
    thread needs the GIL, so a kernel holding it delays the exit until it returns)."""
    import sys
    if parent is not None and sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    started = _start_time(sweep_pid) if sweep_pid is not None else None

    def dead() -> bool:
        if parent is not None and os.getppid() != parent:
            return True
        return sweep_pid is not None and not _running(sweep_pid, started)

    if dead():  # died before the watch began
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            if dead():
                os._exit(1)

    threading.Thread(target=watch, name="mupsim-parent-watch", daemon=True).start()


def _start_time(pid: int) -> str | None:
    """Start time of process ``pid`` (Linux ``/proc``; None elsewhere or if gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _running(pid: int, started: str | None) -> bool:
    """Process ``pid`` exists, is not a zombie and (where known) is the one started at
    ``started`` (not a new process that reused its pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass  # exists, not ours to signal
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return os.name != "posix" or not os.path.isdir("/proc/self")
    return rest[0] not in ("Z", "X") and (started is None or rest[19] == started)


def _load_existing(stem: Path, config: SimConfig, backend: str = "numba",
                   accept_error: bool = False) -> Result | None:
    """A finished result for ``config`` at ``stem`` made by ``backend``, or None if
    missing/corrupt/outdated/stale/made by another backend, or an error record (unless
    ``accept_error``: the record another sweep stored while this one waited for it)."""
    if not Result.exists(stem):
        return None
    try:
        r = Result.load(stem)
    except MupsimError:
        return None
    if r.status == "error" and not accept_error:
        return None
    try:
        if SimConfig.from_dict(r.config) != config:
            return None
    except Exception:  # noqa: BLE001 - any config that is not this one's
        return None
    if r.provenance.get("backend", "numba") != backend:
        return None
    if _is_stale(r, config):
        return None
    return r


def _is_stale(r: Result, config: SimConfig) -> bool:
    """A stored simulator result made by other rules or another simulator version.

    The file name hashes the config only, so a result is re-run when the calculator now gives
    different per-layer settings for it (a rule changed) or when the simulator's
    ``SIMULATOR_VERSION`` (bumped whenever the kernels' numbers change) differs. Results of
    custom runners, which record no settings, are never considered stale.
    """
    saved = r.provenance.get("settings")
    if saved is None:
        return False
    from mupsim.sim.settings import SIMULATOR_VERSION, settings_for
    if r.provenance.get("simulator_version") != SIMULATOR_VERSION:
        return True
    try:
        current = json.loads(json.dumps(settings_for(config).to_dict()))
    except MupsimError:
        return True
    return current != saved


def _progress_bar(total: int, enabled: bool):
    from tqdm.auto import tqdm
    return tqdm(total=total, desc="sweep", unit="run", disable=not enabled, dynamic_ncols=True)


def _as_config(c) -> SimConfig:
    if isinstance(c, SimConfig):
        return c
    if isinstance(c, Mapping):
        return SimConfig.from_dict(c)
    raise MupsimError(f"sweep needs SimConfig objects (or dicts of fields); got "
                      f"{type(c).__name__}")


# ---------------------------------------------------------------------- results
def load_results(out_dir, configs: Sequence[SimConfig] | None = None) -> list:
    """Load saved results.

    With ``configs``: one entry per config, in order, ``None`` where no valid result exists.
    Without: every readable result in ``out_dir`` (sorted by file stem), corrupt ones skipped.
    """
    out = Path(out_dir)
    if not out.is_dir():
        raise MupsimError(f"result folder {out} does not exist")
    if configs is not None:
        res = []
        for c in configs:
            c = _as_config(c)
            try:
                res.append(Result.load(out / c.key()) if Result.exists(out / c.key()) else None)
            except MupsimError:
                res.append(None)
        return res
    res = []
    for j in sorted(out.glob("*.json")):
        stem = j.with_suffix("")
        if not Result.exists(stem):
            continue
        with contextlib.suppress(MupsimError):
            res.append(Result.load(stem))
    return res


# ---------------------------------------------------------------------- spec files
def load_spec(path) -> dict:
    """Read and check a sweep spec JSON file; returns the spec dict (``name`` filled in)."""
    from mupsim.sim.files import read_json
    p = Path(path)
    spec = read_json(p, "sweep spec")
    if not isinstance(spec, dict):
        raise MupsimError(f"sweep spec {p} must be a JSON object with keys "
                          f"{', '.join(SPEC_KEYS)}")
    spec.setdefault("name", p.stem)
    _check_spec(spec)
    return spec


def expand_spec(spec: Mapping[str, Any]) -> list[SimConfig]:
    """All configs of a spec (see module docstring for the order). Every config is validated.

    The number of configs is counted first: more than ``limits.MAX_SWEEP_CONFIGS`` is refused
    before anything is expanded."""
    _check_spec(spec)
    n = spec_size(spec)
    if n > MAX_SWEEP_CONFIGS:
        raise MupsimError(f"sweep spec expands to {n:,} configs, over the limit of "
                          f"{MAX_SWEEP_CONFIGS:,}; allowed: fewer grid values (split the sweep "
                          f"into several specs)")
    base = dict(spec.get("base") or {})
    grid = dict(spec.get("grid") or {})
    zipped = dict(spec.get("zip") or {})
    if zipped:
        rows = [dict(zip(zipped, vals)) for vals in zip(*zipped.values())]
    else:
        rows = [{}]
    combos = [dict(zip(grid, vals)) for vals in itertools.product(*grid.values())]
    configs = []
    for row in rows:
        for combo in combos:
            d = {**base, **row, **combo}
            try:
                configs.append(SimConfig.from_dict(d))
            except MupsimError as e:
                over = {**row, **combo}
                raise MupsimError(f"sweep spec: invalid config for {over or 'base'}: {e}") \
                    from None
    return configs


def spec_size(spec: Mapping[str, Any]) -> int:
    """Number of configs the spec expands to (zip rows × grid combinations), without expanding."""
    _check_spec(spec)
    zipped = spec.get("zip") or {}
    n = len(next(iter(zipped.values()))) if zipped else 1
    for values in (spec.get("grid") or {}).values():
        n *= len(values)
    return n


def _check_spec(spec: Mapping[str, Any]) -> None:
    if not isinstance(spec, Mapping):
        raise MupsimError(f"sweep spec must be a mapping; got {type(spec).__name__}")
    bad = [k for k in spec if k not in SPEC_KEYS]
    if bad:
        raise MupsimError(f"unknown sweep spec key(s) {', '.join(map(repr, bad))}; "
                          f"valid keys: {', '.join(SPEC_KEYS)}")
    if "name" in spec and not isinstance(spec["name"], str):
        raise MupsimError(f"sweep spec 'name' must be a string; got {spec['name']!r}")
    valid = SimConfig.field_names()
    for section in ("base", "grid", "zip"):
        sec = spec.get(section)
        if sec is None:
            continue
        if not isinstance(sec, Mapping):
            raise MupsimError(f"sweep spec '{section}' must be an object of SimConfig fields; "
                              f"got {type(sec).__name__}")
        unknown = [k for k in sec if k not in valid]
        if unknown:
            raise MupsimError(f"unknown SimConfig field(s) {', '.join(map(repr, unknown))} in "
                              f"sweep spec '{section}'; valid fields: {', '.join(valid)}")
        if section in ("grid", "zip"):
            for k, v in sec.items():
                if not isinstance(v, list) or not v:
                    raise MupsimError(f"sweep spec '{section}.{k}' must be a non-empty list of "
                                      f"values; got {v!r}")
    grid, zipped = spec.get("grid") or {}, spec.get("zip") or {}
    both = sorted(set(grid) & set(zipped))
    if both:
        raise MupsimError(f"sweep spec field(s) {', '.join(both)} appear in both 'grid' and "
                          f"'zip'; put each field in one of them")
    lengths = {k: len(v) for k, v in zipped.items()}
    if len(set(lengths.values())) > 1:
        raise MupsimError(f"sweep spec 'zip' lists must have equal lengths; got "
                          f"{', '.join(f'{k}: {n}' for k, n in lengths.items())}")


# ---------------------------------------------------------------------- table
TABLE_METRICS = ("rms", "sigma_max", "gain", "update_rms")


def table(results: Sequence[Result]) -> list[dict]:
    """One flat row per distinct config (by key; the first of equal configs, in order, as
    :func:`sweep` stores one result for them): every config field, key, status, divergence
    step, final losses and, per matrix, the final ``TABLE_METRICS`` (columns
    ``<metric>:<matrix>``). NaN after divergence."""
    rows, seen = [], set()
    for r in results:
        key = SimConfig.from_dict(r.config).key()
        if key in seen:
            continue
        seen.add(key)
        row = dict(r.config)
        if row.get("multipliers") is not None:
            row["multipliers"] = ",".join(str(x) for x in row["multipliers"])
        row.update(key=key, status=r.status,
                   diverged_step=r.diverged_step,
                   final_train_loss=r.final("train_loss") if r.status != "error" else float("nan"),
                   final_test_loss=r.final("test_loss") if r.status != "error" else float("nan"))
        if r.status != "error":
            for m in TABLE_METRICS:
                if m in r.matrix:
                    for name, v in r.final(m).items():
                        row[f"{m}:{name}"] = v
        rows.append(row)
    return rows


def write_table(rows: Sequence[Mapping[str, Any]], path) -> Path:
    """Write ``rows`` as CSV atomically (temp file + rename); columns in first-seen order."""
    import csv
    import io

    cols: list[str] = []
    for row in rows:
        cols += [c for c in row if c not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, restval="")
    w.writeheader()
    w.writerows(rows)
    path = Path(path)
    from mupsim.sim.result import _atomic_write
    _remove_temps(path)  # stale temp files of killed writes
    _atomic_write(path, lambda f: f.write(buf.getvalue().encode("utf-8")), "table")
    return path


def pending(configs: Iterable[SimConfig], out_dir, backend: str = "numba") -> list[SimConfig]:
    """The configs (deduplicated, in order) whose stored result in ``out_dir`` is missing,
    unreadable, an error, stale (made by other per-layer settings or simulator version) or
    made by another backend than ``backend`` would use."""
    if backend not in BACKENDS:
        raise MupsimError(f"unknown backend {backend!r}; allowed: {', '.join(BACKENDS)}")
    out = Path(out_dir)
    seen, todo = set(), []
    for c in configs:
        c = _as_config(c)
        k = c.key()
        if k in seen:
            continue
        seen.add(k)
        if _load_existing(out / k, c, _backend_for(c, backend)) is None:
            todo.append(c)
    return todo

"""One pool of runs for many requesters: longest first, each run once, requests answered as
their runs come in.

:class:`RunPool` is the sweep of :mod:`mupsim.sim.sweep` (same tasks, workers, result files,
claims, backends and executors) with its set of configs open while it runs: any thread calls
:meth:`RunPool.results` with configs and blocks until all of them are in; the calling (main)
thread drives the pool with :meth:`RunPool.serve`. :mod:`mupsim.experiments.make_figures` runs
every figure in its own thread, so all configs known up front enter the pool at once and the
configs that depend on other figures' measurements enter it as soon as those are analysed,
while the workers stay busy with whatever is runnable.

* A config already stored (made by the backend that would make it now, not stale) is read, not
  run; so is one in the read-only store ``archive`` (copied into ``out_dir`` first: the
  committed runs of :mod:`mupsim.experiments.archive`); one requested twice (another figure's,
  or a shared run) runs once and answers both.
* Order: the tasks waiting for a worker are kept sorted by
  :func:`mupsim.sim.limits.estimate_seconds` (an ensemble group: its members' sum), and a free
  worker always takes the longest; at most one task per worker is handed out at a time, so a
  long run that enters the pool late still starts before the short ones queued earlier.
* ``backend="ensemble"``: the configs of one request are grouped among themselves
  (:func:`mupsim.sim.ensemble.group_key`), as a sweep of that request alone would group them.
* Results are written by this process only, as soon as each task finishes, with a claim held
  while it runs (:mod:`mupsim.sim.claims`): runs another process holds are waited for and their
  stored results taken.
* SIGINT/SIGTERM while serving stop the pool: workers killed, nothing half-written left,
  waiting requests raise :class:`PoolStopped`, and :meth:`RunPool.serve` raises
  :class:`mupsim.sim.sweep.SweepInterrupted` (stored results are kept: run again to resume).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import heapq
import itertools
import os
import signal
import threading
import time

from mupsim.experiments.archive import read as read_archived
from mupsim.sim import sweep as sw
from mupsim.sim import sweep_exec as ex
from mupsim.sim.claims import Claims
from mupsim.sim.config import SimConfig
from mupsim.sim.limits import estimate_seconds
from mupsim.sim.result import Result

POLL_S = 0.05  # how often the serving loop looks at finished tasks and new requests


class PoolStopped(RuntimeError):
    """The pool stopped (an interrupt or an error while serving) before a request was answered."""


class RunPool:
    """Runs requested configs into ``out_dir`` (arguments as :func:`mupsim.sim.sweep.sweep`)."""

    def __init__(
        self,
        out_dir,
        workers: int | None = None,
        executor: str = "local",
        scheduler: str | None = None,
        backend: str = "numba",
        runner=None,
        progress: bool = False,
        context: str = "spawn",
        archive=None,
    ):
        sw._check_args(workers, context, executor, scheduler, backend, runner)
        self.archive = None if archive is None else os.fspath(archive)
        self.out = sw._result_dir(out_dir)
        self.workers, self.executor, self.scheduler = workers, executor, scheduler
        self.backend, self.runner, self.context = backend, runner, context
        self.progress = progress
        self.computed = 0  # configs this pool ran (or is running)
        self.archived = 0  # configs read from the archive (copied into out_dir)
        self._cv = threading.Condition()
        self._done: dict[str, Result] = {}
        self._wanted: dict[str, SimConfig] = {}  # queued, running or held by another process
        self._heap: list = []  # (-seconds, seq, task)
        self._seq = itertools.count()
        self._foreign: dict[str, SimConfig] = {}  # claimed by another process: polled
        self._stopped: BaseException | None = None
        self._claims = Claims(self.out)
        self._bar = None

    # ------------------------------------------------------------------ requests (any thread)
    def results(self, configs) -> tuple[list[Result], int]:
        """(every config's Result in order, how many of them this request added to the pool);
        blocks until all are in (another thread must be in :meth:`serve`). Raises
        :class:`PoolStopped` if the pool stops first, MupsimError (before queuing anything) if
        a result path cannot be written."""
        configs = [sw._as_config(c) for c in configs]
        by_key: dict[str, SimConfig] = {}
        for c in configs:
            by_key.setdefault(c.key(), c)
        new: dict[str, SimConfig] = {}
        for k, c in by_key.items():
            with self._cv:
                if k in self._done or k in self._wanted:
                    continue
            r = sw._load_existing(self.out / k, c, sw._backend_for(c, self.backend))
            archived = False
            if r is None and self.archive is not None:
                r = read_archived(self.archive, self.out, c, self.backend)
                archived = r is not None
            with self._cv:
                if k in self._done or k in self._wanted:
                    continue
                if r is not None:
                    self._done[k] = r
                    self.archived += archived
                else:
                    self._wanted[k] = c
                    new[k] = c
        if new:
            try:
                sw._check_result_paths(self.out, new)
                sw._check_writable(self.out)
            except BaseException:
                with self._cv:  # not queued: a later request may ask for them again
                    for k in new:
                        self._wanted.pop(k, None)
                raise
            self._queue(new)
        with self._cv:
            while not all(k in self._done for k in by_key):
                if self._stopped is not None:
                    raise PoolStopped(f"the run pool stopped: {self._stopped!r}")
                self._cv.wait()
            return [self._done[c.key()] for c in configs], len(new)

    def done(self) -> dict[str, Result]:
        """{key: Result} of every config answered so far (read, archived or run)."""
        with self._cv:
            return dict(self._done)

    def _queue(self, todo: dict) -> None:
        tasks = sw._make_tasks(todo, self.backend, self.runner)
        with self._cv:
            for t in tasks:
                secs = sum(estimate_seconds(todo[k]) for k in t.keys)
                heapq.heappush(self._heap, (-secs, next(self._seq), t))
            self.computed += len(todo)
            if self._bar is not None:
                self._bar.total += len(todo)
                self._bar.refresh()
            self._cv.notify_all()

    # ------------------------------------------------------------------ serving (main thread)
    def serve(self, until, on_tick=None) -> None:
        """Run tasks until ``until()`` is true and nothing is queued or running; ``on_tick()`` is
        called between polls (e.g. to draw finished figures). Workers start on the first task."""
        runner = None
        running: dict = {}  # future -> task
        self._bar = sw._progress_bar(0, self.progress)
        last_poll = 0.0
        try:
            with ex.stop_on_signals():
                while True:
                    with self._cv:
                        idle = not self._heap and not running and not self._foreign
                    if idle and until():
                        break
                    if self._heap and runner is None:
                        runner = _Workers(self)
                    while runner is not None and len(running) < runner.capacity:
                        task = self._next_task()
                        if task is None:
                            break
                        running[runner.submit(task)] = task
                    for fut in runner.wait(list(running), POLL_S) if running else ():
                        task = running.pop(fut)
                        self._finish(task, runner.result(fut, task))
                    if not running:
                        time.sleep(POLL_S)
                    if self._foreign and time.monotonic() - last_poll > sw.CLAIM_POLL_S:
                        last_poll = time.monotonic()
                        self._poll_foreign()
                    if on_tick is not None:
                        on_tick()
        except BaseException as e:
            with self._cv:
                self._stopped = e
                self._cv.notify_all()
            if runner is not None:
                runner.kill()
                runner = None
            sw._remove_stale_tmp(self.out, list(self._wanted))
            if isinstance(e, KeyboardInterrupt) and not isinstance(e, sw.SweepInterrupted):
                with self._cv:
                    done, total = len(self._done), len(self._done) + len(self._wanted)
                raise sw.SweepInterrupted(
                    getattr(e, "signum", signal.SIGINT), done, total, self.out
                ) from None
            raise
        finally:
            if runner is not None:
                runner.close()
            self._claims.release_all()
            self._bar.close()

    def _next_task(self):
        """The longest queued task whose runs this process could claim (others: polled)."""
        while True:
            with self._cv:
                if not self._heap:
                    return None
                task = heapq.heappop(self._heap)[2]
            taken = [k for k in task.keys if self._claims.take(k)]
            if len(taken) == len(task.keys):
                sw._remove_stale_tmp(self.out, task.keys)
                return task
            for k in taken:
                self._claims.release(k)
            with self._cv:
                for k in task.keys:
                    self._foreign[k] = self._wanted[k]

    def _finish(self, task, res) -> None:
        for k, r in zip(task.keys, res):
            if not r.provenance.get("worker_failed"):
                r.save(self.out / k)  # MupsimError if it cannot be written: the pool stops
            self._claims.release(k)
            self._answer(k, r)

    def _answer(self, k: str, r: Result) -> None:
        with self._cv:
            self._done[k] = r
            self._wanted.pop(k, None)
            self._cv.notify_all()
        self._bar.update(1)

    def _poll_foreign(self) -> None:
        """Runs another process held: take its stored result, or run them once it let go."""
        with self._cv:
            held = dict(self._foreign)
        free = {}
        for k, c in held.items():
            r = sw._load_existing(self.out / k, c, sw._backend_for(c, self.backend), accept_error=True)
            if r is not None:
                with self._cv:
                    self._foreign.pop(k, None)
                self._answer(k, r)
            elif self._claims.take(k):
                self._claims.release(k)
                free[k] = c
        if free:
            with self._cv:
                for k in free:
                    self._foreign.pop(k, None)
                self.computed -= len(free)  # counted when first queued
            self._queue(free)


class _Workers:
    """The pool's workers: this process (``workers=0``), a local process pool, or Dask."""

    def __init__(self, pool: RunPool):
        self.kind = "inline" if pool.executor == "local" and pool.workers == 0 else pool.executor
        n = (os.cpu_count() or 1) if pool.workers is None else pool.workers
        self.capacity = 1 if self.kind == "inline" else max(1, n)
        self._ex = self._cluster = self._client = None
        if self.kind == "local":
            with ex._thread_env(), ex._children_ignore_sigint():
                watch = (None, os.getpid()) if pool.context == "forkserver" else (os.getpid(), None)
                import multiprocessing as mp

                self._ex = cf.ProcessPoolExecutor(
                    max_workers=self.capacity,
                    mp_context=mp.get_context(pool.context),
                    initializer=ex._init_worker,
                    initargs=watch,
                )
        elif self.kind == "dask":
            self._start_dask(pool)

    def _start_dask(self, pool) -> None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            from mupsim.errors import MupsimError

            raise MupsimError("executor='dask' needs dask[distributed]: pip install -e '.[dask]'") from None
        import logging

        with ex._thread_env(), ex._children_ignore_sigint():
            if pool.scheduler is None:
                self._cluster = LocalCluster(
                    n_workers=self.capacity,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                    silence_logs=logging.ERROR,
                )
                self._client = Client(self._cluster)
            else:
                try:
                    self._client = Client(pool.scheduler, timeout=sw.DASK_CONNECT_TIMEOUT)
                except (OSError, TimeoutError, ValueError, TypeError) as e:
                    from mupsim.errors import MupsimError

                    raise MupsimError(
                        f"cannot connect to the Dask scheduler at {pool.scheduler!r}: {type(e).__name__}: {e}"
                    ) from None
                self.capacity = max(1, sum(self._client.nthreads().values()))

    def submit(self, task):
        if self.kind == "inline":
            fut = cf.Future()
            fut.set_result(sw._run_task(task))
            return fut
        if self.kind == "local":
            return self._ex.submit(sw._run_task, task)
        return self._client.submit(sw._run_task, task, pure=False)

    def wait(self, futs, timeout: float) -> list:
        """The futures of ``futs`` that finished, waiting up to ``timeout`` s for one."""
        if self.kind != "dask":
            return list(cf.wait(futs, timeout, cf.FIRST_COMPLETED).done)
        t_end = time.monotonic() + timeout
        while True:
            done = [f for f in futs if f.done()]
            if done or time.monotonic() >= t_end:
                return done
            time.sleep(min(0.01, timeout))

    def result(self, fut, task) -> list[Result]:
        try:
            res = fut.result()
        except Exception as e:  # noqa: BLE001 - worker died (not saved; re-run on resume)
            res = ex.worker_failed(task, e)
        if self.kind == "dask":
            fut.release()
        return res

    def kill(self) -> None:
        """Stop at once: pending work cancelled, worker processes killed."""
        if self._ex is not None:
            ex._kill_pool(self._ex)
            self._ex = None
        if self._cluster is not None:
            ex._kill_local_cluster_workers(self._cluster)
        self.close()

    def close(self) -> None:
        if self._ex is not None:
            self._ex.shutdown(wait=True)
            self._ex = None
        with ex._signals_ignored(), ex._quiet_dask():
            if self._client is not None:
                with contextlib.suppress(Exception):
                    self._client.close(timeout=10)
                self._client = None
            if self._cluster is not None:
                with contextlib.suppress(Exception):
                    self._cluster.close(timeout=10)
                self._cluster = None


__all__ = ["PoolStopped", "RunPool"]

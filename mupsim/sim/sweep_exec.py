"""How a sweep's tasks are executed: in this process, in a local process pool, or on Dask; and
the signal and process handling around it (see :mod:`mupsim.sim.sweep` for the guarantees).

A task is any object with ``keys`` (the result keys it produces) and ``config_dicts``; the
function that runs one is passed in (``run_task``), so this module knows nothing of configs.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence

from mupsim.errors import MupsimError
from mupsim.sim.result import Result

THREAD_ENV = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
PARENT_POLL_S = 1.0  # how often a worker process checks that the sweep's process is alive


class _Signalled(KeyboardInterrupt):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def worker_failed(task, e: BaseException) -> list[Result]:
    """Records (never saved) for a task whose worker died; the configs re-run on resume."""
    return [
        Result.error(d, f"worker failed: {type(e).__name__}: {e}", {"worker_failed": True})
        for d in task.config_dicts
    ]


# ---------------------------------------------------------------------- executors
def execute_local(
    run_task: Callable, tasks: Sequence, n_workers: int, context: str
) -> Iterator[tuple[str, Result]]:
    """Yield (key, Result) as tasks finish, in this process (``n_workers`` 0) or a process
    pool; ``run_task(task)`` -> one Result per ``task.keys`` (a module-level function)."""
    if n_workers == 0:
        for t in tasks:
            yield from zip(t.keys, run_task(t))
        return
    ex = None
    try:
        with _thread_env(), _children_ignore_sigint():
            watch = (None, os.getpid()) if context == "forkserver" else (os.getpid(), None)
            ex = cf.ProcessPoolExecutor(
                max_workers=n_workers,
                mp_context=mp.get_context(context),
                initializer=_init_worker,
                initargs=watch,
            )
            futs = {ex.submit(run_task, t): t for t in tasks}
        for fut in cf.as_completed(futs):
            t = futs[fut]
            try:
                res = fut.result()
            except Exception as e:  # worker died (e.g. BrokenProcessPool); not saved
                res = worker_failed(t, e)
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


def execute_dask(
    run_task: Callable, tasks: Sequence, n_workers: int, scheduler: str | None, connect_timeout: str
) -> Iterator[tuple[str, Result]]:
    """Yield (key, Result) as tasks finish on a Dask cluster (a LocalCluster of ``n_workers``
    by default, else the one at ``scheduler``, tried for ``connect_timeout``, e.g. "10s")."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise MupsimError("executor='dask' needs dask[distributed]: pip install -e '.[dask]'") from None
    import logging

    cluster = client = None
    futs: dict = {}
    try:
        with _thread_env(), _children_ignore_sigint():
            if scheduler is None:
                cluster = LocalCluster(
                    n_workers=n_workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                    silence_logs=logging.ERROR,
                )
                client = Client(cluster)
            else:
                try:
                    client = Client(scheduler, timeout=connect_timeout)
                except (OSError, TimeoutError, ValueError, TypeError) as e:
                    raise MupsimError(
                        f"cannot connect to the Dask scheduler at {scheduler!r}: {type(e).__name__}: {e}"
                    ) from None
        for t in tasks:
            f = client.submit(run_task, t, pure=False)
            futs[f.key] = (f, t)
        for fut in as_completed([f for f, _ in futs.values()]):
            t = futs[fut.key][1]
            try:
                res = fut.result()
            except Exception as e:  # noqa: BLE001 - e.g. KilledWorker after retries; not saved
                res = worker_failed(t, e)
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


def stop_on_signals():
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

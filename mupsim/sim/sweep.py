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

Modules: this one decides what runs and stores results; :mod:`mupsim.sim.sweep_exec` runs
tasks (process pool, Dask, signals, worker processes); :mod:`mupsim.sim.sweep_spec` reads and
expands spec files; :mod:`mupsim.sim.sweep_table` writes the summary table. Their public names
are importable from here too.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import signal
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mupsim.errors import MupsimError
from mupsim.sim.claims import Claims, holder
from mupsim.sim.config import SimConfig
from mupsim.sim.files import remove_temps
from mupsim.sim.result import Result
from mupsim.sim.sweep_exec import execute_dask, execute_local, stop_on_signals
from mupsim.sim.sweep_spec import SPEC_KEYS, expand_spec, load_spec, spec_size  # noqa: F401
from mupsim.sim.sweep_table import TABLE_METRICS, table, write_table  # noqa: F401

EXECUTORS = ("local", "dask")
BACKENDS = ("numba", "ensemble")
CONTEXTS = ("spawn", "fork", "forkserver")
DASK_CONNECT_TIMEOUT = "10s"  # how long to try reaching a scheduler given by address
CLAIM_POLL_S = 0.5  # how often a sweep looks again at runs another sweep has claimed

Runner = Callable[[SimConfig], Result]


class SweepInterrupted(KeyboardInterrupt):
    """A sweep stopped by a signal (a ``KeyboardInterrupt``); its stored results survive.

    Attributes:
        signum: the signal (SIGINT or SIGTERM).
        done: results stored in ``out_dir`` for this sweep's configs.
        total: distinct configs.
        out_dir: the result folder.
    """

    def __init__(self, signum: int, done: int, total: int, out_dir) -> None:
        self.signum, self.done, self.total, self.out_dir = signum, done, total, Path(out_dir)
        super().__init__(
            f"sweep interrupted by {signal.Signals(signum).name}: {done} of {total} "
            f"results stored in {self.out_dir}; run it again to resume"
        )


# ---------------------------------------------------------------------- sweep
def sweep(
    configs: Iterable[SimConfig],
    out_dir,
    workers: int | None = None,
    progress: bool = True,
    runner: Runner | None = None,
    context: str = "spawn",
    executor: str = "local",
    scheduler: str | None = None,
    backend: str = "numba",
) -> list[Result]:
    """Run every config whose result is not yet in ``out_dir``; return all results in input order.

    Equal configs (same key: e.g. a grid ``seed: [0, 0, 1]``, or ``lr`` 0.0 and -0.0) are run
    and stored once; each input position gets that one result (:func:`table` lists it once).

    Args:
        configs: SimConfig objects (or dicts of fields).
        out_dir: the result folder (created if missing).
        workers: number of worker processes (default: CPU count, at most the number of tasks);
            0 = run in this process (local executor only).
        progress: print progress to stderr.
        runner: function SimConfig -> Result (default ``mupsim.sim.run.run``); with local
            worker processes it must be picklable, i.e. a module-level function.
        context: multiprocessing start method ("spawn", "fork", "forkserver"; local executor).
        executor: "local" or "dask".
        scheduler: address of a running Dask scheduler (e.g. "tcp://10.0.0.5:8786"; default: a
            LocalCluster of ``workers`` processes).
        backend: "numba" or "ensemble" (see module docstring).

    Returns:
        ``Result`` objects (status ok/diverged/error), one per input config.

    Raises:
        MupsimError: an invalid argument or config, or a result path that cannot be written.
        SweepInterrupted: on SIGINT/SIGTERM (see module docstring).

    Examples:
        >>> from mupsim.sim import SimConfig, sweep
        >>> c = SimConfig(width=8, base_width=8, input_dim=4, teacher_width=4, steps=5,
        ...               batch_size=8, n_test=16, n_logs=3)
        >>> results = sweep([c, c.replace(seed=1)], "runs", workers=0, progress=False)
        >>> [r.status for r in results]
        ['ok', 'ok']
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
            _run_pending(
                todo, results, out, claims, backend, runner, workers, context, executor, scheduler, progress
            )
    except KeyboardInterrupt as e:
        _remove_stale_tmp(out, [k for k in by_key if k in claims])
        done = sum(1 for k in by_key if k in results and not results[k].provenance.get("worker_failed"))
        raise SweepInterrupted(getattr(e, "signum", signal.SIGINT), done, len(by_key), out) from None
    finally:
        claims.release_all()
    return [results[c.key()] for c in configs]


def _run_pending(
    todo: dict,
    results: dict,
    out: Path,
    claims: Claims,
    backend,
    runner,
    workers,
    context,
    executor,
    scheduler,
    progress,
) -> None:
    """Run the configs of ``todo`` into ``out`` and ``results``, in rounds: claim what no other
    sweep holds, run it, and wait (polling) for the rest; a key another sweep held is taken
    over when its claim ends and no result was stored (that sweep died or was interrupted)."""
    waited: set[str] = set()  # keys another sweep held while this one wanted them
    bar = _progress_bar(len(todo), progress)
    try:
        with stop_on_signals():
            while todo:
                mine = {k: c for k, c in todo.items() if claims.take(k)}
                for k in list(mine):  # stored meanwhile by a sweep that held the claim
                    r = _load_existing(
                        out / k, mine[k], _backend_for(mine[k], backend), accept_error=k in waited
                    )
                    if r is not None:
                        results[k] = r
                        del mine[k], todo[k]
                        claims.release(k)
                        bar.update(1)
                waited.update(k for k in todo if k not in mine)
                if not mine:
                    if todo:
                        bar.set_description(
                            f"sweep (waiting for {len(todo)} runs claimed by "
                            f"{holder(out, next(iter(todo)))})",
                            refresh=True,
                        )
                        time.sleep(CLAIM_POLL_S)
                    continue
                _remove_stale_tmp(out, mine)
                # closed at once on any exception: pending runs cancelled, workers killed
                run_iter = _execute(mine, backend, runner, workers, context, executor, scheduler)
                with contextlib.closing(run_iter):
                    for k, r in run_iter:
                        if not r.provenance.get("worker_failed"):
                            r.save(out / k)  # MupsimError if it cannot be written: sweep stops
                        results[k] = r
                        todo.pop(k, None)
                        claims.release(k)
                        bar.update(1)
                        if r.status != "ok":
                            counts = {
                                s: sum(x.status == s for x in results.values()) for s in ("diverged", "error")
                            }
                            bar.set_postfix(counts, refresh=False)
                bar.set_description("sweep", refresh=False)
    finally:
        bar.close()


def _execute(
    todo: Mapping[str, SimConfig], backend, runner, workers, context, executor, scheduler
) -> Iterator[tuple[str, Result]]:
    """(key, Result) of every config of ``todo`` as its task finishes."""
    tasks = _make_tasks(todo, backend, runner)
    n_workers = min((os.cpu_count() or 1) if workers is None else workers, len(tasks))
    if executor == "local":
        run_iter = execute_local(_run_task, tasks, n_workers, context)
    else:
        run_iter = execute_dask(_run_task, tasks, n_workers, scheduler, DASK_CONNECT_TIMEOUT)
    with contextlib.closing(run_iter):
        yield from run_iter


def _check_args(workers, context, executor, scheduler, backend, runner) -> None:
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise MupsimError(f"workers must be an integer >= 0 (0 = in-process); got {workers!r}")
    if context not in CONTEXTS:
        raise MupsimError(f"unknown multiprocessing context {context!r}; allowed: {', '.join(CONTEXTS)}")
    if executor not in EXECUTORS:
        raise MupsimError(f"unknown executor {executor!r}; allowed: {', '.join(EXECUTORS)}")
    if backend not in BACKENDS:
        raise MupsimError(f"unknown backend {backend!r}; allowed: {', '.join(BACKENDS)}")
    if scheduler is not None:
        if executor != "dask":
            raise MupsimError("a scheduler address needs executor='dask'")
        if (
            not isinstance(scheduler, str)
            or not scheduler.strip()
            or any(ch.isspace() for ch in scheduler.strip())
        ):
            raise MupsimError(
                f"scheduler must be a Dask scheduler address such as "
                f"'tcp://HOST:8786' or 'HOST:8786'; got {scheduler!r}"
            )
    if executor == "dask" and workers == 0:
        raise MupsimError(
            "workers=0 (run in this process) needs executor='local'; with "
            "executor='dask' give the number of LocalCluster workers (>= 1)"
        )
    if backend == "ensemble" and runner is not None:
        raise MupsimError(
            "runner= replaces the numba run function; it cannot be combined with backend='ensemble'"
        )
    if executor == "local" and workers != 0 and runner is not None:
        try:
            pickle.dumps(runner)
        except Exception as e:  # noqa: BLE001
            raise MupsimError(
                f"runner {runner!r} cannot be sent to worker processes ({e}); use a "
                f"module-level function, or workers=0 to run in this process"
            ) from None


# ---------------------------------------------------------------------- output folder
def _result_dir(out_dir) -> Path:
    """The result folder, created if missing; MupsimError naming the reason if it cannot be."""
    from mupsim.sim.files import _text, file_kind

    text = _text(out_dir, "the result folder")
    if not text.strip():
        raise MupsimError(f"the result folder must be a path; got {text!r}")
    out = Path(text)
    if out.exists() and not out.is_dir():
        raise MupsimError(f"result folder {out} exists and is {file_kind(out.stat().st_mode)}, not a folder")
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
            remove_temps(out / f"{k}.{ext}")


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
    return (
        float(c.steps)
        * c.batch_size
        * c.width
        * max(c.width, c.input_dim)
        * max(c.depth, 1)
        * max(c.ffn_ratio, 1)
    )


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
    return [
        _Task(tuple(ks), tuple(todo[k].to_dict() for k in ks), None, True, (None,) * len(ks))
        for ks in groups.values()
    ] + tasks


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

        r = Result.error(
            config.to_dict(),
            f"{type(e).__name__}: {e}",
            provenance(config, wall_time_s=time.perf_counter() - t0, traceback=traceback.format_exc()),
        )
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
        return [
            Result.error(
                c.to_dict(),
                f"ensemble group of {len(configs)} failed: {type(e).__name__}: {e}",
                provenance(c, wall_time_s=time.perf_counter() - t0, traceback=tb, backend="ensemble"),
            )
            for c in configs
        ]
    for r in res:
        r.provenance.setdefault("backend", "ensemble")
    return res


def _load_existing(
    stem: Path, config: SimConfig, backend: str = "numba", accept_error: bool = False
) -> Result | None:
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
    from mupsim.sim.settings import SIMULATOR_VERSION

    if r.provenance.get("simulator_version") != SIMULATOR_VERSION:
        return True
    current = json.loads(json.dumps(config.settings.to_dict()))
    return current != saved


def _progress_bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="sweep", unit="run", disable=not enabled, dynamic_ncols=True)


def _as_config(c) -> SimConfig:
    if isinstance(c, SimConfig):
        return c
    if isinstance(c, Mapping):
        return SimConfig.from_dict(c)
    raise MupsimError(f"sweep needs SimConfig objects (or dicts of fields); got {type(c).__name__}")


# ---------------------------------------------------------------------- results
def load_results(out_dir, configs: Sequence[SimConfig] | None = None) -> list:
    """Load saved results.

    Args:
        out_dir: the result folder.
        configs: the configs whose results to load, or None for all.

    Returns:
        With ``configs``: one entry per config, in order, ``None`` where no valid result exists.
        Without: every readable result in ``out_dir`` (sorted by file stem), corrupt ones
        skipped.

    Raises:
        MupsimError: ``out_dir`` does not exist, or a config is invalid.

    Examples:
        >>> from mupsim.sim import SimConfig, load_results, sweep
        >>> c = SimConfig(width=8, base_width=8, input_dim=4, teacher_width=4, steps=5,
        ...               batch_size=8, n_test=16, n_logs=3)
        >>> _ = sweep([c], "stored", workers=0, progress=False)
        >>> [r is None for r in load_results("stored", [c, c.replace(seed=1)])]
        [False, True]
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


def pending(configs: Iterable[SimConfig], out_dir, backend: str = "numba") -> list[SimConfig]:
    """The configs still to run.

    Args:
        configs: SimConfig objects (or dicts of fields).
        out_dir: the result folder.
        backend: "numba" or "ensemble", the backend the sweep would use.

    Returns:
        The configs (deduplicated, in order) whose stored result in ``out_dir`` is missing,
        unreadable, an error, stale (made by other per-layer settings or simulator version) or
        made by another backend than ``backend`` would use.

    Raises:
        MupsimError: an unknown backend or an invalid config.

    Examples:
        >>> from mupsim.sim import SimConfig
        >>> from mupsim.sim.sweep import pending
        >>> c = SimConfig(width=8)
        >>> pending([c, c, c.replace(seed=1)], "nothing-stored-here") == [c, c.replace(seed=1)]
        True
    """
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

"""Run many simulations in parallel into a folder, resumably and deterministically.

* Each config's result is stored as ``out_dir/<config.key()>.{npz,json}`` (written atomically
  by the worker as soon as the run finishes), so an interrupted sweep resumes where it stopped.
* Workers are separate processes (multiprocessing "spawn" context by default) started with
  ``NUMBA_NUM_THREADS = OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = MKL_NUM_THREADS = 1`` so every
  run computes the same bits whatever the number of workers. ``workers=0`` runs in the
  calling process instead (for debugging; no thread pinning).
* A run that raises is recorded as a Result with status "error" (message and traceback in
  ``provenance["error"]``/``["traceback"]``) and the sweep goes on; saved error records are
  re-run on resume. Divergence is not an error: the runner returns status "diverged".
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
import itertools
import json
import multiprocessing as mp
import os
import pickle
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from mupsim.errors import MupsimError
from mupsim.sim.config import SimConfig
from mupsim.sim.limits import MAX_SWEEP_CONFIGS
from mupsim.sim.result import Result

THREAD_ENV = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
SPEC_KEYS = ("name", "description", "base", "grid", "zip")

Runner = Callable[[SimConfig], Result]


# ---------------------------------------------------------------------- sweep
def sweep(configs: Iterable[SimConfig], out_dir, workers: int | None = None,
          progress: bool = True, runner: Runner | None = None,
          context: str = "spawn") -> list[Result]:
    """Run every config whose result is not yet in ``out_dir``; return all results in input order.

    ``workers``: number of worker processes (default: CPU count, at most the number of runs
    left); 0 = run in this process. ``runner``: function SimConfig -> Result (default
    ``mupsim.sim.run.run``); with worker processes it must be picklable, i.e. a module-level
    function. ``context``: multiprocessing start method ("spawn" or "fork").
    Duplicate configs are run once. Returns ``Result`` objects (status ok/diverged/error).
    """
    configs = [_as_config(c) for c in configs]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 0):
        raise MupsimError(f"workers must be an integer >= 0 (0 = in-process); got {workers!r}")
    if context not in ("spawn", "fork", "forkserver"):
        raise MupsimError(f"unknown multiprocessing context {context!r}; "
                          f"allowed: spawn, fork, forkserver")

    results: dict[str, Result] = {}
    pending: dict[str, SimConfig] = {}
    for c in configs:
        k = c.key()
        if k in results or k in pending:
            continue
        r = _load_existing(out / k, c)
        if r is not None:
            results[k] = r
        else:
            pending[k] = c

    if pending:
        n_workers = (os.cpu_count() or 1) if workers is None else workers
        n_workers = min(n_workers, len(pending))
        bar = _progress_bar(len(pending), progress)
        try:
            for k, r in _execute(pending, out, n_workers, runner, context):
                results[k] = r
                bar.update(1)
                if r.status != "ok":
                    counts = {s: sum(x.status == s for x in results.values())
                              for s in ("diverged", "error")}
                    bar.set_postfix(counts, refresh=False)
        finally:
            bar.close()
    return [results[c.key()] for c in configs]


def _execute(pending: Mapping[str, SimConfig], out: Path, n_workers: int, runner, context):
    """Yield (key, Result) as runs finish."""
    if n_workers == 0:
        for k, c in pending.items():
            yield k, _run_and_save(c.to_dict(), str(out / k), runner)
        return
    if runner is not None:
        try:
            pickle.dumps(runner)
        except Exception as e:  # noqa: BLE001
            raise MupsimError(f"runner {runner!r} cannot be sent to worker processes ({e}); use a "
                              f"module-level function, or workers=0 to run in this process") \
                from None
    ctx = mp.get_context(context)
    with _thread_env():
        ex = cf.ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx,
                                    initializer=_init_worker)
        try:
            futs = {ex.submit(_run_and_save, c.to_dict(), str(out / k), runner): k
                    for k, c in pending.items()}
            for fut in cf.as_completed(futs):
                k = futs[fut]
                try:
                    yield k, fut.result()
                except Exception as e:  # worker died (e.g. BrokenProcessPool); not saved
                    yield k, Result.error(pending[k].to_dict(),
                                          f"worker failed: {type(e).__name__}: {e}")
        except BaseException:
            ex.shutdown(wait=False, cancel_futures=True)
            raise
        else:
            ex.shutdown(wait=True)


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


def _init_worker() -> None:
    os.environ.update({v: "1" for v in THREAD_ENV})
    import sys
    if "numba" in sys.modules:  # e.g. fork context after the parent imported numba
        with contextlib.suppress(Exception):
            sys.modules["numba"].set_num_threads(1)


def _default_runner(config: SimConfig) -> Result:
    from mupsim.sim.run import run as _run
    return _run(config)


def _run_and_save(config_dict: dict, stem: str, runner) -> Result:
    """Worker body: run one config, save the result (errors too), return it."""
    config = SimConfig.from_dict(config_dict)
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
    r.save(stem)
    return r


def _load_existing(stem: Path, config: SimConfig) -> Result | None:
    """A finished result for ``config`` at ``stem``, or None if missing/corrupt/an error."""
    if not Result.exists(stem):
        return None
    try:
        r = Result.load(stem)
    except MupsimError:
        return None
    if r.status == "error":
        return None
    try:
        if SimConfig.from_dict(r.config) != config:
            return None
    except MupsimError:
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
    """One flat row per result: every config field, status, divergence step, final losses and,
    per matrix, the final ``TABLE_METRICS`` (columns ``<metric>:<matrix>``). NaN after divergence."""
    rows = []
    for r in results:
        row = dict(r.config)
        if row.get("multipliers") is not None:
            row["multipliers"] = ",".join(str(x) for x in row["multipliers"])
        row.update(key=SimConfig.from_dict(r.config).key(), status=r.status,
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
    import tempfile

    cols: list[str] = []
    for row in rows:
        cols += [c for c in row if c not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, restval="")
    w.writeheader()
    w.writerows(rows)
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".csv")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(buf.getvalue())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def pending(configs: Iterable[SimConfig], out_dir) -> list[SimConfig]:
    """The configs (deduplicated, in order) whose stored result in ``out_dir`` is missing,
    unreadable, an error, or stale (made by other per-layer settings or simulator version)."""
    out = Path(out_dir)
    seen, todo = set(), []
    for c in configs:
        c = _as_config(c)
        k = c.key()
        if k in seen:
            continue
        seen.add(k)
        if _load_existing(out / k, c) is None:
            todo.append(c)
    return todo

"""Regenerate the figures: spec -> cached sweep -> analysis -> PNG + CSV + JSON.

    python -m mupsim.experiments.make_figures --quick=0|1 [--only F3,F4] [--results-dir DIR]
                                              [--figures-dir DIR] [--workers N]
                                              [--backend numba|ensemble]
                                              [--executor local|dask] [--scheduler ADDRESS]
                                              [--archive read|none|write]

For each figure: run its configs into the results cache (one file pair per config, stem =
``config.key()``, so a warm run computes nothing), analyse the results, and write
``<figures-dir>/<name>.png`` with the numbers behind it in ``<name>.csv`` (one row per
run/point, diverged runs listed) and ``<name>.json`` (headline, fits, series), all atomically.
One line per figure is printed with its headline numbers as soon as it is drawn.
``--quick=1`` uses tiny widths and few steps and writes to ``<figures-dir>/quick``.
The runs estimated at 2 s or more are committed (:mod:`mupsim.experiments.archive`): a current
committed run is copied into the cache instead of being run (``--archive read``, the default);
``--archive none`` runs everything here; ``--archive write`` does that and then rewrites the
committed runs from this invocation (``make archive-runs``).

One schedule for all figures (:func:`draw`): every figure is analysed in its own thread and
every run goes into one pool (:class:`mupsim.experiments.schedule.RunPool`, the same for every
executor and backend): the configs known up front enter it at once, longest first by
:func:`mupsim.sim.limits.estimate_seconds`, a run two figures share is computed once, the
configs that depend on another figure's measurement enter the pool as soon as it is analysed,
and each figure is drawn as soon as its runs are in.

Each figure is one module under :mod:`mupsim.experiments.figures` (its configs, analysis and
plot); :data:`~mupsim.experiments.figures.FIGURES` is their registry. F3B and F4B are F3's
baseline and F4 in the rich token regime (common.RICH_TOKENS); F4B's alignment rule runs at the
rich α̂ from F3B and, out of sample, at the fixed-teacher α̂ from F3. F1 and F4 need α̂ from F3
(F1 shows F4's runs) and F5's weight-decay sweep needs the best learning rate of F5's own
learning-rate sweep; F5C's λ sweep runs at the best η of its own (η, λ) heatmap and reads its
runs in the alignment rule's coordinates with α̂ from F3; those come from the analyses of the
earlier runs (run if missing). F10 runs nothing: it reads the committed runs file of
:mod:`mupsim.experiments.long_memory` (``make long-memory``; with ``--quick=1`` it runs that
module's quick spec through the pool instead).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_RESULTS = REPO / ".cache" / "results"
DEFAULT_FIGURES = REPO / "figures"
MODES = ("read", "none", "write")
"""``--archive``: read the committed runs (:mod:`mupsim.experiments.archive`) instead of running
them, ignore them, or run without them and rewrite them."""

ORDER = ("F1", "F2", "F3", "F4", "F3B", "F4B", "F5", "F5C", "F6", "F7", "F8", "F9", "F10", "F10B")
"""The figures in drawing order: the keys of :data:`mupsim.experiments.figures.FIGURES` (kept
here as plain names so that the command line is parsed without importing the figures)."""


# ---------------------------------------------------------------------------- atomic output
def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with the shared atomic writer (temp file, fsync, rename; only
    a regular file is ever replaced; usual umask mode)."""
    from mupsim.sim.result import _atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, lambda f: f.write(data), "figure output")


def _json_default(o):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)


def _fmt_cell(v):
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)
    if v is None:
        return ""
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, default=_json_default)
    return v


def write_outputs(data: dict, fig, out_dir: Path) -> Path:
    """Write <name>.png, <name>.csv and <name>.json for one analysed figure, atomically."""
    name = data["figure"]
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150)
    _atomic_write_bytes(out_dir / f"{name}.png", buf.getvalue())
    rows = data.get("rows", [])
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    s = io.StringIO()
    w = csv.DictWriter(s, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _fmt_cell(r.get(k)) for k in cols})
    _atomic_write_bytes(out_dir / f"{name}.csv", s.getvalue().encode("utf-8"))
    text = json.dumps(data, indent=1, default=_json_default, allow_nan=True)
    _atomic_write_bytes(out_dir / f"{name}.json", text.encode("utf-8"))
    return out_dir / f"{name}.png"


# ---------------------------------------------------------------------------- pipeline
class Pipeline:
    """Runs sweeps into the cache and keeps the analyses figures depend on.

    With a :class:`~mupsim.experiments.schedule.RunPool` (``pool``), :meth:`results` hands the
    configs to the pool and waits, and :meth:`analyse` may be called from several threads at
    once (each figure computed once; a thread asking for a figure another thread is computing
    waits for it). Without one, each :meth:`results` call is one sweep."""

    def __init__(
        self,
        quick: bool,
        results_dir: Path,
        workers,
        progress: bool,
        runner=None,
        sweep_options: dict | None = None,
        wide: bool = False,
        pool=None,
    ):
        self.quick = quick
        self.wide = wide
        self.sweep_options = dict(sweep_options or {})  # executor, scheduler, backend
        self.results_dir = Path(results_dir)
        self.workers = workers
        self.progress = progress
        self.runner = runner
        self.pool = pool
        self.analyses: dict[str, dict] = {}
        self.computed = 0
        self.errors = 0
        self._lock = threading.Lock()
        self._pending: dict[str, Future] = {}  # figure -> its analysis, being computed
        self._local = threading.local()  # per thread: runs read, runs computed

    @property
    def _runs_read(self) -> list:
        """Results read for the figure this thread is analysing."""
        if not hasattr(self._local, "runs"):
            self._local.runs = []
        return self._local.runs

    @_runs_read.setter
    def _runs_read(self, runs: list) -> None:
        self._local.runs = runs

    def thread_computed(self) -> int:
        """Runs this thread's requests added (computed for the figures it analysed)."""
        return getattr(self._local, "computed", 0)

    def results(self, configs) -> list:
        """Every result of ``configs``: stored ones read from the cache, missing or stale ones run."""
        configs = list(configs)
        if self.pool is not None:
            loaded, missing = self.pool.results(configs)
        else:
            loaded, missing = self._sweep(configs)
        with self._lock:
            self.computed += missing
        self._local.computed = self.thread_computed() + missing
        self._runs_read.extend(r for r in loaded if r is not None)
        absent = sum(r is None for r in loaded)
        if absent:
            raise RuntimeError(
                f"{absent} of {len(configs)} results missing from {self.results_dir} after the sweep"
            )
        errs = [r for r in loaded if r.status == "error"]
        if errs:
            with self._lock:
                self.errors += len(errs)
            msg = errs[0].provenance.get("error", "?")
            print(
                f"  warning: {len(errs)} run(s) raised an error (excluded and listed in the "
                f"CSV); first: {msg}",
                file=sys.stderr,
            )
        return loaded

    def _sweep(self, configs) -> tuple[list, int]:
        """(results, how many were run) of ``configs`` by one sweep."""
        from mupsim.sim import load_results, sweep
        from mupsim.sim.sweep import pending

        backend = self.sweep_options.get("backend", "numba")
        missing = (
            len(pending(configs, self.results_dir, backend))
            if self.results_dir.is_dir()
            else len({c.key() for c in configs})
        )
        if missing:  # sweep returns every result in order, stored ones included
            return sweep(
                configs,
                self.results_dir,
                workers=self.workers,
                progress=self.progress,
                runner=self.runner,
                **self.sweep_options,
            ), missing
        return load_results(self.results_dir, configs), 0

    def analyse(self, fig: str) -> dict:
        """The analysed numbers of figure ``fig`` (by name, e.g. "F3"), computed once: its
        :attr:`~mupsim.experiments.figure.Figure.make` with this pipeline, plus ``quick`` and
        ``provenance`` (the stored runs read for it alone)."""
        with self._lock:
            if fig in self.analyses:
                return self.analyses[fig]
            fut = self._pending.get(fig)
            mine = fut is None
            if mine:
                fut = self._pending[fig] = Future()
        if not mine:
            return fut.result()  # another thread computes it
        outer, self._runs_read = self._runs_read, []
        try:
            data = self._analyse(fig)
        except BaseException as e:
            fut.set_exception(e)
            with self._lock:
                self._pending.pop(fig, None)
            raise
        finally:
            self._runs_read = outer
        with self._lock:
            self.analyses[fig] = data
            self._pending.pop(fig, None)
        fut.set_result(data)
        return data

    def _analyse(self, fig: str) -> dict:
        from mupsim.experiments.figures import FIGURES

        data = FIGURES[fig].make(self)
        data["quick"] = self.quick
        # a figure reading a committed file (F10) names it in its own provenance entries
        data["provenance"] = {**self._provenance(), **(data.get("provenance") or {})}
        return data

    def _provenance(self) -> dict:
        """Where the figure's numbers come from: code version now, and the stored runs read."""
        from mupsim.sim.result import provenance

        now = provenance()
        runs = self._runs_read
        return {
            "mupsim_version": now["mupsim_version"],
            # a copy without .git (e.g. rsynced to another machine) names its commit in the env
            "git_commit": now["git_commit"] or os.environ.get("MUPSIM_GIT_COMMIT"),
            "created": now["created"],
            "results_dir": str(self.results_dir),
            "runs_read": len(runs),
            "run_git_commits": sorted({str(r.provenance.get("git_commit")) for r in runs}),
            "run_simulator_versions": sorted({str(r.provenance.get("simulator_version")) for r in runs}),
            "run_keys": sorted({r.key for r in runs if getattr(r, "key", None)}),
        }


def draw(pipe: Pipeline, figs, figures_dir: Path) -> list[str]:
    """Analyse ``figs``, each in its own thread, through ``pipe``'s run pool, and draw and write
    each one (in this thread) as soon as its analysis is done; one line printed per figure.
    Returns the figures that failed (the others are still drawn)."""
    import queue
    import traceback

    from mupsim.experiments.figures import FIGURES

    finished: queue.Queue = queue.Queue()
    t0 = time.perf_counter()

    def work(fig):
        try:
            data = pipe.analyse(fig)
            finished.put((fig, data, None, pipe.thread_computed()))
        except BaseException as e:  # noqa: BLE001 - reported by the drawing thread
            finished.put((fig, None, e, pipe.thread_computed()))

    threads = [threading.Thread(target=work, args=(f,), name=f"figure-{f}", daemon=True) for f in figs]
    failed: list[str] = []

    def draw_finished():
        while True:
            try:
                fig, data, err, computed = finished.get_nowait()
            except queue.Empty:
                return
            if err is None:
                try:
                    path = write_outputs(data, FIGURES[fig].plot(data), figures_dir)
                except Exception as e:  # noqa: BLE001 - report and go on with the others
                    err = e
            if err is not None:
                if not isinstance(err, Exception):
                    raise err
                traceback.print_exception(err)
                print(f"{fig}: FAILED ({type(err).__name__}: {err})", flush=True)
                failed.append(fig)
                continue
            print(
                f"{fig} {data['figure']}: {data.get('headline', '')} "
                f"[{data['n_runs']} runs, {computed} computed, "
                f"{time.perf_counter() - t0:.1f}s] -> {path}",
                flush=True,
            )

    for t in threads:
        t.start()
    pipe.pool.serve(until=lambda: not any(t.is_alive() for t in threads), on_tick=draw_finished)
    for t in threads:
        t.join()
    draw_finished()
    return [f for f in figs if f in failed]


def parse_only(text: str | None) -> list[str]:
    from mupsim.errors import MupsimError

    if not text:
        return list(ORDER)
    figs = [t.strip().upper() for t in text.split(",") if t.strip()]
    bad = [f for f in figs if f not in ORDER]
    if bad:
        raise MupsimError(f"unknown figure(s) {', '.join(bad)} in --only; allowed: {', '.join(ORDER)}")
    return [f for f in ORDER if f in figs]


def _bool01(s: str) -> bool:
    if s not in ("0", "1"):
        raise argparse.ArgumentTypeError(f"expected 0 or 1, got {s!r}")
    return s == "1"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m mupsim.experiments.make_figures", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument(
        "--quick",
        type=_bool01,
        default=False,
        metavar="0|1",
        help="1 = tiny widths and few steps (smoke test); output in <figures-dir>/quick",
    )
    ap.add_argument("--only", default=None, help="comma-separated subset, e.g. F3,F4")
    ap.add_argument(
        "--results-dir", type=Path, default=None, help=f"results cache (default {DEFAULT_RESULTS})"
    )
    ap.add_argument(
        "--figures-dir", type=Path, default=None, help=f"output folder (default {DEFAULT_FIGURES})"
    )
    ap.add_argument("--workers", type=int, default=None, help="sweep processes (default: CPUs)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    ap.add_argument(
        "--wide",
        action="store_true",
        help="F9 at widths 1024-4096 for every point (hours on 2 cores; for a GPU box or a cluster)",
    )
    ap.add_argument(
        "--backend",
        choices=("numba", "ensemble"),
        default="numba",
        help="run the sweeps with the numba loop (default) or the ensemble backend",
    )
    ap.add_argument(
        "--executor",
        choices=("local", "dask"),
        default="local",
        help="local processes (default) or Dask (a LocalCluster unless --scheduler)",
    )
    ap.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="running Dask scheduler, e.g. tcp://HOST:8786 (with --executor dask)",
    )
    ap.add_argument(
        "--archive",
        choices=MODES,
        default="read",
        help="the committed long runs (figures/data/runs): read them instead of running them "
        "(default), ignore them, or run every figure without them and rewrite them",
    )
    ap.add_argument(
        "--fake",
        action="store_true",
        help="developer option: synthetic results from mupsim.experiments.fake "
        "(separate cache and output folders), not simulations",
    )
    args = ap.parse_args(argv)

    os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))
    os.environ.setdefault("MPLBACKEND", "Agg")
    from mupsim.errors import MupsimError

    try:
        figs = parse_only(args.only)
    except MupsimError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    runner = None
    results_dir = args.results_dir or DEFAULT_RESULTS
    figures_dir = args.figures_dir or DEFAULT_FIGURES
    if args.fake:
        from mupsim.experiments.fake import fake_run

        runner = fake_run
        results_dir = args.results_dir or REPO / ".cache" / "fake-results"
        figures_dir = (args.figures_dir or DEFAULT_FIGURES) / "fake"
    if args.quick:
        figures_dir = figures_dir / "quick"
    from mupsim.experiments.figures import FIGURES  # noqa: F401 - loaded before the threads start

    if args.scheduler is not None and args.executor != "dask":
        print("error: --scheduler needs --executor dask", file=sys.stderr)
        return 2
    if args.fake and args.backend != "numba":
        print("error: --fake replaces the runs; it cannot be combined with --backend", file=sys.stderr)
        return 2
    if args.archive == "write" and (
        args.quick or args.only or args.fake or args.wide or args.backend != "numba"
    ):
        print(
            "error: --archive write rewrites the committed runs of a full make figures: it takes no "
            "--quick=1, --only, --fake, --wide or --backend other than numba",
            file=sys.stderr,
        )
        return 2
    from mupsim.experiments import archive

    sweep_options = {
        k: v
        for k, v in (("backend", args.backend), ("executor", args.executor), ("scheduler", args.scheduler))
        if v is not None
    }
    from mupsim.experiments.schedule import RunPool

    pool = RunPool(
        results_dir,
        args.workers,
        runner=runner,
        progress=not args.no_progress,
        archive=archive.ARCHIVE if args.archive == "read" and not (args.quick or args.fake) else None,
        **sweep_options,
    )
    pipe = Pipeline(
        args.quick,
        results_dir,
        args.workers,
        not args.no_progress,
        runner,
        sweep_options,
        wide=args.wide,
        pool=pool,
    )
    t_all = time.perf_counter()
    try:
        failed = draw(pipe, figs, figures_dir)
    except KeyboardInterrupt as e:  # SweepInterrupted (SIGINT/SIGTERM): stored runs are kept
        import signal

        print(f"make_figures: {e}" if str(e) else "make_figures: interrupted", file=sys.stderr)
        return 128 + int(getattr(e, "signum", signal.SIGINT))
    except MupsimError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"done: {len(figs) - len(failed)}/{len(figs)} figures in "
        f"{time.perf_counter() - t_all:.1f}s ({pipe.computed} runs computed, {pool.archived} read "
        f"from the committed runs, {pipe.errors} errored) -> {figures_dir}",
        flush=True,
    )
    if failed:
        return 1
    if args.archive == "write":
        doc = archive.write(pool.done())
        print(
            f"committed runs: {doc['runs']} runs ({doc['run_seconds']:.0f} s of run time) -> {archive.ARCHIVE}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

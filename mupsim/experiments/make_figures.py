"""Regenerate the figures: spec -> cached sweep -> analysis -> PNG + CSV + JSON.

    python -m mupsim.experiments.make_figures --quick=0|1 [--only F3,F4] [--results-dir DIR]
                                              [--figures-dir DIR] [--workers N]
                                              [--backend numba|ensemble]
                                              [--executor local|dask] [--scheduler ADDRESS]

For each figure: run its sweep through :func:`mupsim.sim.sweep` into the results cache (one file
pair per config, stem = ``config.key()``, so a warm run computes nothing), load the stored
results back from disk, analyse them, and write ``<figures-dir>/<name>.png`` with the numbers
behind it in ``<name>.csv`` (one row per run/point, diverged runs listed) and ``<name>.json``
(headline, fits, series), all atomically. One line per figure is printed with its headline
numbers. ``--quick=1`` uses tiny widths and few steps and writes to ``<figures-dir>/quick``.

Each figure is one module under :mod:`mupsim.experiments.figures` (its configs, analysis and
plot); :data:`~mupsim.experiments.figures.FIGURES` is their registry. F3B and F4B are F3's
baseline and F4 in the rich token regime (common.RICH_TOKENS); F4B's alignment rule runs at the
rich α̂ from F3B and, out of sample, at the fixed-teacher α̂ from F3. F1 and F4 need α̂ from F3
(F1 shows F4's runs) and F5's weight-decay sweep needs the best learning rate of F5's own
learning-rate sweep; F5C's λ sweep runs at the best η of its own (η, λ) heatmap and reads its
runs in the alignment rule's coordinates with α̂ from F3; those come from the stored results of
the earlier sweep (run if missing).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_RESULTS = REPO / ".cache" / "results"
DEFAULT_FIGURES = REPO / "figures"
ORDER = ("F1", "F2", "F3", "F4", "F3B", "F4B", "F5", "F5C", "F6", "F7", "F8", "F9")
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
    """Runs sweeps into the cache and keeps the analyses figures depend on."""

    def __init__(self, quick: bool, results_dir: Path, workers, progress: bool, runner=None,
                 sweep_options: dict | None = None, wide: bool = False):
        self.quick = quick
        self.wide = wide
        self.sweep_options = dict(sweep_options or {})  # executor, scheduler, backend
        self.results_dir = Path(results_dir)
        self.workers = workers
        self.progress = progress
        self.runner = runner
        self.analyses: dict[str, dict] = {}
        self.computed = 0
        self.errors = 0
        self._runs_read: list = []  # results read for the figure being analysed

    def results(self, configs) -> list:
        """Every result of ``configs``: stored ones read from the cache, missing or stale ones run."""
        from mupsim.sim import load_results, sweep
        from mupsim.sim.sweep import pending
        backend = self.sweep_options.get("backend", "numba")
        missing = len(pending(configs, self.results_dir, backend)) if self.results_dir.is_dir() \
            else len({c.key() for c in configs})
        self.computed += missing
        if missing:  # sweep returns every result in order, stored ones included
            loaded = sweep(configs, self.results_dir, workers=self.workers, progress=self.progress,
                           runner=self.runner, **self.sweep_options)
        else:
            loaded = load_results(self.results_dir, configs)
        self._runs_read.extend(r for r in loaded if r is not None)
        absent = sum(r is None for r in loaded)
        if absent:
            raise RuntimeError(f"{absent} of {len(configs)} results missing from "
                               f"{self.results_dir} after the sweep")
        errs = [r for r in loaded if r.status == "error"]
        if errs:
            self.errors += len(errs)
            msg = errs[0].provenance.get("error", "?")
            print(f"  warning: {len(errs)} run(s) raised an error (excluded and listed in the "
                  f"CSV); first: {msg}", file=sys.stderr)
        return loaded

    def analyse(self, fig: str) -> dict:
        """The analysed numbers of figure ``fig`` (by name, e.g. "F3"), computed once: its
        :attr:`~mupsim.experiments.figure.Figure.make` with this pipeline, plus ``quick`` and
        ``provenance`` (the stored runs read for it alone)."""
        if fig in self.analyses:
            return self.analyses[fig]
        outer, self._runs_read = self._runs_read, []
        try:
            return self._analyse(fig)
        finally:
            self._runs_read = outer

    def _analyse(self, fig: str) -> dict:
        from mupsim.experiments.figures import FIGURES
        data = FIGURES[fig].make(self)
        data["quick"] = self.quick
        data["provenance"] = self._provenance()
        self.analyses[fig] = data
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
            "created": now["created"], "results_dir": str(self.results_dir),
            "runs_read": len(runs),
            "run_git_commits": sorted({str(r.provenance.get("git_commit")) for r in runs}),
            "run_simulator_versions": sorted({str(r.provenance.get("simulator_version")) for r in runs}),
            "run_keys": sorted({r.key for r in runs if getattr(r, "key", None)}),
        }


def parse_only(text: str | None) -> list[str]:
    from mupsim.errors import MupsimError
    if not text:
        return list(ORDER)
    figs = [t.strip().upper() for t in text.split(",") if t.strip()]
    bad = [f for f in figs if f not in ORDER]
    if bad:
        raise MupsimError(f"unknown figure(s) {', '.join(bad)} in --only; allowed: "
                          f"{', '.join(ORDER)}")
    return [f for f in ORDER if f in figs]


def _bool01(s: str) -> bool:
    if s not in ("0", "1"):
        raise argparse.ArgumentTypeError(f"expected 0 or 1, got {s!r}")
    return s == "1"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mupsim.experiments.make_figures",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", type=_bool01, default=False, metavar="0|1",
                    help="1 = tiny widths and few steps (smoke test); output in <figures-dir>/quick")
    ap.add_argument("--only", default=None, help="comma-separated subset, e.g. F3,F4")
    ap.add_argument("--results-dir", type=Path, default=None,
                    help=f"results cache (default {DEFAULT_RESULTS})")
    ap.add_argument("--figures-dir", type=Path, default=None,
                    help=f"output folder (default {DEFAULT_FIGURES})")
    ap.add_argument("--workers", type=int, default=None, help="sweep processes (default: CPUs)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    ap.add_argument("--wide", action="store_true",
                    help="F9 at widths 1024-4096 for every point (hours on 2 cores; for a GPU "
                         "box or a cluster)")
    ap.add_argument("--backend", choices=("numba", "ensemble"), default="numba",
                    help="run the sweeps with the numba loop (default) or the ensemble backend")
    ap.add_argument("--executor", choices=("local", "dask"), default="local",
                    help="local processes (default) or Dask (a LocalCluster unless --scheduler)")
    ap.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="running Dask scheduler, e.g. tcp://HOST:8786 (with --executor dask)")
    ap.add_argument("--fake", action="store_true",
                    help="developer option: synthetic results from mupsim.experiments.fake "
                         "(separate cache and output folders), not simulations")
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
    from mupsim.experiments.figures import FIGURES
    if args.scheduler is not None and args.executor != "dask":
        print("error: --scheduler needs --executor dask", file=sys.stderr)
        return 2
    if args.fake and args.backend != "numba":
        print("error: --fake replaces the runs; it cannot be combined with --backend",
              file=sys.stderr)
        return 2
    sweep_options = {k: v for k, v in (("backend", args.backend), ("executor", args.executor),
                                       ("scheduler", args.scheduler)) if v is not None}
    pipe = Pipeline(args.quick, results_dir, args.workers, not args.no_progress, runner,
                    sweep_options, wide=args.wide)
    t_all = time.perf_counter()
    failed = []
    for fig in figs:
        t0, c0 = time.perf_counter(), pipe.computed
        try:
            data = pipe.analyse(fig)
            plot = FIGURES[fig].plot(data)
            path = write_outputs(data, plot, figures_dir)
        except Exception as e:  # noqa: BLE001 - report and go on with the other figures
            import traceback
            traceback.print_exc()
            print(f"{fig}: FAILED ({type(e).__name__}: {e})", flush=True)
            failed.append(fig)
            continue
        dt = time.perf_counter() - t0
        print(f"{fig} {data['figure']}: {data.get('headline', '')} "
              f"[{data['n_runs']} runs, {pipe.computed - c0} computed, {dt:.1f}s] -> {path}",
              flush=True)
    print(f"done: {len(figs) - len(failed)}/{len(figs)} figures in "
          f"{time.perf_counter() - t_all:.1f}s ({pipe.computed} runs computed, "
          f"{pipe.errors} errored) -> {figures_dir}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

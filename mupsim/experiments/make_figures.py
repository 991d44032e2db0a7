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

F3B and F4B are F3's baseline and F4 in the rich token regime (specs.RICH_TOKENS); F4B's alignment
rule runs at the rich α̂ from F3B and, out of sample, at the fixed-teacher α̂ from F3.
F1 and F4 need α̂ from F3 (F1 shows F4's runs) and F5's weight-decay sweep needs the best learning rate of F5's own
learning-rate sweep; F5C's λ sweep runs at the best η of its own (η, λ) heatmap and reads its runs
in the alignment rule's coordinates with α̂ from F3; those come from the stored results of the
earlier sweep (run if missing).
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
"""F3B/F4B: F3's baseline and F4 re-run in the rich token regime (specs.RICH_TOKENS); F5C: F5 in
the one-pass regime (specs.ONEPASS)."""


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
        if fig in self.analyses:
            return self.analyses[fig]
        outer, self._runs_read = self._runs_read, []
        try:
            return self._analyse(fig)
        finally:
            self._runs_read = outer

    def _analyse(self, fig: str) -> dict:
        from mupsim.experiments import analyse as A
        from mupsim.experiments import specs as S
        q = self.quick
        if fig == "F1":
            data = A.f1(self.results(S.f1(q, self._alpha())))
        elif fig == "F2":
            data = A.f2(self.results(S.f2(q)), S.LR, S.WD)
        elif fig == "F3":
            variants = {k: (v[:2] if q else v) for k, v in S.F3_VARIANTS.items()}
            data = A.f3(self.results(S.f3(q)), variants)
        elif fig == "F4":
            alpha = self._alpha()
            data = A.f4(self.results(S.f4(q, alpha)))
            data["summary"]["alpha_hat_from_f3"] = alpha
        elif fig == "F3B":
            data = A.f3(self.results(S.f3_rich(q)), {})
            data.update(figure="f3b_sigma_max_vs_width_rich",
                        title="Top singular value vs width at equal η_l·λ_l, rich token regime")
            data["headline"] = "rich regime: " + data["headline"].split("; variants")[0]
        elif fig == "F4B":
            rich, source = self._rich_alpha()
            fixed = self._alpha()
            data = A.f4(self.results(S.f4_rich(q, rich, fixed)))
            data.update(figure="f4b_wd_rules_rich",
                        title="Gain and σ_max vs width per weight-decay rule, rich token regime")
            data["headline"] = "rich regime: " + data["headline"]
            data["summary"].update(alpha_hat_rich_from_f3b=rich, alpha_hat_rich_source=source,
                                   alpha_hat_fixed_from_f3=fixed)
        elif fig == "F5":
            lr_res = self.results(S.f5_lr(q))
            panels = A.lr_panels(lr_res)
            lr = A.best_lr(panels, "mup")
            data = A.f5(lr_res, self.results(S.f5_wd(q, lr, self._alpha())), wd_lr=lr,
                        lr_panels_=panels)
        elif fig == "F5C":
            heat = self.results(S.f5c_heat(q))
            lr = A.best_onepass_lr(heat)
            sweep = self.results(S.f5c_wd(q, lr))
            widths = sorted({r.config["width"] for r in sweep})
            data = A.f5c(heat, sweep, S.hidden_wd_factors(widths, alpha_hat=self._alpha()), lr)
        elif fig == "F6":
            data = A.f6(self.results(S.f6(q)))
        elif fig == "F7":
            data = A.f7(self.results(S.f7(q)))
        elif fig == "F8":
            data = A.f8(self.results(S.f8(q)))
        elif fig == "F9":
            cfgs = S.f9(q, wide=self.wide)
            data = A.f9(self.results(cfgs), S.f9_labels(cfgs), S.f9_panels())
        else:
            raise ValueError(fig)
        data["quick"] = q
        data["provenance"] = self._provenance()
        self.analyses[fig] = data
        return data

    def _alpha(self) -> float | None:
        """α̂ from F3 (for the alignment rule), or None with a warning if F3 has none."""
        alpha = self.analyse("F3")["summary"]["alpha_hat"]
        if alpha is None or not math.isfinite(alpha):
            print("  warning: no finite α̂ from F3; runs without the alignment rule",
                  file=sys.stderr)
            return None
        return alpha

    def _rich_alpha(self) -> tuple:
        """(α̂ of the rich regime from F3b, where it comes from): the pooled α̂ when every hidden
        matrix passed the steady-state check, else the mean of the per-matrix α̂ that did (a
        matrix still moving is refused and cannot set the rule), else (None, reason)."""
        fits = self.analyse("F3B")["summary"]["fits"].get("baseline", {})
        pooled = fits.get("pooled_hidden", {}).get("exponent")
        if pooled is not None and math.isfinite(pooled):
            return pooled, "pooled over the hidden matrices"
        ok = {m: f["exponent"] for m, f in fits.items() if isinstance(f, dict)
              and m != "pooled_hidden" and isinstance(f.get("exponent"), float)
              and math.isfinite(f["exponent"])}
        if not ok:
            print("  warning: no finite α̂ from F3B; F4B runs without its in-sample alignment "
                  "rule", file=sys.stderr)
            return None, "none: no hidden matrix in steady state"
        return sum(ok.values()) / len(ok), "mean of " + ", ".join(sorted(ok)) + \
            " (the others refused as not in steady state)"

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
    from mupsim.experiments import figures as F
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
            plot = F.PLOTTERS[fig](data)
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

"""Reproducibility check: recompute a few committed figures' runs and compare their headline
statistics with the committed intervals (not bytes).

    python -m mupsim.experiments.repro [--figures-dir figures] [--results-dir DIR] [--workers N]
    make check-repro

Runs are bit-identical on one CPU; on another CPU generation the compiled code rounds
differently and chaotic training moves single runs, so what must reproduce is each headline
statistic to within its committed interval. Checked (1 min on 2 cores, measured 2026-11-23):

* F3: α̂ of the baseline (pooled over the hidden matrices, and each matrix) recomputed from
  fresh runs of the F3 baseline spec (widths 64–1,024) must lie inside the committed 95%
  bootstrap interval;
* F7: the median measured/predicted ratio of RMS(W), τ and the angular update must lie within
  ±F7_TOLERANCE of the committed median.

Exits 0 when every statistic is inside its interval, 1 otherwise (one line per statistic).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mupsim.experiments.make_figures import DEFAULT_FIGURES


@dataclass
class Check:
    """One headline statistic: committed value and interval, recomputed value."""

    name: str
    committed: float
    interval: tuple
    recomputed: float

    @property
    def skipped(self) -> bool:
        """The committed figure has no interval for it (a width kept one seed): nothing to check."""
        return not all(math.isfinite(x) for x in self.interval)

    @property
    def ok(self) -> bool:
        lo, hi = self.interval
        return self.skipped or lo <= self.recomputed <= hi

    def line(self) -> str:
        lo, hi = self.interval
        if self.skipped:
            return (
                f"skip {self.name}: recomputed {self.recomputed:.3f}, committed "
                f"{self.committed:.3f} without an interval"
            )
        return (
            f"{'ok  ' if self.ok else 'FAIL'} {self.name}: recomputed {self.recomputed:.3f}, "
            f"committed {self.committed:.3f} [{lo:.3f}, {hi:.3f}]"
        )


def f3_checks(committed: dict, recomputed: dict) -> list[Check]:
    """α̂ checks: the baseline's pooled and per-matrix exponents inside the committed CI."""
    cf, rf = committed["series"]["baseline"], recomputed["series"]["baseline"]
    out = []
    for m in [k for k in cf if isinstance(cf[k], dict) and "exponent" in cf[k]]:
        out.append(
            Check(
                f"F3 α̂ {m}",
                cf[m]["exponent"],
                tuple(cf[m]["ci"]),
                rf.get(m, {}).get("exponent", float("nan")),
            )
        )
    return out


F7_TOLERANCE = 0.10
"""F7's ratios have no seed interval (one run per grid point): its medians must reproduce within
±10% of the committed value (the committed [min, max] over the grid, 2-3× wide, would let almost
anything pass)."""


def f7_checks(committed: dict, recomputed: dict) -> list[Check]:
    """F7 checks: each median measured/predicted ratio within ±F7_TOLERANCE of the committed one."""
    out = []
    for q in ("rms", "tau", "angular"):
        c, r = committed["summary"][q], recomputed["summary"][q]
        m = c["median_ratio"]
        out.append(
            Check(
                f"F7 median ratio {q}", m, (m * (1 - F7_TOLERANCE), m * (1 + F7_TOLERANCE)), r["median_ratio"]
            )
        )
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m mupsim.experiments.repro", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--figures-dir", type=Path, default=DEFAULT_FIGURES)
    ap.add_argument(
        "--results-dir",
        type=Path,
        default=None,
        help="where to run (default: a fresh temporary folder, so runs are recomputed)",
    )
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args(argv)
    from mupsim.experiments.figures import f3_sigma_max_vs_width as F3
    from mupsim.experiments.figures import f7_steady_state_theory as F7
    from mupsim.sim import sweep

    def load(name):
        return json.loads((args.figures_dir / f"{name}.json").read_text())

    with tempfile.TemporaryDirectory(prefix="mupsim-repro-") as tmp:
        rdir = args.results_dir or Path(tmp)
        base = sweep(
            F3.baseline_configs(False) + F3.wide_configs(False), rdir, workers=args.workers, progress=False
        )
        f3 = F3.analyse(base, {k: v[:1] for k, v in F3.F3_VARIANTS.items()})
        f7 = F7.analyse(sweep(F7.configs(False), rdir, workers=args.workers, progress=False))
    checks = f3_checks(load("f3_sigma_max_vs_width"), f3) + f7_checks(load("f7_steady_state_theory"), f7)
    for c in checks:
        print(c.line())
    bad = [c for c in checks if not c.ok]
    done = [c for c in checks if not c.skipped]
    print(
        f"{len(done) - len(bad)}/{len(done)} headline statistics inside their committed "
        f"intervals"
        + (f" ({len(checks) - len(done)} without one, skipped)" if len(done) < len(checks) else "")
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

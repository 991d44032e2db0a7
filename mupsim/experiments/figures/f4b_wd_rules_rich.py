"""F4b: F4 in the rich token regime (:data:`~mupsim.experiments.common.RICH_TOKENS`): the
constant, fan2025 and timescale rules (F3b's runs), the alignment rule at the rich regime's own
α̂ (from F3b, :func:`rich_alpha`) and at the fixed-teacher α̂ from F3 applied out of sample.
Analysed and drawn as F4.
"""

from __future__ import annotations

import math
import sys

from mupsim.experiments.common import (
    BASE,
    LR,
    QUICK_SS_LOGS,
    RICH_TOKENS,
    SS_FLOOR,
    SS_LOGS,
    SS_WD,
    alignment_kw,
    relaxed,
    scale,
    seeded,
)
from mupsim.experiments.figure import Figure as FigureSpec
from mupsim.experiments.figures import f3_sigma_max_vs_width as F3
from mupsim.experiments.figures import f3b_sigma_max_vs_width_rich as F3B
from mupsim.experiments.figures import f4_wd_rules as F4
from mupsim.sim.config import SimConfig


# ---------------------------------------------------------------------------- configs
def configs(
    quick: bool = False, alpha_rich: float | None = None, alpha_fixed: float | None = None
) -> list[SimConfig]:
    """F4b: F4 on RICH_TOKENS: constant, fan2025, timescale (F3b's runs), alignment with the
    rich regime's own α̂ (from F3b) and alignment with the fixed-teacher α̂ (from F3) applied out
    of sample."""
    cfgs = [c.replace(**RICH_TOKENS) for c in F4.configs(quick, None) if c.wd_rule != "timescale"]
    cfgs += [c for c in F3B.configs(quick) if c.width in scale(quick).widths]  # F4's widths
    base = BASE.replace(n_logs=QUICK_SS_LOGS if quick else SS_LOGS, lr=LR, **RICH_TOKENS)
    floor = scale(quick).steps if quick else SS_FLOOR
    kws = {
        alignment_kw(a)["alignment_exponent"]: alignment_kw(a)
        for a in (alpha_rich, alpha_fixed)
        if a is not None
    }  # equal after rounding: once
    for kw in kws.values():
        cfgs += seeded(
            [relaxed(base.replace(width=w, wd=SS_WD, **kw), floor) for w in scale(quick).widths],
            scale(quick).seeds if quick else F3B.RICH_SEEDS,
        )
    return cfgs


# ---------------------------------------------------------------------------- figure
def analyse(results) -> dict:
    """F4's analysis of the rich-regime runs."""
    data = F4.analyse(results)
    data.update(
        figure="f4b_wd_rules_rich", title="Gain and σ_max vs width per weight-decay rule, rich token regime"
    )
    data["headline"] = "rich regime: " + data["headline"]
    return data


def rich_alpha(pipe) -> tuple:
    """(α̂ of the rich regime from F3b, where it comes from): the pooled α̂ when every hidden
    matrix passed the steady-state check, else the mean of the per-matrix α̂ that did (a
    matrix still moving is refused and cannot set the rule), else (None, reason)."""
    fits = pipe.analyse("F3B")["summary"]["fits"].get("baseline", {})
    pooled = fits.get("pooled_hidden", {}).get("exponent")
    if pooled is not None and math.isfinite(pooled):
        return pooled, "pooled over the hidden matrices"
    ok = {
        m: f["exponent"]
        for m, f in fits.items()
        if isinstance(f, dict)
        and m != "pooled_hidden"
        and isinstance(f.get("exponent"), float)
        and math.isfinite(f["exponent"])
    }
    if not ok:
        print(
            "  warning: no finite α̂ from F3B; F4B runs without its in-sample alignment rule", file=sys.stderr
        )
        return None, "none: no hidden matrix in steady state"
    return sum(ok.values()) / len(ok), "mean of " + ", ".join(
        sorted(ok)
    ) + " (the others refused as not in steady state)"


def make(pipe) -> dict:
    rich, source = rich_alpha(pipe)
    fixed = F3.alpha_hat(pipe)
    data = analyse(pipe.results(configs(pipe.quick, rich, fixed)))
    data["summary"].update(
        alpha_hat_rich_from_f3b=rich, alpha_hat_rich_source=source, alpha_hat_fixed_from_f3=fixed
    )
    return data


FIGURE = FigureSpec("F4B", "f4b_wd_rules_rich", configs, analyse, F4.plot, make)

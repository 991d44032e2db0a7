"""F3b: F3's baseline (σ_max/√(η_l/λ_l) vs width, μP + the timescale rule) in the rich token
regime (:data:`~mupsim.experiments.common.RICH_TOKENS`); its α̂ sets F4b's in-sample alignment
rule. Analysed and drawn as F3.
"""

from __future__ import annotations

from mupsim.experiments.common import QUICK, RICH_TOKENS
from mupsim.experiments.figure import Figure as FigureSpec
from mupsim.experiments.figures import f3_sigma_max_vs_width as F3
from mupsim.experiments.measures import refusal_note
from mupsim.sim.config import SimConfig

# ---------------------------------------------------------------------------- configs
RICH_SEEDS = (0, 1, 2)


def configs(quick: bool = False) -> list[SimConfig]:
    """F3b: F3's baseline (σ_max/√(η_l/λ_l) vs width, μP + timescale rule, widths 64..1024) on
    RICH_TOKENS."""
    return [
        c.replace(**RICH_TOKENS)
        for c in F3.baseline_configs(quick) + F3.wide_configs(quick)
        if c.seed in (QUICK.seeds if quick else RICH_SEEDS)
    ]


# ---------------------------------------------------------------------------- figure
def analyse(results) -> dict:
    """F3's analysis of the rich-regime baseline (no variants)."""
    data = F3.analyse(results, {})
    data.update(
        figure="f3b_sigma_max_vs_width_rich",
        title="Top singular value vs width at equal η_l·λ_l, rich token regime",
    )
    data["headline"] = (
        "rich regime: " + data["headline"].split("; variants")[0] + f"; {refusal_note(data['rows'])}"
    )
    return data


def make(pipe) -> dict:
    return analyse(pipe.results(configs(pipe.quick)))


FIGURE = FigureSpec("F3B", "f3b_sigma_max_vs_width_rich", configs, analyse, F3.plot, make)

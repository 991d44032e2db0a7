"""Every figure's configs and design constants under one name, as ``specs.f5c_heat``,
``specs.RICH_TOKENS``: each is defined in its figure's module under
:mod:`mupsim.experiments.figures` (the shared ones in :mod:`mupsim.experiments.common`)."""

from __future__ import annotations

from mupsim.experiments.common import (
    BASE,
    F9_LOGS,
    FULL,
    LR,
    QUICK,
    QUICK_SS_LOGS,
    RELAX_RUN,
    RICH_TOKENS,
    SMALL_WIDTHS,
    SS_FLOOR,
    SS_LOGS,
    SS_WD,
    WD,
    WD_RULES,
    Scale,
    hidden_relax_time,
    relaxed,
    scale,
)
from mupsim.experiments.figures.f1_gain_vs_step import F1_RULES
from mupsim.experiments.figures.f1_gain_vs_step import configs as f1
from mupsim.experiments.figures.f2_spectra_collapse import (
    F1_PAIRS,
    F1_STEPS,
    F1_WIDTH,
    F2_SEEDS,
)
from mupsim.experiments.figures.f2_spectra_collapse import configs as f2
from mupsim.experiments.figures.f3_sigma_max_vs_width import (
    F3_BASELINE_SEEDS,
    F3_VARIANTS,
    F3_WIDE,
)
from mupsim.experiments.figures.f3_sigma_max_vs_width import (
    baseline_configs as f3_baseline,
)
from mupsim.experiments.figures.f3_sigma_max_vs_width import configs as f3
from mupsim.experiments.figures.f3_sigma_max_vs_width import wide_configs as f3_wide
from mupsim.experiments.figures.f3b_sigma_max_vs_width_rich import RICH_SEEDS
from mupsim.experiments.figures.f3b_sigma_max_vs_width_rich import configs as f3_rich
from mupsim.experiments.figures.f4_wd_rules import F4_SEEDS
from mupsim.experiments.figures.f4_wd_rules import configs as f4
from mupsim.experiments.figures.f4b_wd_rules_rich import configs as f4_rich
from mupsim.experiments.figures.f5_transfer import (
    F5_FAN_DECAYED_IO,
    F5_LOGS,
    F5_LR_GRID,
    F5_STEPS,
    F5_WD_DATA,
    F5_WD_GRIDS,
    F5_WD_SEEDS,
)
from mupsim.experiments.figures.f5_transfer import lr_configs as f5_lr
from mupsim.experiments.figures.f5_transfer import wd_configs as f5_wd
from mupsim.experiments.figures.f5c_onepass_transfer import (
    F5C_ABLATION_SEEDS,
    F5C_DECAY_PRODUCTS,
    F5C_HEAT_SEEDS,
    F5C_HEAT_WD,
    F5C_LR_GRID,
    F5C_RULES,
    F5C_SEEDS,
    F5C_WIDTHS,
    ONEPASS,
    ONEPASS_STEPS,
    hidden_wd_factors,
)
from mupsim.experiments.figures.f5c_onepass_transfer import heat_configs as f5c_heat
from mupsim.experiments.figures.f5c_onepass_transfer import sweep_configs as f5c_wd
from mupsim.experiments.figures.f6_coord_check import F6_LRS, F6_STEPS, F6_WIDTHS
from mupsim.experiments.figures.f6_coord_check import configs as f6
from mupsim.experiments.figures.f7_steady_state_theory import F7_GRID, F7_WIDTHS
from mupsim.experiments.figures.f7_steady_state_theory import configs as f7
from mupsim.experiments.figures.f8_muon_spectral import F8_LR, F8_STEPS, F8_WD
from mupsim.experiments.figures.f8_muon_spectral import configs as f8
from mupsim.experiments.figures.f9_alpha_phase_diagram import (
    F9_KNOBS,
    F9_RICH,
    F9_SEEDS,
    F9_STEPS,
    F9_TOKENS_PANEL,
    F9_WD,
    F9_WIDE,
    F9_WIDTHS,
    F9_WIDTHS_KEY,
)
from mupsim.experiments.figures.f9_alpha_phase_diagram import configs as f9
from mupsim.experiments.figures.f9_alpha_phase_diagram import labels as f9_labels
from mupsim.experiments.figures.f9_alpha_phase_diagram import panels as f9_panels
from mupsim.experiments.figures.f9_alpha_phase_diagram import points as f9_points

__all__ = [
    "Scale",
    "FULL",
    "QUICK",
    "QUICK_SS_LOGS",
    "SMALL_WIDTHS",
    "BASE",
    "LR",
    "WD",
    "RELAX_RUN",
    "SS_LOGS",
    "SS_WD",
    "SS_FLOOR",
    "hidden_relax_time",
    "relaxed",
    "F1_WIDTH",
    "F1_STEPS",
    "F1_PAIRS",
    "F3_VARIANTS",
    "F3_BASELINE_SEEDS",
    "WD_RULES",
    "F5_STEPS",
    "F5_LOGS",
    "F5_LR_GRID",
    "F5_WD_GRIDS",
    "F5_WD_DATA",
    "F5_WD_SEEDS",
    "F6_LRS",
    "F6_STEPS",
    "F6_WIDTHS",
    "F7_GRID",
    "F7_WIDTHS",
    "F8_STEPS",
    "F8_LR",
    "F8_WD",
    "scale",
    "F1_RULES",
    "f1",
    "f2",
    "F2_SEEDS",
    "F3_WIDE",
    "f3",
    "f3_baseline",
    "f3_wide",
    "f4",
    "F4_SEEDS",
    "f5_lr",
    "f5_wd",
    "F5_FAN_DECAYED_IO",
    "ONEPASS",
    "ONEPASS_STEPS",
    "F5C_LR_GRID",
    "F5C_HEAT_WD",
    "F5C_HEAT_SEEDS",
    "F5C_DECAY_PRODUCTS",
    "F5C_SEEDS",
    "F5C_WIDTHS",
    "F5C_ABLATION_SEEDS",
    "F5C_RULES",
    "f5c_heat",
    "f5c_wd",
    "hidden_wd_factors",
    "f6",
    "f7",
    "f8",
    "F9_WIDTHS",
    "F9_WIDTHS_KEY",
    "F9_WIDE",
    "F9_SEEDS",
    "F9_LOGS",
    "F9_STEPS",
    "F9_WD",
    "F9_RICH",
    "F9_KNOBS",
    "f9_panels",
    "F9_TOKENS_PANEL",
    "f9_points",
    "f9_labels",
    "f9",
    "RICH_TOKENS",
    "RICH_SEEDS",
    "f3_rich",
    "f4_rich",
]

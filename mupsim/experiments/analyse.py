"""Every figure's analysis under one name, as ``analyse.f5c``, ``analyse.end_loss``: each is
defined in its figure's module under :mod:`mupsim.experiments.figures` (the shared helpers in
:mod:`mupsim.experiments.measures` and :mod:`mupsim.experiments.transfer_panels`)."""

from __future__ import annotations

from mupsim.experiments.figures.f1_gain_vs_step import (
    F1_CURVE_POINTS,
    F1_FIXED_STEPS,
    F1_RUN_LENGTHS,
)
from mupsim.experiments.figures.f1_gain_vs_step import analyse as f1
from mupsim.experiments.figures.f2_spectra_collapse import analyse as f2
from mupsim.experiments.figures.f2_spectra_collapse import pair_label
from mupsim.experiments.figures.f3_sigma_max_vs_width import analyse as f3
from mupsim.experiments.figures.f4_wd_rules import analyse as f4
from mupsim.experiments.figures.f5_transfer import analyse as f5
from mupsim.experiments.figures.f5_transfer import best_lr, lr_panels, wd_rule_label
from mupsim.experiments.figures.f5c_onepass_transfer import analyse as f5c
from mupsim.experiments.figures.f5c_onepass_transfer import best_onepass_lr, end_loss
from mupsim.experiments.figures.f6_coord_check import analyse as f6
from mupsim.experiments.figures.f7_steady_state_theory import analyse as f7
from mupsim.experiments.figures.f7_steady_state_theory import update_direction_rms
from mupsim.experiments.figures.f8_muon_spectral import analyse as f8
from mupsim.experiments.figures.f8_muon_spectral import matrix_shapes
from mupsim.experiments.figures.f9_alpha_phase_diagram import alpha_from_rank_exponent
from mupsim.experiments.figures.f9_alpha_phase_diagram import analyse as f9
from mupsim.experiments.figures.f10_long_memory import analyse as f10
from mupsim.experiments.measures import (
    EXPONENT_SETTLED,
    LOSS_FRACTION,
    NAN,
    SS_FRACTION,
    final_loss,
    half_length_value,
    normalized_sigma,
    normalized_sigma_half,
)
from mupsim.experiments.transfer_panels import SHIFT_BOOT

__all__ = [
    "NAN",
    "SS_FRACTION",
    "LOSS_FRACTION",
    "final_loss",
    "half_length_value",
    "normalized_sigma_half",
    "EXPONENT_SETTLED",
    "pair_label",
    "F1_RUN_LENGTHS",
    "F1_FIXED_STEPS",
    "F1_CURVE_POINTS",
    "f1",
    "f2",
    "normalized_sigma",
    "f3",
    "f4",
    "SHIFT_BOOT",
    "lr_panels",
    "f5",
    "wd_rule_label",
    "best_lr",
    "end_loss",
    "best_onepass_lr",
    "f5c",
    "f6",
    "update_direction_rms",
    "f7",
    "matrix_shapes",
    "f8",
    "alpha_from_rank_exponent",
    "f9",
    "f10",
]

"""The figures, one module each (its configs, its analysis, its plot), and their registry.

:data:`FIGURES` maps each figure's name to its :class:`~mupsim.experiments.figure.Figure`, in
the order :mod:`mupsim.experiments.make_figures` draws them: a figure that needs a measurement
of another (α̂ from F3, F3b's rich α̂) comes after it or asks for it through the pipeline.
"""

from __future__ import annotations

from mupsim.experiments.figures import (
    f1_gain_vs_step,
    f2_spectra_collapse,
    f3_sigma_max_vs_width,
    f3b_sigma_max_vs_width_rich,
    f4_wd_rules,
    f4b_wd_rules_rich,
    f5_transfer,
    f5c_onepass_transfer,
    f6_coord_check,
    f7_steady_state_theory,
    f8_muon_spectral,
    f9_alpha_phase_diagram,
    f10_long_memory,
    f10b_long_memory_transfer,
)

FIGURES = {
    m.FIGURE.name: m.FIGURE
    for m in (
        f1_gain_vs_step,
        f2_spectra_collapse,
        f3_sigma_max_vs_width,
        f4_wd_rules,
        f3b_sigma_max_vs_width_rich,
        f4b_wd_rules_rich,
        f5_transfer,
        f5c_onepass_transfer,
        f6_coord_check,
        f7_steady_state_theory,
        f8_muon_spectral,
        f9_alpha_phase_diagram,
        f10_long_memory,
        f10b_long_memory_transfer,
    )
}
"""{name: Figure} in drawing order. F3B/F4B: F3's baseline and F4 re-run in the rich token regime
(common.RICH_TOKENS); F5C: F5 in the one-pass regime (f5c_onepass_transfer.ONEPASS); F10: the
long-memory regime, read from the committed runs file of :mod:`mupsim.experiments.long_memory`
(``make long-memory``), never run by ``make figures`` except its quick spec with ``--quick``;
F10B: F5c's one-pass regime stretched to a long weight-decay memory (its runs are committed:
:mod:`mupsim.experiments.archive`)."""

__all__ = ["FIGURES"]

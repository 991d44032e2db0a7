"""What a run's per-layer settings are, and which simulator version made a result.

Kept apart from :mod:`mupsim.sim.run` so that checking stored results (sweep resume) does not
load the numba kernels.
"""

from __future__ import annotations

from mupsim.sim.config import SimConfig

SIMULATOR_VERSION = 4  # 3: task families and rank diagnostics; 4: depth rules use the relative branch multiplier (L/L_base)^-alpha_L
"""Bump whenever the kernels' numbers change for an existing config (sweeps re-run stale results)."""


def settings_for(config: SimConfig):
    """The calculator's Settings for this run."""
    from mupsim.calculator import transfer
    opt = "lion" if config.optimizer == "signsgd" else config.optimizer
    depth = {}
    if config.depth_rule is not None:
        depth = dict(base_depth=config.base_depth, depth=config.depth, depth_rule=config.depth_rule)
    return transfer(config.base_width, config.width, config.lr, config.wd,
                    parameterization=config.parameterization, optimizer=opt,
                    alignment=config.alignment, multipliers=config.multipliers,
                    wd_rule=config.wd_rule, alignment_exponent=config.alignment_exponent,
                    global_lr=config.global_lr, eps=config.eps, **depth)

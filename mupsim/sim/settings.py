"""What a run's per-layer settings are, and which simulator version made a result.

Kept apart from :mod:`mupsim.sim.run` so that checking stored results (sweep resume) does not
load the numba kernels.
"""

from __future__ import annotations

from mupsim.sim.config import SimConfig

SIMULATOR_VERSION = 4  # 3: task families and rank diagnostics; 4: depth rules use the relative branch multiplier (L/L_base)^-alpha_L
"""Bump whenever the kernels' numbers change for an existing config (sweeps re-run stale results)."""


IO_LAYERS = ("embedding", "readout")
"""The layer classes whose weight decay ``SimConfig.io_wd_rule`` sets."""


def settings_for(config: SimConfig):
    """The calculator's Settings for this run.

    With ``config.io_wd_rule`` set, the calculator is asked a second time with
    ``wd_rule=io_wd_rule`` and the embedding's and readout's ``wd`` (and their wd exponents in
    ``settings.exponents``) are taken from that answer; every other value is the first
    answer's. ``alignment_exponent`` goes to whichever call uses the ``alignment`` rule."""
    import dataclasses

    from mupsim.calculator import transfer
    from mupsim.errors import MupsimError
    opt = "lion" if config.optimizer == "signsgd" else config.optimizer
    depth = {}
    if config.depth_rule is not None:
        depth = dict(base_depth=config.base_depth, depth=config.depth, depth_rule=config.depth_rule)
    io_rule = config.io_wd_rule
    ae = config.alignment_exponent
    only_io_aligned = io_rule == "alignment" and config.wd_rule != "alignment"

    def ask(wd_rule, alignment_exponent):
        return transfer(config.base_width, config.width, config.lr, config.wd,
                        parameterization=config.parameterization, optimizer=opt,
                        alignment=config.alignment, multipliers=config.multipliers,
                        wd_rule=wd_rule, alignment_exponent=alignment_exponent,
                        global_lr=config.global_lr, eps=config.eps,
                        muon_convention=config.muon_convention or "spectral", **depth)

    settings = ask(config.wd_rule, None if only_io_aligned else ae)
    if io_rule is None:
        return settings
    try:
        io = ask(io_rule, ae if io_rule == "alignment" else None)
    except MupsimError as e:
        raise MupsimError(f"io_wd_rule={io_rule!r}: {e}") from None
    layers = dict(settings.layers)
    ex_layers = dict(settings.exponents.layers)
    for cls in IO_LAYERS:
        layers[cls] = dataclasses.replace(layers[cls], wd=io.layers[cls].wd)
        ex_layers[cls] = dataclasses.replace(ex_layers[cls], wd=io.exponents.layers[cls].wd)
    return dataclasses.replace(settings, layers=layers,
                               exponents=dataclasses.replace(settings.exponents, layers=ex_layers))

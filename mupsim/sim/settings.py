"""What a run's per-layer settings are, and which simulator version made a result.

Kept apart from :mod:`mupsim.sim.run` so that checking stored results (sweep resume) does not
load the numba kernels.
"""

from __future__ import annotations

from functools import lru_cache

from mupsim.sim.config import SimConfig

SIMULATOR_VERSION = 4  # 3: task families and rank diagnostics; 4: depth rules use the relative branch multiplier (L/L_base)^-alpha_L
"""Bump whenever the kernels' numbers change for an existing config (sweeps re-run stale results)."""


IO_LAYERS = ("embedding", "readout")
"""The layer classes whose weight decay ``SimConfig.io_wd_rule`` sets."""

SETTINGS_FIELDS = (
    "base_width",
    "width",
    "lr",
    "wd",
    "parameterization",
    "optimizer",
    "alignment",
    "multipliers",
    "wd_rule",
    "io_wd_rule",
    "alignment_exponent",
    "global_lr",
    "eps",
    "muon_convention",
    "depth_rule",
    "base_depth",
    "depth",
)
"""The SimConfig fields the per-layer settings depend on (the cache key of :func:`settings_for`)."""


def settings_for(config: SimConfig):
    """The calculator's Settings for this run, computed once per distinct :data:`SETTINGS_FIELDS`
    (the same object is returned for every config that shares them: do not mutate it).

    One ``mupsim.transfer`` call; with ``config.io_wd_rule`` set, the calculator is given a
    per-layer rule, ``wd_rule`` for the hidden matrices and ``io_wd_rule`` for the embedding and
    readout (``settings.exponents.wd_rule`` stays ``wd_rule``). ``optimizer`` goes through the
    theory's aliases (``signsgd`` → ``lion``)."""
    return _settings(tuple(getattr(config, f) for f in SETTINGS_FIELDS))


@lru_cache(maxsize=4096)
def _settings(key: tuple):
    from mupsim.calculator import LayerRuleError, transfer
    from mupsim.errors import MupsimError
    from mupsim.theory.optimizers import resolve

    c = dict(zip(SETTINGS_FIELDS, key))
    depth = {}
    if c["depth_rule"] is not None:
        depth = dict(base_depth=c["base_depth"], depth=c["depth"], depth_rule=c["depth_rule"])
    rule = c["wd_rule"]
    if c["io_wd_rule"] is not None:
        rule = {"hidden": rule, **{cls: c["io_wd_rule"] for cls in IO_LAYERS}}
    try:
        return transfer(
            c["base_width"],
            c["width"],
            c["lr"],
            c["wd"],
            parameterization=c["parameterization"],
            optimizer=resolve(c["optimizer"]).name,
            alignment=c["alignment"],
            multipliers=c["multipliers"],
            wd_rule=rule,
            alignment_exponent=c["alignment_exponent"],
            global_lr=c["global_lr"],
            eps=c["eps"],
            muon_convention=c["muon_convention"] or "spectral",
            **depth,
        )
    except LayerRuleError as e:
        if set(e.layers) <= set(IO_LAYERS):
            raise MupsimError(f"io_wd_rule={c['io_wd_rule']!r}: {e.reason}") from None
        raise

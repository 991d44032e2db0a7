"""Fast numba simulations of width scaling.

Public API: :class:`SimConfig`, :class:`Result`, :func:`run` (alias :func:`simulate`),
:func:`sweep`, :func:`load_results`, :func:`load_spec`, :func:`expand_spec`.

Name clash ``run`` (function) vs ``mupsim/sim/run.py`` (S1's submodule) -- what we chose:
``mupsim.sim.run`` is always a callable proxy. Calling it runs one simulation
(``mupsim.sim.run(config) -> Result``); attribute access on it is forwarded to the submodule
(``mupsim.sim.run.run``, ``mupsim.sim.run.<helper>``), so ``import mupsim.sim.run as m;
m.run(cfg)`` also works. The submodule itself is ``sys.modules["mupsim.sim.run"]`` and
``from mupsim.sim.run import X`` works as usual. The submodule (and numba) is imported lazily,
on the first call or attribute access. The package's module class guards the ``run`` attribute
so the import system cannot replace the proxy by the submodule.
"""

from __future__ import annotations

import importlib
import sys
import types

from mupsim.sim.config import SimConfig
from mupsim.sim.result import Result, provenance
from mupsim.sim.sweep import expand_spec, load_results, load_spec, sweep


def _run_module() -> types.ModuleType:
    return importlib.import_module("mupsim.sim.run")


class _RunProxy:
    """``mupsim.sim.run``: call it to run one config; attributes come from the submodule."""

    __slots__ = ()

    def __call__(self, config: SimConfig) -> Result:
        """Train one model described by ``config``; return its :class:`Result`."""
        return _run_module().run(config)

    def __getattr__(self, name):
        return getattr(_run_module(), name)

    def __dir__(self):
        return dir(_run_module())

    def __repr__(self) -> str:
        return "<mupsim.sim.run: callable run(config) -> Result; submodule mupsim.sim.run>"

    def __reduce__(self):
        return "run"  # pickles by reference to mupsim.sim.run


run = _RunProxy()
simulate = run


class _SimPackage(types.ModuleType):
    """Module class of ``mupsim.sim`` keeping ``run`` the proxy after the submodule import."""

    @property
    def run(self):
        return self.__dict__.get("_run_override", run)

    @run.setter
    def run(self, value):
        if isinstance(value, types.ModuleType):  # the import system binding the submodule
            return
        self.__dict__["_run_override"] = value  # e.g. monkeypatch in tests

    @run.deleter
    def run(self):
        self.__dict__.pop("_run_override", None)


sys.modules[__name__].__class__ = _SimPackage

__all__ = ["SimConfig", "Result", "provenance", "run", "simulate", "sweep", "load_results",
           "load_spec", "expand_spec"]

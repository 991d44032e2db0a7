"""Fast numba simulations of width scaling.

Public API: :class:`SimConfig`, :class:`Result`, :func:`run` (alias :func:`simulate`),
:func:`sweep`, :func:`load_results`, :func:`load_spec`, :func:`expand_spec`, :func:`provenance`.

Name clashes -- ``run`` and ``sweep`` are both functions and submodules (``mupsim/sim/run.py``,
the numba runner; ``mupsim/sim/sweep.py``). ``mupsim.sim.run`` and ``mupsim.sim.sweep`` are
therefore callable proxies.

* Calling one calls the function: ``mupsim.sim.run(config) -> Result``,
  ``mupsim.sim.sweep(configs, out_dir, ...) -> list[Result]``.
* Attribute access (get/set/delete) is forwarded to the submodule, so
  ``mupsim.sim.run.run``, ``import mupsim.sim.sweep as sw; sw.load_spec(...)`` and
  ``monkeypatch.setattr(sw, "_default_runner", ...)`` all work. ``sys.modules[...]`` and
  ``from mupsim.sim.run import X`` give the real modules as usual.
* ``mupsim/sim/run.py`` (and numba) is imported lazily, on first call or attribute access.
* The package's module class keeps these names bound to the proxies when the import system
  binds the submodule on the package; assigning a non-module (e.g. monkeypatching
  ``mupsim.sim.run`` with a fake runner) overrides the name until it is assigned back.
"""

from __future__ import annotations

import importlib
import sys
import types

from mupsim.sim.config import SimConfig
from mupsim.sim.result import Result, provenance
from mupsim.sim.sweep import expand_spec, load_results, load_spec


class _ModuleFunction:
    """Callable stand-in for submodule ``mupsim.sim.<name>`` whose main function is ``<name>``."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def _module(self) -> types.ModuleType:
        return importlib.import_module(f"{__name__}.{object.__getattribute__(self, '_name')}")

    def __call__(self, *args, **kwargs):
        return getattr(self._module(), self._name)(*args, **kwargs)

    @property
    def __wrapped__(self):  # lets inspect.signature / help() see the real function
        return getattr(self._module(), self._name)

    def __getattr__(self, attr):
        return getattr(self._module(), attr)

    def __setattr__(self, attr, value):
        setattr(self._module(), attr, value)

    def __delattr__(self, attr):
        delattr(self._module(), attr)

    def __dir__(self):
        return dir(self._module())

    def __repr__(self) -> str:
        return (
            f"<mupsim.sim.{self._name}: callable {self._name}(...) and proxy of submodule "
            f"mupsim.sim.{self._name}>"
        )

    def __reduce__(self):
        return self._name  # pickled by reference to mupsim.sim.<name>


run = _ModuleFunction("run")
simulate = run
sweep = _ModuleFunction("sweep")
_PROXIES = {"run": run, "sweep": sweep}


class _GuardedName:
    """Package attribute that ignores the import system binding a submodule over it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj, cls=None):
        if obj is None:
            return self
        return obj.__dict__.get(f"_override_{self.name}", _PROXIES[self.name])

    def __set__(self, obj, value):
        if isinstance(value, types.ModuleType) or value is _PROXIES[self.name]:
            obj.__dict__.pop(f"_override_{self.name}", None)
        else:
            obj.__dict__[f"_override_{self.name}"] = value

    def __delete__(self, obj):
        obj.__dict__.pop(f"_override_{self.name}", None)


class _SimPackage(types.ModuleType):
    run = _GuardedName("run")
    sweep = _GuardedName("sweep")


sys.modules[__name__].__class__ = _SimPackage

__all__ = [
    "SimConfig",
    "Result",
    "provenance",
    "run",
    "simulate",
    "sweep",
    "load_results",
    "load_spec",
    "expand_spec",
]

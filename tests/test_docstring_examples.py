"""The ``>>>`` examples in the public modules' docstrings run and print what they show.

Printed floats are rounded (or exact: fractions, powers of two), so the examples hold on any CPU.
"""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "mupsim",
    "mupsim.calculator",
    "mupsim.steady_state",
    "mupsim.alpha",
    "mupsim.stable_rank",
    "mupsim.errors",
    "mupsim.sim.config",
    "mupsim.sim.run",
    "mupsim.sim.sweep",
    "mupsim.sim.sweep_spec",
    "mupsim.sim.result",
    "mupsim.analysis.transfer",
    "mupsim.analysis.stats",
]
TORCH_MODULES = [
    "mupsim.torch.groups",
    "mupsim.torch.shapes",
    "mupsim.torch.attention",
    "mupsim.torch.coordinates",
    "mupsim.torch.diagnose",
    "mupsim.torch.transfer",
]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _run(name: str, monkeypatch, tmp_path) -> doctest.TestResults:
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    return doctest.testmod(module, optionflags=FLAGS, verbose=False, report=True)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, monkeypatch, tmp_path):
    result = _run(name, monkeypatch, tmp_path)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"


@pytest.mark.parametrize("name", TORCH_MODULES)
def test_torch_docstring_examples_run(name, monkeypatch, tmp_path):
    pytest.importorskip("torch")
    result = _run(name, monkeypatch, tmp_path)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"


def _without_example(package: str, classes: bool) -> list[str]:
    import inspect

    module = importlib.import_module(package)
    missing = []
    for name in module.__all__:
        obj = inspect.unwrap(getattr(module, name))
        if inspect.isfunction(obj) or (classes and inspect.isclass(obj)):
            if "Examples:" not in (obj.__doc__ or ""):
                missing.append(name)
    return missing


def test_every_function_and_class_mupsim_exports_shows_an_example():
    assert _without_example("mupsim", classes=True) == []


def test_every_function_mupsim_sim_exports_shows_an_example():
    assert _without_example("mupsim.sim", classes=False) == []


def test_every_function_mupsim_torch_exports_shows_an_example():
    pytest.importorskip("torch")
    assert _without_example("mupsim.torch", classes=False) == []

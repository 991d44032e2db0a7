"""mupsim.sim package surface (run proxy) and the simulate/sweep subcommands."""

import argparse
import json
import sys
import types

import pytest
from test_sweep import fake_runner

import mupsim.sim
from mupsim.errors import MupsimError
from mupsim.sim.cli import add_subcommands, config_from_args
from mupsim.sim.config import SimConfig


def parser():
    p = argparse.ArgumentParser(prog="mupsim")
    add_subcommands(p.add_subparsers(dest="command"))
    return p


# ----------------------------------------------------------------------- package
def test_package_exports():
    for name in ("SimConfig", "Result", "sweep", "run", "simulate", "load_results"):
        assert hasattr(mupsim.sim, name)
    assert mupsim.sim.simulate is mupsim.sim.run


def test_run_proxy_calls_submodule_run(monkeypatch):
    fake = types.ModuleType("mupsim.sim.run")
    fake.run = lambda c: ("ran", c.width)
    fake.helper = 42
    monkeypatch.setitem(sys.modules, "mupsim.sim.run", fake)
    assert mupsim.sim.run(SimConfig(width=8)) == ("ran", 8)
    assert mupsim.sim.run.helper == 42 and mupsim.sim.run.run is fake.run


def test_binding_the_submodule_does_not_replace_the_run_function():
    proxy = mupsim.sim.run
    mupsim.sim.run = types.ModuleType("mupsim.sim.run")  # what `import` does
    assert mupsim.sim.run is proxy and callable(mupsim.sim.run)


def test_sweep_proxy_calls_function_and_forwards_module_attributes(tmp_path):
    import mupsim.sim.sweep as sw

    assert sw.load_spec is sys.modules["mupsim.sim.sweep"].load_spec
    assert sw([SimConfig(width=8)], tmp_path, workers=0, progress=False, runner=fake_runner)[0].status == "ok"


# ----------------------------------------------------------------------- simulate
def test_every_config_field_is_a_kebab_case_option():
    args = parser().parse_args(
        [
            "simulate",
            "--width",
            "256",
            "--lr",
            "3e-3",
            "--optimizer",
            "Lion",
            "--bias",
            "--multipliers",
            "1",
            "2",
            "3",
            "--teacher-rank",
            "none",
            "--wd-rule",
            "fan2025",
            "--n-train",
            "256",
            "--base-width",
            "32",
        ]
    )
    c = config_from_args(args)
    assert c == SimConfig(
        width=256,
        lr=3e-3,
        optimizer="lion",
        bias=True,
        multipliers=(1, 2, 3),
        wd_rule="fan2025",
        n_train=256,
        base_width=32,
    )
    opts = {a.dest for a in parser()._subparsers._group_actions[0].choices["simulate"]._actions}
    assert set(SimConfig.field_names()) <= opts


def test_config_file_is_overridden_by_options(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"width": 64, "seed": 3}))
    c = config_from_args(parser().parse_args(["simulate", "--config", str(f), "--seed", "5"]))
    assert (c.width, c.seed) == (64, 5)


def test_bad_option_value_raises_mupsim_error():
    with pytest.raises(MupsimError, match="unknown optimizer 'rmsprop'"):
        config_from_args(parser().parse_args(["simulate", "--optimizer", "rmsprop"]))


def test_multipliers_need_three_values():
    with pytest.raises(MupsimError, match="--multipliers takes 3 exponents"):
        config_from_args(parser().parse_args(["simulate", "--multipliers", "1", "2"]))


def test_simulate_prints_table_and_saves(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(mupsim.sim, "run", fake_runner)
    args = parser().parse_args(["simulate", "--width", "8", "--out", str(tmp_path / "r")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "status ok" in out and "final train loss" in out and "sigma_max" in out
    assert "hidden" in out
    assert mupsim.sim.Result.exists(tmp_path / "r")


def test_simulate_json_output_is_strict_json(monkeypatch, capsys):
    monkeypatch.setattr(mupsim.sim, "run", fake_runner)
    args = parser().parse_args(["simulate", "--width", "8", "--format", "json"])
    args.func(args)
    d = json.loads(capsys.readouterr().out)
    assert d["status"] == "ok" and d["final_test_loss"] is None  # NaN -> null
    assert set(d["matrices"]["hidden"]) == {"rms", "sigma_max"}


# ----------------------------------------------------------------------- sweep
def test_sweep_command_runs_spec_into_folder(tmp_path, monkeypatch, capsys):
    import mupsim.sim.sweep as sw

    monkeypatch.setattr(sw, "_default_runner", fake_runner)
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"name": "demo", "base": {"width": 8}, "grid": {"seed": [0, 1]}}))
    args = parser().parse_args(
        ["sweep", str(spec), "--out", str(tmp_path / "out"), "--workers", "0", "--no-progress"]
    )
    assert args.func(args) == 0
    assert "sweep 'demo': 2 configs" in capsys.readouterr().out
    assert len(list((tmp_path / "out").glob("*.npz"))) == 2


def test_sweep_command_exit_1_when_a_run_raised(tmp_path, monkeypatch, capsys):
    from test_sweep import failing_runner

    import mupsim.sim.sweep as sw

    monkeypatch.setattr(sw, "_default_runner", failing_runner)
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"base": {"width": 8}, "grid": {"seed": [0, 1]}}))
    args = parser().parse_args(
        ["sweep", str(spec), "--out", str(tmp_path / "o"), "--workers", "0", "--no-progress"]
    )
    assert args.func(args) == 1
    assert "boom at seed 1" in capsys.readouterr().err

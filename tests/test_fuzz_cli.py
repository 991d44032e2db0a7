"""Hostile-but-fair command lines: every one is refused with exit status 2 and exactly one line
on stderr, no traceback, before any simulation starts or any result is written.

The cases run in-process through ``mupsim.cli.main``. ``mupsim.sim.run`` and the sweep's
``sweep`` are replaced by functions that fail the test, so "refused before computing" is
checked, not assumed, and nothing large is ever allocated. ``{tmp}`` in an argument is the
test's temporary folder, which holds the input files made by ``inputs``.
"""

import json

import pytest

import mupsim.sim
from mupsim.cli import main

BIG = "1" + "0" * 5000  # an integer with more digits than Python's int() converts


def inputs(tmp):
    """The files the cases refer to."""
    (tmp / "bad_utf8.json").write_bytes(b'\xff\xfe{"width": 8}')
    (tmp / "latin1.json").write_bytes('{"optimizer": "adamw", "x": "\xe9"}'.encode("latin-1"))
    (tmp / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp / "bigint.json").write_text('{"seed": ' + BIG + "}")
    (tmp / "list.json").write_text("[1, 2]")
    (tmp / "unknown.json").write_text('{"wdith": 8}')
    (tmp / "nan.json").write_text('{"lr": NaN}')
    (tmp / "hugewidth.json").write_text('{"width": 1e300}')
    (tmp / "seed_float.json").write_text('{"seed": 1e30}')
    (tmp / "afile.txt").write_text("not a folder")
    (tmp / "d.npz").mkdir()
    specs = {
        "spec_bad_utf8.json": None,
        "spec_huge.json": {"grid": {f: list(range(1, 11)) for f in
                                    ("seed", "width", "depth", "steps", "n_logs", "batch_size",
                                     "n_test", "teacher_width", "input_dim", "warmup_steps")}},
        "spec_wd.json": {"base": {"width": 8, "wd": 0.1}, "grid": {"seed": [0, 1]}},
        "spec_align.json": {"base": {"width": 8, "alignment_exponent": 0.8}},
        "spec_seed.json": {"base": {"width": 8}, "grid": {"seed": [0, 2 ** 64]}},
        "spec_width.json": {"base": {"width": 1_000_000}},
        "spec_layer1.json": {"base": {"width": 1, "norm": "layer"}},
        "spec_zip.json": {"zip": {"seed": [0, 1], "width": [8]}},
        "spec_list.json": [1, 2],
        "spec_ok.json": {"base": {"width": 8}},
    }
    for name, spec in specs.items():
        if spec is None:
            (tmp / name).write_bytes(b'{"base": {"width": 8}}\xff')
        else:
            (tmp / name).write_text(json.dumps(spec))


CASES = [
    # ---- seeds: 0..2^63-1
    (["simulate", "--seed", "99999999999999999999"], "seed="),
    (["simulate", "--seed", str(2 ** 63)], "0..2^63-1"),
    (["simulate", "--seed", "-1"], "seed must be an integer >= 0"),
    (["simulate", "--seed", "1.5"], "invalid int value"),
    (["simulate", "--config", "{tmp}/seed_float.json"], "0..2^63-1"),
    (["simulate", "--config", "{tmp}/bigint.json"], "not valid JSON here"),
    # ---- unreadable or malformed config files
    (["simulate", "--config", "{tmp}/bad_utf8.json"], "is not UTF-8 text"),
    (["simulate", "--config", "{tmp}/latin1.json"], "is not UTF-8 text"),
    (["simulate", "--config", "{tmp}/deep.json"], "nested too deeply"),
    (["simulate", "--config", "{tmp}/list.json"], "must hold a JSON object"),
    (["simulate", "--config", "{tmp}/unknown.json"], "unknown SimConfig field(s) 'wdith'"),
    (["simulate", "--config", "{tmp}/nan.json"], "lr=nan"),
    (["simulate", "--config", "{tmp}/missing.json"], "cannot read config file"),
    (["simulate", "--config", "{tmp}"], "cannot read config file"),
    (["simulate", "--config", "/dev/zero"], "it is a character device; allowed: a regular file"),
    (["simulate", "--config", "{tmp}/no\nsuch file"], "cannot read config file"),
    # ---- sizes: checked against the stated limits before anything is allocated
    (["simulate", "--width", "1000000"], "over the limit of 8 GiB"),
    (["simulate", "--config", "{tmp}/hugewidth.json"], "over the limit of 8 GiB"),
    (["simulate", "--n-train", "100000000000"], "over the limit of 8 GiB"),
    (["simulate", "--steps", "1000000000000"], "exceeds the limit of 1e+08"),
    (["simulate", "--steps", "1e12", "--n-logs", "1e9"], "invalid int value"),
    (["simulate", "--n-logs", "1000000000"], "exceeds the limit of 1000 logged steps"),
    (["simulate", "--batch-size", "1000000000"], "over the limit"),
    (["simulate", "--n-test", "10000000000"], "over the limit"),
    (["simulate", "--teacher-width", "1000000000"], "over the limit"),
    (["simulate", "--input-dim", "10000000000"], "over the limit"),
    (["simulate", "--depth", "100000000"], "over the limit"),
    (["simulate", "--ffn-ratio", "100000", "--width", "1000"], "over the limit"),
    (["simulate", "--optimizer", "muon", "--width", "20000", "--dtype", "float32"],
     "over the limit"),
    # ---- degenerate architectures
    (["simulate", "--width", "1", "--norm", "layer"], "norm='layer' needs width >= 2"),
    (["simulate", "--task", "classification"], "needs output_dim >= 2"),
    (["simulate", "--teacher-rank", "100"], "exceeds teacher_width"),
    (["simulate", "--depth-rule", "completep", "--model", "linear"], "has none"),
    (["simulate", "--norm-gain", "--norm", "none"], "needs a normalization layer"),
    # ---- --out checked before computing
    (["simulate", "--out", ""], "needs a file stem"),
    (["simulate", "--out", "{tmp}/"], "names a folder"),
    (["simulate", "--out", "{tmp}/."], "names a folder"),
    (["simulate", "--out", "{tmp}/sub/.."], "names a folder"),
    (["simulate", "--out", "{tmp}/afile.txt/run"], "is a file, not a folder"),
    (["simulate", "--out", "{tmp}/afile.txt/deeper/run"], "is a file, not a folder"),
    (["simulate", "--out", "/proc/x/y"], "cannot write in /proc"),
    (["simulate", "--out", "{tmp}/d"], "exists and is not a file"),
    (["simulate", "--out", "{tmp}/" + "n" * 250], "cannot write in"),
    # ---- multipliers: commas separate, spaces inside a number are an error
    (["simulate", "--multipliers", "0 1,0,0"], "'0 1'"),
    (["simulate", "--multipliers", "1 6,0,0"], "'1 6'"),
    (["simulate", "--multipliers", "0,0"], "takes 3 exponents"),
    (["simulate", "--multipliers", "0,0,1,2"], "takes 3 exponents"),
    (["simulate", "--multipliers", "0,0,nan"], "finite number"),
    (["simulate", "--multipliers", "0,0,100"], "within ±16"),
    (["transfer", "--base-width", "64", "--width", "128", "--lr", "1e-3",
      "--multipliers", "0 1,0,0"], "'0 1'"),
    (["transfer", "--base-width", "64", "--width", "128", "--lr", "1e-3",
      "--multipliers", "1 6,0,0"], "'1 6'"),
    (["exponents", "--multipliers", "1e400,0,0"], "within ±16"),
    (["exponents", "--multipliers", "a\nb,0,1"], "finite number"),
    # ---- what the calculator refuses is refused by SimConfig (same error, same way)
    (["simulate", "--wd", "0.1"], "needs a weight-decay rule"),
    (["simulate", "--alignment-exponent", "0.8"], "only used by wd rule 'alignment'"),
    (["simulate", "--wd-rule", "alignment"], "needs an alignment exponent"),
    (["simulate", "--optimizer", "sgd", "--wd", "0.1", "--wd-rule", "fan2025"], "fan2025"),
    (["simulate", "--global-lr", "--wd", "0.1", "--wd-rule", "fan2025"], "global_lr"),
    # ---- plain bad values
    (["simulate", "--lr", "inf"], "lr=inf"),
    (["simulate", "--lr", "nan"], "lr=nan"),
    (["simulate", "--lr", "-1"], "lr=-1.0"),
    (["simulate", "--eps", "0"], "eps=0.0"),
    (["simulate", "--beta1", "1"], "beta1=1.0"),
    (["simulate", "--alignment", "2"], "alignment=2.0"),
    (["simulate", "--base-width", "0"], "base_width must be an integer >= 1"),
    (["simulate", "--warmup-steps", "10", "--steps", "5"], "exceeds steps"),
    (["simulate", "--divergence-bound", "0"], "divergence_bound=0.0"),
    (["simulate", "--optimizer", "rms\nprop"], "unknown optimizer"),
    (["simulate", "--format", "yaml"], "invalid choice"),
    (["transfer", "--base-width", "64", "--width", str(2 ** 41), "--lr", "1"], "up to 2^40"),
    (["transfer", "--base-width", "64", "--width", "128", "--lr", "1e400"], "finite"),
    (["transfer", "--base-width", "64", "--width", "128", "--lr", "nan"], "finite"),
    (["transfer", "--base-width", "64", "--width", "128", "--lr", "1", "--wd", "0.1"],
     "needs a weight-decay rule"),
    (["transfer", "--base-width", "64", "--width", "128", "--lr", "1", "--depth", "4"],
     "depth transfer needs"),
    (["exponents", "--alignment", "5"], "alignment"),
    (["exponents", "--wd-rule", "alignment", "--alignment-exponent", "0.3"], "[1/2, 1]"),
    (["exponents", "--wd-rule", "fan2025", "--optimizer", "sgd"], "fan2025"),
    (["frobnicate"], "invalid choice"),
    # ---- sweeps: refused before a worker starts, as simulate refuses the same config
    (["sweep", "{tmp}/spec_bad_utf8.json", "--out", "{tmp}/o"], "is not UTF-8 text"),
    (["sweep", "{tmp}/spec_huge.json", "--out", "{tmp}/o"],
     "expands to 10,000,000,000 configs"),
    (["sweep", "{tmp}/spec_wd.json", "--out", "{tmp}/o", "--workers", "2"],
     "needs a weight-decay rule"),
    (["sweep", "{tmp}/spec_align.json", "--out", "{tmp}/o"], "only used by wd rule"),
    (["sweep", "{tmp}/spec_seed.json", "--out", "{tmp}/o"], "0..2^63-1"),
    (["sweep", "{tmp}/spec_width.json", "--out", "{tmp}/o"], "over the limit"),
    (["sweep", "{tmp}/spec_layer1.json", "--out", "{tmp}/o"], "needs width >= 2"),
    (["sweep", "{tmp}/spec_zip.json", "--out", "{tmp}/o"], "equal lengths"),
    (["sweep", "{tmp}/spec_list.json", "--out", "{tmp}/o"], "must be a JSON object"),
    (["sweep", "{tmp}/missing.json", "--out", "{tmp}/o"], "cannot read sweep spec"),
    (["sweep", "{tmp}/spec_ok.json", "--out", "{tmp}/afile.txt"], "not a folder"),
    (["sweep", "{tmp}/spec_wd.json", "--out", "{tmp}/o", "--workers", "-1"], "must be >= 0"),
]


def _never(*args, **kwargs):
    raise AssertionError("a refused input reached the simulator or started a sweep")


@pytest.fixture(scope="module")
def input_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    inputs(folder)
    return folder


@pytest.fixture
def guarded(input_dir, monkeypatch):
    """Inputs on disk; the simulator and the sweep replaced by functions that fail."""
    import mupsim.sim.sweep as sw
    monkeypatch.setattr(mupsim.sim, "run", _never)
    monkeypatch.setattr(sw, "sweep", _never)
    monkeypatch.setattr(sw, "_default_runner", _never)
    return input_dir


def _listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("argv,needle", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_command_line_gets_one_line_and_exit_2(guarded, capsys, argv, needle):
    before = _listing(guarded)
    code = main([a.replace("{tmp}", str(guarded)) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, (code, err)
    assert len(err.splitlines()) == 1 and err.startswith("mupsim: error: "), err
    assert "Traceback" not in err and out == ""
    assert needle in err, err
    assert _listing(guarded) == before  # nothing written


def test_bad_memory_limit_setting_is_one_line(guarded, capsys, monkeypatch):
    monkeypatch.setenv("MUPSIM_MAX_BYTES", "lots")
    assert main(["simulate", "--width", "8"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "MUPSIM_MAX_BYTES='lots' is not a memory size" in err


def test_raised_memory_limit_admits_a_larger_run(guarded, monkeypatch):
    from mupsim.sim.config import SimConfig
    from mupsim.errors import MupsimError
    with pytest.raises(MupsimError, match="over the limit"):
        SimConfig(width=16384)
    monkeypatch.setenv("MUPSIM_MAX_BYTES", "64G")
    assert SimConfig(width=16384).width == 16384


# ----------------------------------------------------------------------- accepted forms
def _fake_run(config):
    from test_sweep import fake_runner
    return fake_runner(config)


@pytest.mark.parametrize("value,expected", [
    (["0,0,1"], (0.0, 0.0, 1.0)),
    ([" 0 , 1/2 , 1 "], (0.0, 0.5, 1.0)),
    (["0", "0", "1"], (0.0, 0.0, 1.0)),
    (["0,0,1,"], (0.0, 0.0, 1.0)),
    (["none"], None),
])
def test_multipliers_accept_commas_or_separate_values(value, expected):
    import argparse
    from mupsim.sim.cli import add_subcommands, config_from_args
    p = argparse.ArgumentParser()
    add_subcommands(p.add_subparsers())
    cfg = config_from_args(p.parse_args(["simulate", "--multipliers", *value]))
    assert cfg.multipliers == expected


def test_negative_multipliers_are_values_not_options(capsys):
    assert main(["exponents", "--multipliers", "-1,0,0", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["layers"]["embedding"]["multiplier"] == -1
    assert main(["transfer", "--base-width", "64", "--width", "128", "--lr", "1e-3",
                 "--multipliers", "-1/2,0,1", "--format", "json"]) == 0
    emb = json.loads(capsys.readouterr().out)["layers"]["embedding"]["multiplier"]
    assert emb == pytest.approx(128 ** 0.5)  # n^(-a) with a = -1/2


def test_out_may_name_new_folders_which_are_made_on_saving(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(mupsim.sim, "run", _fake_run)
    assert main(["simulate", "--width", "8", "--out", str(tmp_path / "new" / "sub" / "r")]) == 0
    assert mupsim.sim.Result.exists(tmp_path / "new" / "sub" / "r")


def test_out_with_a_result_suffix_saves_at_the_stem(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(mupsim.sim, "run", _fake_run)
    assert main(["simulate", "--width", "8", "--out", str(tmp_path / "r.npz")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.npz"]


def test_full_disk_during_simulate_out_is_one_line_and_saves_nothing(tmp_path, monkeypatch,
                                                                     capsys):
    import errno
    import mupsim.sim.result as result_mod
    real = result_mod._write_temp

    def full_on_json(path, writer):
        if path.suffix == ".json":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, writer)

    monkeypatch.setattr(mupsim.sim, "run", _fake_run)
    monkeypatch.setattr(result_mod, "_write_temp", full_on_json)
    assert main(["simulate", "--width", "8", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "No space left on device" in err
    assert list(tmp_path.iterdir()) == []


def test_broken_pipe_ends_quietly(monkeypatch, capsys):
    import mupsim.cli as cli

    def closed(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "_cmd_exponents", closed)
    assert main(["exponents"]) == 141
    assert capsys.readouterr().err == ""


def test_out_under_a_folder_that_cannot_be_searched_is_one_line(tmp_path, monkeypatch, capsys):
    import pathlib
    real = pathlib.Path.exists

    def exists(self, *a, **k):  # what a non-root user sees under a mode-700 folder of another
        if "locked" in str(self):
            raise PermissionError(13, "Permission denied")
        return real(self, *a, **k)

    monkeypatch.setattr(mupsim.sim, "run", _never)
    monkeypatch.setattr(pathlib.Path, "exists", exists)
    assert main(["simulate", "--out", str(tmp_path / "locked" / "inner" / "r")]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Permission denied" in err

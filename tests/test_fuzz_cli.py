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


# config files with the wrong JSON type or value for a field: (file name, content)
CONFIG_FILES = {
    "t_width_str.json": '{"width": "8"}',
    "t_width_bool.json": '{"width": true}',
    "t_width_frac.json": '{"width": 8.5}',
    "t_width_neg.json": '{"width": -8}',
    "t_width_obj.json": '{"width": {}}',
    "t_width_list.json": '{"width": [8]}',
    "t_mult_obj.json": '{"multipliers": {"a": 1, "b": 2, "c": 3}}',
    "t_mult_text.json": '{"multipliers": "0,0,1"}',
    "t_mult_bool.json": '{"multipliers": [true, 0, 1]}',
    "t_mult_nested.json": '{"multipliers": [[0], 0, 1]}',
    "t_mult_inf.json": '{"multipliers": [0, 0, 1e999]}',
    "t_mult_two.json": '{"multipliers": [0, 0]}',
    "t_mult_empty.json": '{"multipliers": []}',
    "t_lr_str.json": '{"lr": "1e-3"}',
    "t_lr_null.json": '{"lr": null}',
    "t_lr_list.json": '{"lr": [1e-3]}',
    "t_lr_inf.json": '{"lr": 1e999}',
    "t_lr_tiny_neg.json": '{"lr": -1e-320}',
    "t_bias_str.json": '{"bias": "true"}',
    "t_bias_int.json": '{"bias": 1}',
    "t_bias_null.json": '{"bias": null}',
    "t_rule_int.json": '{"wd_rule": 5}',
    "t_rule_empty.json": '{"wd_rule": ""}',
    "t_model_null.json": '{"model": null}',
    "t_model_list.json": '{"model": ["linear"]}',
    "t_seed_inf.json": '{"seed": 1e400}',
    "t_steps_huge.json": '{"steps": 1e20}',
    "t_dtype_list.json": '{"dtype": ["float32"]}',
    "t_align_list.json": '{"alignment": [0.5]}',
    "t_align_bool.json": '{"alignment": true}',
    "t_align_nan.json": '{"alignment": "nan"}',
    "t_rank_text.json": '{"teacher_rank": "none"}',
    "t_rank_zero.json": '{"teacher_rank": 0}',
    "t_ntrain_frac.json": '{"n_train": 1.5}',
    "t_empty_key.json": '{"": 1}',
    "t_depth_rule_bool.json": '{"depth_rule": false}',
    "t_rank_metrics_text.json": '{"rank_metrics": "false"}',
    "t_ae_text.json": '{"alignment_exponent": "0.8", "wd_rule": "alignment"}',
    "t_muon_int.json": '{"muon_convention": 1}',
    "t_eps_rule_empty.json": '{"eps_rule": ""}',
    "t_decay_text.json": '{"teacher_decay": "none"}',
    "t_opt_space.json": '{"optimizer": "muon all"}',
    "t_null.json": "null",
    "t_string.json": '"width"',
    "t_number.json": "123",
    "t_trailing.json": '{"width": 8}  trailing',
    "t_dup_key.json": '{"width": 8, "lr": 0.1, "width": 16}',
    "spec_dup_key.json": '{"base": {"width": 8}, "grid": {"lr": [0.1]}, "grid": {"lr": [0.2]}}',
    "t_io_tau.json": '{"io_wd_rule": "tau_epoch", "wd": 0.1, "wd_rule": "constant"}',
    "t_big_width.json": '{"width": 1' + "0" * 400 + "}",
}


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
        "spec_huge.json": {
            "grid": {
                f: list(range(1, 11))
                for f in (
                    "seed",
                    "width",
                    "depth",
                    "steps",
                    "n_logs",
                    "batch_size",
                    "n_test",
                    "teacher_width",
                    "input_dim",
                    "warmup_steps",
                )
            }
        },
        "spec_wd.json": {"base": {"width": 8, "wd": 0.1}, "grid": {"seed": [0, 1]}},
        "spec_align.json": {"base": {"width": 8, "alignment_exponent": 0.8}},
        "spec_seed.json": {"base": {"width": 8}, "grid": {"seed": [0, 2**64]}},
        "spec_width.json": {"base": {"width": 1_000_000}},
        "spec_layer1.json": {"base": {"width": 1, "norm": "layer"}},
        "spec_zip.json": {"zip": {"seed": [0, 1], "width": [8]}},
        "spec_list.json": [1, 2],
        "spec_ok.json": {"base": {"width": 8}},
    }
    for name, text in CONFIG_FILES.items():
        (tmp / name).write_text(text)
    for name, spec in specs.items():
        if spec is None:
            (tmp / name).write_bytes(b'{"base": {"width": 8}}\xff')
        else:
            (tmp / name).write_text(json.dumps(spec))


CASES = [
    # ---- seeds: 0..2^63-1
    (["simulate", "--seed", "99999999999999999999"], "seed="),
    (["simulate", "--seed", str(2**63)], "0..2^63-1"),
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
    (["simulate", "--optimizer", "muon", "--width", "20000", "--dtype", "float32"], "over the limit"),
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
    (
        ["transfer", "--base-width", "64", "--width", "128", "--lr", "1e-3", "--multipliers", "0 1,0,0"],
        "'0 1'",
    ),
    (
        ["transfer", "--base-width", "64", "--width", "128", "--lr", "1e-3", "--multipliers", "1 6,0,0"],
        "'1 6'",
    ),
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
    (["transfer", "--base-width", "64", "--width", str(2**41), "--lr", "1"], "up to 2^40"),
    (["transfer", "--base-width", "64", "--width", "128", "--lr", "1e400"], "finite"),
    (["transfer", "--base-width", "64", "--width", "128", "--lr", "nan"], "finite"),
    (
        ["transfer", "--base-width", "64", "--width", "128", "--lr", "1", "--wd", "0.1"],
        "needs a weight-decay rule",
    ),
    (
        ["transfer", "--base-width", "64", "--width", "128", "--lr", "1", "--depth", "4"],
        "depth transfer needs",
    ),
    (["exponents", "--alignment", "5"], "alignment"),
    (["exponents", "--wd-rule", "alignment", "--alignment-exponent", "0.3"], "[1/2, 1]"),
    (["exponents", "--wd-rule", "fan2025", "--optimizer", "sgd"], "fan2025"),
    (["frobnicate"], "invalid choice"),
    # ---- sweeps: refused before a worker starts, as simulate refuses the same config
    (["sweep", "{tmp}/spec_bad_utf8.json", "--out", "{tmp}/o"], "is not UTF-8 text"),
    (["sweep", "{tmp}/spec_huge.json", "--out", "{tmp}/o"], "expands to 10,000,000,000 configs"),
    (["sweep", "{tmp}/spec_wd.json", "--out", "{tmp}/o", "--workers", "2"], "needs a weight-decay rule"),
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

# ---- hostile command lines (huge, negative, NaN/inf, empty, non-ASCII, wrong shape): each is
# refused with one line naming the problem
TRANSFER = ["transfer", "--base-width", "64", "--width", "128", "--lr", "1e-3"]
HUGE = "1" + "0" * 5000
BAD_INT_TEXT = ["", " ", "1e3", "\u0663", "1_000", "0x10", "nan", "1.0", "+", "8 8", HUGE + ".5"]
BAD_FLOAT_TEXT = ["", " ", "\u0661", "1_0", "0x1p3", "one", "1e", "..", "1,5", "\uff11"]
CASES += [
    # transfer: integer options take ASCII decimal digits only
    *[
        ([*TRANSFER, opt, v], "must be a positive integer")
        for opt in ("--width", "--base-width")
        for v in BAD_INT_TEXT
    ],
    *[
        ([*TRANSFER, opt, v], "must be a positive integer")
        for opt in ("--steps", "--tokens", "--batch-size", "--depth")
        for v in ("", "\u0663", "1_0", "2.5")
    ],
    *[([*TRANSFER, opt, v], "must be a number") for opt in ("--lr", "--wd", "--eps") for v in BAD_FLOAT_TEXT],
    *[
        ([*TRANSFER, opt, v], "up to 2^40")
        for opt in ("--width", "--base-width", "--steps")
        for v in ("0", "-1", str(2**40 + 1))
    ],
    *[([*TRANSFER, opt, HUGE], "must be a positive integer") for opt in ("--width", "--steps")],
    ([*TRANSFER, "--lr", "-1e-300"], "lr must be non-negative"),
    ([*TRANSFER, "--lr", "inf"], "lr must be a finite non-negative number"),
    ([*TRANSFER, "--wd", "-inf", "--wd-rule", "constant"], "wd must be a finite non-negative number"),
    ([*TRANSFER, "--eps", "nan"], "eps must be a finite non-negative number"),
    # transfer: options that would be ignored without a word
    (
        [*TRANSFER, "--wd", "0.1", "--wd-rule", "fan2025", "--batch-size", "512"],
        "batch_size alone sets nothing",
    ),
    ([*TRANSFER, "--batch-size", "512"], "batch_size alone sets nothing"),
    ([*TRANSFER, "--depth-alpha", "0.7"], "needs a depth transfer"),
    ([*TRANSFER, "--depth-alpha", "0.7", "--depth-rule", "completep"], "depth transfer needs all of"),
    ([*TRANSFER, "--layer-alignment", ""], "expected LAYER=ALPHA,OMEGA,U"),
    ([*TRANSFER, "--layer-alignment", " ; "], "expected LAYER=ALPHA,OMEGA,U"),
    ([*TRANSFER, "--base-tokens", "100"], "used by wd rule 'tau_epoch' only"),
    ([*TRANSFER, "--tokens", "100", "--steps", "10", "--batch-size", "4"], "tokens or as steps, not both"),
    (
        [*TRANSFER, "--depth", "4", "--base-depth", "2", "--depth-rule", "completep", "--depth-alpha", "2"],
        "must lie in [1/2, 1]",
    ),
    (
        [*TRANSFER, "--depth", "4", "--base-depth", "2", "--depth-rule", "depth_mup", "--depth-alpha", "0.7"],
        "only taken by depth rule 'completep'",
    ),
    ([*TRANSFER, "--depth", "4", "--base-depth", "0", "--depth-rule", "completep"], "base depth must be"),
    ([*TRANSFER, "--global-lr"], "unrecognized arguments"),
    ([*TRANSFER, "--parameterization", "\u00b5P"], "unknown parameterization"),
    ([*TRANSFER, "--optimizer", ""], "unknown optimizer ''"),
    ([*TRANSFER, "--solver", "foo"], "unknown solver 'foo'"),
    ([*TRANSFER, "--format", ""], "unknown format ''"),
    ([*TRANSFER, "--muon-convention", "rms"], "applies to Muon only"),
    # exponents
    (["exponents", "--depth-alpha", "0.7"], "depth_alpha needs depth_rule 'completep'"),
    (["exponents", "--multipliers", ""], "must be 3 exponents"),
    (["exponents", "--multipliers", ",,"], "must be 3 exponents"),
    (["exponents", "--multipliers", HUGE + ",0,0"], "must be a finite number"),
    (["exponents", "--multipliers", "0x1,0,0"], "must be a finite number"),
    (["exponents", "--multipliers", "1/0,0,0"], "must be a finite number"),
    (["exponents", "--multipliers", "inf,0,0"], "must be a finite number"),
    (["exponents", "--alignment", ""], "unknown alignment ''"),
    (["exponents", "--alignment", "nan"], "unknown alignment 'nan'"),
    (["exponents", "--alignment", "1/0"], "unknown alignment '1/0'"),
    (["exponents", "--alignment", "0.5e1000"], "unknown alignment"),
    (["exponents", "--alignment", HUGE], "unknown alignment"),
    (["exponents", "--wd-rule", "alignment", "--alignment-exponent", "nan"], "must be a finite number"),
    (["exponents", "--wd-rule", "alignment", "--alignment-exponent", ""], "must be a finite number"),
    (["exponents", "--wd-rule", "alignment", "--alignment-exponent", HUGE], "alignment exponent"),
    (["exponents", "--depth-rule", "completep", "--depth-alpha", "nan"], "must be a finite number"),
    (["exponents", "--depth-rule", "completep", "--depth-alpha", "1e400"], "within ±16"),
    (["exponents", "--depth-rule", "completep", "--depth-alpha", ""], "must be a finite number"),
    (["exponents", "--depth-rule", ""], "unknown depth rule ''"),
    (["exponents", "--wd-rule", ""], "unknown wd rule ''"),
    (["exponents", "--muon-convention", ""], "unknown muon convention ''"),
    (["exponents", "--layer-alignment", "hidden=1e999,1,1"], "within ±16"),
    (["exponents", "--layer-alignment", "hidden=nan,1,1"], "must be a finite number"),
    (["exponents", "--layer-alignment", "hidden=1,1"], "must be 3 exponents"),
    (["exponents", "--layer-alignment", "foo=1,1,1"], "unknown layer 'foo'"),
    (["exponents", "--layer-alignment", "="], "unknown layer ''"),
    (["exponents", "--layer-alignment", "hidden"], "expected LAYER=ALPHA,OMEGA,U"),
    (["exponents", "--layer-alignment", "readout=1,1,1", "--solver", "greedy"], "needs solver 'program'"),
    (["exponents", "--format", "xml"], "unknown format 'xml'"),
    # simulate: integer and float options read ASCII decimal text only
    *[
        (["simulate", opt, v], "invalid int value")
        for opt in ("--width", "--seed", "--steps", "--depth", "--batch-size", "--n-logs")
        for v in ("", "1e3", "\u0663", "1_0", "0x10", "nan", "2.5")
    ],
    *[
        (["simulate", opt, v], "invalid float value")
        for opt in ("--lr", "--wd", "--eps", "--beta1", "--label-noise")
        for v in BAD_FLOAT_TEXT[:6]
    ],
    *[
        (["simulate", opt, v], "invalid int value")
        for opt in ("--teacher-rank", "--n-train")
        for v in ("", "\u0663", "1_0", "nan")
    ],
    (["simulate", "--teacher-decay", "\u0661"], "invalid float value"),
    (["simulate", "--alignment-exponent", "1_0"], "invalid float value"),
    (["simulate", "--alignment", ""], "unknown alignment ''"),
    (["simulate", "--alignment", "inf"], "alignment=inf"),
    (["simulate", "--alignment-exponent", "nan"], "alignment_exponent=nan"),
    (["simulate", "--wd-rule", ""], "unknown wd_rule ''"),
    (["simulate", "--io-wd-rule", ""], "unknown io_wd_rule ''"),
    (["simulate", "--depth-rule", ""], "unknown depth_rule ''"),
    (["simulate", "--model", ""], "unknown model ''"),
    (["simulate", "--dtype", "float16"], "unknown dtype 'float16'"),
    (["simulate", "--eps-rule", "foo"], "unknown eps rule 'foo'"),
    (["simulate", "--muon-convention", ""], "unknown muon convention ''"),
    (["simulate", "--multipliers", ""], "takes 3 exponents"),
    (["simulate", "--multipliers", ","], "takes 3 exponents"),
    (["simulate", "--multipliers", "0,0,inf"], "finite number"),
    (["simulate", "--n-train", "0"], "n_train must be an integer >= 1"),
    (["simulate", "--teacher-decay", "inf"], "teacher_decay=inf"),
    (["simulate", "--branch-multiplier", "inf"], "branch_multiplier=inf"),
    (["simulate", "--decay-fraction", "1.5"], "decay_fraction=1.5"),
    (["simulate", "--momentum", "-0.5"], "momentum=-0.5"),
    (["simulate", "--config", ""], "--config needs a JSON file name"),
    (["simulate", "--config", "   "], "--config needs a JSON file name"),
    (["simulate", "--config", "/dev/null"], "it is a character device; allowed: a regular file"),
    # simulate --config: wrong JSON types are named with the field
    (["simulate", "--config", "{tmp}/t_width_str.json"], "width must be an integer >= 1; got '8'"),
    (["simulate", "--config", "{tmp}/t_width_bool.json"], "width must be an integer >= 1; got True"),
    (["simulate", "--config", "{tmp}/t_width_frac.json"], "got 8.5"),
    (["simulate", "--config", "{tmp}/t_width_neg.json"], "got -8"),
    (["simulate", "--config", "{tmp}/t_width_obj.json"], "got {}"),
    (["simulate", "--config", "{tmp}/t_width_list.json"], "got [8]"),
    (["simulate", "--config", "{tmp}/t_big_width.json"], "beyond float range"),
    (["simulate", "--config", "{tmp}/t_mult_obj.json"], "in a list or tuple"),
    (["simulate", "--config", "{tmp}/t_mult_text.json"], "in a list or tuple"),
    (["simulate", "--config", "{tmp}/t_mult_bool.json"], "multipliers[0] must be a real number; got True"),
    (["simulate", "--config", "{tmp}/t_mult_nested.json"], "multipliers[0] must be a real number"),
    (["simulate", "--config", "{tmp}/t_mult_inf.json"], "multipliers[2]=inf"),
    (["simulate", "--config", "{tmp}/t_mult_two.json"], "got (0, 0)"),
    (["simulate", "--config", "{tmp}/t_mult_empty.json"], "multipliers must be None or 3 numbers"),
    (["simulate", "--config", "{tmp}/t_lr_str.json"], "lr must be a real number; got '1e-3'"),
    (["simulate", "--config", "{tmp}/t_lr_null.json"], "lr must be a real number; got None"),
    (["simulate", "--config", "{tmp}/t_lr_list.json"], "lr must be a real number; got [0.001]"),
    (["simulate", "--config", "{tmp}/t_lr_inf.json"], "lr=inf"),
    (["simulate", "--config", "{tmp}/t_lr_tiny_neg.json"], "lr=-1e-320"),
    (["simulate", "--config", "{tmp}/t_bias_str.json"], "bias must be true or false; got 'true'"),
    (["simulate", "--config", "{tmp}/t_bias_int.json"], "bias must be true or false; got 1"),
    (["simulate", "--config", "{tmp}/t_bias_null.json"], "bias must be true or false; got None"),
    (["simulate", "--config", "{tmp}/t_rule_int.json"], "unknown wd_rule 5"),
    (["simulate", "--config", "{tmp}/t_rule_empty.json"], "unknown wd_rule ''"),
    (["simulate", "--config", "{tmp}/t_model_null.json"], "unknown model None"),
    (["simulate", "--config", "{tmp}/t_model_list.json"], "unknown model ['linear']"),
    (["simulate", "--config", "{tmp}/t_seed_inf.json"], "seed must be an integer >= 0; got inf"),
    (["simulate", "--config", "{tmp}/t_steps_huge.json"], "exceeds the limit"),
    (["simulate", "--config", "{tmp}/t_dtype_list.json"], "unknown dtype"),
    (["simulate", "--config", "{tmp}/t_align_list.json"], "unknown alignment [0.5]"),
    (["simulate", "--config", "{tmp}/t_align_bool.json"], "unknown alignment True"),
    (["simulate", "--config", "{tmp}/t_align_nan.json"], "alignment=nan"),
    (["simulate", "--config", "{tmp}/t_rank_text.json"], "teacher_rank must be an integer >= 1; got 'none'"),
    (["simulate", "--config", "{tmp}/t_rank_zero.json"], "teacher_rank must be an integer >= 1; got 0"),
    (["simulate", "--config", "{tmp}/t_ntrain_frac.json"], "n_train must be an integer >= 1; got 1.5"),
    (["simulate", "--config", "{tmp}/t_empty_key.json"], "unknown SimConfig field(s) ''"),
    (["simulate", "--config", "{tmp}/t_depth_rule_bool.json"], "unknown depth_rule False"),
    (["simulate", "--config", "{tmp}/t_rank_metrics_text.json"], "rank_metrics must be true or false"),
    (["simulate", "--config", "{tmp}/t_ae_text.json"], "alignment_exponent must be a real number"),
    (["simulate", "--config", "{tmp}/t_muon_int.json"], "unknown muon convention 1"),
    (["simulate", "--config", "{tmp}/t_eps_rule_empty.json"], "unknown eps rule ''"),
    (["simulate", "--config", "{tmp}/t_decay_text.json"], "teacher_decay must be a real number"),
    (["simulate", "--config", "{tmp}/t_opt_space.json"], "unknown optimizer 'muon all'"),
    (["simulate", "--config", "{tmp}/t_null.json"], "must hold a JSON object"),
    (["simulate", "--config", "{tmp}/t_string.json"], "must hold a JSON object"),
    (["simulate", "--config", "{tmp}/t_number.json"], "must hold a JSON object"),
    (["simulate", "--config", "{tmp}/t_trailing.json"], "is not valid JSON: Extra data"),
    (["simulate", "--config", "{tmp}/t_dup_key.json"], "gives the key 'width' twice in one object"),
    (["sweep", "{tmp}/spec_dup_key.json", "--out", "{tmp}/o"], "gives the key 'grid' twice in one object"),
    (["simulate", "--config", "{tmp}/t_io_tau.json"], "io_wd_rule='tau_epoch'"),
    # sweep
    (["sweep", "", "--out", "{tmp}/o"], "SPEC needs a sweep spec file name"),
    (["sweep", "{tmp}", "--out", "{tmp}/o"], "cannot read sweep spec"),
    (["sweep", "/dev/null", "--out", "{tmp}/o"], "it is a character device; allowed: a regular file"),
    *[
        (["sweep", "{tmp}/spec_ok.json", "--out", "{tmp}/o", "--workers", v], "invalid int value")
        for v in ("", "1e3", "\u0663", "1_0", "nan")
    ],
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
    from mupsim.errors import MupsimError
    from mupsim.sim.config import SimConfig

    with pytest.raises(MupsimError, match="over the limit"):
        SimConfig(width=16384)
    monkeypatch.setenv("MUPSIM_MAX_BYTES", "64G")
    assert SimConfig(width=16384).width == 16384


# ----------------------------------------------------------------------- accepted forms
def _fake_run(config):
    from test_sweep import fake_runner

    return fake_runner(config)


@pytest.mark.parametrize(
    "value,expected",
    [
        (["0,0,1"], (0.0, 0.0, 1.0)),
        ([" 0 , 1/2 , 1 "], (0.0, 0.5, 1.0)),
        (["0", "0", "1"], (0.0, 0.0, 1.0)),
        (["0,0,1,"], (0.0, 0.0, 1.0)),
        (["none"], None),
    ],
)
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
    assert (
        main(
            [
                "transfer",
                "--base-width",
                "64",
                "--width",
                "128",
                "--lr",
                "1e-3",
                "--multipliers",
                "-1/2,0,1",
                "--format",
                "json",
            ]
        )
        == 0
    )
    emb = json.loads(capsys.readouterr().out)["layers"]["embedding"]["multiplier"]
    assert emb == pytest.approx(128**0.5)  # n^(-a) with a = -1/2


def test_out_may_name_new_folders_which_are_made_on_saving(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(mupsim.sim, "run", _fake_run)
    assert main(["simulate", "--width", "8", "--out", str(tmp_path / "new" / "sub" / "r")]) == 0
    assert mupsim.sim.Result.exists(tmp_path / "new" / "sub" / "r")


def test_out_with_a_result_suffix_saves_at_the_stem(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(mupsim.sim, "run", _fake_run)
    assert main(["simulate", "--width", "8", "--out", str(tmp_path / "r.npz")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.npz"]


def test_full_disk_during_simulate_out_is_one_line_and_saves_nothing(tmp_path, monkeypatch, capsys):
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


# ----------------------------------------------------------------------- equal inputs, equal answers
@pytest.mark.parametrize(
    "a,b",
    [
        ([*TRANSFER[:-1], "-0.0"], [*TRANSFER[:-1], "0"]),
        (
            [*TRANSFER, "--wd", "-0.0", "--wd-rule", "constant"],
            [*TRANSFER, "--wd", "0", "--wd-rule", "constant"],
        ),
        ([*TRANSFER, "--eps", "-0.0"], [*TRANSFER, "--eps", "0.0"]),
        (["exponents", "--multipliers", "-0,0,1"], ["exponents", "--multipliers", "0,0,1"]),
        (["exponents", "--multipliers", "-0.0,-0,1"], ["exponents", "--multipliers", "0,0,1"]),
        ([*TRANSFER, "--multipliers", "-0,0,1"], [*TRANSFER, "--multipliers", "0,0,1"]),
    ],
)
def test_negative_zero_gives_the_same_answer_as_zero(capsys, a, b):
    assert main([*a, "--format", "json"]) == 0
    first = capsys.readouterr().out
    assert main([*b, "--format", "json"]) == 0
    assert capsys.readouterr().out == first
    assert "-0.0" not in first


@pytest.mark.parametrize(
    "a,b",
    [
        (["--lr", "-0.0"], ["--lr", "0"]),
        (["--wd", "-0.0"], ["--wd", "0"]),
        (["--multipliers", "-0,0,1"], ["--multipliers", "0,0,1"]),
        (["--label-noise", "-0.0"], ["--label-noise", "0"]),
        (["--momentum", "-0.0"], ["--momentum", "0"]),
    ],
)
def test_negative_zero_gives_the_same_simulation_config_and_key(a, b):
    from mupsim.cli import build_parser
    from mupsim.sim.cli import config_from_args

    p = build_parser()
    ca = config_from_args(p.parse_args(["simulate", *a]))
    cb = config_from_args(p.parse_args(["simulate", *b]))
    assert ca == cb and ca.to_dict() == cb.to_dict() and ca.key() == cb.key()
    assert "-0.0" not in json.dumps(ca.to_dict())


@pytest.mark.parametrize("length", [["--tokens", "512000"], ["--steps", "1000"]])
def test_transfer_with_batch_size_and_a_training_length_reports_the_horizon(capsys, length):
    assert (
        main(
            [
                *TRANSFER,
                "--wd",
                "0.1",
                "--wd-rule",
                "fan2025",
                "--batch-size",
                "512",
                *length,
                "--format",
                "json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["horizon"]["steps"] == 1000.0


def test_negative_infinity_is_a_value_refused_by_the_range_check(capsys):
    assert main([*TRANSFER, "--eps", "-inf"]) == 2
    assert "eps must be a finite non-negative number, got -inf" in capsys.readouterr().err

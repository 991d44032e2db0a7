"""SimConfig options ``rank_metrics`` and ``io_wd_rule``, in the numba loop and the ensemble.

* ``rank_metrics=False`` skips the spectrum-based diagnostics (stable_rank, effective_rank,
  sv1..sv4: NaN, same shapes) and changes no other logged number, bit for bit.
* ``io_wd_rule`` sets the weight-decay rule of the embedding and readout only; their wd comes
  from the calculator asked with that rule, every other setting from ``wd_rule``'s answer.
"""

import argparse
import functools

import numpy as np
import pytest

import mupsim
from mupsim.errors import MupsimError
from mupsim.sim import limits
from mupsim.sim.config import SimConfig
from mupsim.sim.run import run
from mupsim.sim.settings import settings_for

RANK_ROWS = ("stable_rank", "effective_rank", "sv1", "sv2", "sv3", "sv4")
SMALL = dict(
    width=32,
    base_width=16,
    steps=25,
    batch_size=16,
    n_test=48,
    n_logs=8,
    teacher_width=16,
    lr=3e-3,
    wd=0.1,
    wd_rule="constant",
    depth=2,
)
FAN = dict(SMALL, wd_rule="fan2025", wd=0.5)


@functools.cache
def _run(**kw):
    return run(SimConfig(**kw))


def run_small(**kw):
    return _run(**{**SMALL, **kw})


# ----------------------------------------------------------------------- rank_metrics
def test_rank_metrics_false_leaves_the_spectrum_metrics_nan_with_their_shape():
    on, off = run_small(), run_small(rank_metrics=False)
    for k in RANK_ROWS:
        assert off.matrix[k].shape == on.matrix[k].shape
        assert np.all(np.isnan(off.matrix[k])), k
        assert np.all(np.isfinite(on.matrix[k][:-1])), k  # computed by default (the readout,
        # 1 x n, has one singular value: its sv2..sv4 are NaN either way)


def test_rank_metrics_false_changes_no_other_logged_number():
    on, off = run_small(), run_small(rank_metrics=False)
    assert off.status == on.status == "ok"
    for name in ("steps", "train_loss", "test_loss", "activation_rms"):
        np.testing.assert_array_equal(getattr(off, name), getattr(on, name), err_msg=name)
    others = [k for k in on.matrix if k not in RANK_ROWS]
    assert "sigma_max" in others and "angular_update" in others and len(others) == 8
    for k in others:
        np.testing.assert_array_equal(off.matrix[k], on.matrix[k], err_msg=k)
    for k in on.spectra:
        np.testing.assert_array_equal(off.spectra[k], on.spectra[k], err_msg=k)
    assert off.provenance["settings"] == on.provenance["settings"]


def test_rank_metrics_default_keeps_existing_result_keys():
    assert "rank_metrics" not in SimConfig().to_dict()
    assert SimConfig(rank_metrics=True).key() == SimConfig().key()
    off = SimConfig(rank_metrics=False)
    assert off.to_dict()["rank_metrics"] is False and off.key() != SimConfig().key()
    assert SimConfig.from_dict(off.to_dict()) == off


def test_rank_metrics_false_is_recorded_in_the_result_config():
    assert run_small(rank_metrics=False).config["rank_metrics"] is False


@pytest.mark.parametrize("value", ["false", 0, 1, None, "no"])
def test_rank_metrics_must_be_a_boolean(value):
    with pytest.raises(MupsimError, match=r"rank_metrics must be true or false"):
        SimConfig(rank_metrics=value)


def test_memory_estimate_leaves_out_the_eigensolver_without_rank_metrics():
    on, off = SimConfig(width=1024), SimConfig(width=1024, rank_metrics=False)
    gram = 8 * (1024 * 1024 + 3 * 1024**2)  # float64 copy, Gram matrix, eigvalsh copy+work
    assert limits.estimate_bytes(on) - limits.estimate_bytes(off) == gram


def _parser():
    from mupsim.sim.cli import add_subcommands

    p = argparse.ArgumentParser(prog="mupsim")
    add_subcommands(p.add_subparsers(dest="command"))
    return p


def test_no_rank_metrics_command_line_option_turns_them_off():
    from mupsim.sim.cli import config_from_args

    assert config_from_args(_parser().parse_args(["simulate", "--no-rank-metrics"])).rank_metrics is False
    assert config_from_args(_parser().parse_args(["simulate", "--rank-metrics"])).rank_metrics is True
    assert config_from_args(_parser().parse_args(["simulate"])).rank_metrics is True


def test_rank_metrics_string_in_a_config_file_is_refused_naming_the_field(tmp_path):
    from mupsim.sim.cli import config_from_args

    f = tmp_path / "c.json"
    f.write_text('{"rank_metrics": "false"}')
    with pytest.raises(MupsimError, match="rank_metrics must be true or false; got 'false'"):
        config_from_args(_parser().parse_args(["simulate", "--config", str(f)]))
    f.write_text('{"rank_metrics": false}')
    assert config_from_args(_parser().parse_args(["simulate", "--config", str(f)])).rank_metrics is False


# ----------------------------------------------------------------------- io_wd_rule
def _wd(config):
    return {k: v.wd for k, v in settings_for(config).layers.items()}


def test_fan2025_leaves_embedding_and_readout_undecayed():
    wd = _wd(SimConfig(**FAN))
    assert wd["embedding"] == 0.0 and wd["readout"] == 0.0 and wd["hidden"] > 0.0


def test_io_wd_rule_constant_takes_the_calculators_constant_rule_wd_for_embedding_and_readout():
    c = SimConfig(**FAN, io_wd_rule="constant")
    got = settings_for(c)
    const = mupsim.transfer(c.base_width, c.width, c.lr, c.wd, wd_rule="constant").layers
    fan = settings_for(SimConfig(**FAN)).layers
    for cls in ("embedding", "readout"):
        assert got.layers[cls].wd == const[cls].wd > 0.0
        assert got.layers[cls].wd != fan[cls].wd
    for cls in ("hidden", "bias", "norm_gain"):
        assert got.layers[cls] == fan[cls]  # hidden wd unchanged (fan2025's)
    for cls in got.layers:  # only wd is overridden
        assert got.layers[cls].lr == fan[cls].lr
        assert got.layers[cls].multiplier == fan[cls].multiplier
        assert got.layers[cls].init_std == fan[cls].init_std
    assert got.exponents.wd_rule == "fan2025"


def test_io_wd_rule_wd_scales_with_width_as_its_rule_says():
    for width in (32, 128):
        c = SimConfig(**{**FAN, "width": width}, io_wd_rule="timescale")
        ts = mupsim.transfer(c.base_width, width, c.lr, c.wd, wd_rule="timescale").layers
        assert _wd(c)["embedding"] == ts["embedding"].wd
        assert _wd(c)["readout"] == ts["readout"].wd


def test_io_wd_rule_alignment_uses_the_alignment_exponent():
    c = SimConfig(**FAN, io_wd_rule="alignment", alignment_exponent=0.75)
    al = mupsim.transfer(
        c.base_width, c.width, c.lr, c.wd, wd_rule="alignment", alignment_exponent=0.75
    ).layers
    assert _wd(c)["embedding"] == al["embedding"].wd
    assert _wd(c)["hidden"] == _wd(SimConfig(**FAN))["hidden"]


def test_io_wd_rule_none_is_wd_rules_values():
    assert settings_for(SimConfig(**FAN, io_wd_rule=None)) == settings_for(SimConfig(**FAN))
    assert SimConfig(**FAN, io_wd_rule="none").io_wd_rule is None
    assert "io_wd_rule" not in SimConfig(**FAN).to_dict()
    assert SimConfig(**FAN, io_wd_rule="none").key() == SimConfig(**FAN).key()


def test_io_wd_rule_is_in_the_key_and_the_stored_settings():
    c = SimConfig(**FAN, io_wd_rule="Constant")
    assert c.io_wd_rule == "constant" and c.key() != SimConfig(**FAN).key()
    r = _run(**FAN, io_wd_rule="constant")
    assert r.config["io_wd_rule"] == "constant"
    const = mupsim.transfer(c.base_width, c.width, c.lr, c.wd, wd_rule="constant").layers
    layers = r.provenance["settings"]["layers"]
    assert layers["embedding"]["wd"] == const["embedding"].wd
    assert layers["readout"]["wd"] == const["readout"].wd
    assert layers["hidden"]["wd"] == settings_for(SimConfig(**FAN)).layers["hidden"].wd


def test_decaying_embedding_and_readout_changes_the_run():
    fan, io = _run(**FAN), _run(**FAN, io_wd_rule="constant")
    assert fan.status == io.status == "ok"
    names = fan.matrix_names
    emb, ro = names.index("embedding"), names.index("readout")
    # decay shrinks the embedding and readout; the losses differ too
    assert io.matrix["rms"][emb, -1] < fan.matrix["rms"][emb, -1]
    assert io.matrix["rms"][ro, -1] < fan.matrix["rms"][ro, -1]
    assert not np.array_equal(io.train_loss, fan.train_loss)


@pytest.mark.parametrize(
    "kw, words",
    [
        (dict(io_wd_rule="constant"), "io_wd_rule='constant'.*wd=0.0 and wd_rule=None"),
        (dict(io_wd_rule="constant", wd_rule="fan2025"), "io_wd_rule='constant'.*wd=0.0"),
        (dict(io_wd_rule="constant", wd=0.1, wd_rule="none"), "wd > 0 with a wd_rule"),
        (
            dict(io_wd_rule="bogus", wd=0.1, wd_rule="constant"),
            "unknown io_wd_rule 'bogus'; allowed: constant, fan2025, timescale, alignment",
        ),
        (dict(io_wd_rule="tau_epoch", wd=0.1, wd_rule="constant"), "io_wd_rule='tau_epoch'"),
        (dict(io_wd_rule=3, wd=0.1, wd_rule="constant"), "unknown io_wd_rule 3"),
        (
            dict(io_wd_rule="alignment", wd=0.1, wd_rule="fan2025"),
            "io_wd_rule='alignment'.*needs an alignment exponent",
        ),
        (
            dict(io_wd_rule="timescale", wd=0.1, wd_rule="constant", global_lr=True, parameterization="sp"),
            "io_wd_rule='timescale'.*global_lr",
        ),
    ],
)
def test_io_wd_rule_is_refused_where_it_cannot_apply(kw, words):
    with pytest.raises(MupsimError, match=words):
        SimConfig(**kw)


def test_io_wd_rule_command_line_option():
    from mupsim.sim.cli import config_from_args

    args = _parser().parse_args(
        ["simulate", "--wd", "0.1", "--wd-rule", "fan2025", "--io-wd-rule", "constant"]
    )
    assert config_from_args(args).io_wd_rule == "constant"
    args = _parser().parse_args(["simulate", "--io-wd-rule", "none"])
    assert config_from_args(args).io_wd_rule is None


# ----------------------------------------------------------------------- ensemble backend
def test_ensemble_without_rank_metrics_matches_numba_and_leaves_them_nan():
    pytest.importorskip("torch", reason="the ensemble backend needs PyTorch ('.[torch]')")
    from mupsim.sim.ensemble import group_key, run_group

    cfgs = [SimConfig(**SMALL, rank_metrics=False, seed=s) for s in (0, 1)]
    assert group_key(cfgs[0]) != group_key(SimConfig(**SMALL))  # one stack computes or not
    for a, c in zip(run_group(cfgs, device="cpu"), cfgs):
        b = run(c)
        for k in RANK_ROWS:
            assert np.all(np.isnan(a.matrix[k])), k
        for k in b.matrix:
            if k not in RANK_ROWS:
                np.testing.assert_allclose(a.matrix[k], b.matrix[k], rtol=1e-10, atol=1e-7, err_msg=k)
        np.testing.assert_allclose(a.train_loss, b.train_loss, rtol=1e-10)


def test_ensemble_applies_io_wd_rule_per_member():
    pytest.importorskip("torch", reason="the ensemble backend needs PyTorch ('.[torch]')")
    from mupsim.sim.ensemble import group_key, run_group

    cfgs = [SimConfig(**FAN), SimConfig(**FAN, io_wd_rule="constant")]
    assert group_key(cfgs[0]) == group_key(cfgs[1])  # per-member: one stack
    res = run_group(cfgs, device="cpu")
    for a, b in zip(res, (_run(**FAN), _run(**FAN, io_wd_rule="constant"))):
        assert a.provenance["settings"] == b.provenance["settings"]
        np.testing.assert_allclose(a.train_loss, b.train_loss, rtol=1e-10)
        np.testing.assert_allclose(a.matrix["rms"], b.matrix["rms"], rtol=1e-10)
    assert not np.array_equal(res[0].train_loss, res[1].train_loss)

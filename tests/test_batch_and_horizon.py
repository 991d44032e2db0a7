"""Weight decay against batch size and dataset size (tau_epoch rule) and the horizon check."""

import json
import math

import pytest

import mupsim
from mupsim import MupsimError
from mupsim.cli import main

KW = dict(multipliers=(0, 0, 1))


def _tau_epoch(x, B, D):
    return B / (x.lr * x.wd * D)


def test_tau_epoch_rule_keeps_b_over_eta_lambda_d_of_the_base_run():
    base = mupsim.transfer(
        256,
        256,
        1e-3,
        0.1,
        wd_rule="tau_epoch",
        batch_size=256,
        base_batch_size=256,
        tokens=10**7,
        base_tokens=10**7,
        **KW,
    )
    big = mupsim.transfer(
        256,
        2048,
        1e-3,
        0.1,
        wd_rule="tau_epoch",
        batch_size=1024,
        base_batch_size=256,
        tokens=10**8,
        base_tokens=10**7,
        **KW,
    )
    for layer in ("embedding", "hidden", "readout"):
        assert math.isclose(
            _tau_epoch(big.layers[layer], 1024, 10**8), _tau_epoch(base.layers[layer], 256, 10**7)
        ), layer


def test_tau_epoch_with_steps_counts_data_as_steps_times_batch():
    a = mupsim.transfer(
        256,
        256,
        1e-3,
        0.1,
        wd_rule="tau_epoch",
        batch_size=512,
        base_batch_size=256,
        steps=1000,
        base_steps=1000,
        **KW,
    )
    assert math.isclose(a.batch["wd_factor"], 1.0)  # twice the batch and twice the data: τ_epoch kept as is


def test_doubling_the_batch_at_fixed_data_doubles_the_decay():
    a = mupsim.transfer(
        256,
        256,
        1e-3,
        0.1,
        wd_rule="tau_epoch",
        batch_size=512,
        base_batch_size=256,
        tokens=10**6,
        base_tokens=10**6,
        **KW,
    )
    assert math.isclose(a.layers["hidden"].wd, 0.2)


def test_horizon_flags_layers_trained_for_fewer_than_three_relaxation_times():
    s = mupsim.transfer(256, 4096, 1e-3, 0.1, wd_rule="fan2025", steps=2000, **KW)
    h = s.horizon
    assert h["short"] == ["hidden"]
    assert math.isclose(
        h["relaxation_steps"]["hidden"], 1 / (2 * s.layers["hidden"].lr * s.layers["hidden"].wd), rel_tol=1e-3
    )  # exact e-folding time, ≈ 1/(2·lr·wd) for lr·wd ≪ 1
    long = mupsim.transfer(256, 4096, 1e-3, 0.1, wd_rule="fan2025", steps=10**6, **KW)
    assert long.horizon["short"] == []


def test_cli_prints_a_horizon_warning_and_json_carries_the_field(capsys):
    args = [
        "transfer",
        "--base-width",
        "256",
        "--width",
        "4096",
        "--lr",
        "1e-3",
        "--wd",
        "0.1",
        "--multipliers",
        "0,0,1",
        "--wd-rule",
        "fan2025",
        "--steps",
        "2000",
    ]
    assert main(args) == 0
    assert "warning" in capsys.readouterr().err
    assert main(args + ["--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["horizon"]["short"] == ["hidden"]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(wd_rule="tau_epoch", batch_size=256), "tau_epoch"),
        (dict(wd_rule="timescale", base_batch_size=256), "tau_epoch"),
        (dict(wd_rule="timescale", tokens=10**6), "batch_size"),
        (
            dict(wd_rule="tau_epoch", batch_size=2, base_batch_size=2, tokens=5, steps=5, base_steps=3),
            "not both",
        ),
        (dict(wd_rule="timescale", steps=0), "steps"),
    ],
)
def test_batch_and_horizon_inputs_are_validated(kwargs, match):
    with pytest.raises(MupsimError, match=match):
        mupsim.transfer(256, 512, 1e-3, 0.1, **KW, **kwargs)


def test_horizon_at_large_lr_times_wd_uses_the_exact_time_without_warnings(recwarn):
    s = mupsim.transfer(64, 64, 0.5, 0.5, wd_rule="timescale", steps=100, **KW)
    tau = s.horizon["relaxation_steps"]["hidden"]
    assert math.isclose(tau, -1 / (2 * math.log(1 - 0.25)))
    assert not recwarn.list


def test_steps_from_tokens_are_rounded_up():
    s = mupsim.transfer(64, 64, 1e-3, 0.1, wd_rule="constant", tokens=1000, batch_size=3, **KW)
    assert s.horizon["steps"] == 334


def test_cli_refuses_a_layer_given_twice_in_layer_alignment(capsys):
    assert (
        main(["exponents", "--optimizer", "adam", "--layer-alignment", "hidden=1,1/2,1;hidden=1/2,1/2,1/2"])
        == 2
    )
    assert "given twice" in capsys.readouterr().err

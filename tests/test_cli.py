"""The CLI: tables and JSON for exponents and transfer; one-line errors, exit 2."""

import json
import subprocess
import sys

import pytest

from mupsim.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_exponents_json_has_the_documented_shape(capsys):
    code, out, _ = run_cli(
        capsys,
        "exponents",
        "--parameterization",
        "mup",
        "--optimizer",
        "adamw",
        "--wd-rule",
        "fan2025",
        "--format",
        "json",
    )
    data = json.loads(out)
    assert code == 0 and data["parameterization"] == "mup"
    assert set(data["layers"]) == {"embedding", "hidden", "readout", "bias", "norm_gain"}
    assert set(data["layers"]["hidden"]) == {"multiplier", "init_std", "lr", "wd", "eps"}
    assert data["layers"]["bias"]["wd"] is None


def test_transfer_json_reports_zero_wd_where_no_decay(capsys):
    code, out, _ = run_cli(
        capsys,
        "transfer",
        "--base-width",
        "64",
        "--width",
        "256",
        "--lr",
        "1e-3",
        "--wd",
        "0.1",
        "--wd-rule",
        "fan2025",
        "--multipliers",
        "0,0,1",
        "--format",
        "json",
    )
    data = json.loads(out)
    assert code == 0
    assert data["layers"]["norm_gain"]["wd"] == 0.0
    assert data["layers"]["hidden"]["wd"] == pytest.approx(0.2)
    assert data["layers"]["hidden"]["lr"] == pytest.approx(2.5e-4)


def test_exponents_table_is_the_default_format(capsys):
    code, out, _ = run_cli(capsys, "exponents")
    assert code == 0 and "hidden" in out and "multiplier a" in out


def test_json_with_explain_stays_valid_json(capsys):
    code, out, _ = run_cli(capsys, "exponents", "--format", "json", "--explain")
    assert code == 0 and "Assumptions" in json.loads(out)["explanation"]


def test_explain_prints_the_derivation(capsys):
    code, out, _ = run_cli(capsys, "exponents", "--wd-rule", "timescale", "--explain")
    assert code == 0 and "Assumptions:" in out and "Steps:" in out


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["exponents", "--optimizer", "foo"], "allowed: sgd"),
        (["transfer", "--base-width", "64", "--width", "0", "--lr", "1"], "positive integer"),
        (["transfer", "--base-width", "64", "--width", "abc", "--lr", "1"], "positive integer"),
        (["transfer", "--base-width", "64", "--width", "128", "--lr", "-1"], "non-negative"),
        (["exponents", "--multipliers", "0,1"], "3 exponents"),
        (["exponents", "--format", "yaml"], "allowed: table, json"),
        (["exponents", "--no-such-flag"], "unrecognized"),
    ],
)
def test_bad_input_prints_one_line_and_exits_2(capsys, argv, needle):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and needle in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_python_dash_m_runs_the_cli():
    proc = subprocess.run(
        [sys.executable, "-m", "mupsim", "exponents", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and json.loads(proc.stdout)["optimizer"] == "adamw"

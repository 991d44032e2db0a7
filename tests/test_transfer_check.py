"""transfer_check / ``mupsim transfer-check``: every cell run with the bridge's groups, stored
atomically and resumably, diverged runs recorded, and a report of each rule's optimum drift."""

from __future__ import annotations

import concurrent.futures as cf
import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402 (after the torch skip)

from mupsim.cli import main  # noqa: E402 (after the torch skip)
from mupsim.errors import MupsimError  # noqa: E402 (after the torch skip)
from mupsim.torch import transfer_check  # noqa: E402 (after the torch skip)
from mupsim.torch.transfer import TransferInterrupted, run_key  # noqa: E402 (after the torch skip)

CALLS = {"n": 0, "interrupt_at": None}


def make_mlp(width):
    """Input 8 → width → width → 1, ReLU."""
    return nn.Sequential(
        nn.Linear(8, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 1)
    )


def regression_data():
    g = torch.Generator().manual_seed(123)
    x = torch.randn(256, 8, generator=g)
    y = torch.sin(x[:, :1] * 2) + 0.5 * x[:, 1:2]
    return {"x": x[:192], "y": y[:192], "xv": x[192:], "yv": y[192:]}


def train_mlp(model, optimizers, data, steps):
    """Full-batch MSE; returns held-out MSE. Counts its calls; raises KeyboardInterrupt at call
    CALLS['interrupt_at'] (simulating Ctrl-C in the middle of a sweep)."""
    CALLS["n"] += 1
    if CALLS["interrupt_at"] is not None and CALLS["n"] == CALLS["interrupt_at"]:
        raise KeyboardInterrupt
    for _ in range(steps):
        loss = ((model(data["x"]) - data["y"]) ** 2).mean()
        if not torch.isfinite(loss):
            return float("nan")
        for o in optimizers:
            o.zero_grad()
        loss.backward()
        for o in optimizers:
            o.step()
    with torch.no_grad():
        return float(((model(data["xv"]) - data["yv"]) ** 2).mean())


def hidden_product_loss(model, optimizers, data, steps):
    """No training: loss = 1 + (log2(η_l·λ_l) − c_seed)² of the hidden layer's group, so the base-width
    λ-optimum sits where η_l·λ_l = 2^c: under μP/Adam η_l ∝ 1/m, hence the optimum drifts by
    +1 (constant: λ_l fixed), +1/2 (fan2025: λ_l ∝ √m) and 0 (timescale: λ_l ∝ m) per doubling."""
    CALLS["n"] += 1
    g = next(g for o in optimizers for g in o.param_groups if g["layer"] == "hidden")
    c = -11.0 + 0.25 * float(torch.rand(()).item() > 0.5)  # seed-dependent optimum (via torch's RNG)
    return 1.0 + (math.log2(g["lr"] * g["weight_decay"]) - c) ** 2


def sometimes_diverges(model, optimizers, data, steps):
    CALLS["n"] += 1
    lr = optimizers[0].param_groups[0]["lr"]
    return float("inf") if lr > 0.05 else 1.0 + lr


def failing_trainer(model, optimizers, data, steps):
    CALLS["n"] += 1
    raise RuntimeError("trainer bug")


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.update(n=0, interrupt_at=None)
    yield


SMALL = {
    "widths": [16, 32],
    "base_width": 16,
    "lrs": [1e-3, 1e-2],
    "wds": [1e-2, 1e-1],
    "seeds": [0],
    "rules": ["constant"],
}


def _run(tmp_path, train=train_mlp, **kw):
    args = dict(SMALL, data=regression_data(), steps=5, progress=False, plots=False, checkpoints=False)
    args.update(kw)
    return transfer_check(make_mlp, train, out_dir=tmp_path, **args)


def test_every_cell_is_stored_with_its_config_and_provenance(tmp_path):
    _run(tmp_path)
    recs = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")]
    assert len(recs) == 2 * 2 * 2 == CALLS["n"]
    for r in recs:
        assert r["key"] == run_key(r["config"])
        assert r["status"] == "ok" and math.isfinite(r["loss"])
        assert r["config"]["make_model"] == "test_transfer_check:make_mlp"
        assert r["provenance"]["device"] == "cpu" and r["provenance"]["versions"]["torch"]
        assert r["provenance"]["created"] and r["hidden"]["lr"]
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_run_uses_the_bridges_groups(tmp_path):
    _run(tmp_path, checkpoints=True)
    r = next(
        json.loads(p.read_text())
        for p in (tmp_path / "runs").glob("*.json")
        if json.loads(p.read_text())["config"]["width"] == 32
    )
    # μP/Adam: hidden lr ∝ 1/m (m = 2), decay constant under the "constant" rule
    assert r["hidden"]["lr"] == [pytest.approx(r["config"]["lr"] / 2, rel=1e-12)]
    assert r["hidden"]["wd"] == [pytest.approx(r["config"]["wd"], rel=1e-12)]
    settings = json.loads((tmp_path / "ckpt" / f"{r['key']}.mupsim.json").read_text())
    assert settings["width"] == 32 and settings["params"]["2.weight"]["layer"] == "hidden"


def test_interrupted_check_resumes_without_recomputing(tmp_path):
    CALLS["interrupt_at"] = 4
    with pytest.raises(TransferInterrupted) as e:
        _run(tmp_path)
    assert e.value.done == 3 and e.value.total == 8
    assert len(list((tmp_path / "runs").glob("*.json"))) == 3
    CALLS.update(n=0, interrupt_at=None)
    _run(tmp_path)
    assert CALLS["n"] == 8 - 3
    CALLS["n"] = 0
    _run(tmp_path)
    assert CALLS["n"] == 0


def test_stored_run_is_reused_only_when_its_config_matches(tmp_path):
    _run(tmp_path)
    CALLS["n"] = 0
    _run(tmp_path, steps=6)
    assert CALLS["n"] == 8
    CALLS["n"] = 0
    _run(tmp_path, tag="model v2")
    assert CALLS["n"] == 8


def test_checkpoints_requested_later_rerun_the_runs_without_them(tmp_path):
    _run(tmp_path)
    CALLS["n"] = 0
    _run(tmp_path, checkpoints=True)
    assert CALLS["n"] == 8
    assert len(list((tmp_path / "ckpt").glob("*.safetensors"))) == 8


def test_diverged_runs_are_recorded_as_inf_and_the_sweep_goes_on(tmp_path):
    rep = _run(tmp_path, train=sometimes_diverges, lrs=[1e-2, 1e-1])
    recs = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")]
    assert sorted(r["status"] for r in recs) == ["diverged"] * 4 + ["ok"] * 4
    r = rep.rules[0]
    assert r.n_diverged == 4 and r.tuned["lr"] == 1e-2
    CALLS["n"] = 0
    _run(tmp_path, train=sometimes_diverges, lrs=[1e-2, 1e-1])
    assert CALLS["n"] == 0  # diverged runs are finished runs: not rerun


def test_failing_runs_are_recorded_as_errors_and_rerun_on_resume(tmp_path):
    rep = _run(tmp_path, train=failing_trainer)
    recs = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")]
    assert len(recs) == 8 and all(r["status"] == "error" and "trainer bug" in r["error"] for r in recs)
    assert rep.rules[0].n_stored == 0 and rep.rules[0].tuned is None
    CALLS["n"] = 0
    _run(tmp_path, train=failing_trainer)
    assert CALLS["n"] == 8


def test_report_recovers_the_known_drift_of_each_rule(tmp_path):
    wds = list(2.0 ** np.arange(-6, 1))
    rep = _run(
        tmp_path,
        train=hidden_product_loss,
        widths=[16, 32, 64],
        lrs=[2.0**-7],
        wds=wds,
        seeds=[0, 1, 2],
        rules=["constant", "fan2025", "timescale"],
    )
    # at the base width log2(2^-7·λ) = c ∈ {-11, -10.75}: λ* ∈ {2^-4, 2^-3.75}; at n = 64 (m = 4) under
    # "constant" λ* = 2^-2, inside the grid 2^-6..2^0
    drift = {r.rule: r.lambda_drift for r in rep.rules}
    for rule, want in (("constant", 1.0), ("fan2025", 0.5), ("timescale", 0.0)):
        d = drift[rule]
        assert d["n_used"] == 3 and d["per_doubling"] == pytest.approx(want, abs=0.05), rule
        assert d["ci"][0] <= d["per_doubling"] <= d["ci"][1]


def test_alignment_at_the_measured_alpha_runs_after_the_other_rule(tmp_path):
    rep = _run(
        tmp_path,
        rules=["timescale", "alignment"],
        alignment_exponent="measured",
        checkpoints=True,
        lrs=[1e-2],
        wds=[0.1],
        widths=[16, 32, 64],
    )
    meta = json.loads((tmp_path / "transfer.json").read_text())
    a = meta["alignment_exponent"]
    assert a["measured_on"] == "timescale" and 0.5 <= a["alignment_exponent"] <= 1
    assert a["alignment_exponent"] == min(1.0, max(0.5, round(a["alpha"] * 20) / 20))
    al = rep.rules[1]
    assert al.rule == "alignment" and al.alignment_exponent == a["alignment_exponent"] and al.n_stored == 3
    assert CALLS["n"] == 6


def test_report_is_written_with_heatmaps(tmp_path):
    _run(tmp_path, plots=True, rules=["constant", "timescale"])
    doc = json.loads((tmp_path / "report.json").read_text())
    assert [r["rule"] for r in doc["rules"]] == ["constant", "timescale"]
    assert (tmp_path / "heatmap_constant.png").stat().st_size > 1000
    assert "constant" in (tmp_path / "report.txt").read_text()


def test_any_concurrent_futures_executor_runs_the_cells(tmp_path):
    with cf.ThreadPoolExecutor(2) as ex:
        _run(tmp_path, executor=ex)
    assert len(list((tmp_path / "runs").glob("*.json"))) == 8


def test_a_dask_client_executor_runs_the_cells(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.Client(
        processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0"
    ) as client:
        rep = _run(tmp_path, executor=client.get_executor())
    assert rep.rules[0].n_stored == 8


def test_local_worker_processes_run_entry_points(tmp_path):
    rep = transfer_check(
        "test_transfer_check:make_mlp",
        "test_transfer_check:train_mlp",
        [16, 32],
        16,
        [1e-2],
        [1e-2],
        [0],
        ["timescale"],
        tmp_path,
        data="test_transfer_check:regression_data",
        steps=3,
        workers=1,
        progress=False,
        plots=False,
    )
    assert rep.rules[0].n_stored == 2


def test_bad_input_is_a_mupsim_error(tmp_path):
    with pytest.raises(MupsimError, match="base_width 8 must be one of the widths"):
        _run(tmp_path, base_width=8)
    with pytest.raises(MupsimError, match="alignment_exponent"):
        _run(tmp_path, rules=["alignment"])
    with pytest.raises(MupsimError, match="unknown weight-decay rule"):
        _run(tmp_path, rules=["sqrt"])
    with pytest.raises(MupsimError, match="no stable name"):
        transfer_check(lambda w: make_mlp(w), train_mlp, [16, 32], 16, [1e-3], [1e-3], out_dir=tmp_path)


def test_cli_runs_a_user_model_and_prints_the_report(tmp_path, capsys):
    rc = main(
        [
            "transfer-check",
            "--model",
            "test_transfer_check:make_mlp",
            "--train",
            "test_transfer_check:train_mlp",
            "--data",
            "test_transfer_check:regression_data",
            "--widths",
            "16,32",
            "--lr-grid",
            "1e-3,1e-2",
            "--wd-grid",
            "0.1",
            "--rules",
            "constant,timescale",
            "--steps",
            "3",
            "--no-plots",
            "--quiet",
            "--out",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0 and "timescale" in out and "drift" in out
    assert CALLS["n"] == 2 * 2 * 2


def test_cli_ctrl_c_exits_130_with_one_line_and_resumes(tmp_path, capsys):
    argv = [
        "transfer-check",
        "--model",
        "test_transfer_check:make_mlp",
        "--train",
        "test_transfer_check:train_mlp",
        "--data",
        "test_transfer_check:regression_data",
        "--widths",
        "16,32",
        "--lr-grid",
        "1e-3,1e-2",
        "--wd-grid",
        "0.1",
        "--steps",
        "3",
        "--rules",
        "constant",
        "--quiet",
        "--no-plots",
        "--out",
        str(tmp_path),
    ]
    CALLS["interrupt_at"] = 3
    assert main(argv) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"mupsim: interrupted: 2 of 4 runs stored in {tmp_path}; rerun to resume"]
    CALLS.update(n=0, interrupt_at=None)
    assert main(argv) == 0
    assert CALLS["n"] == 2


def test_cli_bad_entry_point_is_one_line(tmp_path, capsys):
    rc = main(
        [
            "transfer-check",
            "--model",
            "no_such_module_xyz:f",
            "--widths",
            "16,32",
            "--lr-grid",
            "1e-3",
            "--wd-grid",
            "0.1",
            "--out",
            str(tmp_path),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "cannot import module 'no_such_module_xyz'" in err[0]


def test_tiny_llama_transfer_check_with_diagnose(tmp_path):
    pytest.importorskip("transformers")
    from mupsim.lm.corpus import load_corpus
    from mupsim.lm.llama import OVERRIDES, LlamaLM

    data = load_corpus("byte", max_files=20, held_out=0.3, context=32, batch_size=4, n_eval=8)
    rep = transfer_check(
        LlamaLM(depth=1, context=32),
        "mupsim.lm.trainer:train",
        [16, 32],
        16,
        [3e-3, 1e-2],
        [0.1, 0.3],
        [0],
        ["timescale"],
        tmp_path,
        data=data,
        steps=4,
        overrides=OVERRIDES,
        progress=False,
        plots=False,
    )
    r = rep.rules[0]
    assert r.n_stored == 8 and r.n_diverged == 0
    assert 0 < r.tuned["loss"] < 2 * math.log(256)  # a finite byte-level cross-entropy
    assert r.diagnose is not None and r.diagnose["alpha"] is not None
    # at the base width every hidden matrix has the tuned lr and wd: steps·2·η·λ relaxation times
    assert r.relaxation[0] == [pytest.approx(2 * 4 * r.tuned["lr"] * r.tuned["wd"], rel=1e-12)] * 2
    cfg = json.loads(next((tmp_path / "runs").glob("*.json")).read_text())["config"]
    assert cfg["make_model"] == "mupsim.lm.llama:LlamaLM(context=32, depth=1)"
    assert cfg["data"]["fingerprint"]["tokenizer"] == "byte"

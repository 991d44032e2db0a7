"""Result: save/load round trip, atomic writes, accessors, provenance."""

import errno
import json
import os
import re

import numpy as np
import pytest

import mupsim.sim.result as result_mod
from mupsim.errors import MupsimError
from mupsim.sim.config import SimConfig
from mupsim.sim.result import Result, provenance


def make_result(seed=0, T=7, status="ok"):
    rng = np.random.default_rng(seed)
    names = ["embedding", "block0.W1", "block0.W2", "readout"]
    test = rng.random(T)
    test[-1] = np.nan
    return Result(
        config=SimConfig(seed=seed).to_dict(),
        provenance=provenance(
            SimConfig(seed=seed), settings={"layers": {"hidden": {"lr": 1e-3}}}, wall_time_s=0.5
        ),
        status=status,
        diverged_step=5 if status == "diverged" else None,
        steps=np.array([0, 1, 2, 4, 8, 16, 32][:T]),
        train_loss=rng.random(T),
        test_loss=test,
        matrix_names=names,
        matrix={m: rng.standard_normal((4, T)) for m in result_mod.MATRIX_METRICS},
        activation_names=["h0", "h1"],
        activation_rms=rng.random((2, T)),
        spectra={n: np.sort(rng.random(5))[::-1] for n in names},
    )


def test_save_load_round_trip_is_identical(tmp_path):
    r = make_result()
    r.save(tmp_path / "a")
    r2 = Result.load(tmp_path / "a")
    assert r2 == r
    assert r2.config == r.config and r2.provenance == r.provenance
    for m in r.matrix:
        assert r2.matrix[m].tobytes() == r.matrix[m].tobytes()
    assert r2.steps.dtype == np.int64 and r2.train_loss.dtype == np.float64
    assert list(r2.spectra) == list(r.spectra)


def test_save_writes_npz_and_json_only(tmp_path):
    make_result().save(tmp_path / "a")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.npz"]


def test_load_accepts_stem_with_suffix(tmp_path):
    r = make_result()
    r.save(tmp_path / "a.npz")
    assert Result.load(tmp_path / "a.json") == r


def test_json_part_is_readable_metadata(tmp_path):
    make_result().save(tmp_path / "a")
    meta = json.loads((tmp_path / "a.json").read_text())
    assert meta["status"] == "ok" and meta["config"]["seed"] == 0
    assert meta["matrix_names"][1] == "block0.W1"


def test_npz_contains_no_pickles(tmp_path):
    make_result().save(tmp_path / "a")
    with np.load(tmp_path / "a.npz", allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)


def test_equality_detects_a_single_changed_bit():
    r1, r2 = make_result(), make_result()
    assert r1 == r2
    r2.matrix["gain"][0, 0] = np.nextafter(r2.matrix["gain"][0, 0], np.inf)
    assert r1 != r2


def test_save_is_atomic_when_interrupted(tmp_path, monkeypatch):
    old = make_result(seed=1)
    old.save(tmp_path / "a")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 partial garbage")
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(result_mod.np, "savez", broken_savez)
    with pytest.raises(KeyboardInterrupt):
        make_result(seed=2).save(tmp_path / "a")
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temp files left
    assert Result.load(tmp_path / "a") == old


def _disk_full_on_json(monkeypatch):
    """Make Result.save's temp write of the .json fail with ENOSPC (the .npz is written)."""
    real = result_mod._write_temp

    def full_on_json(path, writer):
        if path.suffix == ".json":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, writer)

    monkeypatch.setattr(result_mod, "_write_temp", full_on_json)


def test_disk_full_while_writing_keeps_the_earlier_result_and_says_so(tmp_path, monkeypatch):
    old = make_result(seed=1)
    old.save(tmp_path / "a")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    _disk_full_on_json(monkeypatch)
    with pytest.raises(MupsimError, match="No space left on device; nothing was saved"):
        make_result(seed=2).save(tmp_path / "a")
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temp files left
    assert Result.load(tmp_path / "a") == old


def test_disk_full_on_a_new_stem_leaves_no_npz_without_json(tmp_path, monkeypatch):
    _disk_full_on_json(monkeypatch)
    with pytest.raises(MupsimError):
        make_result().save(tmp_path / "a")
    assert list(tmp_path.iterdir()) == []


def test_failure_between_the_two_renames_removes_the_half_replaced_pair(tmp_path, monkeypatch):
    make_result(seed=1).save(tmp_path / "a")
    real = os.replace

    def fail_on_json(src, dst):
        if str(dst).endswith(".json"):
            raise OSError(errno.EIO, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(result_mod.os, "replace", fail_on_json)
    with pytest.raises(MupsimError, match="Input/output error"):
        make_result(seed=2).save(tmp_path / "a")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_unserialisable_provenance_fails_before_touching_disk(tmp_path):
    r = make_result()
    r.provenance["bad"] = object()
    with pytest.raises(TypeError):
        r.save(tmp_path / "a")
    assert list(tmp_path.iterdir()) == []


def test_load_missing_result_raises_mupsim_error(tmp_path):
    with pytest.raises(MupsimError, match="no saved result"):
        Result.load(tmp_path / "nothing")


def test_load_corrupt_npz_raises_mupsim_error(tmp_path):
    make_result().save(tmp_path / "a")
    (tmp_path / "a.npz").write_bytes(b"not a zip")
    with pytest.raises(MupsimError, match="corrupt result"):
        Result.load(tmp_path / "a")


def test_save_creates_parent_folders(tmp_path):
    make_result().save(tmp_path / "x" / "y" / "a")
    assert Result.exists(tmp_path / "x" / "y" / "a")


def test_error_result_round_trips(tmp_path):
    r = Result.error(SimConfig().to_dict(), "ValueError: boom")
    r.save(tmp_path / "e")
    r2 = Result.load(tmp_path / "e")
    assert r2 == r and r2.status == "error" and r2.provenance["error"] == "ValueError: boom"


def test_unknown_status_is_rejected():
    with pytest.raises(MupsimError, match="unknown result status 'weird'"):
        make_result(status="weird")


def test_final_returns_last_logged_values():
    r = make_result()
    assert r.final("train_loss") == r.train_loss[-1]
    assert np.isnan(r.final("test_loss"))
    assert r.final("gain", "block0.W1") == r.matrix["gain"][1, -1]
    assert r.final("rms") == {n: r.matrix["rms"][i, -1] for i, n in enumerate(r.matrix_names)}
    assert r.final("activation_rms", "h1") == r.activation_rms[1, -1]


def test_final_unknown_metric_lists_allowed():
    with pytest.raises(MupsimError, match="unknown metric 'gian'; allowed: train_loss"):
        make_result().final("gian")


def test_provenance_has_versions_time_and_seed():
    p = provenance(SimConfig(seed=7), wall_time_s=1.5)
    assert p["seed"] == 7 and p["wall_time_s"] == 1.5
    assert p["numpy_version"] == np.__version__ and p["python_version"]
    assert p["mupsim_version"] and p["numba_version"]
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", p["created"])
    assert p["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}", p["git_commit"])
    json.dumps(p)


def test_result_saved_before_rank_metrics_and_task_fields_still_loads(tmp_path):
    r = make_result()
    old_metrics = (
        "rms",
        "sigma_max",
        "gain",
        "update_rms",
        "rel_update",
        "angular_update",
        "cos_w_update",
        "eff_lr",
    )
    r.matrix = {m: r.matrix[m] for m in old_metrics}
    for f in ("inputs", "input_spectrum", "zipf_exponent", "teacher_width_exponent", "teacher_decay"):
        del r.config[f]
    r.save(tmp_path / "old")
    r2 = Result.load(tmp_path / "old")
    assert tuple(r2.matrix) == old_metrics
    assert r2.sim_config() == SimConfig(seed=0)

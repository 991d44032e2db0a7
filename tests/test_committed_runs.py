"""The committed runs (mupsim.experiments.archive): the run pool reads a current archived run
instead of running it, runs anything else, and the committed archive is current, complete for
the figures' long runs and holds nothing else."""

import threading

import pytest
from test_sweep import fake_runner

from mupsim.experiments import archive, make_figures
from mupsim.experiments.schedule import RunPool
from mupsim.sim.config import SimConfig
from mupsim.sim.result import Result
from mupsim.sim.sweep import _load_existing

INDEPENDENT = ("F2", "F3", "F3B", "F6", "F7", "F8", "F9", "F10B")
"""Figures whose configs need no other figure's measurement (the others' long runs depend on
measured inputs and are covered by the refresh command, not enumerable here)."""


def _ask(pool, cfgs):
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", pool.results(cfgs)))
    t.start()
    pool.serve(until=lambda: not t.is_alive())
    t.join(10)
    return out["r"]


def _archive_of(tmp_path, cfgs):
    src = tmp_path / "archive"
    _ask(RunPool(src, workers=0, runner=fake_runner), cfgs)
    return src


def test_an_archived_run_is_copied_into_the_store_not_run(tmp_path):
    cfgs = [SimConfig(width=16, seed=s) for s in (0, 1)]
    src = _archive_of(tmp_path, cfgs)
    pool = RunPool(tmp_path / "cache", workers=0, runner=fake_runner, archive=src)
    res, added = _ask(pool, cfgs)
    assert added == 0 and pool.computed == 0 and pool.archived == 2
    assert all(Result.exists(tmp_path / "cache" / c.key()) for c in cfgs)
    assert [r.config["seed"] for r in res] == [0, 1]


def test_a_run_missing_from_the_archive_is_run(tmp_path):
    src = _archive_of(tmp_path, [SimConfig(width=16, seed=0)])
    pool = RunPool(tmp_path / "cache", workers=0, runner=fake_runner, archive=src)
    _, added = _ask(pool, [SimConfig(width=16, seed=0), SimConfig(width=16, seed=5)])
    assert added == 1 and pool.archived == 1


def test_an_archived_file_holding_another_config_is_run_not_read(tmp_path):
    a, b = SimConfig(width=16, seed=0), SimConfig(width=16, seed=1)
    src = _archive_of(tmp_path, [b])
    for ext in (".json", ".npz"):  # b's result filed under a's key
        (src / f"{b.key()}{ext}").rename(src / f"{a.key()}{ext}")
    pool = RunPool(tmp_path / "cache", workers=0, runner=fake_runner, archive=src)
    (r,), added = _ask(pool, [a])
    assert added == 1 and pool.archived == 0 and r.config["seed"] == 0


def test_write_keeps_the_selected_runs_and_replaces_the_old_archive(tmp_path, monkeypatch):
    cfgs = [SimConfig(width=16, seed=0), SimConfig(width=64, steps=400, seed=0)]
    res, _ = _ask(RunPool(tmp_path / "cache", workers=0, runner=fake_runner), cfgs)
    dest = tmp_path / "runs"
    dest.mkdir()
    (dest / "stale.json").write_text("{}")
    short, long = sorted(cfgs, key=archive.estimate_seconds)
    cut = (archive.estimate_seconds(short) + archive.estimate_seconds(long)) / 2
    monkeypatch.setattr(archive, "MIN_SECONDS", cut)
    doc = archive.write({r.key: r for r in res}, dest, command="test")
    assert doc["keys"] == [long.key()] and doc["runs"] == 1
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        [archive.MANIFEST_NAME, f"{long.key()}.json", f"{long.key()}.npz"]
    )
    assert archive.manifest(dest)["keys"] == doc["keys"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".runs")]


def test_a_rewrite_keeps_an_unchanged_run_byte_for_byte_and_replaces_a_changed_one(tmp_path, monkeypatch):
    cfgs = [SimConfig(width=16, seed=0), SimConfig(width=16, seed=1)]
    res, _ = _ask(RunPool(tmp_path / "cache", workers=0, runner=fake_runner), cfgs)
    monkeypatch.setattr(archive, "MIN_SECONDS", 0.0)
    dest = tmp_path / "runs"
    archive.write({r.key: r for r in res}, dest, command="test")
    before = {p.name: p.read_bytes() for p in dest.iterdir() if p.name != archive.MANIFEST_NAME}
    same, changed = res
    changed.provenance = {**changed.provenance, "wall_time_s": 123.0}
    archive.write({r.key: r for r in res}, dest, command="test")
    after = {p.name: p.read_bytes() for p in dest.iterdir() if p.name != archive.MANIFEST_NAME}
    assert set(after) == set(before)
    for ext in (".json", ".npz"):
        assert after[f"{same.key}{ext}"] == before[f"{same.key}{ext}"]
        assert after[f"{changed.key}{ext}"] != before[f"{changed.key}{ext}"]
    assert Result.load(dest / changed.key).provenance["wall_time_s"] == 123.0


def test_archive_write_refuses_a_partial_make_figures(capsys):
    assert make_figures.main(["--archive", "write", "--only", "F3", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--archive write" in err[0]


# ---------------------------------------------------------------------------- the committed archive
@pytest.fixture(scope="module")
def committed():
    doc = archive.manifest()
    return doc, {k: Result.load(archive.ARCHIVE / k) for k in doc["keys"]}


def test_the_manifest_lists_exactly_the_committed_files(committed):
    doc, _ = committed
    files = {p.name for p in archive.ARCHIVE.iterdir()} - {archive.MANIFEST_NAME}
    assert files == {f"{k}{ext}" for k in doc["keys"] for ext in (".json", ".npz")}
    assert doc["runs"] == len(doc["keys"]) and doc["min_seconds"] == archive.MIN_SECONDS


def test_every_committed_run_is_current(committed):
    _, runs = committed
    stale = [
        k
        for k, r in runs.items()
        if _load_existing(archive.ARCHIVE / k, SimConfig.from_dict(r.config)) is None
    ]
    assert not stale, f"{len(stale)} committed runs are stale: run `make archive-runs`"


def test_every_committed_run_meets_the_rule(committed):
    _, runs = committed
    assert all(archive.selected(SimConfig.from_dict(r.config)) for r in runs.values())


def test_every_long_run_of_the_independent_figures_is_committed(committed):
    from mupsim.experiments.figures import FIGURES

    doc, _ = committed
    want = {c.key() for f in INDEPENDENT for c in FIGURES[f].configs(False) if archive.selected(c)}
    missing = want - set(doc["keys"])
    assert not missing, f"{len(missing)} long runs are not committed: run `make archive-runs`"


def test_the_manifest_carries_its_provenance(committed):
    doc, runs = committed
    for field in ("git_commit", "created", "machine", "command", "simulator_version"):
        assert doc[field], field
    # the manifest rounds the summed run time to 0.1 s
    assert doc["run_seconds"] == pytest.approx(
        sum(r.provenance["wall_time_s"] for r in runs.values()), abs=0.05
    )

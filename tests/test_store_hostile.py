"""Hostile inputs to the result store, the sweep's folder and every file writer/reader.

Each case states its exact outcome: a one-line MupsimError naming the path and what is allowed,
a stored result re-run (counted), or a stored result reused. Nothing hangs (FIFOs are opened
non-blocking), nothing that is not a regular file is ever replaced, and no edited result is
trusted."""

import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from test_sweep import fake_runner

import mupsim.sim.sweep as sw
from mupsim.cli import main
from mupsim.errors import MupsimError
from mupsim.sim.claims import Claims, claim_path
from mupsim.sim.config import SimConfig
from mupsim.sim.result import HASH_FIELD, Result, _atomic_write, content_hash
from mupsim.sim.sweep import sweep, table, write_table

REPO = Path(__file__).resolve().parents[1]
CFG = SimConfig(seed=0, width=8, steps=10)


def counting(calls):
    def run(c):
        calls.append(c.key())
        return fake_runner(c)

    return run


def stored(tmp_path, config=CFG):
    """A result of ``config`` stored in ``tmp_path``; returns its stem."""
    sweep([config], tmp_path, workers=0, progress=False, runner=fake_runner)
    return tmp_path / config.key()


def edit_json(stem, change, rehash=False):
    """Apply ``change(meta)`` to the stored .json (valid JSON); with ``rehash`` the content
    hash is recomputed, as a deliberate forgery would, so only structural checks can refuse it."""
    p = stem.with_name(stem.name + ".json")
    meta = json.loads(p.read_text())
    new = change(meta)
    meta = meta if new is None else new
    if rehash and isinstance(meta, dict):
        with np.load(stem.with_name(stem.name + ".npz")) as z:
            meta[HASH_FIELD] = content_hash(meta, {k: z[k] for k in z.files})
    p.write_text(json.dumps(meta))


def rewrite_npz(stem, change):
    """Rewrite the stored .npz (a valid zip, CRCs right) with ``change(arrays)`` applied."""
    p = stem.with_name(stem.name + ".npz")
    with np.load(p) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    np.savez(p, **arrays)


def _set(field, value):
    def change(meta):
        meta[field] = value

    return change


def _drop(field):
    return lambda meta: meta.pop(field)


# ------------------------------------------------------------------ corrupt or edited results
# (change to the .json, also refused when the hash is recomputed to match)
STRUCTURAL = {
    "matrix_names is 5": _set("matrix_names", 5),
    "config is a list": _set("config", [1, 2]),
    "spectra_keys is 7": _set("spectra_keys", 7),
    "matrix_keys is 7": _set("matrix_keys", 7),
    "matrix_keys holds numbers": _set("matrix_keys", [1, 2]),
    "matrix_keys repeats a name": lambda m: m.update(matrix_keys=["rms", "rms"]),
    "matrix_keys names a missing array": lambda m: m["matrix_keys"].append("extra"),
    "matrix_names too short": lambda m: m.update(matrix_names=m["matrix_names"][:1]),
    "matrix_names too long": lambda m: m["matrix_names"].append("extra"),
    "activation_names is null": _set("activation_names", None),
    "activation_names too long": lambda m: m["activation_names"].append("x"),
    "status unknown": _set("status", "weird"),
    "status a number": _set("status", 5),
    "status null": _set("status", None),
    "diverged_step a string": _set("diverged_step", "x"),
    "diverged_step a bool": _set("diverged_step", True),
    "diverged_step a list": _set("diverged_step", [3]),
    "provenance a string": _set("provenance", "x"),
    "save_id a number": _set("save_id", 5),
    "save_id another save's": _set("save_id", "0" * 32),
    "config missing": _drop("config"),
    "status missing": _drop("status"),
    "spectra_keys missing": _drop("spectra_keys"),
    "whole file a list": lambda m: [m],
    "whole file null": lambda m: 0,
    "format_version 1": _set("format_version", 1),
    "format_version a string": _set("format_version", "2"),
}
# valid-looking edits only the content hash can detect
EDITS = {
    "status ok -> diverged": _set("status", "diverged"),
    "matrix_keys swapped": lambda m: m.update(matrix_keys=m["matrix_keys"][::-1]),
    "matrix_names swapped": lambda m: m.update(matrix_names=m["matrix_names"][::-1]),
    "config seed edited": lambda m: m["config"].update(lr=m["config"]["lr"] * 2),
    "provenance edited": lambda m: m["provenance"].update(seed=99),
    "diverged_step set": _set("diverged_step", 3),
    "extra entry added": _set("note", "hello"),
    "hash removed": _drop(HASH_FIELD),
    "hash a number": _set(HASH_FIELD, 5),
    "hash zeros": _set(HASH_FIELD, "0" * 64),
}
NPZ_EDITS = {
    "one value changed": lambda a: a["train_loss"].__setitem__(0, 1.5),
    "one bit changed": lambda a: a.update(matrix_0=np.nextafter(a["matrix_0"], np.inf)),
    "matrix arrays swapped": lambda a: a.update(matrix_0=a["matrix_1"], matrix_1=a["matrix_0"]),
    "steps dropped": lambda a: a.pop("steps"),
    "save_id dropped": lambda a: a.pop("save_id"),
    "save_id changed": lambda a: a.update(save_id=np.zeros(32, np.uint8)),
    "matrix wrong shape": lambda a: a.update(matrix_0=a["matrix_0"][:, :2]),
    "steps as float": lambda a: a.update(steps=a["steps"].astype(float)),
    "losses as text": lambda a: a.update(train_loss=np.array(["a"] * a["train_loss"].size)),
    "array added": lambda a: a.update(extra=np.ones(3)),
}
RAW = {
    "json truncated": (".json", lambda b: b[: len(b) // 2]),
    "json empty": (".json", lambda b: b""),
    "json not UTF-8": (".json", lambda b: b"\xff\xfe" + b),
    "npz truncated": (".npz", lambda b: b[: len(b) // 2]),
    "npz empty": (".npz", lambda b: b""),
    "npz garbage": (".npz", lambda b: b"PK\x03\x04garbage"),
    "npz holds the json": (".npz", None),
}


def _raw(stem, case):
    ext, change = RAW[case]
    p = stem.with_name(stem.name + ext)
    if change is None:
        p.write_bytes(stem.with_name(stem.name + ".json").read_bytes())
    else:
        p.write_bytes(change(p.read_bytes()))


def _assert_reruns(tmp_path, stem):
    """Result.load refuses the stored files with one line; a sweep runs the config again and
    stores a result that loads."""
    with pytest.raises(MupsimError, match=r"^(corrupt result at|no saved result)") as e:
        Result.load(stem)
    assert "\n" not in str(e.value) and str(stem) in str(e.value)
    calls = []
    res = sweep([CFG], tmp_path, workers=0, progress=False, runner=counting(calls))
    assert calls == [CFG.key()] and res[0].status == "ok"
    assert Result.load(stem) == res[0]


@pytest.mark.parametrize("rehash", [False, True], ids=["as-edited", "hash-recomputed"])
@pytest.mark.parametrize("case", sorted(STRUCTURAL))
def test_structurally_wrong_result_json_is_rerun(tmp_path, case, rehash):
    stem = stored(tmp_path)
    edit_json(stem, STRUCTURAL[case], rehash=rehash)
    _assert_reruns(tmp_path, stem)


@pytest.mark.parametrize("case", sorted(EDITS))
def test_edited_result_json_is_detected_and_rerun(tmp_path, case):
    stem = stored(tmp_path)
    edit_json(stem, EDITS[case])
    _assert_reruns(tmp_path, stem)


@pytest.mark.parametrize("case", sorted(NPZ_EDITS))
def test_rewritten_npz_with_valid_zip_is_detected_and_rerun(tmp_path, case):
    stem = stored(tmp_path)
    rewrite_npz(stem, NPZ_EDITS[case])
    _assert_reruns(tmp_path, stem)


@pytest.mark.parametrize("case", sorted(RAW))
def test_damaged_result_file_is_rerun(tmp_path, case):
    stem = stored(tmp_path)
    _raw(stem, case)
    _assert_reruns(tmp_path, stem)


def test_intact_result_is_reused_not_rerun(tmp_path):
    stem = stored(tmp_path)
    before = Result.load(stem)
    calls = []
    res = sweep([CFG], tmp_path, workers=0, progress=False, runner=counting(calls))
    assert calls == [] and res[0] == before


def test_result_without_content_hash_is_outdated_and_rerun(tmp_path):
    stem = stored(tmp_path)

    def older_format(meta):
        del meta[HASH_FIELD]
        meta["format_version"] = 1

    edit_json(stem, older_format)
    with pytest.raises(MupsimError, match="outdated, run it again"):
        Result.load(stem)
    _assert_reruns(tmp_path, stem)


def test_content_hash_covers_every_array_and_the_json():
    meta = {"a": 1, HASH_FIELD: "ignored"}
    arrays = {"x": np.arange(3.0), "y": np.zeros(2, np.int64)}
    h = content_hash(meta, arrays)
    assert h == content_hash({"a": 1}, arrays)  # the hash field itself is excluded
    assert h != content_hash({"a": 2}, arrays)
    assert h != content_hash(meta, {**arrays, "x": np.arange(3.0).astype(np.float32)})
    assert h != content_hash(meta, {**arrays, "x": np.arange(3.0).reshape(3, 1)})
    assert h != content_hash(meta, {"x": arrays["y"], "y": arrays["x"]})
    assert len(h) == len(hashlib.sha256().hexdigest())


def test_load_results_skips_edited_results(tmp_path):
    cs = [SimConfig(seed=s, width=8, steps=10) for s in range(2)]
    sweep(cs, tmp_path, workers=0, progress=False, runner=fake_runner)
    edit_json(tmp_path / cs[0].key(), _set("status", "diverged"))
    assert [r.config["seed"] for r in sw.load_results(tmp_path)] == [1]
    assert sw.load_results(tmp_path, cs)[0] is None


# ------------------------------------------------------------------ odd things at file paths
def _make(kind, p: Path, tmp_path):
    """Put ``kind`` at path ``p``."""
    if kind == "folder":
        p.mkdir()
    elif kind == "fifo":
        os.mkfifo(p)
    elif kind == "symlink to fifo":
        os.mkfifo(tmp_path / "target.fifo")
        p.symlink_to(tmp_path / "target.fifo")
    elif kind == "symlink to folder":
        (tmp_path / "target.dir").mkdir()
        p.symlink_to(tmp_path / "target.dir")
    elif kind == "symlink to device":  # never opened or written: only its type is read
        p.symlink_to("/dev/null")
    elif kind == "socket":
        import socket

        s = socket.socket(socket.AF_UNIX)
        try:
            s.bind(str(p))
        except OSError as e:  # e.g. path too long for AF_UNIX
            pytest.skip(f"cannot bind a socket here: {e}")
        s.close()
    else:
        raise AssertionError(kind)


KINDS = ["folder", "fifo", "symlink to fifo", "symlink to folder", "symlink to device", "socket"]


def _unchanged(kind, p: Path):
    st = os.stat(p)  # follows symlinks
    expect = {
        "folder": stat.S_ISDIR,
        "fifo": stat.S_ISFIFO,
        "symlink to fifo": stat.S_ISFIFO,
        "symlink to folder": stat.S_ISDIR,
        "symlink to device": stat.S_ISCHR,
        "socket": stat.S_ISSOCK,
    }[kind]
    assert expect(st.st_mode)
    if kind.startswith("symlink"):
        assert p.is_symlink()


@pytest.mark.parametrize("kind", KINDS)
def test_atomic_writer_never_replaces_what_is_not_a_regular_file(tmp_path, kind):
    p = tmp_path / "out.png"
    _make(kind, p, tmp_path)
    with pytest.raises(
        MupsimError,
        match=r"out\.png.* is a .*; allowed: a new file or an "
        r"existing regular file to replace",
    ):
        _atomic_write(p, lambda f: f.write(b"data"))
    _unchanged(kind, p)
    assert not [q for q in tmp_path.iterdir() if q.name.endswith(".tmp")]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("ext", [".npz", ".json"])
def test_result_save_never_replaces_what_is_not_a_regular_file(tmp_path, kind, ext):
    p = tmp_path / f"r{ext}"
    _make(kind, p, tmp_path)
    with pytest.raises(MupsimError, match=rf"result file .*r\{ext}.* is a "):
        fake_runner(CFG).save(tmp_path / "r")
    _unchanged(kind, p)
    other = tmp_path / ("r.json" if ext == ".npz" else "r.npz")
    assert not other.exists()


@pytest.mark.parametrize("kind", KINDS)
def test_table_never_replaces_what_is_not_a_regular_file(tmp_path, kind):
    p = tmp_path / "table.csv"
    _make(kind, p, tmp_path)
    with pytest.raises(MupsimError, match=r"table .*table\.csv.* is a "):
        write_table([{"a": 1}], p)
    _unchanged(kind, p)


@pytest.mark.parametrize("kind", ["fifo", "folder", "symlink to fifo"])
def test_figure_never_replaces_what_is_not_a_regular_file(tmp_path, kind):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mupsim.torch._figures import save_figure

    p = tmp_path / "plot.png"
    _make(kind, p, tmp_path)
    with pytest.raises(MupsimError, match=r"plot\.png.* is a "):
        save_figure(plt.figure(), p)
    _unchanged(kind, p)


def test_writer_follows_a_symlink_to_a_regular_file(tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("old")
    (tmp_path / "link.csv").symlink_to(target)
    write_table([{"a": 1}], tmp_path / "link.csv")
    assert (tmp_path / "link.csv").is_symlink() and target.read_text() == "a\n1\n"


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_new_files_get_the_umask_mode_not_0600(tmp_path, umask):
    old = os.umask(umask)
    try:
        write_table([{"a": 1}], tmp_path / "t.csv")
        fake_runner(CFG).save(tmp_path / "r")
    finally:
        os.umask(old)
    for name in ("t.csv", "r.npz", "r.json"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o666 & ~umask


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664])
def test_a_replaced_file_keeps_its_mode(tmp_path, mode):
    p = tmp_path / "t.csv"
    p.write_text("old")
    p.chmod(mode)
    write_table([{"a": 1}], p)
    assert stat.S_IMODE(p.stat().st_mode) == mode and p.read_text() == "a\n1\n"


# ------------------------------------------------------------------ readers
def _cli(*args, timeout=120):
    """``python -m mupsim ARGS`` in a fresh process (a hang fails the test, not the suite)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "mupsim", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    "argv",
    [["simulate", "--config", "{p}"], ["sweep", "{p}", "--out", "{d}"]],
    ids=["simulate --config", "sweep spec"],
)
def test_cli_refuses_a_fifo_input_at_once(tmp_path, argv):
    p = tmp_path / "in.json"
    os.mkfifo(p)
    t0 = time.monotonic()
    r = _cli(*[a.format(p=p, d=tmp_path / "d") for a in argv])
    assert r.returncode == 2 and r.stdout == ""
    what = "config file" if argv[0] == "simulate" else "sweep spec"
    assert r.stderr.splitlines() == [
        f"mupsim: error: cannot read {what} {p}: it is a FIFO (named pipe); allowed: a regular file"
    ]
    assert time.monotonic() - t0 < 100
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("kind", ["folder", "fifo", "symlink to fifo", "socket"])
@pytest.mark.parametrize("reader", ["config file", "sweep spec"])
def test_json_readers_refuse_what_is_not_a_regular_file(tmp_path, kind, reader):
    from mupsim.sim.files import read_json

    p = tmp_path / "in.json"
    _make(kind, p, tmp_path)
    with pytest.raises(
        MupsimError,
        match=rf"^cannot read {reader} .*in\.json: it is a .*; "
        r"allowed: a regular file$",
    ):
        read_json(p, reader)


@pytest.mark.parametrize("kind", ["fifo", "folder"])
@pytest.mark.parametrize("ext", [".npz", ".json"])
def test_result_load_refuses_a_non_regular_file_without_blocking(tmp_path, kind, ext):
    stem = stored(tmp_path)
    p = stem.with_name(stem.name + ext)
    p.unlink()
    _make(kind, p, tmp_path)
    with pytest.raises(MupsimError, match=r"^corrupt result at .*: it is a "):
        Result.load(stem)


# ------------------------------------------------------------------ the sweep's folder
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("ext", [".npz", ".json"])
def test_result_path_taken_by_a_non_file_is_reported_before_any_run(tmp_path, kind, ext):
    c2 = SimConfig(seed=1, width=8, steps=10)
    p = tmp_path / f"{c2.key()}{ext}"
    _make(kind, p, tmp_path)
    calls = []
    with pytest.raises(MupsimError, match=rf"result file .*{c2.key()}\{ext}.* is a .*; allowed"):
        sweep([CFG, c2], tmp_path, workers=0, progress=False, runner=counting(calls))
    assert calls == []
    _unchanged(kind, p)


@pytest.mark.parametrize("kind", ["folder", "fifo", "symlink to folder"])
def test_claim_path_taken_by_a_non_file_is_reported_before_any_run(tmp_path, kind):
    _make(kind, claim_path(tmp_path, CFG.key()), tmp_path)
    calls = []
    with pytest.raises(MupsimError, match=r"cannot use the claim file .*\.claim"):
        sweep([CFG], tmp_path, workers=0, progress=False, runner=counting(calls))
    assert calls == []


@pytest.mark.parametrize("kind", ["fifo", "symlink to fifo", "symlink to device", "socket"])
def test_result_folder_that_is_not_a_folder_is_refused_before_any_run(tmp_path, kind):
    out = tmp_path / "out"
    _make(kind, out, tmp_path)
    calls = []
    with pytest.raises(
        MupsimError,
        match=r"^result folder .*out exists and is a .*, not a "
        r"folder$",
    ):
        sweep([CFG], out, workers=0, progress=False, runner=counting(calls))
    assert calls == []
    _unchanged(kind, out)


@pytest.mark.parametrize("out", ["", "   "])
def test_cli_sweep_refuses_an_empty_out(tmp_path, monkeypatch, capsys, out):
    monkeypatch.chdir(tmp_path)
    calls = []
    monkeypatch.setattr(sw, "_default_runner", counting(calls))
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"base": {"width": 8, "steps": 10}}))
    assert main(["sweep", str(spec), "--out", out, "--workers", "0", "--no-progress"]) == 2
    assert capsys.readouterr().err == f"mupsim: error: --out needs a folder name; got {out!r}\n"
    assert calls == [] and sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]


@pytest.mark.parametrize("out", ["", "   "])
def test_api_sweep_refuses_an_empty_folder(tmp_path, monkeypatch, out):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MupsimError, match="the result folder must be a path"):
        sweep([CFG], out, workers=0, progress=False, runner=fake_runner)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_cli_sweep_table_taken_by_a_non_file_is_refused_before_any_run(tmp_path, monkeypatch, capsys, kind):
    calls = []
    monkeypatch.setattr(sw, "_default_runner", counting(calls))
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"base": {"width": 8, "steps": 10}}))
    (tmp_path / "d").mkdir()
    _make(kind, tmp_path / "d" / "table.csv", tmp_path)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "d"), "--workers", "0", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mupsim: error: table ") and "table.csv is a " in err
    assert len(err.splitlines()) == 1 and calls == []


# ------------------------------------------------------------------ duplicate grid entries
@pytest.mark.parametrize(
    "grid,n",
    [
        ({"seed": [0, 0, 1]}, 2),
        ({"seed": [1, 1, 1]}, 1),
        ({"lr": [0.0, -0.0]}, 1),
        ({"wd": [-0.0, 0.0, 0.1], "wd_rule": ["constant"]}, 2),
        ({"multipliers": [[0, 0, 1], [-0.0, 0.0, 1.0]]}, 1),
        ({"seed": [0, 1], "lr": [0.01, 0.01]}, 2),
    ],
)
def test_duplicate_grid_entries_run_store_and_tabulate_once(tmp_path, monkeypatch, capsys, grid, n):
    calls = []
    monkeypatch.setattr(sw, "_default_runner", counting(calls))
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"base": {"width": 8, "steps": 10}, "grid": grid}))
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "0", "--no-progress"]) == 0
    assert len(calls) == n == len(set(calls))
    assert len(list(out.glob("*.npz"))) == n and len(list(out.glob("*.json"))) == n
    rows = (out / "table.csv").read_text().splitlines()
    assert len(rows) == 1 + n
    assert f"{n} configs" in capsys.readouterr().out


def test_duplicate_zip_rows_run_once(tmp_path):
    cs = sw.expand_spec({"base": {"width": 8, "steps": 10}, "zip": {"seed": [0, 0], "lr": [0.01, 0.01]}})
    calls = []
    res = sweep(cs, tmp_path, workers=0, progress=False, runner=counting(calls))
    assert len(calls) == 1 and res[0] is res[1] and len(table(res)) == 1


@pytest.mark.parametrize(
    "a,b",
    [
        ({"lr": 0.0}, {"lr": -0.0}),
        ({"wd": 0.0}, {"wd": -0.0}),
        ({"multipliers": (0.0, 0.0, 1.0)}, {"multipliers": (-0.0, -0.0, 1.0)}),
    ],
)
def test_configs_that_compare_equal_share_a_key(a, b):
    ca, cb = SimConfig(**a), SimConfig(**b)
    assert ca == cb and ca.key() == cb.key()


def test_table_has_one_row_per_distinct_config_in_first_seen_order(tmp_path):
    cs = [SimConfig(seed=s, width=8, steps=10) for s in (2, 0, 2, 1, 0)]
    res = sweep(cs, tmp_path, workers=0, progress=False, runner=fake_runner)
    assert [row["seed"] for row in table(res)] == [2, 0, 1]


# ------------------------------------------------------------------ leftovers
@pytest.mark.parametrize("ext", ["npz", "json"])
def test_stale_temp_of_a_finished_key_is_removed_on_resume(tmp_path, ext):
    stem = stored(tmp_path)
    tmp = tmp_path / f".{stem.name}.{ext}.abc123.tmp"
    tmp.write_bytes(b"partial")
    calls = []
    sweep([CFG], tmp_path, workers=0, progress=False, runner=counting(calls))
    assert calls == [] and not tmp.exists()


def test_stale_claim_file_of_a_dead_sweep_is_removed_and_the_run_done(tmp_path):
    cp = claim_path(tmp_path, CFG.key())
    cp.write_text('{"pid": 999999, "host": "gone"}')  # no lock: its holder is dead
    calls = []
    sweep([CFG], tmp_path, workers=0, progress=False, runner=counting(calls))
    assert calls == [CFG.key()] and not cp.exists()


def test_stale_claim_file_of_a_finished_key_is_removed_on_resume(tmp_path):
    stored(tmp_path)
    cp = claim_path(tmp_path, CFG.key())
    cp.write_text("")
    calls = []
    sweep([CFG], tmp_path, workers=0, progress=False, runner=counting(calls))
    assert calls == [] and not cp.exists()


def test_temp_of_a_key_claimed_by_a_live_sweep_is_left_alone(tmp_path):
    stem = stored(tmp_path)
    tmp = tmp_path / f".{stem.name}.npz.live.tmp"
    tmp.write_bytes(b"being written")
    other = Claims(tmp_path)
    assert other.take(CFG.key())
    try:
        sweep([CFG], tmp_path, workers=0, progress=False, runner=fake_runner)
        assert tmp.exists()
    finally:
        other.release_all()


# ------------------------------------------------------------------ claims (one process)
C2 = SimConfig(seed=1, width=8, steps=10)


def _other_sweep_finishes(tmp_path, other: Claims, key_config, delay, store=True, status="ok"):
    def later():
        time.sleep(delay)
        if store:
            r = fake_runner(key_config)
            r.provenance["by"] = "other"
            if status == "error":
                r = Result.error(key_config.to_dict(), "RuntimeError: other", {"by": "other"})
            r.save(tmp_path / key_config.key())
        other.release(key_config.key())

    t = threading.Thread(target=later)
    t.start()
    return t


def test_run_claimed_by_another_sweep_is_waited_for_and_its_result_reused(tmp_path):
    other = Claims(tmp_path)
    assert other.take(C2.key())
    t = _other_sweep_finishes(tmp_path, other, C2, delay=1.0)
    calls = []
    res = sweep([CFG, C2], tmp_path, workers=0, progress=False, runner=counting(calls))
    t.join()
    assert calls == [CFG.key()]
    assert res[1].provenance["by"] == "other" and res[0].status == "ok"


def test_error_record_stored_by_the_claiming_sweep_is_taken_not_rerun(tmp_path):
    other = Claims(tmp_path)
    assert other.take(C2.key())
    t = _other_sweep_finishes(tmp_path, other, C2, delay=0.5, status="error")
    calls = []
    res = sweep([C2], tmp_path, workers=0, progress=False, runner=counting(calls))
    t.join()
    assert calls == [] and res[0].status == "error" and res[0].provenance["by"] == "other"


def test_run_claimed_by_a_sweep_that_stops_without_storing_is_run_here(tmp_path):
    other = Claims(tmp_path)
    assert other.take(C2.key())
    t = _other_sweep_finishes(tmp_path, other, C2, delay=0.5, store=False)
    calls = []
    res = sweep([C2], tmp_path, workers=0, progress=False, runner=counting(calls))
    t.join()
    assert calls == [C2.key()] and "by" not in res[0].provenance


def test_claims_are_exclusive_and_released(tmp_path):
    a, b = Claims(tmp_path), Claims(tmp_path)
    assert a.take("k") and not b.take("k")
    a.release("k")
    assert not claim_path(tmp_path, "k").exists()
    assert b.take("k")
    b.release_all()


def test_claim_taken_after_its_file_was_replaced_locks_the_new_file(tmp_path):
    a = Claims(tmp_path)
    assert a.take("k")
    a.release("k")  # file removed
    b, c = Claims(tmp_path), Claims(tmp_path)
    assert b.take("k") and not c.take("k")
    b.release_all()


def test_sweep_releases_its_claims_when_a_run_cannot_be_saved(tmp_path, monkeypatch):
    def broken_save(self, stem):
        raise MupsimError("cannot save")

    monkeypatch.setattr(Result, "save", broken_save)
    with pytest.raises(MupsimError, match="cannot save"):
        sweep([CFG], tmp_path, workers=0, progress=False, runner=fake_runner)
    assert not claim_path(tmp_path, CFG.key()).exists()
    assert Claims(tmp_path).take(CFG.key())


def test_folder_without_file_locks_still_sweeps(tmp_path, monkeypatch):
    import errno

    import mupsim.sim.claims as claims_mod

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(claims_mod.fcntl, "flock", no_locks)
    calls = []
    res = sweep([CFG, C2], tmp_path, workers=0, progress=False, runner=counting(calls))
    assert sorted(calls) == sorted([CFG.key(), C2.key()]) and [r.status for r in res] == ["ok"] * 2
    assert not claim_path(tmp_path, CFG.key()).exists()

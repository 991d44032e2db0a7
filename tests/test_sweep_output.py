"""The sweep's result folder: checked before anything is computed; a complete sweep whose
folder cannot take table.csv (read-only media) still succeeds, with a warning line."""

import errno
import json

import pytest
from test_sweep import fake_runner

from mupsim.cli import main
from mupsim.errors import MupsimError
from mupsim.sim.config import SimConfig
from mupsim.sim.sweep import sweep

calls = []


def counting_runner(c):
    calls.append(c)
    return fake_runner(c)


@pytest.fixture
def spec(tmp_path, monkeypatch):
    import mupsim.sim.sweep as sw

    calls.clear()
    monkeypatch.setattr(sw, "_default_runner", counting_runner)
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"name": "demo", "base": {"width": 8}, "grid": {"seed": [0, 1]}}))
    return p


@pytest.mark.parametrize("where", ["afile.txt/run", "/proc/mupsim-no-such/run"])
def test_sweep_out_that_cannot_be_a_folder_fails_before_any_run(tmp_path, spec, where, capsys):
    (tmp_path / "afile.txt").write_text("x")
    out = where if where.startswith("/") else str(tmp_path / where)
    assert main(["sweep", str(spec), "--out", out, "--workers", "0", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mupsim: error: cannot create result folder") and len(err.splitlines()) == 1
    assert calls == []


def test_sweep_into_unwritable_folder_fails_before_any_run(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(
        tempfile,
        "mkstemp",
        lambda *a, **k: (_ for _ in ()).throw(PermissionError(errno.EACCES, "Permission denied")),
    )
    calls.clear()
    with pytest.raises(MupsimError, match="cannot write results into"):
        sweep([SimConfig(width=8)], tmp_path, workers=0, progress=False, runner=counting_runner)
    assert calls == []


def test_complete_sweep_on_read_only_media_skips_table_with_a_warning(tmp_path, spec, monkeypatch, capsys):
    import mupsim.sim.sweep as sw

    out = str(tmp_path / "out")
    assert main(["sweep", str(spec), "--out", out, "--workers", "0", "--no-progress"]) == 0
    (tmp_path / "out" / "table.csv").unlink()

    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(sw, "write_table", read_only)
    monkeypatch.setattr(sw, "_check_writable", read_only)  # nothing pending: never asked
    capsys.readouterr()
    assert main(["sweep", str(spec), "--out", out, "--workers", "0", "--no-progress"]) == 0
    o = capsys.readouterr()
    assert "warning: cannot write" in o.err and "Read-only file system" in o.err
    assert "ok 2" in o.out and len(calls) == 2  # the first run only

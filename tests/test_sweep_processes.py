"""Processes of a sweep: pool workers end when the sweep's process is killed (SIGKILL, no clean-up
possible), and two sweeps on one folder at once compute every config exactly once."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_sweep import fake_runner

from mupsim.sim.config import SimConfig
from mupsim.sim.result import Result

psutil = pytest.importorskip("psutil", reason="psutil lists the sweep's child processes")

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


# ------------------------------------------------------------------ runners (run in workers)
def sleepy_runner(config):
    """Note this worker's pid, then block far longer than any test waits."""
    Path(os.environ["MUPSIM_TEST_PIDS"], str(os.getpid())).write_text("")
    time.sleep(600)
    return fake_runner(config)


def logging_runner(config):
    """Note each computation (key, pid), take a moment, then return a fake result."""
    Path(os.environ["MUPSIM_TEST_CALLS"], f"{config.key()}.{os.getpid()}.{time.time_ns()}").write_text("")
    time.sleep(0.3)
    return fake_runner(config)


SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
import test_sweep_processes as t
from mupsim.sim.config import SimConfig
from mupsim.sim.sweep import sweep
cs = [SimConfig(seed=s, width=8, steps=10) for s in range({n})]
res = sweep(cs, {out!r}, workers={workers}, progress=False, runner=t.{runner},
            context={context!r})
print(json.dumps([r.status for r in res]))
"""


def start(tmp_path, runner, n, workers, context="spawn", **env):
    code = SCRIPT.format(
        tests=str(TESTS), n=n, out=str(tmp_path / "out"), workers=workers, runner=runner, context=context
    )
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def gone(p):
    try:
        return p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# ------------------------------------------------------------------ parent killed
@pytest.mark.parametrize("context", ["spawn", "fork", "forkserver"])
def test_workers_exit_when_the_sweep_process_is_killed(tmp_path, context):
    pids = tmp_path / "pids"
    pids.mkdir()
    proc = start(tmp_path, "sleepy_runner", n=4, workers=2, context=context, MUPSIM_TEST_PIDS=str(pids))
    try:
        t0 = time.monotonic()
        while len(list(pids.iterdir())) < 2:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() - t0 < 120, "workers did not start"
            time.sleep(0.1)
        kids = psutil.Process(proc.pid).children(recursive=True)
        assert {int(p.name) for p in pids.iterdir()} <= {k.pid for k in kids}
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        t1 = time.monotonic()
        while not all(gone(k) for k in kids) and time.monotonic() - t1 < 10:
            time.sleep(0.1)
        alive = [(k.pid, k.cmdline()) for k in kids if not gone(k)]
        assert alive == []
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in pids.iterdir():
            try:
                os.kill(int(p.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


# ------------------------------------------------------------------ two sweeps, one folder
@pytest.mark.parametrize("workers", [(0, 0), (1, 2)], ids=["in-process", "worker-pools"])
def test_two_concurrent_sweeps_on_one_folder_compute_each_config_once(tmp_path, workers):
    calls = tmp_path / "calls"
    calls.mkdir()
    n = 8
    procs = [start(tmp_path, "logging_runner", n=n, workers=w, MUPSIM_TEST_CALLS=str(calls)) for w in workers]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (o, e) in zip(procs, outs):
        assert p.returncode == 0, e
        assert json.loads(o) == ["ok"] * n
    keys = [c.name.split(".")[0] for c in calls.iterdir()]
    expect = {SimConfig(seed=s, width=8, steps=10).key() for s in range(n)}
    assert sorted(keys) == sorted(expect)  # each config computed once, by one of the two
    for k in expect:
        assert Result.load(tmp_path / "out" / k).status == "ok"
    assert not [f for f in (tmp_path / "out").iterdir() if f.name.startswith(".")]

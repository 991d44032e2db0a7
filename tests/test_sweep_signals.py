"""Signals sent to a real ``mupsim sweep`` process (tiny real configs, 2 worker processes):
Ctrl-C (SIGINT to the process group, as a terminal sends it) and SIGTERM (to the parent only)
stop it within seconds, exit 128 + signal with one line and no traceback, kill every worker
(and the resource tracker), and leave only complete results."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mupsim.sim.result import Result

psutil = pytest.importorskip("psutil", reason="psutil lists the sweep's child processes")

REPO = Path(__file__).resolve().parents[1]
N_CONFIGS = 40


def start_sweep(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "name": "sig",
                "base": {"width": 32, "steps": 3000, "n_logs": 5},
                "grid": {"seed": list(range(N_CONFIGS))},
            }
        )
    )
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mupsim",
            "sweep",
            str(spec),
            "--out",
            str(out),
            "--workers",
            "2",
            "--no-progress",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )  # own process group, like a terminal job
    return proc, out


def wait_for(cond, timeout, proc):
    t0 = time.monotonic()
    while not cond():
        if proc.poll() is not None:
            pytest.fail(f"sweep ended early (exit {proc.returncode}): {proc.stderr.read()}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            pytest.fail(f"condition not reached in {timeout} s")
        time.sleep(0.05)


def descendants(proc):
    try:
        return psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def finish(proc, t_signal, timeout=20):
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"sweep still running {timeout} s after the signal")
    return proc.returncode, time.monotonic() - t_signal, err


def assert_gone(procs, timeout=5.0):
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    assert not alive, f"left running: {[(p.pid, p.name()) for p in alive]}"


def assert_only_complete_results(out):
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp")), "stray temp files"
    stems = {p.with_suffix("") for p in out.glob("*.json")} | {p.with_suffix("") for p in out.glob("*.npz")}
    for stem in stems:
        assert Result.load(stem).status == "ok"  # both files, same save, loads
    return len(stems)


def test_ctrl_c_stops_sweep_within_seconds_kills_workers_and_keeps_complete_results(tmp_path):
    proc, out = start_sweep(tmp_path)
    wait_for(lambda: out.is_dir() and any(out.glob("*.json")), 180, proc)
    kids = descendants(proc)
    assert len(kids) >= 2
    t = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    rc, dt, err = finish(proc, t)
    assert rc == 130
    assert dt < 5, f"took {dt:.1f} s to stop"
    assert "Traceback" not in err
    assert err.strip().splitlines() == [err.strip()] and "interrupted by SIGINT" in err
    assert_gone(kids)
    assert 1 <= assert_only_complete_results(out) < N_CONFIGS  # pending runs were cancelled


def test_second_ctrl_c_gives_no_traceback(tmp_path):
    proc, out = start_sweep(tmp_path)
    wait_for(lambda: out.is_dir() and any(out.glob("*.json")), 180, proc)
    kids = descendants(proc)
    t = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    rc, dt, err = finish(proc, t)
    assert rc == 130 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert_gone(kids)
    assert_only_complete_results(out)


def test_ctrl_c_during_worker_start_up_prints_no_worker_tracebacks(tmp_path):
    proc, out = start_sweep(tmp_path)
    wait_for(lambda: len(descendants(proc)) >= 3, 120, proc)  # 2 workers + resource tracker
    time.sleep(0.3)  # the workers are importing numpy/numba now (it takes them seconds)
    kids = descendants(proc)
    t = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    rc, dt, err = finish(proc, t)
    assert rc == 130 and dt < 5
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert_gone(kids)
    assert_only_complete_results(out)


def test_sigterm_to_the_parent_kills_workers_and_resource_tracker(tmp_path):
    proc, out = start_sweep(tmp_path)
    wait_for(lambda: out.is_dir() and any(out.glob("*.json")), 180, proc)
    kids = descendants(proc)  # workers and multiprocessing's resource tracker
    t = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    rc, dt, err = finish(proc, t)
    assert rc == 143 and dt < 5
    assert "Traceback" not in err and "interrupted by SIGTERM" in err
    assert_gone(kids)
    assert 1 <= assert_only_complete_results(out) < N_CONFIGS


def test_resume_removes_stale_temp_files_of_interrupted_writes(tmp_path):
    from test_sweep import fake_runner

    from mupsim.sim.config import SimConfig
    from mupsim.sim.sweep import sweep

    c = SimConfig(width=8, steps=10)
    (tmp_path / f".{c.key()}.npz.abc123.tmp").write_bytes(b"half")
    (tmp_path / f".{c.key()}.json.abc123.tmp").write_bytes(b"half")
    res = sweep([c], tmp_path, workers=0, progress=False, runner=fake_runner)
    assert res[0].status == "ok" and not list(tmp_path.glob(".*.tmp"))

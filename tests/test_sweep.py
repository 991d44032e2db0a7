"""sweep(): resume, parallel determinism, error recording; spec files; load_results."""

import json
import os

import numpy as np
import pytest

from mupsim.errors import MupsimError
from mupsim.sim.config import SimConfig
from mupsim.sim.result import Result
from mupsim.sim.sweep import expand_spec, load_results, load_spec, sweep


# ----------------------------------------------------------------------- fake runners
def fake_runner(config):
    """Cheap deterministic stand-in for mupsim.sim.run (module-level: picklable)."""
    rng = np.random.default_rng([config.seed, config.width])
    T = 5
    w = rng.standard_normal((config.width, config.width)) * config.lr
    s = np.linalg.svd(w, compute_uv=False)
    names = ["embedding", "hidden", "readout"]
    return Result(
        config=config.to_dict(),
        provenance={"seed": config.seed, "pid": os.getpid()},
        status="ok",
        diverged_step=None,
        steps=np.arange(T),
        train_loss=np.cumsum(rng.random(T)),
        test_loss=np.full(T, np.nan),
        matrix_names=names,
        matrix={"rms": rng.random((3, T)), "sigma_max": np.full((3, T), s[0])},
        activation_names=["a"],
        activation_rms=rng.random((1, T)),
        spectra={"hidden": s},
    )


def failing_runner(config):
    if config.seed == 1:
        raise RuntimeError(f"boom at seed {config.seed}")
    return fake_runner(config)


def same_outcome(a, b):
    """Equal results apart from provenance (pid, wall time)."""
    a.provenance = b.provenance = {}
    return a == b


def configs(n=3, **kw):
    return [SimConfig(seed=i, width=8, steps=10, **kw) for i in range(n)]


# ----------------------------------------------------------------------- sweep
def test_sweep_returns_results_in_input_order_and_saves_them(tmp_path):
    cs = configs(3)[::-1]
    res = sweep(cs, tmp_path, workers=0, progress=False, runner=fake_runner)
    assert [r.config["seed"] for r in res] == [2, 1, 0]
    for c, r in zip(cs, res):
        assert Result.load(tmp_path / c.key()) == r


def test_sweep_resumes_only_missing_configs(tmp_path):
    calls = []

    def counting(c):
        calls.append(c.seed)
        return fake_runner(c)

    cs = configs(4)
    sweep(cs[:2], tmp_path, workers=0, progress=False, runner=counting)
    mtimes = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    res = sweep(cs, tmp_path, workers=0, progress=False, runner=counting)
    assert calls == [0, 1, 2, 3]
    assert all(tmp_path.joinpath(n).stat().st_mtime_ns == t for n, t in mtimes.items())
    assert [r.config["seed"] for r in res] == [0, 1, 2, 3]


def test_sweep_reruns_corrupt_result_files(tmp_path):
    cs = configs(1)
    sweep(cs, tmp_path, workers=0, progress=False, runner=fake_runner)
    (tmp_path / f"{cs[0].key()}.npz").write_bytes(b"garbage")
    calls = []
    res = sweep(cs, tmp_path, workers=0, progress=False, runner=lambda c: calls.append(c) or fake_runner(c))
    assert len(calls) == 1 and res[0].status == "ok"


def test_sweep_runs_duplicate_configs_once(tmp_path):
    calls = []
    c = configs(1)[0]
    res = sweep(
        [c, c], tmp_path, workers=0, progress=False, runner=lambda x: calls.append(x) or fake_runner(x)
    )
    assert len(calls) == 1 and res[0] is res[1]


def test_sweep_records_failing_run_and_continues(tmp_path):
    res = sweep(configs(3), tmp_path, workers=0, progress=False, runner=failing_runner)
    assert [r.status for r in res] == ["ok", "error", "ok"]
    assert "RuntimeError: boom at seed 1" in res[1].provenance["error"]
    assert "Traceback" in res[1].provenance["traceback"]
    assert Result.load(tmp_path / configs(3)[1].key()).status == "error"


def test_sweep_retries_error_records_on_resume(tmp_path):
    sweep(configs(3), tmp_path, workers=0, progress=False, runner=failing_runner)
    res = sweep(configs(3), tmp_path, workers=0, progress=False, runner=fake_runner)
    assert [r.status for r in res] == ["ok", "ok", "ok"]


def test_sweep_records_failing_run_in_worker_process(tmp_path):
    res = sweep(configs(3), tmp_path, workers=2, progress=False, runner=failing_runner)
    assert [r.status for r in res] == ["ok", "error", "ok"]


def test_sweep_results_identical_for_1_and_2_workers(tmp_path):
    cs = configs(4)
    r1 = sweep(cs, tmp_path / "w1", workers=1, progress=False, runner=fake_runner)
    r2 = sweep(cs, tmp_path / "w2", workers=2, progress=False, runner=fake_runner)
    r0 = sweep(cs, tmp_path / "w0", workers=0, progress=False, runner=fake_runner)
    assert all(same_outcome(a, b) for a, b in zip(r1, r2))
    assert all(same_outcome(a, b) for a, b in zip(r0, r2))


def test_sweep_workers_run_with_single_thread_env(tmp_path):
    res = sweep(configs(1), tmp_path, workers=1, progress=False, runner=env_runner)
    assert res[0].provenance["env"] == {v: "1" for v in ENV}
    assert os.environ.get("NUMBA_NUM_THREADS") == _PARENT_NUMBA_ENV  # parent env restored


ENV = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_PARENT_NUMBA_ENV = os.environ.get("NUMBA_NUM_THREADS")


def env_runner(config):
    r = fake_runner(config)
    r.provenance["env"] = {v: os.environ.get(v) for v in ENV}
    return r


def test_sweep_rejects_negative_workers(tmp_path):
    with pytest.raises(MupsimError, match="workers must be an integer >= 0"):
        sweep(configs(1), tmp_path, workers=-1, runner=fake_runner)


def test_sweep_rejects_unpicklable_runner_for_worker_processes(tmp_path):
    with pytest.raises(MupsimError, match="cannot be sent to worker processes"):
        sweep(configs(1), tmp_path, workers=1, progress=False, runner=lambda c: fake_runner(c))


def test_sweep_accepts_config_dicts(tmp_path):
    res = sweep([{"seed": 3, "width": 8}], tmp_path, workers=0, progress=False, runner=fake_runner)
    assert res[0].config["seed"] == 3


def _real_run_available():
    try:
        import mupsim.sim.run  # noqa: F401
        from mupsim.sim.run import run  # noqa: F401

        return True
    except Exception:
        return False


@pytest.mark.skipif(not _real_run_available(), reason="mupsim.sim.run (S1) not available yet")
def test_sweep_real_runs_identical_for_1_and_2_workers(tmp_path):
    cs = [
        SimConfig(
            width=w,
            base_width=8,
            input_dim=4,
            teacher_width=8,
            batch_size=16,
            n_test=32,
            steps=20,
            n_logs=4,
            seed=s,
        )
        for w, s in [(8, 0), (16, 1)]
    ]
    r1 = sweep(cs, tmp_path / "w1", workers=1, progress=False)
    r2 = sweep(cs, tmp_path / "w2", workers=2, progress=False)
    assert [r.status for r in r1] == ["ok", "ok"], [r.provenance.get("error") for r in r1]
    assert load_results(tmp_path / "w1", cs) == r1  # real results round-trip bit-identically
    assert all(same_outcome(a, b) for a, b in zip(r1, r2))


# ----------------------------------------------------------------------- load_results
def test_load_results_by_configs_marks_missing_with_none(tmp_path):
    cs = configs(3)
    sweep(cs[:2], tmp_path, workers=0, progress=False, runner=fake_runner)
    res = load_results(tmp_path, cs)
    assert [r is None for r in res] == [False, False, True]


def test_load_results_without_configs_reads_the_folder(tmp_path):
    sweep(configs(3), tmp_path, workers=0, progress=False, runner=fake_runner)
    (tmp_path / "junk.json").write_text("{}")
    assert sorted(r.config["seed"] for r in load_results(tmp_path)) == [0, 1, 2]


def test_load_results_missing_folder_is_an_error(tmp_path):
    with pytest.raises(MupsimError, match="does not exist"):
        load_results(tmp_path / "nope")


# ----------------------------------------------------------------------- specs
def test_expand_spec_crosses_zip_with_grid_in_documented_order():
    spec = {
        "name": "t",
        "base": {"steps": 10, "wd": 0.1, "wd_rule": "constant"},
        "zip": {"width": [64, 128], "lr": [1e-3, 5e-4]},
        "grid": {"seed": [0, 1], "wd": [0.0, 0.2]},
    }
    cs = expand_spec(spec)
    got = [(c.width, c.lr, c.seed, c.wd) for c in cs]
    assert got == [
        (64, 1e-3, 0, 0.0),
        (64, 1e-3, 0, 0.2),
        (64, 1e-3, 1, 0.0),
        (64, 1e-3, 1, 0.2),
        (128, 5e-4, 0, 0.0),
        (128, 5e-4, 0, 0.2),
        (128, 5e-4, 1, 0.0),
        (128, 5e-4, 1, 0.2),
    ]
    assert all(c.steps == 10 for c in cs)


def test_expand_spec_with_only_base_gives_one_config():
    assert expand_spec({"base": {"width": 32}}) == [SimConfig(width=32)]


def test_spec_unknown_top_level_key_is_rejected():
    with pytest.raises(MupsimError, match=r"unknown sweep spec key\(s\) 'grids'; valid keys"):
        expand_spec({"grids": {}})


def test_spec_unknown_field_is_rejected_naming_section():
    with pytest.raises(MupsimError, match=r"'widht' in sweep spec 'grid'; valid fields"):
        expand_spec({"grid": {"widht": [1]}})


def test_spec_zip_lists_of_unequal_length_are_rejected():
    with pytest.raises(MupsimError, match="equal lengths"):
        expand_spec({"zip": {"width": [8, 16], "lr": [0.1]}})


def test_spec_grid_value_must_be_a_list():
    with pytest.raises(MupsimError, match="'grid.width' must be a non-empty list"):
        expand_spec({"grid": {"width": 8}})


def test_spec_invalid_config_names_the_grid_point():
    with pytest.raises(MupsimError, match=r"invalid config for \{'lr': -1\}: lr=-1.0"):
        expand_spec({"grid": {"lr": [0.1, -1]}})


def test_spec_multipliers_lists_become_tuples():
    cs = expand_spec({"grid": {"multipliers": [[1, 1, 1], None]}})
    assert [c.multipliers for c in cs] == [(1.0, 1.0, 1.0), None]


def test_load_spec_reads_file_and_defaults_name(tmp_path):
    p = tmp_path / "myspec.json"
    p.write_text(json.dumps({"grid": {"seed": [0, 1]}}))
    spec = load_spec(p)
    assert spec["name"] == "myspec" and len(expand_spec(spec)) == 2


def test_load_spec_invalid_json_reports_line(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"grid":\n {"seed": [0,]}}')
    with pytest.raises(MupsimError, match="not valid JSON: .* line 2"):
        load_spec(p)


def test_load_spec_missing_file_is_an_error(tmp_path):
    with pytest.raises(MupsimError, match="cannot read sweep spec"):
        load_spec(tmp_path / "none.json")


def test_sweep_starts_the_longest_runs_first_and_returns_input_order(tmp_path):
    order = []

    def recording(c):
        order.append(c.width)
        return fake_runner(c)

    cs = [SimConfig(seed=0, width=w, steps=10) for w in (8, 32, 16)]
    res = sweep(cs, tmp_path, workers=0, progress=False, runner=recording)
    assert order == [32, 16, 8]
    assert [r.config["width"] for r in res] == [8, 32, 16]

"""sweep(executor="dask"): a LocalCluster sweep equals the local sweep bit for bit, a killed
worker's run is re-scheduled, results are written by the client; bad executor/scheduler/
backend arguments are clear errors."""

import os
from pathlib import Path

import pytest
from test_sim_determinism import _arrays as arrays
from test_sweep import fake_runner

from mupsim.cli import main
from mupsim.errors import MupsimError
from mupsim.sim.config import SimConfig
from mupsim.sim.result import Result
from mupsim.sim.sweep import sweep

distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed")

TINY = [SimConfig(width=16, steps=30, n_logs=4, seed=s, lr=lr) for s in (0, 1) for lr in (1e-3, 1e-2)]


@pytest.fixture(scope="module")
def cluster():
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        yield c


def test_dask_local_cluster_sweep_is_bit_identical_to_local_sweep(tmp_path):
    local = sweep(TINY, tmp_path / "local", workers=0, progress=False)
    dask = sweep(TINY, tmp_path / "dask", executor="dask", workers=2, progress=False)
    for a, b in zip(local, dask):
        assert a.status == b.status == "ok"
        A, B = arrays(a), arrays(b)
        assert A.keys() == B.keys()
        assert all(A[k].dtype == B[k].dtype and A[k].tobytes() == B[k].tobytes() for k in A)
        assert Result.load(tmp_path / "dask" / SimConfig.from_dict(b.config).key()) == b


def test_dask_sweep_on_a_running_scheduler_resumes(tmp_path, cluster):
    calls_before = sweep(
        TINY[:2],
        tmp_path,
        executor="dask",
        scheduler=cluster.scheduler_address,
        progress=False,
        runner=fake_runner,
    )
    stored = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    res = sweep(
        TINY,
        tmp_path,
        executor="dask",
        scheduler=cluster.scheduler_address,
        progress=False,
        runner=fake_runner,
    )
    assert [r.status for r in res] == ["ok"] * 4
    assert all((tmp_path / n).stat().st_mtime_ns == t for n, t in stored.items())
    assert res[:2] == calls_before


class DiesOnce:
    """Runner that kills its worker process the first time it runs a config (a marker file in
    ``markers`` remembers), then runs it."""

    def __init__(self, markers):
        self.markers = Path(markers)

    def __call__(self, config):
        marker = self.markers / f"{config.seed}-{config.lr}"
        if not marker.exists():
            marker.write_text("died")
            os._exit(1)
        return fake_runner(config)


def test_dask_reschedules_the_runs_of_a_killed_worker(tmp_path, cluster):
    markers = tmp_path / "markers"
    markers.mkdir()
    res = sweep(
        TINY[:2],
        tmp_path / "out",
        executor="dask",
        scheduler=cluster.scheduler_address,
        progress=False,
        runner=DiesOnce(markers),
    )
    assert [r.status for r in res] == ["ok", "ok"], [r.provenance.get("error") for r in res]
    assert len(list(markers.iterdir())) == 2  # each run killed a worker once, then ran again
    assert len(list((tmp_path / "out").glob("*.npz"))) == 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(executor="spark"), "unknown executor 'spark'; allowed: local, dask"),
        (dict(backend="jax"), "unknown backend 'jax'; allowed: numba, ensemble"),
        (dict(scheduler="tcp://h:8786"), "scheduler address needs executor='dask'"),
        (dict(executor="dask", scheduler="tcp://a b"), "must be a Dask scheduler address"),
        (dict(executor="dask", scheduler=8786), "must be a Dask scheduler address"),
        (dict(executor="dask", workers=0), "workers=0 .* needs executor='local'"),
        (dict(backend="ensemble", runner=fake_runner), "cannot be combined with backend='ensemble'"),
    ],
)
def test_bad_executor_scheduler_backend_arguments_are_clear_errors(tmp_path, kwargs, match):
    with pytest.raises(MupsimError, match=match):
        sweep(TINY[:1], tmp_path, progress=False, **kwargs)


def test_unreachable_scheduler_is_a_clear_error(tmp_path, monkeypatch):
    import mupsim.sim.sweep as sw

    monkeypatch.setattr(sw, "DASK_CONNECT_TIMEOUT", "1s")
    with pytest.raises(MupsimError, match="cannot connect to the Dask scheduler at 'tcp://127.0.0.1:9'"):
        sweep(
            TINY[:1],
            tmp_path,
            executor="dask",
            scheduler="tcp://127.0.0.1:9",
            progress=False,
            runner=fake_runner,
        )
    assert not list(tmp_path.glob("*.npz"))


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--executor", "spark"], "invalid choice: 'spark'"),
        (["--backend", "jax"], "invalid choice: 'jax'"),
        (["--scheduler", "tcp://h:8786"], "--scheduler needs --executor dask"),
    ],
)
def test_sweep_command_bad_executor_options_exit_2_with_one_line(tmp_path, capsys, argv, match):
    spec = tmp_path / "s.json"
    spec.write_text('{"base": {"width": 8}}')
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and match in err

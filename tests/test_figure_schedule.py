"""One run pool for all figures (mupsim.experiments.schedule.RunPool): longest first, each run
once, requests from many threads answered as their runs come in, stored runs read; and the
figure pipeline drawing every figure through it."""

import threading

import pytest
from test_sweep import fake_runner

from mupsim.experiments import make_figures
from mupsim.experiments.schedule import PoolStopped, RunPool
from mupsim.sim.config import SimConfig
from mupsim.sim.limits import estimate_seconds
from mupsim.sim.sweep import SweepInterrupted

ORDER_SEEN: list = []


def recording_runner(config):
    """fake_runner that records the order of the runs (in this process: workers=0)."""
    ORDER_SEEN.append(config.key())
    return fake_runner(config)


def interrupting_runner(config):
    raise KeyboardInterrupt


def _serve(pool, *requests):
    """Each request (a list of configs) from its own thread; returns their answers."""
    answers: dict = {}

    def ask(i, cfgs):
        try:
            answers[i] = pool.results(cfgs)
        except BaseException as e:  # noqa: BLE001 - returned to the test
            answers[i] = e

    threads = [threading.Thread(target=ask, args=(i, r)) for i, r in enumerate(requests)]
    for t in threads:
        t.start()
    try:
        pool.serve(until=lambda: not any(t.is_alive() for t in threads))
    finally:
        for t in threads:
            t.join(10)
    return [answers[i] for i in range(len(requests))]


@pytest.fixture(autouse=True)
def _clear():
    ORDER_SEEN.clear()


def test_the_longest_queued_run_goes_first(tmp_path):
    cfgs = [
        SimConfig(width=w, steps=s, seed=i)
        for i, (w, s) in enumerate(((16, 10), (64, 40), (32, 10), (64, 10), (16, 80)))
    ]
    pool = RunPool(tmp_path, workers=0, runner=recording_runner)
    ((res, added),) = _serve(pool, cfgs)
    assert added == 5 and [r.config["seed"] for r in res] == [0, 1, 2, 3, 4]
    by_time = sorted(cfgs, key=estimate_seconds, reverse=True)
    assert ORDER_SEEN == [c.key() for c in by_time]


def test_a_run_requested_by_two_figures_is_run_once(tmp_path):
    a = [SimConfig(width=16, seed=s) for s in (0, 1, 2)]
    b = [SimConfig(width=16, seed=s) for s in (2, 3)]
    pool = RunPool(tmp_path, workers=0, runner=recording_runner)
    ra, rb = _serve(pool, a, b)
    assert sorted(ORDER_SEEN) == sorted({c.key() for c in a + b})
    assert ra[0][2] is rb[0][0]
    assert ra[1] + rb[1] == 4 == pool.computed


def test_stored_runs_are_read_not_run(tmp_path):
    cfgs = [SimConfig(width=16, seed=s) for s in (0, 1)]
    _serve(RunPool(tmp_path, workers=0, runner=recording_runner), cfgs)
    ORDER_SEEN.clear()
    pool = RunPool(tmp_path, workers=0, runner=recording_runner)
    ((res, added),) = _serve(pool, cfgs)
    assert ORDER_SEEN == [] and added == 0 and [r.status for r in res] == ["ok", "ok"]


def test_configs_requested_after_earlier_results_join_the_same_pool(tmp_path):
    got = {}

    def figure():  # the second request depends on the first one's results
        first, _ = pool.results([SimConfig(width=16, seed=0)])
        got["second"], _ = pool.results([SimConfig(width=16, seed=int(first[0].status == "ok") + 10)])

    pool = RunPool(tmp_path, workers=0, runner=recording_runner)
    t = threading.Thread(target=figure)
    t.start()
    pool.serve(until=lambda: not t.is_alive())
    t.join()
    assert got["second"][0].config["seed"] == 11 and len(ORDER_SEEN) == 2


def test_worker_processes_run_the_pool(tmp_path):
    cfgs = [SimConfig(width=16, seed=s) for s in range(4)]
    ((res, added),) = _serve(RunPool(tmp_path, workers=2, runner=fake_runner), cfgs)
    assert added == 4 and len({r.provenance["pid"] for r in res}) >= 1
    assert [r.config["seed"] for r in res] == [0, 1, 2, 3]
    assert all((tmp_path / f"{c.key()}.npz").exists() for c in cfgs)


def test_an_interrupt_stops_the_pool_and_every_waiting_request(tmp_path):
    pool = RunPool(tmp_path, workers=0, runner=interrupting_runner)
    answers = {}

    def ask():
        try:
            pool.results([SimConfig(width=16)])
        except PoolStopped as e:
            answers["e"] = e

    t = threading.Thread(target=ask)
    t.start()
    with pytest.raises(SweepInterrupted):
        pool.serve(until=lambda: not t.is_alive())
    t.join(10)
    assert isinstance(answers.get("e"), PoolStopped)
    assert not list(tmp_path.glob("*.npz")) and not list(tmp_path.glob(".*"))


def test_ensemble_groups_form_per_request(tmp_path, monkeypatch):
    from test_sweep_ensemble import FakeEnsemble

    import mupsim.sim.sweep as sw

    fake = FakeEnsemble()
    monkeypatch.setattr(sw, "_ensemble", lambda: fake)
    a = [SimConfig(width=16, seed=s) for s in (0, 1)]
    b = [SimConfig(width=16, seed=s) for s in (2, 3, 1)]
    pool = RunPool(tmp_path, workers=0, backend="ensemble")
    (ra, _), (rb, _) = _serve(pool, a, b)
    # whichever request came first groups all its configs; the other, those still missing
    groups = sorted(map(sorted, fake.groups))
    assert groups in ([[0, 1], [2, 3]], [[0], [1, 2, 3]])
    assert [r.config["seed"] for r in rb] == [2, 3, 1] and rb[2] is ra[1]


def test_the_run_time_estimate_ranks_bigger_runs_longer():
    base = SimConfig(width=128, steps=1000, n_logs=20)
    longer = [
        base.replace(width=256),
        base.replace(steps=2000),
        base.replace(n_logs=40),
        base.replace(batch_size=256),
        base.replace(depth=2),
    ]
    assert all(estimate_seconds(c) > estimate_seconds(base) for c in longer)
    assert estimate_seconds(base.replace(rank_metrics=False)) < estimate_seconds(base)


def test_each_figure_is_analysed_once_when_two_threads_ask_for_it(tmp_path, monkeypatch):
    from mupsim.experiments import figures
    from mupsim.experiments.figure import Figure

    calls = []
    gate = threading.Event()

    def make(pipe):
        calls.append(1)
        gate.wait(5)
        return {"figure": "x", "n_runs": 0}

    monkeypatch.setitem(figures.FIGURES, "F2", Figure("F2", "x", None, None, None, make))
    pipe = make_figures.Pipeline(True, tmp_path, 0, False)
    out = []
    threads = [threading.Thread(target=lambda: out.append(pipe.analyse("F2"))) for _ in range(2)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and len(out) == 2 and out[0] is out[1]


def test_make_figures_hands_the_sweep_options_to_its_one_pool(tmp_path, monkeypatch):
    from mupsim.experiments import schedule

    seen = []

    class Spy(schedule.RunPool):
        def __init__(self, out_dir, workers=None, **kw):
            seen.append({k: kw.get(k) for k in ("executor", "scheduler", "backend")})
            kw.update(executor="local", scheduler=None)  # Dask itself: test_sweep_dask
            super().__init__(out_dir, 0, **kw)

    monkeypatch.setattr(schedule, "RunPool", Spy)
    rc = make_figures.main(
        [
            "--quick",
            "1",
            "--fake",
            "--only",
            "F1",
            "--no-progress",
            "--results-dir",
            str(tmp_path / "r"),
            "--figures-dir",
            str(tmp_path / "f"),
            "--executor",
            "dask",
            "--scheduler",
            "tcp://10.0.0.5:8786",
        ]
    )
    assert rc == 0
    assert seen == [{"executor": "dask", "scheduler": "tcp://10.0.0.5:8786", "backend": "numba"}]


def test_an_interrupted_make_figures_exits_130_with_one_line(tmp_path, monkeypatch, capsys):
    from mupsim.experiments import fake

    monkeypatch.setattr(fake, "fake_run", interrupting_runner)
    argv = ["--quick", "1", "--fake", "--only", "F3", "--workers", "0", "--no-progress"]
    argv += ["--results-dir", str(tmp_path / "r"), "--figures-dir", str(tmp_path / "f")]
    assert make_figures.main(argv) == 130
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "interrupted by SIGINT" in err

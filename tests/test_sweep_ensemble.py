"""sweep(backend="ensemble") wiring, against the ensemble interface (group_key,
unsupported_reason, run_group) with a fake ensemble module: one task per group, numba fallback
recorded in provenance, resume never reuses a result made by another backend."""

import pytest
from test_sweep import fake_runner

from mupsim.sim.config import SimConfig
from mupsim.sim.result import Result
from mupsim.sim.sweep import pending, sweep

UNSUPPORTED_WIDTH = 12


class FakeEnsemble:
    """Groups by width; refuses width 12; 'runs' a group with fake_runner, records calls."""

    def __init__(self):
        self.groups = []

    def unsupported_reason(self, c):
        return f"width {c.width} is not stackable here" if c.width == UNSUPPORTED_WIDTH else None

    def group_key(self, c):
        return None if self.unsupported_reason(c) else (("width", c.width),)

    def run_group(self, configs, device=None):
        self.groups.append([c.seed for c in configs])
        out = []
        for c in configs:
            r = fake_runner(c)
            r.provenance["backend"] = "ensemble"
            out.append(r)
        return out


@pytest.fixture
def ens(monkeypatch):
    import mupsim.sim.sweep as sw

    fake = FakeEnsemble()
    monkeypatch.setattr(sw, "_ensemble", lambda: fake)
    numba_calls = []
    monkeypatch.setattr(sw, "_default_runner", lambda c: numba_calls.append(c.seed) or fake_runner(c))
    fake.numba_calls = numba_calls
    return fake


CONFIGS = (
    [SimConfig(width=8, seed=s) for s in range(3)]
    + [SimConfig(width=16, seed=s) for s in range(2)]
    + [SimConfig(width=UNSUPPORTED_WIDTH, seed=7)]
)


def test_ensemble_runs_each_group_as_one_task(tmp_path, ens):
    res = sweep(CONFIGS, tmp_path, workers=0, progress=False, backend="ensemble")
    assert sorted(ens.groups) == [[0, 1], [0, 1, 2]]
    assert [r.provenance["backend"] for r in res] == ["ensemble"] * 5 + ["numba"]
    for c, r in zip(CONFIGS, res):
        assert Result.load(tmp_path / c.key()) == r


def test_configs_the_ensemble_cannot_run_fall_back_to_numba_with_the_reason(tmp_path, ens):
    res = sweep(CONFIGS, tmp_path, workers=0, progress=False, backend="ensemble")
    assert ens.numba_calls == [7]
    assert res[-1].provenance["ensemble_fallback"] == "width 12 is not stackable here"


def test_resume_does_not_reuse_results_of_another_backend(tmp_path, ens):
    sweep(CONFIGS, tmp_path, workers=0, progress=False)  # numba backend: all six by numba
    assert sorted(ens.numba_calls) == [0, 0, 1, 1, 2, 7] and ens.groups == []
    assert len(pending(CONFIGS, tmp_path, backend="ensemble")) == 5  # the fallback one is reused
    sweep(CONFIGS, tmp_path, workers=0, progress=False, backend="ensemble")
    assert sorted(ens.groups) == [[0, 1], [0, 1, 2]] and len(ens.numba_calls) == 6
    sweep(CONFIGS, tmp_path, workers=0, progress=False, backend="ensemble")  # all stored
    assert len(ens.groups) == 2
    assert pending(CONFIGS, tmp_path, backend="numba") == CONFIGS[:5]


def test_a_failing_group_is_recorded_as_errors_for_its_members(tmp_path, ens):
    def boom(configs, device=None):
        raise RuntimeError("out of memory")

    ens.run_group = boom
    res = sweep(CONFIGS[:3], tmp_path, workers=0, progress=False, backend="ensemble")
    assert [r.status for r in res] == ["error"] * 3
    assert "ensemble group of 3 failed: RuntimeError: out of memory" in res[0].provenance["error"]


# ----------------------------------------------------------------------- the real backend
def test_real_ensemble_sweep_agrees_with_numba_and_falls_back_for_an_unsupported_config(tmp_path):
    pytest.importorskip("torch", reason="the ensemble backend needs PyTorch")
    import numpy as np

    base = dict(width=16, steps=20, n_logs=4, dtype="float64", batch_size=8)
    cs = [SimConfig(seed=s, lr=lr, **base) for s, lr in ((0, 1e-3), (1, 3e-3))]
    # Moonlight's Muon lr convention: numba only
    cs.append(SimConfig(seed=2, optimizer="muon_all", muon_convention="rms", lr=0.02, **base))
    ens = sweep(cs, tmp_path / "e", workers=0, progress=False, backend="ensemble")
    num = sweep(cs, tmp_path / "n", workers=0, progress=False)
    assert [r.provenance.get("backend") for r in ens] == ["ensemble", "ensemble", "numba"]
    assert "muon_convention" in ens[2].provenance["ensemble_fallback"]
    for e, n in zip(ens, num):
        assert e.status == n.status == "ok"
        np.testing.assert_allclose(e.train_loss, n.train_loss, rtol=1e-10, atol=0)
        for k in n.matrix:
            np.testing.assert_allclose(e.matrix[k], n.matrix[k], rtol=1e-8, atol=1e-12)
    assert pending(cs, tmp_path / "e", backend="ensemble") == []

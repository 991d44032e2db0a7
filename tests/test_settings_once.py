"""A config's per-layer settings are computed once: built with the config, carried to the run,
stored with the result, reused by a sweep's staleness check and read back by the analysis."""

import pickle

import pytest

import mupsim.calculator
from mupsim.analysis.runs import layer_settings
from mupsim.sim import settings as sim_settings
from mupsim.sim import sweep
from mupsim.sim.config import SimConfig
from mupsim.sim.result import Result
from mupsim.sim.run import prepare

SMALL = dict(width=16, base_width=16, steps=5, n_logs=3, batch_size=8, n_test=16, teacher_width=8)


@pytest.fixture
def calls(monkeypatch):
    """Counts calls of the calculator's ``transfer``, starting from an empty settings cache."""
    sim_settings._settings.cache_clear()
    n = [0]
    real = mupsim.calculator.transfer

    def counted(*a, **kw):
        n[0] += 1
        return real(*a, **kw)

    monkeypatch.setattr(mupsim.calculator, "transfer", counted)
    yield n
    sim_settings._settings.cache_clear()


def test_construct_prepare_sweep_resume_and_analysis_ask_the_calculator_once(calls, tmp_path):
    cfg = SimConfig(**SMALL, lr=0.0123, wd=0.1, wd_rule="fan2025", io_wd_rule="constant")
    assert calls[0] == 1
    prepare(cfg)
    sweep([cfg], tmp_path, workers=0, progress=False)
    created = Result.load(tmp_path / cfg.key()).provenance["created"]
    sweep([cfg], tmp_path, workers=0, progress=False)  # resume: staleness check, no re-run
    stored = Result.load(tmp_path / cfg.key())
    assert stored.provenance["created"] == created
    layer_settings(stored, "embedding")
    assert calls[0] == 1


def test_configs_differing_only_outside_the_settings_fields_share_one_answer(calls):
    a = SimConfig(**SMALL, lr=0.0321, seed=1)
    b = a.replace(seed=2, steps=7, dtype="float32")
    assert calls[0] == 1 and a.settings is b.settings
    c = a.replace(width=32)
    assert calls[0] == 2 and c.settings is not a.settings


def test_settings_travel_with_a_pickled_config(calls):
    cfg = SimConfig(**SMALL, lr=0.0456)
    sim_settings._settings.cache_clear()  # as in a fresh worker process
    back = pickle.loads(pickle.dumps(cfg))
    assert back == cfg and back.settings.to_dict() == cfg.settings.to_dict()
    prepare(back)
    assert calls[0] == 1


def test_settings_are_not_a_config_field():
    cfg = SimConfig(**SMALL)
    assert "settings" not in cfg.to_dict() and "_settings" not in cfg.to_dict()
    assert "settings" not in SimConfig.field_names() and "_settings" not in SimConfig.field_names()


def test_stored_result_holds_the_config_s_settings(tmp_path):
    cfg = SimConfig(**SMALL, wd=0.1, wd_rule="timescale")
    sweep([cfg], tmp_path, workers=0, progress=False)
    stored = Result.load(tmp_path / cfg.key())
    assert stored.provenance["settings"] == cfg.settings.to_dict()


def test_analysis_without_stored_settings_reads_the_config_s_every_field(tmp_path):
    cfg = SimConfig(**SMALL, wd=0.1, wd_rule="fan2025", io_wd_rule="constant", eps_rule="derived")
    sweep([cfg], tmp_path, workers=0, progress=False)
    stored = Result.load(tmp_path / cfg.key())
    stored.provenance.pop("settings")
    assert layer_settings(stored, "embedding") == cfg.settings.layers["embedding"].to_dict()
    assert layer_settings(stored, "embedding")["wd"] > 0.0  # io_wd_rule's, not fan2025's λ = 0

"""Resuming a sweep re-runs stored results that the current rules or simulator would not produce."""

from mupsim.sim import SimConfig, sweep
from mupsim.sim.result import Result

CFG = SimConfig(width=16, base_width=16, steps=5, n_logs=3, batch_size=8, n_test=16)


def _tamper(stem, key, value):
    r = Result.load(stem)
    r.provenance[key] = value
    r.save(stem)


def test_fresh_result_is_reused(tmp_path):
    sweep([CFG], tmp_path, workers=0, progress=False)
    first = Result.load(tmp_path / CFG.key())
    sweep([CFG], tmp_path, workers=0, progress=False)
    assert Result.load(tmp_path / CFG.key()).provenance["created"] == first.provenance["created"]


def test_result_from_another_simulator_version_is_rerun(tmp_path):
    sweep([CFG], tmp_path, workers=0, progress=False)
    stem = tmp_path / CFG.key()
    _tamper(stem, "simulator_version", -1)
    sweep([CFG], tmp_path, workers=0, progress=False)
    assert Result.load(stem).provenance["simulator_version"] != -1


def test_result_made_with_other_per_layer_settings_is_rerun(tmp_path):
    sweep([CFG], tmp_path, workers=0, progress=False)
    stem = tmp_path / CFG.key()
    r = Result.load(stem)
    r.provenance["settings"]["layers"]["hidden"]["lr"] *= 2  # as if a rule had changed since
    r.save(stem)
    sweep([CFG], tmp_path, workers=0, progress=False)
    assert Result.load(stem).provenance["settings"]["layers"]["hidden"]["lr"] == \
        r.provenance["settings"]["layers"]["hidden"]["lr"] / 2

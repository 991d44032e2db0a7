"""Sweep results: stale stored results are re-run on resume; a sweep yields a table of results."""

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
    assert (
        Result.load(stem).provenance["settings"]["layers"]["hidden"]["lr"]
        == r.provenance["settings"]["layers"]["hidden"]["lr"] / 2
    )


def test_sweep_table_has_one_row_per_result_with_final_diagnostics(tmp_path):
    from mupsim.sim.sweep import table, write_table

    cfgs = [CFG, CFG.replace(seed=1)]
    rows = table(sweep(cfgs, tmp_path, workers=0, progress=False))
    assert [r["seed"] for r in rows] == [0, 1] and all(r["status"] == "ok" for r in rows)
    assert "sigma_max:block0.W1" in rows[0] and "final_test_loss" in rows[0]
    text = write_table(rows, tmp_path / "table.csv").read_text()
    assert text.count("\n") == 3

"""F10, the long-memory regime: its spec (τ per rule and width, run lengths), its runner (two
stages into the results cache, a compact runs file) and its figure, which only reads that file."""

import hashlib
import json
import math
import re

import numpy as np
import pytest

from mupsim.errors import MupsimError
from mupsim.experiments import common
from mupsim.experiments import long_memory as LM
from mupsim.experiments.fake import fake_run
from mupsim.experiments.figures import f10_long_memory as F10
from mupsim.sim.config import SimConfig

# Relative tolerance for τ_l = 1/(2η_lλ_l) computed from the calculator's float64 settings:
# a few roundings of powers of two and √2, so a few ulps; 1e-9 leaves room and still tells
# τ from τ·(1 ± anything physical).
TAU_RTOL = 1e-9


def _tau(c):
    return common.hidden_relax_time(c)


def _by(cfgs, rule, tau0=None):
    return [
        c
        for c in cfgs
        if LM.rule_of(c.to_dict()) == rule and (tau0 is None or math.isclose(LM.tau0_of(c.to_dict()), tau0))
    ]


# ---------------------------------------------------------------------------- the spec
def test_the_timescale_rule_has_the_same_tau_at_every_width():
    cfgs = LM.configs(1)
    for tau in LM.TAUS:
        runs = _by(cfgs, "timescale", tau)
        assert {c.width for c in runs} == set(LM.WIDTHS) | (
            set(LM.WIDE_WIDTHS) if tau in LM.WIDE_TAUS else set()
        )
        assert all(math.isclose(_tau(c), tau, rel_tol=TAU_RTOL) for c in runs)


def test_only_the_timescale_rule_runs_at_the_wide_widths():
    cfgs = LM.configs(1) + LM.configs(2, alpha_hat=0.6)
    wide = [c for c in cfgs if c.width in LM.WIDE_WIDTHS and LM.variant_of(c.to_dict(), LM.spec()) == "task"]
    assert {LM.rule_of(c.to_dict()) for c in wide} == {"timescale"}
    assert {LM.tau0_of(c.to_dict()) for c in wide} == set(map(float, LM.WIDE_TAUS))
    assert len(wide) == len(LM.WIDE_WIDTHS) * len(LM.WIDE_TAUS) * len(LM.SEEDS)


def test_the_more_inputs_task_changes_k_alone_under_the_timescale_rule():
    cfgs = LM.configs(1)
    spec = LM.spec()
    other = [c for c in cfgs if LM.variant_of(c.to_dict(), spec) == "more_inputs"]
    assert {c.input_dim for c in other} == {LM.VARIANTS["more_inputs"]["overrides"]["input_dim"]}
    assert {LM.rule_of(c.to_dict()) for c in other} == {"timescale"}
    assert {c.width for c in other} == set(LM.WIDTHS) | set(LM.WIDE_WIDTHS)
    assert {LM.tau0_of(c.to_dict()) for c in other} == set(map(float, LM.VARIANTS["more_inputs"]["taus"]))
    for c in other:  # its twin with the task's k is run too, and differs in input_dim only
        twin = c.replace(input_dim=LM.TASK["input_dim"])
        assert twin.key() in {t.key() for t in cfgs}


def test_the_next_token_task_is_run_at_a_vocabulary_of_4096_under_the_timescale_rule():
    spec = LM.spec()
    nt = [c for c in LM.configs(1) if LM.variant_of(c.to_dict(), spec) == "next_token"]
    assert nt and {(c.task, c.output_dim, c.input_dim, c.context) for c in nt} == {
        ("next_token", 4096, 8192, 2)
    }
    assert {LM.rule_of(c.to_dict()) for c in nt} == {"timescale"}
    assert all(math.isclose(_tau(c), 1024, rel_tol=TAU_RTOL) for c in nt)


def test_every_run_belongs_to_exactly_one_task():
    spec = LM.spec()
    for c in LM.configs(1) + LM.configs(2, alpha_hat=0.6):
        d = c.to_dict()
        owners = [
            n for n, v in spec["variants"].items() if all(d.get(k) == x for k, x in v["overrides"].items())
        ]
        assert len(owners) <= 1 and LM.variant_of(d, spec) == (owners[0] if owners else "task")


def test_every_rule_has_the_base_tau_at_the_base_width():
    cfgs = LM.configs(1) + LM.configs(2, alpha_hat=0.6)
    base = [c for c in cfgs if c.width == c.base_width and math.isclose(LM.tau0_of(c.to_dict()), LM.BASE_TAU)]
    assert {LM.rule_of(c.to_dict()).split("(")[0] for c in base} == set(LM.RULES)
    assert all(math.isclose(_tau(c), LM.BASE_TAU, rel_tol=TAU_RTOL) for c in base)


def test_the_memory_grows_as_the_root_of_width_under_fan2025_and_as_width_under_constant():
    cfgs = LM.configs(1)
    for rule, power in (("fan2025", 0.5), ("fan2025_io", 0.5), ("constant", 1.0)):
        tau = {c.width: _tau(c) for c in _by(cfgs, rule)}
        assert math.isclose(tau[512] / tau[64], 8.0**power, rel_tol=TAU_RTOL), rule


def test_the_fan2025_ablation_decays_embedding_and_readout_at_constant_lambda():
    served = _by(LM.configs(1), "fan2025")[0].settings.layers
    ablation = _by(LM.configs(1), "fan2025_io")[0].settings.layers
    assert served["embedding"].wd == served["readout"].wd == 0.0
    assert ablation["embedding"].wd > 0 and ablation["readout"].wd > 0
    assert ablation["hidden"].wd == served["hidden"].wd


def test_each_run_lasts_n_relax_relaxation_times_or_is_capped_and_flagged():
    cfgs = LM.configs(1) + LM.configs(2, alpha_hat=0.6)
    capped = [c for c in cfgs if LM.is_capped(c)]
    for c in cfgs:
        assert c.steps <= LM.MAX_STEPS
        assert c.steps >= LM.N_RELAX * _tau(c) * (1 - TAU_RTOL) or (c in capped and c.steps == LM.MAX_STEPS)
    # constant λ at n = 512: τ_l = 8·1024 steps, so 6τ_l is beyond the cap
    assert {(LM.rule_of(c.to_dict()), c.width) for c in capped} >= {("constant", 512)}


def test_the_alignment_stage_runs_at_the_clipped_rounded_alpha():
    assert {c.alignment_exponent for c in LM.configs(2, alpha_hat=0.61234)} == {0.612}
    assert {c.alignment_exponent for c in LM.configs(2, alpha_hat=0.3)} == {0.5}
    with pytest.raises(MupsimError, match="alpha_hat"):
        LM.configs(2)


def test_an_unknown_stage_is_refused():
    with pytest.raises(MupsimError, match="stage must be 1 or 2; got 3"):
        LM.configs(3)


def test_quick_mode_is_tiny():
    cfgs = LM.configs(1, quick=True) + LM.configs(2, quick=True, alpha_hat=0.8)
    assert {c.width for c in cfgs} == set(LM.QUICK_WIDTHS) | set(LM.QUICK_WIDE_WIDTHS)
    assert max(c.steps for c in cfgs) == LM.QUICK_MAX_STEPS
    assert any(LM.is_capped(c) for c in cfgs)  # the cap's flag is exercised end to end


# ---------------------------------------------------------------------------- the runner, synthetic runs
@pytest.fixture(scope="module")
def fake_file(tmp_path_factory):
    """The quick spec run by the synthetic runner (mupsim.experiments.fake) into a runs file."""
    tmp = tmp_path_factory.mktemp("f10")
    out = tmp / "runs.json"
    LM.run(out, tmp / "results", workers=0, quick=True, runner=fake_run, progress=False)
    return out


def _doc(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_runs_file_rebuilds_each_runs_config_and_key(fake_file):
    doc = _doc(fake_file)
    assert doc["format"] == LM.FORMAT and doc["spec"]["quick"] is True
    for run in doc["runs"]:
        assert SimConfig.from_dict(LM.full_config(doc, run)).key() == run["key"]


def test_the_runs_file_keeps_floats_to_five_significant_digits(fake_file):
    text = fake_file.read_text(encoding="utf-8")
    series = re.findall(r'"sigma_max":\[([^\]]*)\]', text)
    digits = [
        len(re.sub(r"e.*|[-.]|^0*", "", v).lstrip("0")) for s in series for v in s.split(",") if v != "null"
    ]
    assert digits and max(digits) <= LM.DIGITS


def test_the_runs_file_holds_what_the_figure_needs_per_run(fake_file):
    doc = _doc(fake_file)
    run = doc["runs"][0]
    assert set(run["layers"]) == {"embedding", "hidden", "readout"}
    assert {q for m in run["matrices"].values() for q in m} == set(LM.COMPACT_METRICS)
    assert all(len(v) == len(run["log_steps"]) for m in run["matrices"].values() for v in m.values())
    assert {"git_commit", "created", "machine", "command", "wall_time_s", "simulator_version"} <= set(
        doc["provenance"]
    )


def test_the_alignment_runs_use_the_alpha_measured_on_the_timescale_runs(fake_file):
    doc = _doc(fake_file)
    alpha, _ = F10.alignment_alpha(doc)
    a = doc["alignment"]
    assert a["alpha_hat"] == pytest.approx(alpha, rel=1e-12)
    used = {r["config"].get("alignment_exponent") for r in doc["runs"] if r["rule"].startswith("alignment")}
    assert used == {a["alignment_exponent"]} == {round(alpha, 3)}


def _fake_records(cfgs):
    return [LM.compact(fake_run(c)) for c in cfgs]


def test_the_alignment_alpha_is_measured_over_the_widths_of_the_other_rules(fake_file):
    doc = _doc(fake_file)
    assert set(LM.QUICK_WIDE_WIDTHS) <= {r["width"] for r in doc["runs"] if r["tau0"] == LM.QUICK_BASE_TAU}
    narrow = dict(doc, runs=[r for r in doc["runs"] if r["width"] in LM.QUICK_WIDTHS])
    assert F10.alignment_alpha(doc)[0] == F10.alignment_alpha(narrow)[0]


def test_the_rules_are_compared_over_the_spec_widths_only(fake_file):
    summary = F10.analyse(_doc(fake_file))["summary"]
    for rule, d in summary["rules_at_base_tau"].items():
        assert set(d["relax_steps"]) == {str(w) for w in LM.QUICK_WIDTHS}, rule
    wide = summary["alpha_vs_tau"][f"{LM.QUICK_BASE_TAU:g}"]["block0.W1"]["alpha_all_records"]["widths"]
    assert set(LM.QUICK_WIDE_WIDTHS) <= set(wide)


def test_without_a_measured_alpha_there_is_no_alignment_stage(monkeypatch):
    monkeypatch.setattr(F10, "alignment_alpha", lambda doc: (None, {"why_none": "every record refused"}))
    records, alignment = LM.run_stages(_fake_records, quick=True)
    assert alignment["alpha_hat"] is None and alignment["why_none"] == "every record refused"
    assert not [r for r in records if r["config"]["wd_rule"] == "alignment"]


@pytest.mark.parametrize("alpha", [0.43, 1.2])
def test_an_alpha_outside_the_alignment_range_gets_no_alignment_stage(monkeypatch, alpha):
    monkeypatch.setattr(F10, "alignment_alpha", lambda doc: (alpha, {"measured_on": "timescale"}))
    records, alignment = LM.run_stages(_fake_records, quick=True)
    assert alignment["alpha_hat"] == alpha and alignment["alignment_exponent"] is None
    assert "outside the alignment rule's range [0.5, 1]" in alignment["why_none"]
    assert not [r for r in records if r["config"]["wd_rule"] == "alignment"]


def _runs_file(tmp_path, name="runs.json", **kw):
    out = tmp_path / name
    LM.run(out, tmp_path / f"results-{name}", workers=0, quick=True, runner=fake_run, progress=False, **kw)
    return out


def test_the_records_of_the_file_at_out_stand_for_their_runs(tmp_path):
    out = _runs_file(tmp_path)
    first = _doc(out)
    LM.run(out, tmp_path / "empty-cache", workers=0, quick=True, runner=fake_run, progress=False)
    second = _doc(out)
    assert second["provenance"]["runs_computed"] == 0
    assert second["provenance"]["runs_reused"] == len(first["runs"])
    assert second["runs"] == first["runs"]
    assert second["provenance"]["kept_from"]["created"] == first["provenance"]["created"]


def test_an_extended_spec_computes_only_the_runs_it_adds(tmp_path, monkeypatch):
    monkeypatch.setattr(LM, "QUICK_WIDE_WIDTHS", ())
    out = _runs_file(tmp_path)
    before = len(_doc(out)["runs"])
    n_before = len(LM.configs(1, quick=True))
    monkeypatch.setattr(LM, "QUICK_WIDE_WIDTHS", (128,))
    added = len(LM.configs(1, quick=True)) - n_before
    assert added > 0
    LM.run(out, tmp_path / "empty-cache", workers=0, quick=True, runner=fake_run, progress=False)
    after = _doc(out)
    assert len(after["runs"]) == before + added
    assert after["provenance"]["runs_computed"] == added and after["provenance"]["runs_reused"] == before


def test_fresh_ignores_the_file_at_out(tmp_path):
    out = _runs_file(tmp_path)
    n = len(_doc(out)["runs"])
    LM.run(out, tmp_path / "empty-cache", workers=0, quick=True, runner=fake_run, progress=False, reuse=False)
    assert _doc(out)["provenance"]["runs_computed"] == n


def test_records_made_by_another_simulator_version_are_not_reused(tmp_path):
    out = _runs_file(tmp_path)
    doc = _doc(out)
    doc["provenance"]["run_simulator_versions"] = ["1"]
    out.write_text(json.dumps(doc))
    records, _, why = LM.reusable(out, 4)
    assert records == {} and "simulator version(s) ['1'], not 4" in why
    LM.run(out, tmp_path / "empty-cache", workers=0, quick=True, runner=fake_run, progress=False)
    assert _doc(out)["provenance"]["runs_computed"] == len(doc["runs"])


def test_a_record_whose_settings_the_calculator_no_longer_gives_is_run_again(tmp_path):
    out = _runs_file(tmp_path)
    doc = _doc(out)
    doc["runs"][0]["layers"]["hidden"]["wd"] *= 2
    out.write_text(json.dumps(doc))
    LM.run(out, tmp_path / "empty-cache", workers=0, quick=True, runner=fake_run, progress=False)
    after = _doc(out)
    assert after["provenance"]["runs_computed"] == 1
    assert after["runs"][0]["layers"]["hidden"]["wd"] == doc["runs"][0]["layers"]["hidden"]["wd"] / 2


def test_a_run_that_failed_with_an_error_is_run_again(tmp_path):
    out = _runs_file(tmp_path)
    doc = _doc(out)
    doc["runs"][0]["status"] = "error"
    out.write_text(json.dumps(doc))
    records, _, why = LM.reusable(out, int(doc["provenance"]["simulator_version"]))
    assert why is None and doc["runs"][0]["key"] not in records and len(records) == len(doc["runs"]) - 1


def test_an_unwritable_out_path_is_refused_before_anything_runs(tmp_path):
    (tmp_path / "runs.json").mkdir()
    with pytest.raises(MupsimError, match="--out"):
        LM.run(tmp_path / "runs.json", tmp_path / "results", workers=0, quick=True, runner=fake_run)
    assert not (tmp_path / "results").exists()


# ---------------------------------------------------------------------------- the runner, simulated
def test_the_command_runs_the_quick_spec_and_a_second_call_reads_the_cache(tmp_path):
    argv = ["--quick", "--workers", "0", "--no-progress", "--results-dir", str(tmp_path / "res")]
    assert LM.main(argv + ["--out", str(tmp_path / "a.json")]) == 0
    first = _doc(tmp_path / "a.json")
    assert first["provenance"]["runs_computed"] == len(first["runs"])
    assert all(r["status"] == "ok" for r in first["runs"])
    assert LM.main(argv + ["--out", str(tmp_path / "b.json")]) == 0
    second = _doc(tmp_path / "b.json")
    assert second["provenance"]["runs_computed"] == 0
    assert second["runs"] == first["runs"]


# ---------------------------------------------------------------------------- the figure
def test_the_figure_is_drawn_from_a_runs_file_with_its_hash(fake_file, tmp_path):
    from mupsim.experiments.make_figures import write_outputs

    doc, source = F10.load_runs(fake_file)
    data = F10.analyse(doc, source)
    write_outputs(data, F10.plot(data), tmp_path)
    out = json.loads((tmp_path / "f10_long_memory.json").read_text())
    assert out["provenance"]["runs_file"]["sha256"] == hashlib.sha256(fake_file.read_bytes()).hexdigest()
    assert "alpha_hat" in out["headline"] and (tmp_path / "f10_long_memory.png").stat().st_size > 0
    assert set(out["summary"]["alpha_vs_tau"]) == {f"{t:g}" for t in LM.QUICK_TAUS}


def test_a_missing_runs_file_names_the_command_that_makes_it(tmp_path, monkeypatch):
    with pytest.raises(MupsimError, match="make long-memory"):
        F10.load_runs(tmp_path / "absent.json")

    class FullPipeline:
        quick = False

        def results(self, configs):  # pragma: no cover - F10 must not run anything
            raise AssertionError("F10 ran simulations")

    monkeypatch.setattr(LM, "RUNS_FILE", tmp_path / "absent.json")
    with pytest.raises(MupsimError, match="make long-memory"):
        F10.make(FullPipeline())


def test_a_file_of_another_format_is_refused(tmp_path):
    p = tmp_path / "other.json"
    p.write_text('{"format": "something else"}')
    with pytest.raises(MupsimError, match="format 'something else'"):
        F10.load_runs(p)


def _diverge(doc, key):
    run = next(r for r in doc["runs"] if r["key"] == key)
    run["status"], run["diverged_step"] = "diverged", 10
    for m in run["matrices"].values():
        for q in m:
            m[q] = [None] * len(m[q])
    return run


def test_a_diverged_run_is_flagged_and_left_out_of_every_fit(fake_file):
    doc = _doc(fake_file)
    tau = LM.QUICK_TAUS[0]
    victim = next(r for r in doc["runs"] if r["rule"] == "timescale" and r["tau0"] == tau)
    before = F10.analyse(_doc(fake_file))["summary"]["alpha_vs_tau"][f"{tau:g}"]["pooled"]
    _diverge(doc, victim["key"])
    data = F10.analyse(doc)
    assert [d["key"] for d in data["dropped"]] == [victim["key"]] and data["n_dropped"] == 1
    assert {r["status"] for r in data["rows"] if r["key"] == victim["key"]} == {"diverged"}
    after = data["summary"]["alpha_vs_tau"][f"{tau:g}"]["pooled"]
    i = after["widths"].index(victim["width"])
    assert after["n_per_width"][i] == before["n_per_width"][i] - 1


def test_a_record_still_moving_is_refused_with_its_reason_and_listed(fake_file):
    doc = _doc(fake_file)
    run = next(r for r in doc["runs"] if r["rule"] == "constant")
    t = np.asarray(run["log_steps"], float)
    m = next(iter(run["matrices"]))
    run["matrices"][m]["sigma_max"] = (1.0 + 3.0 * t / t[-1]).tolist()  # +60% over the last half
    data = F10.analyse(doc)
    listed = [
        e for e in data["summary"]["excluded_not_steady"] if e["key"] == run["key"] and e["matrix"] == m
    ]
    assert listed and "sigma_max: still moving" in listed[0]["excluded_reason"]


def test_a_capped_run_is_absent_from_the_exponents_beyond_its_length(fake_file):
    data = F10.analyse(_doc(fake_file))
    capped = [r for r in data["rows"] if r.get("capped") and r["status"] == "ok"]
    assert capped and all(r["n_relax"] < max(F10.RUN_LENGTHS) for r in capped)
    for r in capped:
        assert math.isnan(r[f"gain_at_{max(F10.RUN_LENGTHS):g}tau"])
        assert math.isfinite(r[f"gain_at_{min(F10.RUN_LENGTHS):g}tau"])
    assert len(data["summary"]["capped"]) == len({r["key"] for r in capped})


def test_the_notes_say_how_the_memory_grows_with_width_under_each_rule(fake_file):
    notes = F10.analyse(_doc(fake_file))["summary"]["notes"]
    assert any(n.startswith("fan2025: τ_l grows as n^0.50") for n in notes)
    assert any(n.startswith("timescale: τ_l = ") and "every width" in n for n in notes)


# ---------------------------------------------------------------------------- the stable-rank model, held out
def _srank_rows(scale=1.0, tau=256.0, widths=(64, 128, 256, 512), seeds=(0, 1), refuse=()):
    """Timescale records of W1 whose steady stable rank is ``scale`` times the frozen model's."""
    from mupsim import stable_rank as SR

    p = SR.CALIBRATED["block0.W1"]
    return [
        {
            "key": f"{n}-{s}",
            "rule": "timescale",
            "tau0": tau,
            "width": n,
            "seed": s,
            "matrix": "block0.W1",
            "status": "ok",
            "steady_stable_rank": (n, s) not in refuse,
            "stable_rank_ss": scale * float(SR.predict_srank(n, tau, 128, 256, p)),
        }
        for n in widths
        for s in seeds
    ]


def _theory(rows, tau=256.0):
    mats = ["block0.W1"]
    alpha = F10.alpha_vs_tau(rows, mats, [tau])
    task = {"batch_size": 128, "input_dim": 256}
    return F10.srank_theory(rows, mats, [tau], alpha, task)[f"{tau:g}"]["block0.W1"]


# Both exponents are least-squares slopes of the same float64 logs over the same records, so they
# agree to rounding (~1e-15 relative); 1e-9 is far below any physical difference.
EXACT = 1e-9


def test_runs_that_follow_the_stable_rank_model_lie_within_its_tolerance():
    e = _theory(_srank_rows())
    assert e["max_abs_log_ratio"] < EXACT and abs(e["rho_error"]) < EXACT
    assert e["local_rho_hat"] == pytest.approx(e["local_rho_predicted"], abs=EXACT)
    assert e["within"] is True


def test_the_local_exponents_are_slopes_of_log_stable_rank_against_log_width():
    from mupsim import stable_rank as SR

    e = _theory(_srank_rows())
    pred = [
        float(SR.predict_srank(n, 256.0, 128, 256, SR.CALIBRATED["block0.W1"])) for n in (64, 128, 256, 512)
    ]
    want = [math.log(b / a) / math.log(2.0) for a, b in zip(pred[:-1], pred[1:])]
    assert e["local_rho_predicted"] == pytest.approx(want, rel=EXACT)


def test_a_stable_rank_off_by_more_than_the_tolerance_is_outside():
    from mupsim.stable_rank import TOL_LOG_SRANK

    e = _theory(_srank_rows(scale=math.exp(TOL_LOG_SRANK) * 1.05))
    assert abs(e["rho_error"]) < EXACT and e["max_abs_log_ratio"] > TOL_LOG_SRANK
    assert e["within"] is False


def test_a_width_growth_off_by_more_than_the_tolerance_is_outside():
    from mupsim.stable_rank import TOL_LOG_SRANK, TOL_RHO

    rows = _srank_rows()
    mid = math.sqrt(64 * 512)
    for r in rows:  # tilt by n^(1.5·TOL_RHO) about the middle width: each rank still within tolerance
        r["stable_rank_ss"] *= (r["width"] / mid) ** (1.5 * TOL_RHO)
    e = _theory(rows)
    assert e["max_abs_log_ratio"] <= TOL_LOG_SRANK
    assert e["rho_error"] == pytest.approx(-1.5 * TOL_RHO, abs=EXACT) and e["within"] is False


def test_a_record_refused_as_not_steady_is_left_out_of_the_comparison():
    e = _theory(_srank_rows(refuse={(512, 0), (512, 1)}))
    last = e["points"][-1]
    assert last["width"] == 512 and last["n_steady"] == 0 and math.isnan(last["measured"])
    assert e["local_widths"] == [64, 128, 256]


def test_runs_of_the_other_tasks_enter_their_own_panel_only(fake_file):
    summary = F10.analyse(_doc(fake_file))["summary"]
    spec = LM.spec(quick=True)
    assert set(summary["variants"]) == {"task", *LM.QUICK_VARIANTS}
    cfgs = [c for c in LM.configs(1, quick=True) if LM.rule_of(c.to_dict()) == "timescale"]
    for name, v in LM.QUICK_VARIANTS.items():
        tau = v["taus"][0]
        at_tau = [c for c in cfgs if math.isclose(LM.tau0_of(c.to_dict()), tau)]
        mine = sum(LM.variant_of(c.to_dict(), spec) == name for c in at_tau)
        assert summary["variants"][name]["alpha"][f"{tau:g}"]["n_runs"] == mine
        own = sum(LM.variant_of(c.to_dict(), spec) == "task" for c in at_tau)
        assert summary["alpha_vs_tau"][f"{tau:g}"]["n_runs"] == own


def test_the_stable_rank_model_is_held_to_gaussian_inputs_only(fake_file):
    variants = F10.analyse(_doc(fake_file))["summary"]["variants"]
    assert "stable_rank_theory" in variants["more_inputs"] and "stable_rank_theory" in variants["task"]
    assert "stable_rank_theory" not in variants["next_token"]


def test_a_file_whose_every_run_diverged_still_draws_every_panel(fake_file, tmp_path):
    from mupsim.experiments.make_figures import write_outputs

    doc = _doc(fake_file)
    for run in doc["runs"]:
        _diverge(doc, run["key"])
    data = F10.analyse(doc)
    write_outputs(data, F10.plot(data), tmp_path)
    assert (tmp_path / "f10_long_memory.png").stat().st_size > 0

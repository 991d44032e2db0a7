"""Specs and analysis of the rich token regime (F3b, F4b, F9's token point)."""

from mupsim.experiments import common
from mupsim.experiments.fake import fake_run
from mupsim.experiments.figures import f3_sigma_max_vs_width as F3
from mupsim.experiments.figures import f3b_sigma_max_vs_width_rich as F3B
from mupsim.experiments.figures import f4_wd_rules as F4
from mupsim.experiments.figures import f4b_wd_rules_rich as F4B
from mupsim.experiments.figures import f9_alpha_phase_diagram as F9


def test_f3_rich_is_f3_baseline_on_the_token_task():
    cfgs = F3B.configs(quick=True)
    base = F3.baseline_configs(quick=True)
    assert len(cfgs) == len(base)
    for c, b in zip(cfgs, base):
        assert c == b.replace(**common.RICH_TOKENS)


def test_f4_rich_runs_alignment_at_both_alphas():
    cfgs = F4B.configs(quick=True, alpha_rich=0.83, alpha_fixed=0.96)
    exps = {c.alignment_exponent for c in cfgs if c.wd_rule == "alignment"}
    assert exps == {0.83, 0.96}
    assert {c.wd_rule for c in cfgs} == {"constant", "fan2025", "timescale", "alignment"}
    assert all(c.inputs == "tokens" and c.output_dim == 32 for c in cfgs)


def test_f4_rich_runs_one_alignment_rule_when_the_alphas_round_equal():
    cfgs = F4B.configs(quick=True, alpha_rich=0.9601, alpha_fixed=0.9604)
    keys = [c.key() for c in cfgs if c.wd_rule == "alignment"]
    assert len(keys) == len(set(keys)) == len(common.QUICK.widths) * len(common.QUICK.seeds)


def test_f4_rich_without_alphas_has_no_alignment_rule():
    assert not [c for c in F4B.configs(quick=True) if c.wd_rule == "alignment"]


def test_f9_has_the_token_regime_as_a_point_and_a_panel():
    label = F9.point_label(common.RICH_TOKENS)
    assert F9.points()[label] == common.RICH_TOKENS
    assert F9.panels()[F9.F9_TOKENS_PANEL] == [(1.0, label)]
    labels = F9.labels(F9.configs(quick=False))
    assert label in set(labels.values())


def test_f4_analysis_keeps_two_alignment_rules_apart():
    cfgs = F4B.configs(quick=True, alpha_rich=0.83, alpha_fixed=0.96)
    data = F4.analyse([fake_run(c) for c in cfgs])
    assert {"alignment(α̂=0.83)", "alignment(α̂=0.96)"} <= set(data["series"])

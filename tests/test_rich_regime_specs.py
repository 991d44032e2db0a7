"""Specs and analysis of the rich token regime (F3b, F4b, F9's token point)."""

from mupsim.experiments import analyse as A
from mupsim.experiments import specs as S
from mupsim.experiments.fake import fake_run


def test_f3_rich_is_f3_baseline_on_the_token_task():
    cfgs = S.f3_rich(quick=True)
    base = S.f3_baseline(quick=True)
    assert len(cfgs) == len(base)
    for c, b in zip(cfgs, base):
        assert c == b.replace(**S.RICH_TOKENS)


def test_f4_rich_runs_alignment_at_both_alphas():
    cfgs = S.f4_rich(quick=True, alpha_rich=0.83, alpha_fixed=0.96)
    exps = {c.alignment_exponent for c in cfgs if c.wd_rule == "alignment"}
    assert exps == {0.83, 0.96}
    assert {c.wd_rule for c in cfgs} == {"constant", "fan2025", "timescale", "alignment"}
    assert all(c.inputs == "tokens" and c.output_dim == 32 for c in cfgs)


def test_f4_rich_runs_one_alignment_rule_when_the_alphas_round_equal():
    cfgs = S.f4_rich(quick=True, alpha_rich=0.9601, alpha_fixed=0.9604)
    keys = [c.key() for c in cfgs if c.wd_rule == "alignment"]
    assert len(keys) == len(set(keys)) == len(S.QUICK.widths) * len(S.QUICK.seeds)


def test_f4_rich_without_alphas_has_no_alignment_rule():
    assert not [c for c in S.f4_rich(quick=True) if c.wd_rule == "alignment"]


def test_f9_has_the_token_regime_as_a_point_and_a_panel():
    label = S._point_label(S.RICH_TOKENS)
    assert S.f9_points()[label] == S.RICH_TOKENS
    assert S.f9_panels()[S.F9_TOKENS_PANEL] == [(1.0, label)]
    labels = S.f9_labels(S.f9(quick=False))
    assert label in set(labels.values())


def test_f4_analysis_keeps_two_alignment_rules_apart():
    cfgs = S.f4_rich(quick=True, alpha_rich=0.83, alpha_fixed=0.96)
    data = A.f4([fake_run(c) for c in cfgs])
    assert {"alignment(α̂=0.83)", "alignment(α̂=0.96)"} <= set(data["series"])

"""F10b (λ transfer at a long weight-decay memory): its runs, and its analysis on synthetic
results whose loss is an exact bowl in the hidden matrices' η_l·λ_l."""

import dataclasses
import math

import numpy as np
import pytest

from mupsim.experiments.fake import fake_run
from mupsim.experiments.figures import f5c_onepass_transfer as F5C
from mupsim.experiments.figures import f10b_long_memory_transfer as F10B
from mupsim.sim.settings import settings_for

OPT_LOG2_DECAY = -11.0  # the bowl's optimum: η_l·λ_l = 2^-11, a memory τ_l = 1/(2·2^-11) = 1,024 steps


def _bowl(c):
    """A fake run whose log held-out loss is log 0.1 + 0.01·(log2(η_l·λ_l) − OPT)², exactly (the
    transfer analysis fits parabolas to log losses)."""
    r = fake_run(c)
    h = settings_for(c).layers["hidden"]
    loss = np.full(len(r.steps), 0.1 * math.exp(0.01 * (math.log2(h.lr * h.wd) - OPT_LOG2_DECAY) ** 2))
    return dataclasses.replace(r, test_loss=loss, train_loss=loss, status="ok", diverged_step=None)


@pytest.fixture(scope="module")
def bowl():
    results = [_bowl(c) for c in F10B.configs()]
    widths = sorted({r.config["width"] for r in results})
    return F10B.analyse(results, F5C.hidden_wd_factors(widths, rules=F10B.RULES, base=F10B.base()))


def test_runs_are_f5c_stretched_forty_times_with_the_hidden_matrices_decayed_only():
    cfgs = F10B.configs()
    assert {(c.steps, c.warmup_steps, c.schedule) for c in cfgs} == {(24_000, 1_200, "cosine")}
    assert {c.wd_rule for c in cfgs} == {"fan2025"} and {c.io_wd_rule for c in cfgs} == {None}
    layers = settings_for(cfgs[0]).layers
    assert layers["embedding"].wd == 0 and layers["readout"].wd == 0 and layers["hidden"].wd > 0
    extra = sum(len(t) for t in F10B.STRONG_DECAY_TAUS.values())
    assert len(cfgs) == (len(F10B.TAUS) * len(F10B.WIDTHS) + extra) * len(F10B.SEEDS)


def test_the_grid_spans_memories_of_256_to_4096_steps_at_the_base_width():
    taus = sorted({1 / (2 * c.lr * c.wd) for c in F10B.configs() if c.width == 64})
    assert taus[0] == pytest.approx(256) and taus[-1] == pytest.approx(4096) and len(taus) == 9


def test_the_rule_that_keeps_the_bowl_fixed_transfers_and_the_others_drift_by_their_exponents(bowl):
    d = bowl["summary"]["wd_per_seed"]
    # optimum at fixed η_l·λ_l: timescale keeps it; fan2025's λ_l ∝ √n needs base λ ∝ √n; constant ∝ n
    assert d["timescale"]["per_doubling"] == pytest.approx(0.0, abs=1e-6)
    assert d["fan2025"]["per_doubling"] == pytest.approx(0.5, abs=1e-6)
    assert d["constant"]["per_doubling"] == pytest.approx(1.0, abs=1e-6)
    assert bowl["summary"]["verdict"] == {
        "constant": "grows with width",
        "fan2025": "grows with width",
        "timescale": "transfers",
    }


def test_the_memory_at_the_optimum_is_the_bowls_at_every_width(bowl):
    mem = bowl["summary"]["memory_at_optimum"]
    assert set(mem) == {"64", "128", "256", "512"}
    for v in mem.values():
        assert v["tau_hidden_at_optimum"] == pytest.approx(1024, rel=1e-6)


def test_a_drift_within_the_margin_transfers_one_excluding_zero_drifts_and_a_wide_one_is_unresolved():
    m = F10B.TRANSFER_MARGIN
    assert F10B.verdict({"ci": [-m / 2, m / 2]}) == "transfers"
    assert F10B.verdict({"ci": [m / 4, m / 2]}) == "transfers"
    assert F10B.verdict({"ci": [-4 * m, -2 * m]}) == "falls with width"
    assert F10B.verdict({"ci": [m / 2, 3 * m]}) == "grows with width"
    assert F10B.verdict({"ci": [-2 * m, 2 * m]}) == "unresolved"
    assert F10B.verdict({}) == "unresolved"


def test_the_widest_grid_reaches_on_toward_strong_decay():
    taus = sorted({1 / (2 * c.lr * c.wd) for c in F10B.configs() if c.width == 512})
    assert taus[0] == pytest.approx(64) and taus[-1] == pytest.approx(4096) and len(taus) == 13

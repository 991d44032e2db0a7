"""The ensemble backend runs every task family of the numba loop, member for member.

Float64 on CPU: token inputs (Zipf), classification with label noise, fixed train sets, a
teacher that grows with width and the next-token task (its sampled targets included) agree with each member's own numba run at the tolerances of
tests/test_ensemble.py; the batches themselves are the numba batches; every config the
figures run is accepted.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the ensemble backend needs PyTorch ('.[torch]')")

from test_ensemble import BASE, assert_same_run  # noqa: E402

from mupsim.sim.config import SimConfig  # noqa: E402
from mupsim.sim.data import BatchStream  # noqa: E402
from mupsim.sim.ensemble import group_key, run_group, unsupported_reason  # noqa: E402
from mupsim.sim.ensemble.engine import _batches  # noqa: E402
from mupsim.sim.ensemble.rng import sample_rows  # noqa: E402
from mupsim.sim.kernels.data import sample_batch  # noqa: E402
from mupsim.sim.run import prepare, run  # noqa: E402

FAMILIES = {
    "zipf_tokens": dict(inputs="tokens", zipf_exponent=1.5, input_dim=12),
    "zipf_tokens_regression_noise": dict(inputs="tokens", input_dim=12, label_noise=0.3),
    "classification_label_noise": dict(task="classification", output_dim=4, label_noise=0.4),
    "token_classification_label_noise": dict(
        inputs="tokens", input_dim=12, task="classification", output_dim=3, label_noise=0.6
    ),
    "fixed_train_set": dict(n_train=40, label_noise=1.0),
    "fixed_train_set_classification": dict(n_train=40, task="classification", output_dim=3, label_noise=0.2),
    "teacher_width_grows_with_width": dict(teacher_width_exponent=1.0, teacher_rank=4),
    "rich_tokens_growing_teacher": dict(inputs="tokens", input_dim=12, teacher_width_exponent=0.5),
    "next_token_c2": dict(task="next_token", inputs="tokens", context=2, output_dim=12, input_dim=24),
    "next_token_c3_fixed_train_set": dict(
        task="next_token", inputs="tokens", context=3, output_dim=8, input_dim=24, logit_scale=2.0, n_train=40
    ),
}


def _device_batches(cfgs):
    preps = [prepare(c) for c in cfgs]
    gen = _batches(
        preps,
        cfgs[0].batch_size,
        cfgs[0].task == "classification",
        lambda a, dtype=torch.float64: torch.as_tensor(np.asarray(a), dtype=dtype),
    )
    return preps, gen


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_member_matches_its_numba_run_in_float64(family):
    v = FAMILIES[family]
    cfgs = [SimConfig(**{**BASE, **v, "lr": BASE["lr"] * f, "seed": s}) for f, s in ((1, 0), (2, 1), (1, 2))]
    assert all(unsupported_reason(c) is None for c in cfgs)
    assert len({group_key(c) for c in cfgs}) == 1
    for a, c in zip(run_group(cfgs, device="cpu"), cfgs):
        assert_same_run(a, run(c))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_batches_are_the_numba_batches(family):
    cfgs = [SimConfig(**{**BASE, **FAMILIES[family], "seed": s}) for s in (0, 5)]
    preps, gen = _device_batches(cfgs)
    for i, p in enumerate(preps):
        stream = BatchStream(p.data, cfgs[0].batch_size)
        for t in range(cfgs[0].steps + 1):  # in order: a train set's permutation carries over
            X, T = stream.batch(t)
            Xg, Tg = gen(t)
            # Box–Muller's log/cos/sin: libm vs torch may differ in the last bit
            np.testing.assert_allclose(Xg[i].numpy(), X, rtol=0, atol=1e-14)
            np.testing.assert_allclose(Tg[i].numpy(), T, rtol=0, atol=1e-14)


def test_label_noise_replaces_classes_at_the_stated_rate():
    cfg = SimConfig(
        **{**BASE, "task": "classification", "output_dim": 4, "label_noise": 0.5, "batch_size": 256}
    )
    _, gen = _device_batches([cfg])
    clean = SimConfig(**{**BASE, "task": "classification", "output_dim": 4, "batch_size": 256})
    _, gen0 = _device_batches([clean])
    ts = torch.arange(40)
    T, T0 = gen.many(ts)[1], gen0.many(ts)[1]
    changed = (T.argmax(-1) != T0.argmax(-1)).double().mean().item()
    # a flipped row keeps its class with probability 1/4: expected change 0.5 · 3/4
    assert abs(changed - 0.375) < 0.02  # 10,240 rows: 4.7 standard deviations


def test_sampled_rows_are_the_numba_samplers_rows():
    n, b, steps = 50, 16, 9
    rows = sample_rows(3, n, b, steps)
    perm = np.arange(n)
    Xtr = np.arange(n, dtype=np.float64).reshape(n, 1)
    X, T = np.zeros((b, 1)), np.zeros((b, 1))
    for t in range(steps + 1):
        sample_batch(perm, Xtr, Xtr, X, T, 3, t)
        np.testing.assert_array_equal(rows[t], X[:, 0].astype(np.int64))
        assert len(set(rows[t])) == b


def test_a_teacher_of_another_width_is_another_group():
    a = SimConfig(**{**BASE, "teacher_width_exponent": 1.0})
    b = SimConfig(**{**BASE, "teacher_width_exponent": 1.0, "base_width": 8})
    assert a.teacher_dims()[0] != b.teacher_dims()[0]
    assert group_key(a) != group_key(b)


def test_every_config_the_figures_run_is_accepted():
    from mupsim.experiments.figures import FIGURES

    refused = {}
    for name, fig in FIGURES.items():
        for quick in (False, True):
            for c in fig.configs(quick):
                why = unsupported_reason(c)
                if why is not None:
                    refused.setdefault(name, why)
    assert refused == {}


def test_next_token_members_with_different_logit_scales_share_a_stack_and_match_numba():
    nt = FAMILIES["next_token_c2"]
    cfgs = [
        SimConfig(**{**BASE, **nt, "logit_scale": beta, "seed": s})
        for beta, s in ((1.0, 0), (3.2, 0), (2.0, 1))
    ]
    assert len({group_key(c) for c in cfgs}) == 1
    for a, c in zip(run_group(cfgs, device="cpu"), cfgs):
        b = run(c)
        assert_same_run(a, b)
        assert a.provenance["teacher_entropy"] == b.provenance["teacher_entropy"]

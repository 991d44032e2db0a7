"""Task families: input covariance power law, Zipfian token inputs, teacher width scaling and
spectrum, output dimension. Validation, generator statistics, and runs of each family."""

import numpy as np
import pytest

from mupsim.errors import MupsimError
from mupsim.sim.config import SimConfig
from mupsim.sim.data import input_scale, make_dataset, teacher, token_cdf, token_probabilities
from mupsim.sim.run import run

TINY = dict(width=16, base_width=16, steps=20, batch_size=8, n_test=16, n_logs=4, lr=1e-2)


def _rejects(match, **kw):
    with pytest.raises(MupsimError, match=match):
        SimConfig(**kw)


# ---------------------------------------------------------------------- validation
def test_task_family_defaults_are_the_original_isotropic_fixed_teacher_task():
    c = SimConfig()
    assert (c.inputs, c.input_spectrum, c.zipf_exponent) == ("gaussian", 0.0, 1.0)
    assert (c.teacher_width_exponent, c.teacher_decay) == (0.0, None)
    assert c.teacher_dims() == (64, None)


@pytest.mark.parametrize("field", ["input_spectrum", "teacher_width_exponent", "teacher_decay"])
def test_negative_task_exponents_are_rejected_with_field_name(field):
    _rejects(rf"^{field}=-0\.5 is out of range; allowed: finite values in \[0\.0, inf\]", **{field: -0.5})


def test_negative_zipf_exponent_is_rejected():
    _rejects(r"^zipf_exponent=-1\.0 is out of range", inputs="tokens", zipf_exponent=-1.0)


def test_unknown_input_kind_is_rejected_listing_choices():
    _rejects("inputs.*gaussian.*tokens", inputs="text")


def test_token_vocabulary_below_two_is_rejected():
    _rejects(
        r"inputs='tokens' needs input_dim \(the vocabulary size V\) >= 2; got input_dim=1",
        inputs="tokens",
        input_dim=1,
    )


def test_zero_teacher_width_is_rejected():
    _rejects("teacher_width must be an integer >= 1; got 0", teacher_width=0)


def test_input_spectrum_with_tokens_is_rejected():
    _rejects("input_spectrum=1.0 applies to inputs='gaussian' only", inputs="tokens", input_spectrum=1.0)


def test_zipf_exponent_with_gaussian_inputs_is_rejected():
    _rejects("zipf_exponent=1.5 applies to inputs='tokens' only", zipf_exponent=1.5)


def test_task_fields_round_trip_through_dict_and_change_the_key():
    c = SimConfig(
        inputs="tokens", input_dim=50, zipf_exponent=1.2, teacher_width_exponent=0.5, teacher_decay=1.0
    )
    assert SimConfig.from_dict(c.to_dict()) == c
    assert c.key() != c.replace(zipf_exponent=1.3).key()


# ---------------------------------------------------------------------- teacher
def test_teacher_width_and_rank_scale_as_width_over_base_width_to_the_rho():
    c = SimConfig(width=256, base_width=64, teacher_width=16, teacher_rank=4, teacher_width_exponent=0.5)
    assert c.teacher_dims() == (32, 8)
    assert c.replace(width=1024).teacher_dims() == (64, 16)
    A1, A2 = teacher(c)
    assert A1.shape == (32, c.input_dim) and A2.shape == (1, 32)
    assert np.linalg.matrix_rank(A1) == 8


def test_teacher_width_never_rounds_below_one():
    c = SimConfig(width=1, base_width=64, teacher_width=2, teacher_width_exponent=1.0)
    assert c.teacher_dims() == (1, None)


def test_teacher_decay_sets_power_law_singular_values_keeping_frobenius_norm():
    c = SimConfig(input_dim=32, teacher_width=64, teacher_decay=1.5)
    A1, _ = teacher(c)
    A1g, _ = teacher(c.replace(teacher_decay=None))
    s = np.linalg.svd(A1, compute_uv=False)
    i = np.arange(1, 33)
    np.testing.assert_allclose(s / s[0], i**-1.5, rtol=1e-10)
    assert np.linalg.norm(A1) == pytest.approx(np.linalg.norm(A1g), rel=1e-12)


def test_teacher_decay_with_rank_keeps_only_rank_directions():
    A1, _ = teacher(SimConfig(input_dim=32, teacher_width=64, teacher_rank=5, teacher_decay=0.0))
    s = np.linalg.svd(A1, compute_uv=False)
    np.testing.assert_allclose(s[:5], s[0], rtol=1e-10)  # q = 0: flat over the rank
    assert s[5] < 1e-10 * s[0]


# ---------------------------------------------------------------------- generators
def test_sampled_input_covariance_has_the_power_law_spectrum():
    k, s, N = 8, 1.0, 40000
    c = SimConfig(input_dim=k, input_spectrum=s, n_test=N)
    X = make_dataset(c).X_test
    lam = np.arange(1, k + 1) ** -s
    lam *= k / lam.sum()
    np.testing.assert_allclose(input_scale(c) ** 2, lam, rtol=1e-12)
    C = X.T @ X / N
    # sample variance of a Gaussian coordinate has relative std sqrt(2/N) = 0.7%: allow 5σ
    np.testing.assert_allclose(np.diag(C), lam, rtol=5 * np.sqrt(2 / N))
    off = C - np.diag(np.diag(C))
    assert np.abs(off).max() < 5 * np.sqrt(lam.max() * lam.max() / N)


def test_isotropic_inputs_apply_no_scaling():
    c = SimConfig(input_dim=8, n_test=64)
    assert input_scale(c).size == 0 and token_cdf(c).size == 0
    X0 = make_dataset(c).X_test
    X1 = make_dataset(c.replace(input_spectrum=1e-300)).X_test  # scale 1 to the last bit
    assert np.array_equal(X0, X1)


def test_token_inputs_are_one_hot_with_zipf_frequencies():
    V, z, N = 20, 1.2, 40000
    c = SimConfig(inputs="tokens", input_dim=V, zipf_exponent=z, n_test=N)
    X = make_dataset(c).X_test
    assert set(np.unique(X)) == {0.0, 1.0} and (X.sum(axis=1) == 1).all()
    freq = X.mean(axis=0)
    p = np.arange(1, V + 1) ** -z
    p /= p.sum()
    np.testing.assert_allclose(token_probabilities(c), p, rtol=1e-12)
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / N))


def test_token_targets_are_the_teacher_on_the_token_column():
    c = SimConfig(inputs="tokens", input_dim=30, output_dim=3, n_test=50)
    d = make_dataset(c)
    tok = d.X_test.argmax(axis=1)
    want = np.maximum(d.A1[:, tok].T, 0) @ d.A2.T
    np.testing.assert_allclose(d.T_test, want, rtol=1e-12)
    # token features have unit variance (A1 scaled by sqrt(V))
    assert np.var(d.A1) == pytest.approx(1.0, rel=0.2)


# ---------------------------------------------------------------------- runs
@pytest.mark.parametrize(
    "task",
    [
        dict(input_dim=32, input_spectrum=1.0),
        dict(inputs="tokens", input_dim=64, zipf_exponent=1.0),
        dict(inputs="tokens", input_dim=64, task="classification", output_dim=5, n_train=32),
        dict(teacher_width=8, teacher_width_exponent=1.0, teacher_decay=1.0, width=32),
        dict(task="next_token", inputs="tokens", context=2, output_dim=16, input_dim=32),
    ],
)
def test_each_task_family_trains_without_divergence(task):
    r = run(SimConfig(**{**TINY, **task}))
    assert r.status == "ok"
    assert r.train_loss[-1] < r.train_loss[0]


def test_regression_with_output_dim_128_trains_and_logs_readout_ranks():
    r = run(SimConfig(**{**TINY, "output_dim": 128, "steps": 40}))
    assert r.status == "ok" and r.train_loss[-1] < r.train_loss[0]
    assert r.config["output_dim"] == 128
    # readout 128 x 16: all four top singular values exist
    assert np.isfinite([r.final(f"sv{i}", "readout") for i in range(1, 5)]).all()


def test_float32_runs_of_the_new_generators_are_finite():
    for task in (
        dict(input_dim=32, input_spectrum=2.0),
        dict(inputs="tokens", input_dim=64),
        dict(task="next_token", inputs="tokens", context=2, output_dim=16, input_dim=32),
    ):
        r = run(SimConfig(**{**TINY, **task, "dtype": "float32"}))
        assert r.status == "ok" and np.isfinite(r.train_loss).all()


def test_token_embedding_is_initialised_as_a_lookup_without_fan_in_factor():
    from mupsim.sim.run import prepare

    g = prepare(SimConfig(input_dim=256, width=64, base_width=64))
    t = prepare(SimConfig(inputs="tokens", input_dim=256, width=64, base_width=64))
    std = lambda p: float(np.std(p.layout.view(p.theta0, p.layout.emb)))  # noqa: E731
    assert std(t) == pytest.approx(16.0 * std(g), rel=1e-9)  # sqrt(256): no 1/sqrt(k)


# ---------------------------------------------------------------------- memory estimate
def test_memory_estimate_counts_the_scaled_teacher_and_all_logged_metrics():
    from mupsim.sim import limits
    from mupsim.sim.result import MATRIX_METRICS

    assert limits.N_METRICS == len(MATRIX_METRICS)
    c = SimConfig(width=1024, base_width=64, teacher_width=64, input_dim=256)
    grown = c.replace(teacher_width_exponent=1.0)  # teacher 1024 wide
    assert grown.teacher_dims()[0] == 1024
    extra = limits.estimate_bytes(grown) - limits.estimate_bytes(c)
    assert extra >= 8 * (1024 - 64) * (256 + 1)  # the larger A1, A2 at least
    assert limits.estimate_bytes(c.replace(teacher_decay=1.0)) > limits.estimate_bytes(c)


def test_a_teacher_scaled_past_the_memory_limit_is_refused(monkeypatch):
    from mupsim.sim import limits

    kw = dict(width=512, base_width=16, teacher_width=16, input_dim=256, n_test=16384)
    base = limits.estimate_bytes(SimConfig(**kw))
    grown = limits.estimate_bytes(SimConfig(**kw, teacher_width_exponent=1.0))  # 512 wide
    assert grown > 1.5 * base
    monkeypatch.setenv("MUPSIM_MAX_BYTES", str(int(1.2 * base)))
    SimConfig(**kw)
    with pytest.raises(MupsimError, match="memory"):
        SimConfig(**kw, teacher_width_exponent=1.0)

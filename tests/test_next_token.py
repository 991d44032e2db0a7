"""The next-token task (``task="next_token"``): validation, the generator's contexts and
sampled targets, the stored teacher entropy, a short run's held-out loss against it, the
one-hot embedding lookup against the dense product, and the CLI.

Small sizes throughout (V ≤ 64, widths ≤ 64, few steps)."""

import json

import numpy as np
import pytest
from scipy import stats
from scipy.special import log_softmax

from mupsim.errors import MupsimError
from mupsim.sim.config import DEFAULT_LOGIT_SCALE, SimConfig
from mupsim.sim.data import BatchStream, make_dataset, teacher, teacher_logits, token_probabilities
from mupsim.sim.kernels.data import STREAM_ONLINE, STREAM_TEST, make_next_token_batch
from mupsim.sim.kernels.model import onehot_embed, onehot_embed_grad
from mupsim.sim.layout import A_LOOKUP
from mupsim.sim.run import execute, prepare, run

EPS64 = np.finfo(np.float64).eps


def nt(V=24, c=2, **kw):
    """A small next-token config with vocabulary V and context c."""
    base = dict(
        task="next_token",
        inputs="tokens",
        context=c,
        output_dim=V,
        input_dim=c * V,
        width=32,
        base_width=16,
        teacher_width=16,
        batch_size=16,
        n_test=64,
        n_logs=5,
        steps=20,
        lr=1e-2,
    )
    return SimConfig(**{**base, **kw})


def batch(cfg, rows, stream=STREAM_ONLINE, index=0):
    """(X, T) of ``rows`` rows from the compiled generator, float64."""
    d = make_dataset(cfg)
    X = np.zeros((rows, cfg.input_dim))
    T = np.zeros((rows, cfg.output_dim))
    hid = np.zeros((rows, d.A1.shape[0]))
    make_next_token_batch(X, T, hid, d.A1, d.A2, d.cdf, cfg.context, cfg.logit_scale, cfg.seed, stream, index)
    return X, T


def tokens(X, c, V):
    """(rows, c) context tokens of one-hot rows X (rows, c·V)."""
    return X.reshape(X.shape[0], c, V).argmax(axis=2)


# ---------------------------------------------------------------------- validation
def test_next_token_without_context_is_refused_naming_the_field():
    with pytest.raises(MupsimError, match=r"needs context .*integer >= 2.*got None"):
        SimConfig(task="next_token", inputs="tokens", output_dim=8, input_dim=16)


def test_a_context_of_one_token_is_refused():
    with pytest.raises(MupsimError, match=r"^context must be an integer >= 2; got 1"):
        nt(V=8, c=1)


@pytest.mark.parametrize("field,value", [("context", 2), ("logit_scale", 1.0)])
def test_next_token_fields_with_another_task_are_refused(field, value):
    with pytest.raises(MupsimError, match=rf"^{field}=.* applies to task='next_token' only; allowed .*None"):
        SimConfig(task="classification", output_dim=4, **{field: value})


def test_input_dim_other_than_context_times_vocabulary_is_refused_with_the_allowed_value():
    with pytest.raises(
        MupsimError, match=r"input_dim must be context\*output_dim = 2\*8 = 16; got input_dim=17"
    ):
        SimConfig(task="next_token", inputs="tokens", context=2, output_dim=8, input_dim=17)


def test_gaussian_inputs_are_refused():
    with pytest.raises(MupsimError, match=r"needs inputs='tokens'.*got inputs='gaussian'"):
        SimConfig(task="next_token", context=2, output_dim=8, input_dim=16)


def test_a_teacher_growing_with_width_is_refused():
    with pytest.raises(MupsimError, match=r"^teacher_width_exponent=0\.5 .*allowed: 0"):
        nt(teacher_width_exponent=0.5)


@pytest.mark.parametrize("beta", [0.0, -1.0])
def test_non_positive_logit_scale_is_refused(beta):
    with pytest.raises(
        MupsimError, match=r"^logit_scale=.* is out of range; allowed: finite values in \(0\.0, inf\]"
    ):
        nt(logit_scale=beta)


def test_label_noise_is_refused():
    with pytest.raises(
        MupsimError, match=r"^label_noise=0\.1 does not apply to task='next_token'.*allowed: 0"
    ):
        nt(label_noise=0.1)


def test_a_one_token_vocabulary_is_refused():
    with pytest.raises(
        MupsimError, match=r"needs output_dim \(the vocabulary size V\) >= 2; got output_dim=1"
    ):
        SimConfig(task="next_token", inputs="tokens", context=2, output_dim=1, input_dim=2)


# ---------------------------------------------------------------------- keys
def test_existing_result_keys_are_unchanged():
    # values of main before the task existed: the default config and the docs' token run
    assert SimConfig().key() == "56ace615fee801cb"
    tok = SimConfig(
        width=128,
        steps=1000,
        inputs="tokens",
        input_dim=512,
        zipf_exponent=1.1,
        output_dim=32,
        lr=0.0078125,
        wd=0.5,
        wd_rule="timescale",
    )
    assert tok.key() == "d8cee98b3f51ba12"
    assert "context" not in tok.to_dict() and "logit_scale" not in tok.to_dict()


def test_the_default_logit_scale_is_filled_in_and_keyed_like_an_explicit_one():
    c = nt()
    assert c.logit_scale == DEFAULT_LOGIT_SCALE
    assert c.key() == nt(logit_scale=DEFAULT_LOGIT_SCALE).key() != nt(logit_scale=1.0).key()
    assert SimConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c


# ---------------------------------------------------------------------- data
def test_a_batch_is_a_pure_function_of_seed_stream_and_index():
    cfg = nt()
    X1, T1 = batch(cfg, 32, STREAM_ONLINE, 5)
    batch(cfg, 32, STREAM_ONLINE, 4)  # another batch in between changes nothing
    X2, T2 = batch(cfg, 32, STREAM_ONLINE, 5)
    assert np.array_equal(X1, X2) and np.array_equal(T1, T2)
    X3, _ = batch(cfg, 32, STREAM_TEST, 5)
    X4, _ = batch(cfg.replace(seed=1), 32, STREAM_ONLINE, 5)
    X5, _ = batch(cfg, 32, STREAM_ONLINE, 6)
    assert not np.array_equal(X1, X3) and not np.array_equal(X1, X4) and not np.array_equal(X1, X5)


def test_contexts_are_c_one_hots_one_in_each_position_block():
    c, V = 3, 8
    X, _ = batch(nt(V=V, c=c), 200)
    assert set(np.unique(X)) == {0.0, 1.0}
    assert np.array_equal(X.reshape(200, c, V).sum(axis=2), np.ones((200, c)))


def test_context_tokens_are_iid_zipf_at_every_position():
    c, V, rows = 2, 8, 20000
    cfg = nt(V=V, c=c, zipf_exponent=1.2)
    tok = tokens(batch(cfg, rows)[0], c, V)
    p = token_probabilities(cfg)
    for q in range(c):
        counts = np.bincount(tok[:, q], minlength=V)
        assert stats.chisquare(counts, rows * p).pvalue > 1e-3
    # independence of the two positions: a contingency test
    table = np.zeros((V, V))
    np.add.at(table, (tok[:, 0], tok[:, 1]), 1)
    assert stats.chi2_contingency(table[:4, :4]).pvalue > 1e-3


def test_targets_are_one_hot_rows():
    _, T = batch(nt(), 300)
    assert set(np.unique(T)) == {0.0, 1.0} and np.array_equal(T.sum(axis=1), np.ones(300))


def test_targets_at_one_context_follow_the_softmax_of_the_teacher_logits():
    # V = 8, c = 2: context (0, 0) has probability p0² ≈ 0.135, ~5,500 rows of 40,000. Chi-square
    # goodness of fit of their targets to softmax(ℓ) (classes with expected count < 5 merged);
    # the draws are seeded, so the test is deterministic; p > 1e-3 refuses a wrong β (13% off
    # gives p ≈ 1e-20 here), a wrong inverse CDF or argmax targets.
    c, V = 2, 8
    cfg = nt(V=V, c=c, logit_scale=1.5)
    X, T = batch(cfg, 40000)
    rows = np.all(tokens(X, c, V) == 0, axis=1)
    counts = T[rows].sum(axis=0)
    p = np.exp(log_softmax(teacher_logits(cfg, X[rows][:1])[0]))
    expected = counts.sum() * p
    keep = expected >= 5
    obs = np.append(counts[keep], counts[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    if exp[-1] == 0:
        obs, exp = obs[:-1], exp[:-1]
    assert rows.sum() > 4000 and p.max() < 0.9  # a non-degenerate distribution
    assert stats.chisquare(obs, exp).pvalue > 1e-3


def test_teacher_first_layer_blocks_have_entry_variance_one_over_c():
    # tw·c·V = 64·2·256 entries: the sample variance has relative s.e. √(2/32768) = 0.8%; 4% is 5 s.e.
    cfg = nt(V=256, c=2, teacher_width=64)
    A1, _ = teacher(cfg)
    for q in range(2):
        assert A1[:, q * 256 : (q + 1) * 256].var() == pytest.approx(0.5, rel=0.04)


def test_stored_teacher_entropy_equals_a_direct_numpy_computation():
    cfg = nt(V=32, c=2, steps=2)
    r = run(cfg)
    d = make_dataset(cfg)
    A1, A2 = teacher(cfg)
    ell = cfg.logit_scale * (np.maximum(d.X_test @ A1.T, 0.0) @ A2.T)  # dense product
    logp = log_softmax(ell, axis=1)
    H = float(-(np.exp(logp) * logp).sum(axis=1).mean())
    # float64 sums of V = 32 terms and one log per row: ~1e-15 relative; 1e-12 leaves room
    assert r.provenance["teacher_entropy"] == pytest.approx(H, rel=1e-12)
    assert 0.0 < H < np.log(32)


def test_held_out_loss_falls_toward_the_teacher_entropy_and_stays_above_it():
    cfg = nt(V=16, c=2, width=64, steps=400, n_test=512, batch_size=64, lr=1e-2, n_logs=6)
    r = run(cfg)
    H = r.provenance["teacher_entropy"]
    d = make_dataset(cfg)
    logp = log_softmax(teacher_logits(cfg, d.X_test), axis=1)
    # s.e. of a mean of -log p(y) over n_test sampled targets: √(mean varentropy / n_test)
    varentropy = (np.exp(logp) * logp**2).sum(axis=1) - ((np.exp(logp) * logp).sum(axis=1)) ** 2
    se = np.sqrt(varentropy.mean() / cfg.n_test)
    first, last = r.test_loss[0], r.test_loss[-1]
    assert last - H < 0.3 * (first - H)  # most of the gap closed
    assert np.all(r.test_loss > H - 4 * se)  # never below the floor beyond sampling noise


# ---------------------------------------------------------------------- lookup
def _onehots(rows, c, V, seed=0):
    rng = np.random.default_rng(seed)
    X = np.zeros((rows, c * V))
    X[np.arange(rows)[:, None], np.arange(c) * V + rng.integers(0, 4, (rows, c))] = 1.0  # repeats
    return X


def test_lookup_forward_is_bit_identical_to_the_dense_product_for_two_tokens():
    # two nonzeros and exact zeros: every order of summation rounds to fl(a + b)
    X = _onehots(40, 2, 16)
    E = np.random.default_rng(1).standard_normal((24, 32))
    H = np.zeros((40, 24))
    onehot_embed(X, E, H)
    assert np.array_equal(H, X @ E.T)


def test_lookup_forward_with_three_tokens_agrees_to_the_rounding_of_a_three_term_sum():
    X = _onehots(40, 3, 16)
    E = np.random.default_rng(1).standard_normal((24, 48))
    H = np.zeros((40, 24))
    onehot_embed(X, E, H)
    bound = 2 * EPS64 * (np.abs(X) @ np.abs(E).T)  # (c−1)·ε·Σ|terms|
    assert np.all(np.abs(H - X @ E.T) <= bound)


def test_lookup_gradient_sums_repeated_tokens_in_row_order():
    X = _onehots(40, 2, 16)
    G = np.random.default_rng(2).standard_normal((40, 24))
    gE = np.full((24, 32), np.nan)
    onehot_embed_grad(G, X, gE, 0.37)
    ref = np.zeros((24, 32))
    for i, j in zip(*np.nonzero(X)):  # row by row, in order
        ref[:, j] += G[i] * X[i, j]
    touched = X.any(axis=0)
    ref[:, touched] *= 0.37
    assert np.array_equal(gE, ref)
    np.testing.assert_allclose(gE, 0.37 * (G.T @ X), rtol=1e-14, atol=1e-15)


def test_a_run_with_the_lookup_matches_the_dense_embedding_run():
    # c = 2, float64: the forward is bit-identical; the gradient's repeated tokens are summed in
    # row order, as OpenBLAS accumulates a batch of 16 (measured bit-identical here); another
    # BLAS may round those sums differently (~1e-16), hence the tolerance
    cfg = nt(V=16, c=2, steps=30, batch_size=16)
    out = {}
    for look in (0, 1):
        prep = prepare(cfg)
        prep.layout.arch[A_LOOKUP] = look
        out[look] = execute(prep)
    assert prepare(cfg).layout.arch[A_LOOKUP] == 1  # the task's own path
    np.testing.assert_allclose(out[1][0], out[0][0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(out[1][2], out[0][2], rtol=1e-12)


def test_plain_token_inputs_keep_the_dense_embedding_product():
    assert prepare(SimConfig(inputs="tokens", input_dim=8, steps=1)).layout.arch[A_LOOKUP] == 0


# ---------------------------------------------------------------------- reference, limits, CLI
def test_batches_seen_by_the_reference_are_the_compiled_loops():
    cfg = nt(steps=3)
    prep = prepare(cfg)
    X, T = BatchStream(prep.data, cfg.batch_size).batch(2)
    Xb, Tb = batch(cfg, cfg.batch_size, STREAM_ONLINE, 2)
    assert np.array_equal(X, Xb) and np.array_equal(T, Tb)


def test_the_memory_limit_refuses_a_large_vocabulary_with_the_usual_message(monkeypatch):
    from mupsim.sim import limits

    small = nt(V=64, c=2)
    big = dict(small.to_dict(), output_dim=4096, input_dim=8192, width=512)
    assert limits.estimate_bytes(SimConfig(**big)) > 8 * 512 * 8192 * 6  # E and its copies
    monkeypatch.setenv("MUPSIM_MAX_BYTES", "64M")
    with pytest.raises(MupsimError, match=r"this run would need about .* over the limit of 64 MiB"):
        SimConfig(**big)


def test_the_time_estimate_counts_the_vocabulary():
    from mupsim.sim import limits

    a = nt(V=1024, c=2, width=256, steps=100)
    b = nt(V=4096, c=2, width=256, steps=100)
    assert limits.estimate_seconds(b) > 2 * limits.estimate_seconds(a)


def test_simulate_runs_a_next_token_config_from_the_command_line(capsys):
    from mupsim.cli import main

    argv = (
        "simulate --task next_token --inputs tokens --context 2 --output-dim 16 --input-dim 32 "
        "--logit-scale 2.5 --lr 0.01 --width 16 --base-width 16 --teacher-width 8 --steps 5 --batch-size 8 "
        "--n-test 16 --n-logs 2 --format json"
    ).split()
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    cfg = nt(
        V=16, c=2, logit_scale=2.5, width=16, teacher_width=8, steps=5, batch_size=8, n_test=16, n_logs=2
    )
    assert out["key"] == cfg.key() and out["status"] == "ok"
    assert 0.0 < out["teacher_entropy"] < np.log(16)


def test_the_sweep_table_carries_the_teacher_entropy():
    from mupsim.sim.sweep_table import table

    r = run(nt(steps=2))
    (row,) = table([r])
    assert row["teacher_entropy"] == r.provenance["teacher_entropy"]
    assert row["context"] == 2 and row["logit_scale"] == DEFAULT_LOGIT_SCALE


def test_a_saved_result_keeps_the_teacher_entropy_under_its_content_hash(tmp_path):
    from mupsim.sim.result import Result

    r = run(nt(steps=2))
    r.save(tmp_path / "r")
    back = Result.load(tmp_path / "r")
    assert back == r and back.provenance["teacher_entropy"] == r.provenance["teacher_entropy"]


def test_teacher_logits_refuse_rows_that_are_not_c_one_hots():
    cfg = nt(V=8, c=2)
    X = np.zeros((3, 16))
    X[:, 0] = 1.0  # one token per row, not two
    with pytest.raises(MupsimError, match=r"X must hold context=2 one-hot tokens per row"):
        teacher_logits(cfg, X)

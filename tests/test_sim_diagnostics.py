"""Logged diagnostics match their documented definitions, recomputed with the reference."""

import numpy as np
import pytest

from mupsim.sim.config import SimConfig
from mupsim.sim.data import BatchStream
from mupsim.sim.kernels import diagnostics as D
from mupsim.sim.layout import activation_names
from mupsim.sim.reference import RefNet, train_reference
from mupsim.sim.run import execute, prepare, run

CFG = SimConfig(
    width=32,
    base_width=16,
    steps=30,
    lr=1e-2,
    wd=0.1,
    wd_rule="fan2025",
    batch_size=16,
    n_test=32,
    n_logs=8,
    bias=True,
    norm_gain=True,
)


@pytest.fixture(scope="module")
def logged():
    prep = prepare(CFG)
    theta, div, out_loss, out_mat, out_act = execute(prep)
    assert div == -1
    return prep, out_mat, out_act


def _rms(a):
    return float(np.sqrt(np.mean(np.asarray(a, float) ** 2)))


def test_update_geometry_matches_definitions_at_a_logged_step(logged):
    prep, out_mat, _ = logged
    li = len(prep.log_steps) - 1
    s = int(prep.log_steps[li])
    _, th_prev = train_reference(prep, steps=s - 1)
    _, th = train_reference(prep, steps=s)
    lay = prep.layout
    for mi, p in enumerate(lay.matrices):
        a, b = lay.view(th_prev, int(p)).ravel(), lay.view(th, int(p)).ravel()
        d = b - a
        cos_ab = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
        want = {
            D.M_RMS: _rms(b),
            D.M_UPD: _rms(d),
            D.M_REL: np.linalg.norm(d) / np.linalg.norm(a),
            D.M_ANG: np.arccos(np.clip(cos_ab, -1, 1)),
            D.M_COS: a @ d / (np.linalg.norm(a) * np.linalg.norm(d)),
            D.M_EFF: prep.p_lr[p] / _rms(b) ** 2,
        }
        for k, v in want.items():
            assert out_mat[k, mi, li] == pytest.approx(v, rel=1e-5), (lay.names[p], k)


def test_update_metrics_are_nan_at_step_zero(logged):
    _, out_mat, _ = logged
    for k in (D.M_UPD, D.M_REL, D.M_ANG, D.M_COS):
        assert np.isnan(out_mat[k, :, 0]).all()


def test_sublayer_gains_and_activation_rms_match_reference_forward(logged):
    prep, out_mat, out_act = logged
    li = len(prep.log_steps) - 1
    s = int(prep.log_steps[li])
    _, th = train_reference(prep, steps=s)
    lay = prep.layout
    P = {k: lay.view(th, k) for k in lay.names}
    net = RefNet(CFG, dict(zip(lay.names, prep.mult)), float(lay.farch[0]), float(lay.farch[1]))
    stream = BatchStream(prep.data, CFG.batch_size)
    for t in range(s + 1):
        X, T = stream.batch(t)
    Y, c = net.forward(P, X)
    m = dict(zip(lay.names, prep.mult))
    want_gain = {
        "embedding": _rms(c["hs"][0]) / _rms(X),
        "block0.W1": _rms(m["block0.W1"] * c["block0.z"] @ P["block0.W1"].T) / _rms(c["block0.z"]),
        "block0.W2": _rms(m["block0.W2"] * c["block0.s"] @ P["block0.W2"].T) / _rms(c["block0.s"]),
        "readout": _rms(Y) / _rms(c["hs"][1]),
    }
    for mi, name in enumerate(lay.matrix_names):
        assert out_mat[D.M_GAIN, mi, li] == pytest.approx(want_gain[name], rel=1e-6), name
    names = activation_names(lay)
    want_act = {
        "embedding": _rms(c["hs"][0]),
        "block0.z": _rms(c["block0.z"]),
        "block0.act": _rms(c["block0.s"]),
        "block0.h": _rms(c["hs"][1]),
        "output": _rms(Y),
    }
    for k, v in want_act.items():
        assert out_act[names.index(k), li] == pytest.approx(v, rel=1e-6), k


def test_power_iteration_sigma_max_matches_final_svd():
    res = run(CFG.replace(steps=200, n_logs=20))
    for mi, name in enumerate(res.matrix_names):
        assert res.matrix["sigma_max"][mi, -1] == pytest.approx(res.spectra[name][0], rel=1e-3)


# ---------------------------------------------------------------------- rank diagnostics
def _known_matrix(s, rows, cols, seed=0):
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((rows, len(s))))
    V, _ = np.linalg.qr(rng.standard_normal((cols, len(s))))
    return (U * np.asarray(s, float)) @ V.T


EPS64 = np.finfo(np.float64).eps


def _gram_rtol(shape, cond):
    """Relative accuracy of a singular value σ from the Gram eigenvalues of a float64 matrix:
    an eigenvalue error ≈ max(shape)·ε·σ_1² is a relative error max(shape)·ε·(σ_1/σ)²/2 in σ;
    ×100 for the eigensolver's constant and the matrix's own construction round-off."""
    return 100 * max(shape) * EPS64 * cond**2


@pytest.mark.parametrize("shape", [(6, 9), (9, 6), (3, 3)])
def test_singular_values_of_a_known_matrix(shape):
    W = _known_matrix([3.0, 2.0, 1.0], *shape)
    s = D.singular_values(W)
    assert s.shape == (min(shape),)
    np.testing.assert_allclose(s[:3], [3.0, 2.0, 1.0], rtol=_gram_rtol(shape, 3.0))


@pytest.mark.parametrize("shape", [(6, 9), (9, 6), (5, 7)])
def test_zero_singular_values_of_a_rank_deficient_matrix_are_exactly_zero(shape):
    # their Gram eigenvalues are round-off (~ε·σ_1²), below the floor max(shape)·ε·σ_1²
    s = D.singular_values(_known_matrix([3.0, 2.0, 1.0], *shape))
    assert np.all(s[3:] == 0.0)


def test_small_singular_values_above_the_round_off_floor_are_kept():
    # σ_2 = 1e-6·σ_1: its Gram eigenvalue 1e-12 is far above the floor 7·ε ≈ 1.6e-15 and
    # carries a relative error ≈ 7·ε/1e-12 ≈ 2e-3 (halved in σ)
    s = D.singular_values(_known_matrix([1.0, 1e-6], 5, 7))
    assert s[1] == pytest.approx(1e-6, rel=1e-2) and np.all(s[2:] == 0.0)


def test_stable_and_effective_rank_of_a_known_matrix():
    shape = (5, 7)
    s = D.singular_values(_known_matrix([3.0, 2.0, 1.0], *shape))
    srank, erank = D.rank_stats(s)
    tol = _gram_rtol(shape, 3.0)  # both are smooth functions of σ_1..σ_3 with O(1) sensitivity
    assert srank == pytest.approx((9 + 4 + 1) / 9, rel=tol)
    p = np.array([3.0, 2.0, 1.0]) / 6
    assert erank == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=tol)


def test_rank_of_an_orthogonal_matrix_is_its_size():
    Q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((8, 8)))
    srank, erank = D.rank_stats(D.singular_values(Q))
    assert srank == pytest.approx(8.0, rel=1e-12) and erank == pytest.approx(8.0, rel=1e-12)


def test_singular_values_of_a_non_finite_matrix_are_nan():
    W = np.eye(3)
    W[1, 1] = np.inf
    assert np.isnan(D.singular_values(W)).all()
    assert np.isnan(D.rank_stats(np.zeros(3))).all()


def test_logged_rank_diagnostics_match_numpy_svd_of_the_reference_weights(logged):
    prep, out_mat, _ = logged
    li = len(prep.log_steps) - 1
    _, th = train_reference(prep, steps=int(prep.log_steps[li]))
    lay = prep.layout
    for mi, p in enumerate(lay.matrices):
        s = np.linalg.svd(lay.view(th, int(p)), compute_uv=False)
        name = lay.names[p]
        assert out_mat[D.M_SRANK, mi, li] == pytest.approx((s**2).sum() / s[0] ** 2, rel=1e-6), name
        q = s / s.sum()
        q = q[q > 0]
        assert out_mat[D.M_ERANK, mi, li] == pytest.approx(np.exp(-(q * np.log(q)).sum()), rel=1e-6)
        top = out_mat[D.M_SV : D.M_SV + D.N_TOP_SV, mi, li]
        m = min(D.N_TOP_SV, s.size)
        np.testing.assert_allclose(top[:m], s[:m], rtol=1e-6)
        assert np.isnan(top[m:]).all()  # readout (1 x n) has one singular value


def test_rank_metrics_are_stored_in_the_result_under_their_names():
    res = run(CFG.replace(steps=10, n_logs=3))
    for k in ("stable_rank", "effective_rank", "sv1", "sv2", "sv3", "sv4"):
        assert res.matrix[k].shape == (len(res.matrix_names), len(res.steps))
    assert res.final("stable_rank", "readout") == pytest.approx(1.0)
    assert res.final("sv1", "block0.W1") == pytest.approx(res.spectra["block0.W1"][0], rel=1e-9)

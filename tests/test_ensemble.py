"""The ensemble backend (mupsim.sim.ensemble, PyTorch) reproduces the numba loop run by run.

Float64 on CPU, short runs at small widths: every logged quantity of every member agrees with
the member's own numba run to ~1e-10 (the angular update, an arccos near 1, to 1e-7 absolute).
"""

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the ensemble backend needs PyTorch ('.[torch]')")

from mupsim.errors import MupsimError  # noqa: E402
from mupsim.sim.config import SimConfig  # noqa: E402
from mupsim.sim.data import BatchStream  # noqa: E402
from mupsim.sim.ensemble import group_key, run_group, unsupported_reason  # noqa: E402
from mupsim.sim.ensemble.rng import BatchGenerator  # noqa: E402
from mupsim.sim.run import prepare, run  # noqa: E402

BASE = dict(
    width=32,
    base_width=16,
    steps=30,
    batch_size=16,
    n_test=48,
    n_logs=12,
    teacher_width=16,
    lr=1e-3,
    wd=0.1,
    wd_rule="constant",
)

CASES = {
    "adamw": dict(),
    "adam_l2": dict(optimizer="adam", wd=1e-3),
    "sgd_momentum": dict(optimizer="sgd", lr=0.05),
    "lion": dict(optimizer="lion", lr=1e-4),
    "signsgd": dict(optimizer="signsgd", lr=1e-4),
    "muon": dict(optimizer="muon", lr=0.02),
    "muon_all": dict(optimizer="muon_all", lr=0.02),
    "deep_linear": dict(model="linear", depth=2),
    "layernorm_gelu_gains_biases_ffn2_depth2": dict(
        norm="layer", activation="gelu", norm_gain=True, bias=True, depth=2, ffn_ratio=2
    ),
    "prenorm_classification": dict(norm_position="pre", task="classification", output_dim=3),
    "postnorm_independent_cosine": dict(
        norm_position="post", wd_mode="independent", wd=0.01, schedule="cosine", warmup_steps=5
    ),
    "no_norm_label_noise_wsd": dict(norm="none", label_noise=0.2, schedule="wsd"),
    "derived_eps_anisotropic_inputs_decaying_teacher": dict(
        eps_rule="derived", eps=1e-3, input_spectrum=1.0, teacher_decay=0.5
    ),
    "fan2025_with_decayed_embedding_readout": dict(wd_rule="fan2025", io_wd_rule="constant"),
    "no_rank_metrics": dict(rank_metrics=False),
}


def assert_same_run(a, b, rtol=1e-10):
    """Result a (ensemble) equals Result b (numba) to rtol in every logged quantity.

    Why 1e-10 in float64: the two backends sum in different orders (torch vs numba/BLAS), so
    each step's weights differ by ~k·ε ≈ 1e-14 relative (k ≤ 64 summed terms) and 30 smooth
    steps keep it there (measured: losses ≤ 2e-15). Quantities of the step Δw = w_s − w_{s−1}
    (update_rms, rel_update, cos_w_update) lose a factor ‖w‖/‖Δw‖ ≤ ~1e3 to cancellation, and
    ratios of nearly equal numbers (cosines near 0) a bit more: measured worst 2.4e-12 over
    every case, 40× inside rtol. Sign-based steps (lion, signsgd) would jump only at a
    gradient entry within ~1e-14 of zero, which these seeds do not have."""
    assert a.status == b.status and a.diverged_step == b.diverged_step
    np.testing.assert_array_equal(a.steps, b.steps)
    assert a.matrix_names == b.matrix_names and a.activation_names == b.activation_names
    np.testing.assert_allclose(a.train_loss, b.train_loss, rtol=rtol)
    np.testing.assert_allclose(a.test_loss, b.test_loss, rtol=rtol)
    np.testing.assert_allclose(a.activation_rms, b.activation_rms, rtol=rtol)
    for k in b.matrix:
        if k == "angular_update":  # arccos of a cosine ~1: 1e-16 there is ~1e-8 here
            np.testing.assert_allclose(a.matrix[k], b.matrix[k], rtol=1e-6, atol=1e-7)
        else:
            np.testing.assert_allclose(a.matrix[k], b.matrix[k], rtol=rtol, atol=1e-14, err_msg=k)
    for k in b.spectra:
        np.testing.assert_allclose(
            a.spectra[k], b.spectra[k], rtol=rtol, atol=rtol * np.nanmax(np.abs(b.spectra[k]), initial=0)
        )


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_member_matches_its_numba_run_in_float64(case):
    v = CASES[case]
    lr, wd = v.get("lr", BASE["lr"]), v.get("wd", BASE["wd"])
    cfgs = [
        SimConfig(**{**BASE, **v, "lr": lr * f, "wd": wd * g, "seed": s})
        for f, g, s in ((1, 1, 0), (2, 0.5, 1))
    ]
    for a, c in zip(run_group(cfgs, device="cpu"), cfgs):
        assert_same_run(a, run(c))


def test_members_with_different_rules_schedules_and_betas_share_one_stack():
    cfgs = [
        SimConfig(**BASE, seed=0),
        SimConfig(**{**BASE, "wd_rule": "fan2025", "multipliers": (0, 0, 1)}, seed=1),
        SimConfig(**{**BASE, "parameterization": "sp", "global_lr": True, "wd": 0.0, "wd_rule": None}),
        SimConfig(**BASE, schedule="wsd", beta1=0.8, beta2=0.99, eps=1e-6, seed=2),
        SimConfig(**{**BASE, "base_width": 32}, teacher_rank=4, wd_mode="independent"),
        SimConfig(**BASE, eps_rule="derived", input_spectrum=0.5, teacher_decay=1.0),
    ]
    assert len({group_key(c) for c in cfgs}) == 1
    for a, c in zip(run_group(cfgs, device="cpu"), cfgs):
        assert_same_run(a, run(c))


def test_diverged_member_is_recorded_and_the_others_are_unchanged():
    ok = [SimConfig(**BASE, seed=0), SimConfig(**{**BASE, "lr": 3e-3}, seed=1)]
    bad = SimConfig(**{**BASE, "lr": 1.0, "divergence_bound": 1e3, "seed": 2})
    solo_bad = run(bad)
    assert solo_bad.status == "diverged" and solo_bad.diverged_step == 3  # numba too
    res = run_group([ok[0], bad, ok[1]], device="cpu")
    assert res[1].status == "diverged"
    assert res[1].diverged_step == solo_bad.diverged_step
    assert_same_run(res[1], solo_bad)  # logs before divergence equal, NaN after
    alone = run_group(ok, device="cpu")
    for a, b, c in zip((res[0], res[2]), alone, ok):
        assert_same_run(a, run(c))
        # same backend and operations; only the stack size (BLAS blocking) differs: ~k·ε
        np.testing.assert_allclose(a.train_loss, b.train_loss, rtol=1e-13)


def test_float32_trajectories_agree_to_float32_rounding():
    cfgs = [SimConfig(**{**BASE, "dtype": "float32", "seed": s}) for s in range(3)]
    for a, c in zip(run_group(cfgs, device="cpu"), cfgs):
        b = run(c)
        np.testing.assert_allclose(a.train_loss, b.train_loss, rtol=1e-4)
        np.testing.assert_allclose(a.matrix["sigma_max"], b.matrix["sigma_max"], rtol=1e-4)


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(label_noise=0.3),
        dict(input_spectrum=1.5),
        dict(task="classification", output_dim=3),
        dict(batch_size=7, input_dim=5, label_noise=0.1),
    ],
)
def test_batch_generator_reproduces_the_numba_batches(kw):
    cfgs = [SimConfig(width=16, teacher_width=8, **kw, seed=s) for s in (0, 7)]
    preps = [prepare(c) for c in cfgs]
    xs = [p.data.xscale for p in preps]
    gen = BatchGenerator(
        torch.from_numpy(np.stack([p.data.A1 for p in preps])),
        torch.from_numpy(np.stack([p.data.A2 for p in preps])),
        torch.tensor([0, 7]),
        torch.tensor([cfgs[0].label_noise] * 2, dtype=torch.float64),
        cfgs[0].batch_size,
        cfgs[0].task == "classification",
        torch.from_numpy(np.stack(xs)) if xs[0].size else None,
    )
    for i, p in enumerate(preps):
        stream = BatchStream(p.data, cfgs[0].batch_size)
        for t in (0, 1, 2, 19):
            X, T = stream.batch(t)
            Xg, Tg = gen(torch.tensor(t))
            np.testing.assert_allclose(Xg[i].numpy(), X, rtol=0, atol=1e-14)
            np.testing.assert_allclose(Tg[i].numpy(), T, rtol=0, atol=1e-14)


def test_results_carry_ensemble_provenance():
    r = run_group([SimConfig(**BASE)], device="cpu")[0]
    p = r.provenance
    assert p["backend"] == "ensemble" and p["device"] == "cpu" and p["ensemble_size"] == 1
    assert p["torch_version"] == torch.__version__
    assert p["settings"] == run(SimConfig(**BASE)).provenance["settings"]


def test_group_key_stacks_per_run_fields_and_separates_shapes():
    a = SimConfig(**BASE)
    assert group_key(a) == group_key(
        a.replace(lr=1.0, wd=0.3, seed=5, schedule="cosine", wd_rule="timescale", parameterization="ntk")
    )
    for change in (
        dict(width=64),
        dict(steps=31),
        dict(optimizer="sgd"),
        dict(dtype="float32"),
        dict(batch_size=8),
        dict(n_logs=5),
        dict(depth=2),
    ):
        assert group_key(a.replace(**change)) != group_key(a), change


def test_mixed_groups_are_refused_with_a_clear_error():
    with pytest.raises(MupsimError, match="one group"):
        run_group([SimConfig(**BASE), SimConfig(**{**BASE, "width": 64})], device="cpu")


def test_a_config_field_the_ensemble_does_not_know_is_refused_unless_default():
    @dataclasses.dataclass(frozen=True)
    class Extended(SimConfig):
        new_task_family: str = "teacher"

    assert unsupported_reason(Extended(**BASE)) is None
    why = unsupported_reason(Extended(**BASE, new_task_family="copying"))
    assert why is not None and "new_task_family" in why


@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="no CUDA device here; the GPU path is checked on the GPU machine "
    "(benchmarks/ensemble.py gpu --refs) and in benchmarks/RESULTS.md",
)
@pytest.mark.parametrize("graphs", [False, True])
def test_cuda_members_match_numba_in_float64(graphs):
    cfgs = [SimConfig(**{**BASE, "steps": 60, "seed": s, "lr": 1e-3 * (s + 1)}) for s in range(3)]
    for a, c in zip(run_group(cfgs, device="cuda", graphs=graphs), cfgs):
        assert_same_run(a, run(c), rtol=1e-9)


@pytest.mark.parametrize("compiled_rules", [False, True])
@pytest.mark.parametrize("opt", ["adamw", "adam", "sgd", "lion", "muon", "muon_all"])
def test_the_device_optimizer_path_matches_numba_on_cpu(monkeypatch, opt, compiled_rules):
    """The torch optimizer used on CUDA (eager ops, or the rules that CUDA compiles, run
    uncompiled here) gives the numba trajectory too."""
    from mupsim.sim.ensemble import engine, optim

    monkeypatch.setattr(optim, "_compiled", optim._rule)
    lr = {"sgd": 0.05, "lion": 1e-4, "muon": 0.02, "muon_all": 0.02}.get(opt, 1e-3)
    cfgs = [
        SimConfig(
            **{
                **BASE,
                "optimizer": opt,
                "lr": lr,
                "seed": s,
                "eps_rule": "derived" if opt == "adamw" else None,
            }
        )
        for s in (0, 1)
    ]
    ens = engine.Ensemble([prepare(c) for c in cfgs], "cpu")
    ens.fused_cpu, ens.compiled = False, compiled_rules
    ens.train()
    for s, c in enumerate(cfgs):
        np.testing.assert_allclose(ens.out_loss[s, 0].numpy(), run(c).train_loss, rtol=1e-10)


def test_the_same_group_gives_bit_identical_results():
    cfgs = [SimConfig(**BASE, seed=s) for s in (0, 1)]
    a, b = run_group(cfgs, device="cpu"), run_group(cfgs, device="cpu")
    for x, y in zip(a, b):
        x.provenance = y.provenance = {}
        assert x == y


def test_rms_matched_muon_convention_is_refused_with_a_reason():
    cfg = SimConfig(**{**BASE, "optimizer": "muon_all", "muon_convention": "rms", "lr": 0.02})
    reason = unsupported_reason(cfg)
    assert reason is not None and "muon_convention" in reason and "numba" in reason
    assert group_key(cfg) is None
    with pytest.raises(MupsimError, match="muon_convention"):
        run_group([cfg], device="cpu")

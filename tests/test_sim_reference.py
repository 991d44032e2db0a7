"""The compiled training loop reproduces the pure-NumPy reference (float64, 100 steps)."""

import numpy as np
import pytest

from mupsim.sim.config import SimConfig
from mupsim.sim.reference import train_reference
from mupsim.sim.run import execute, prepare

BASE = dict(
    width=32,
    base_width=16,
    steps=100,
    lr=1e-2,
    wd=0.1,
    wd_rule="fan2025",
    batch_size=16,
    n_test=32,
    n_logs=100,
)

CASES = {
    "adamw": dict(optimizer="adamw"),
    "adam_l2": dict(optimizer="adam", wd_rule="constant"),
    "sgd_momentum": dict(optimizer="sgd", lr=0.05, wd_rule="constant"),
    "lion": dict(optimizer="lion", lr=1e-3),
    "signsgd": dict(optimizer="signsgd", lr=1e-3),
    "muon": dict(optimizer="muon", lr=0.02),
    "muon_all": dict(optimizer="muon_all", lr=0.02),
    "muon_all_rms_convention": dict(optimizer="muon_all", muon_convention="rms", lr=2e-3),
    "adamw_layernorm_gelu_gains_biases_cosine": dict(
        norm="layer",
        activation="gelu",
        norm_gain=True,
        bias=True,
        depth=2,
        ffn_ratio=2,
        schedule="cosine",
        warmup_steps=10,
    ),
    "adamw_independent_wsd_classification_fixed_train_set": dict(
        task="classification", output_dim=3, n_train=64, wd_mode="independent", wd=1e-3, schedule="wsd"
    ),
    "adamw_deep_linear_net": dict(model="linear", depth=2, lr=1e-3),
    "power_law_inputs_scaled_decaying_teacher": dict(
        input_dim=24,
        input_spectrum=1.5,
        teacher_width=8,
        teacher_width_exponent=1.0,
        teacher_decay=1.0,
        output_dim=4,
        label_noise=0.1,
    ),
    "zipf_tokens": dict(inputs="tokens", input_dim=40, zipf_exponent=1.1, output_dim=2),
    "zipf_tokens_classification_fixed_train_set": dict(
        inputs="tokens", input_dim=40, task="classification", output_dim=3, n_train=64
    ),
    "next_token_c2": dict(task="next_token", inputs="tokens", context=2, output_dim=20, input_dim=40),
    "next_token_c3_fixed_train_set": dict(
        task="next_token", inputs="tokens", context=3, output_dim=12, input_dim=36, n_train=64
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_compiled_loop_trajectory_matches_numpy_reference(case):
    prep = prepare(SimConfig(**{**BASE, **CASES[case]}))
    theta, div, out_loss, _, _ = execute(prep)
    ref_losses, ref_theta = train_reference(prep)
    assert div == -1
    np.testing.assert_allclose(theta, ref_theta, rtol=1e-6, atol=1e-9 * np.abs(ref_theta).max())
    if prep.data.online:  # logged train loss = loss on the step's batch
        np.testing.assert_allclose(out_loss[0], ref_losses[prep.log_steps], rtol=1e-6)

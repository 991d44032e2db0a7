"""Muon conventions in the simulator: ``optimizer="muon_all"`` (Muon on every matrix) and the
RMS-matched convention (``muon_convention="rms"``, Moonlight's 0.2·√max(fan_in, fan_out)).

The simulator takes the learning rates and multipliers from the calculator, asked with the same
optimizer and convention; these tests check the physical updates they produce.
"""

import numpy as np
import pytest

from mupsim.errors import MupsimError
from mupsim.sim.config import SimConfig
from mupsim.sim.run import execute, prepare, run

SMALL = dict(base_width=64, batch_size=32, n_test=32, input_dim=16, output_dim=1)


def first_updates(cfg):
    """{matrix name: (class, effective first update multiplier·Δw, served lr)} after one step."""
    prep = prepare(cfg.replace(steps=1, n_logs=2))
    theta, div, *_ = execute(prep)
    assert div == -1
    lay = prep.layout
    out = {}
    for p in map(int, lay.matrices):
        dw = (lay.view(theta, p) - lay.view(prep.theta0, p)) * prep.mult[p]
        out[lay.names[p]] = (lay.classes[p], dw, prep.p_lr[p])
    return out


def test_muon_all_trains_every_matrix_with_muon_and_muon_only_hidden():
    cfg = SimConfig(**SMALL, width=64, optimizer="muon_all", lr=0.02, steps=1)
    assert prepare(cfg).muon_mask.tolist() == [
        c in ("embedding", "hidden", "readout") for c in prepare(cfg).layout.classes
    ]
    hidden_only = prepare(cfg.replace(optimizer="muon"))
    assert hidden_only.muon_mask.tolist() == [c == "hidden" for c in hidden_only.layout.classes]


def test_muon_all_first_update_spectral_norm_over_sqrt_fan_ratio_is_width_independent():
    """Under μP with muon_all, ‖ΔW_eff‖_op / √(fan_out/fan_in) of every matrix's first update is the
    same at widths 64 and 256 (measured: agreement to < 0.5%; the raw ‖ΔW_eff‖_op of the embedding
    doubles and the readout's halves, so a missing √(fan_out/fan_in) would fail by 2×)."""
    scaled = {}
    for n in (64, 256):
        for name, (_cls, dw, _) in first_updates(
            SimConfig(**SMALL, width=n, optimizer="muon_all", lr=0.02)
        ).items():
            fan_out, fan_in = dw.shape
            scaled.setdefault(name, []).append(np.linalg.norm(dw, 2) / np.sqrt(fan_out / fan_in))
    assert set(scaled) == {"embedding", "block0.W1", "block0.W2", "readout"}
    for name, (s64, s256) in scaled.items():
        assert s256 == pytest.approx(s64, rel=0.05), name


def test_rms_convention_full_rank_update_has_rms_0p2_per_unit_lr_at_every_width():
    """Moonlight's convention: update = 0.2·√max(fan_in, fan_out)·O, so a full-rank orthogonalised
    step has RMS ≈ 0.2 per unit lr at every width (O's singular values after 5 Newton–Schulz steps lie
    in ≈[0.7, 1.2], so 0.14..0.24). The embedding (n × 16, gradient of full rank 16) is the full-rank
    case; the spectral convention's RMS would be ≈ 1/√n per unit lr (0.11 at 64, 0.055 at 256)."""
    for n in (64, 256):
        cfg = SimConfig(**SMALL, width=n, optimizer="muon_all", muon_convention="rms", lr=1e-3)
        _, dw, lr = first_updates(cfg)["embedding"]
        mult = prepare(cfg).mult[prepare(cfg).layout.names.index("embedding")]
        rms = np.sqrt(np.mean((dw / mult) ** 2)) / lr
        assert 0.14 <= rms <= 0.24, (n, rms)


def test_rms_convention_update_rms_near_adamws_only_for_full_rank_gradients():
    """At the base width (64, batch 128), mean update RMS over steps 30..60 at equal lr 1e-3:
    AdamW 0.28 (embedding) / 0.30, 0.27 (hidden) / 0.38 (readout) per unit lr; RMS-matched Muon 0.185 /
    0.10, 0.12 / 0.14, i.e. ratios 0.66 / 0.34, 0.43 / 0.36. Only the full-rank embedding comes near
    AdamW (the spectral convention gives 0.41 there): the hidden gradients are effectively low-rank,
    Newton–Schulz leaves their small singular values small, and Moonlight's 0.2·√max assumes a
    full-rank update. So "AdamW's lr carries over" holds here only roughly (within 3×), not as a match.
    The test holds the embedding to [0.5, 1.5]× AdamW and every matrix to at most AdamW's RMS."""
    base = dict(**{**SMALL, "batch_size": 128}, width=64, lr=1e-3, steps=60, n_logs=61)
    adamw = run(SimConfig(**base, optimizer="adamw")).matrix["update_rms"][:, 30:].mean(1)
    muon = (
        run(SimConfig(**base, optimizer="muon_all", muon_convention="rms"))
        .matrix["update_rms"][:, 30:]
        .mean(1)
    )
    ratio = muon / adamw
    assert 0.5 <= ratio[0] <= 1.5, ratio
    assert np.all(ratio <= 1.0), ratio


def test_muon_convention_is_refused_for_non_muon_optimizers():
    with pytest.raises(MupsimError, match="muon_convention"):
        SimConfig(optimizer="adamw", muon_convention="rms")


def test_spectral_convention_has_one_spelling_and_leaves_keys_unchanged():
    a = SimConfig(optimizer="muon", muon_convention="spectral")
    b = SimConfig(optimizer="muon")
    assert a == b and a.key() == b.key() and "muon_convention" not in a.to_dict()
    assert SimConfig(optimizer="muon", muon_convention="RMS").to_dict()["muon_convention"] == "rms"

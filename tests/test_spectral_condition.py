"""Oracle: the spectral condition of Yang, Simon & Bernstein 2023 (arXiv 2310.17813).

Feature learning needs ‖W‖_op = Θ(sqrt(fan_out/fan_in)) at init and ‖ΔW‖_op of the same order
for every matrix. μP, derived here from different assumptions, must satisfy it in every gauge and
for every optimizer; SP violates it at the readout.
"""

from fractions import Fraction

import pytest

import mupsim
from mupsim.theory.layers import LAYER_CLASSES, MATRIX_LAYERS

HALF = Fraction(1, 2)


def target(layer):
    lc = LAYER_CLASSES[layer]
    return Fraction(lc.d_out - lc.d_in, 2)


def init_op_norm_growth(x, layer):
    """log_n ‖n^-a w0‖_op for i.i.d. entries of size n^-b: n^-(a+b)·sqrt(max dim)."""
    return -(x.multiplier + x.init_std) + Fraction(LAYER_CLASSES[layer].d_max, 2)


def update_op_norm_growth(e, layer):
    """log_n ‖ΔW‖_op for one step under full alignment (low-rank update)."""
    x, lc = e.layers[layer], LAYER_CLASSES[layer]
    if e.optimizer == "muon" and layer == "hidden":  # Muon on hidden matrices, Adam elsewhere
        return -(x.multiplier + x.lr)
    L = e.layers
    g = L["readout"].multiplier + L["readout"].init_std
    gamma = 0 if layer == "readout" else g
    eps = {"sgd": 2 * x.multiplier + x.lr + gamma}.get(e.optimizer, x.multiplier + x.lr)
    return -eps + Fraction(lc.d_in + lc.d_out, 2)  # rank-one: entries · sqrt(fan_in·fan_out)


@pytest.mark.parametrize("multipliers", [None, (0, 0, 0), (0, 0, 1), (Fraction(1, 3), 1, -2)])
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "lion", "muon"])
def test_mup_satisfies_the_spectral_condition_at_init_and_after_one_step(optimizer, multipliers):
    e = mupsim.exponents("mup", optimizer, multipliers=multipliers)
    for layer in MATRIX_LAYERS:
        assert init_op_norm_growth(e.layers[layer], layer) == target(layer), layer
        assert update_op_norm_growth(e, layer) == target(layer), layer


def test_sp_readout_violates_the_spectral_condition_at_init():
    e = mupsim.exponents("sp", "adam")
    assert init_op_norm_growth(e.layers["readout"], "readout") > target("readout")


def test_muon_mup_hidden_learning_rate_is_width_free_without_multipliers():
    """sqrt(fan_out/fan_in) = 1 for a square hidden matrix (Keller Jordan's rule agrees)."""
    e = mupsim.exponents("mup", "muon", multipliers=(0, 0, 0))
    assert e.layers["hidden"].lr == 0


def test_muon_embedding_and_readout_fall_back_to_adam_rates():
    muon, adam = mupsim.exponents("mup", "muon"), mupsim.exponents("mup", "adam")
    for l in ("embedding", "readout", "bias", "norm_gain"):
        assert muon.layers[l] == adam.layers[l]

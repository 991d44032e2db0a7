"""Adam's ε: the exponent that keeps it in proportion to the gradient it is added to.

Adam's update is m/(√v + ε); √v tracks the size of the gradient of the raw parameter w.
ε is harmless, and its effect width-free, only if it scales like that gradient
(Everett et al. 2024, §"epsilon"; otherwise ε dominates √v at large width and the
update shrinks — gradient underflow). The raw gradient is ∂L/∂w = n^(-a) ∂L/∂W and
∂L/∂W = δ zᵀ with δ the gradient w.r.t. the layer's pre-activations: n^(-g) for every
layer below the readout (g = min(a_R + b_R, β_R), the readout after its step), Θ(1)
at the readout (the loss derivative). Inputs z are Θ(1). So ε_l ∝ n^(-e_l) with

    e_l = a_l + γ_l,   γ_l = g (embedding, hidden, vectors),  γ_R = 0.

Depth (residual blocks h ← h + L^(-α_L) f(h)): the gradient of every parameter inside
a block carries one factor L^(-α_L), so its ε gets depth exponent α_L; embedding and
readout sit outside the blocks: 0 (CompleteP's code: hidden ε ∝ m_N^(-1)·m_L^(-α),
embedding/unembedding ε ∝ m_N^(-1)).
"""

from __future__ import annotations

import sympy as sp

from mupsim.theory.derivation import Derivation
from mupsim.theory.layers import LAYER_CLASSES, LAYERS
from mupsim.theory.optimizers import Optimizer, kind_for

ADAM_FAMILY = (
    "adam",
    "adamw",
    "muon",
    "muon_all",
)  # Muon: its Adam-trained parameters (those it does not orthogonalise)


def has_eps(opt: Optimizer, layer: str) -> bool:
    """Does this optimizer add an ε to a gradient RMS for this layer? (Adam/AdamW; Muon's Adam part.)"""
    if opt.name not in ADAM_FAMILY:
        return False
    return kind_for(opt, LAYER_CLASSES[layer].vector, layer) == "normalized"


def derive_eps(init: dict, opt: Optimizer, g) -> Derivation:
    """Results ``e_<layer>`` (width exponent of ε; None where the optimizer has no ε)."""
    d = Derivation(f"Adam ε exponents: {opt.title}")
    d.assume(
        "Adam's update is m/(√v + ε); ε must scale like √v, the size of the raw gradient ∂L/∂w, "
        "so that its relative effect does not change with width (Everett et al. 2024)."
    )
    d.assume(
        "∂L/∂w = n^(-a)·δ zᵀ: δ has coordinates n^(-g) below the readout and Θ(1) at the readout; z is Θ(1)."
    )
    d.step("Backward exponent used (from the learning-rate program)", sp.Eq(sp.Symbol("g"), g))
    for layer in LAYERS:
        if not has_eps(opt, layer):
            d.result(f"e_{layer}", None)
            continue
        gamma = 0 if layer == "readout" else g
        e = sp.simplify(init[f"a_{layer}"] + gamma)
        d.result(f"e_{layer}", e, f"{layer}: ε ∝ n^-(a + γ) with a = {init[f'a_{layer}']}, γ = {gamma}")
    if opt.name == "muon":
        d.step("Muon's hidden matrices have no ε (orthogonalised update): none served there.")
    return d

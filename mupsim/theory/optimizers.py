"""Optimizers as assumptions about the size of one update.

For a parameter w (effective weight W = n^{-a} w, learning rate η n^{-c}) whose
effective-weight gradient has coordinates of size n^{-γ}, each optimizer sets
the exponent ε of the coordinates of ΔW (size n^{-ε}):

- SGD: Δw = -η n^{-c} ∂L/∂w and ∂L/∂w = n^{-a} ∂L/∂W, so ε = 2a + c + γ.
- Adam / AdamW / Lion / signSGD: the update is normalised coordinate-wise
  (entries ±η up to Θ(1) factors), so ε = a + c, independent of γ.
- Adafactor (update scaled by RMS of the parameter, n^{-b} at init): ε = a + b + c.
- Muon: the update is orthogonalised, its *spectral* norm is η n^{-c}; it is
  described by σ = a + c, the exponent of ‖ΔW‖_op, not by its entries.
  ``muon``: Muon on hidden matrices only; the embedding, readout and
  vector-like parameters use Adam, as in Keller Jordan's reference
  implementation and the guidance of the mlx / burn docs. ``muon_all``: Muon
  on every matrix (embedding and readout included), Adam on vectors.

``k`` is the gauge factor of the symmetry (a, b, c) → (a+θ, b−θ, c−kθ).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from mupsim.errors import choice
from mupsim.theory import wd_rules


@dataclass(frozen=True)
class Optimizer:
    name: str
    title: str
    kind: str  # "gradient" | "normalized" | "relative" | "spectral"
    k: int
    vector_kind: str  # kind used for vector-like parameters (and, for Muon, embedding/readout)
    steady_state: (
        bool  # does lr-scaled weight decay (PyTorch AdamW) set a steady-state norm (section steady_state)
    )
    note: str = ""
    spectral_layers: tuple = ("hidden",)  # matrices a spectral (Muon) optimizer trains


OPTIMIZERS: dict[str, Optimizer] = {
    "sgd": Optimizer(
        "sgd", "SGD (with or without momentum)", "gradient", 2, "gradient", False, "update ∝ gradient"
    ),
    "adam": Optimizer(
        "adam",
        "Adam (weight decay as an L2 term, normalised with the gradient)",
        "normalized",
        1,
        "normalized",
        False,
        "coordinate-wise normalised; its L2 decay is not the lr-scaled "
        "(PyTorch AdamW) decay the steady-state rules assume",
    ),
    "adamw": Optimizer(
        "adamw",
        "AdamW (lr-scaled decay, as in PyTorch: w ← w − η(u + λw))",
        "normalized",
        1,
        "normalized",
        True,
        "coordinate-wise normalised",
    ),
    "adafactor": Optimizer(
        "adafactor",
        "Adafactor (update scaled by parameter RMS)",
        "relative",
        0,
        "relative",
        False,
        "update ∝ RMS(w)",
    ),
    "lion": Optimizer(
        "lion", "Lion / signSGD", "normalized", 1, "normalized", True, "sign update, entries ±η"
    ),
    "muon": Optimizer(
        "muon",
        "Muon on hidden matrices (orthogonalised update), Adam elsewhere",
        "spectral",
        1,
        "normalized",
        True,
        "spectral norm of the update ≈ η",
    ),
    "muon_all": Optimizer(
        "muon_all",
        "Muon on every matrix (embedding and readout included), Adam on vectors",
        "spectral",
        1,
        "normalized",
        True,
        "spectral norm of the update ≈ η",
        ("embedding", "hidden", "readout"),
    ),
}


ALIASES: dict[str, str] = {"signsgd": "lion"}
"""Optimizers the simulator runs under their own name that the theory treats as another:
signSGD is Lion with β1 = β2 = 0 (the same update size, entries ±η)."""


def get(name: str) -> Optimizer:
    return OPTIMIZERS[choice("optimizer", name, OPTIMIZERS)]


def resolve(name: str) -> Optimizer:
    """The theory's optimizer for ``name``, an optimizer or an alias (``signsgd`` → ``lion``)."""
    return get(ALIASES.get(name, name))


def kind_for(opt: Optimizer, vector: bool, layer: str = "hidden") -> str:
    """The update kind used for a parameter of ``layer`` (Muon: hidden matrices only)."""
    if vector:
        return opt.vector_kind
    if opt.kind == "spectral" and layer not in opt.spectral_layers:
        return opt.vector_kind
    return opt.kind


MUON_CONVENTIONS = ("spectral", "rms")


def derive_muon_convention(opt: Optimizer, c: dict, w: dict, convention: str, wd_rule=None):
    """Re-express Muon's learning-rate and weight-decay exponents in ``convention``.

    "spectral" (default): η is the step's spectral norm (per unit n^-a), as derived.
    "rms" (Moonlight, Liu et al. 2025): the implementation multiplies the orthogonalised update by
    0.2·√max(fan_in, fan_out) so that its RMS matches AdamW's (≈ 0.2 per unit lr); the lr passed is
    then η_passed = η / (0.2·√max), i.e. c_rms = c + d_max/2. The per-step decay η_lλ_l is physical
    and is kept: w_rms = w − d_max/2 (a rule of kind constant: the same λ in either convention, w = 0).
    ``wd_rule``: the weight-decay rule (name or WdRule), or a dict layer → rule for per-layer rules.
    Returns (c, w, Derivation).
    """
    from mupsim.errors import choice
    from mupsim.theory.derivation import Derivation
    from mupsim.theory.layers import LAYER_CLASSES

    convention = choice("muon convention", convention, MUON_CONVENTIONS)
    d = Derivation(f"Muon learning-rate convention: {convention}")
    if convention == "spectral" or opt.kind != "spectral":
        return dict(c), dict(w), d
    d.assume(
        "RMS-matched Muon (Moonlight): update = 0.2·√max(fan_in, fan_out)·O, O orthogonalised, so its RMS "
        "is 0.2 per unit lr, like AdamW's; AdamW's lr and wd then carry over at one shape."
    )
    c2, w2 = dict(c), dict(w)
    dmax = sp.Symbol("d_max")
    d.step("η_passed·0.2·n^(d_max/2) = η_spectral, so", sp.Eq(sp.Symbol("c_rms"), sp.Symbol("c") + dmax / 2))
    for layer in opt.spectral_layers:
        shift = sp.Rational(LAYER_CLASSES[layer].d_max, 2)
        c2[layer] = c[layer] + shift
        d.result(f"c_{layer}", c2[layer], f"{layer}: c_rms = c + {shift}")
        if w.get(layer) is not None and not _constant_rule(wd_rule, layer):
            w2[layer] = w[layer] - shift
            d.result(f"w_{layer}", w2[layer], f"{layer}: keep η_lλ_l, w_rms = w − {shift}")
    d.step(
        "Across widths the RMS-matched lr does not scale like AdamW's: for a hidden matrix AdamW's μP update "
        "is low-rank (RMS = ‖ΔW‖_op/n) while Muon's is full-rank (RMS = ‖ΔW‖_op/√n), so the exponents differ "
        "by 1/2; 'carry over' holds at the base shape only."
    )
    return c2, w2, d


def _constant_rule(wd_rule, layer) -> bool:
    """Whether ``layer``'s weight-decay rule (see :func:`derive_muon_convention`) is of kind constant."""
    rule = wd_rule.get(layer) if isinstance(wd_rule, dict) else wd_rule
    if rule is None:
        return False
    if not isinstance(rule, wd_rules.WdRule):
        rule = wd_rules.get(rule)
    return rule.kind == "constant"


def entry_exponent(kind: str, a, b, c, gamma):
    """ε: exponent of the coordinates of ΔW for entry-wise optimizers."""
    if kind == "gradient":
        return 2 * a + c + gamma
    if kind == "normalized":
        return a + c
    if kind == "relative":
        return a + b + c
    raise ValueError(f"entry_exponent is not defined for kind {kind!r}")


def update_rms_exponent(kind: str, d_in: int, d_out: int):
    """ρ: RMS of the raw update direction u per unit learning rate is Θ(n^{-ρ}).

    Normalised optimizers: entries Θ(1), ρ = 0. Muon: an orthogonalised
    fan_out×fan_in matrix of full rank has ‖u‖_F² = min(dims), so
    RMS(u) = 1/sqrt(max(dims)) and ρ = max(d_in, d_out)/2. Other kinds have no
    width-free update RMS (it scales with the gradient or the parameter).
    """
    if kind == "normalized":
        return sp.Integer(0)
    if kind == "spectral":
        return sp.Rational(max(d_in, d_out), 2)
    return None

"""Learning-rate exponents of the early phase (μP-style maximal updates).

Setting (Tensor Programs IV/V, Everett et al. 2024): one step of the optimizer
from init, with every other exponent already fixed. A layer's own update
changes its output coordinates by ΔW z. We ask for the largest learning rate
(smallest c) for which that change stays Θ(1) — the maximal stable update.

Sizes:
- backward: the readout's initial effective weights have coordinates
  n^{-(a_R+b_R)}; back-propagating through Θ(1)-preserving hidden layers keeps
  that size, so the gradient w.r.t. any width-n pre-activation has coordinates
  n^{-g}, g = a_R + b_R. The effective-weight gradient δ zᵀ therefore has
  coordinates n^{-γ} with γ = g (embedding, hidden, vectors) and γ = 0
  (readout, whose δ is the Θ(1) loss derivative).
- ΔW coordinates n^{-ε} with ε from the optimizer (see optimizers.py).
- alignment exponent α: a coordinate of ΔW z sums fan_in terms and has size
  n^{-ε}·fan_in^{α}; α = 1 ("full": ΔW is low-rank and aligned with z, as a
  gradient δ zᵀ is), α = ½ ("none": terms add like independent noise).
"""

from __future__ import annotations

import sympy as sp

from mupsim.errors import MupsimError
from mupsim.theory.derivation import Derivation
from mupsim.theory.layers import LAYER_CLASSES, LAYERS
from mupsim.theory.optimizers import Optimizer, entry_exponent, kind_for

ALIGNMENTS = {"full": sp.Integer(1), "none": sp.Rational(1, 2)}


def parse_alignment(alignment) -> sp.Rational:
    """'full' → 1, 'none' → ½, or a number in [½, 1] (the general exponent)."""
    if isinstance(alignment, str) and alignment.strip().lower() in ALIGNMENTS:
        return ALIGNMENTS[alignment.strip().lower()]
    try:
        value = sp.nsimplify(sp.sympify(str(alignment)), rational=True)
        ok = value.is_rational
    except (sp.SympifyError, TypeError, ValueError):
        ok = False
    if not ok or not (sp.Rational(1, 2) <= value <= 1):
        raise MupsimError(
            f"unknown alignment {alignment!r}; allowed: full, none, or an exponent in [1/2, 1]")
    return sp.Rational(value)


def derive_learning_rates(init: dict, opt: Optimizer, alpha: sp.Rational) -> Derivation:
    """Solve the learning-rate exponent c of every layer class.

    ``init`` maps ``a_<layer>``/``b_<layer>`` to exponents (derive_init).
    Results: ``c_<layer>`` and, for the record, ``g`` (backward exponent).
    """
    d = Derivation(f"Learning-rate exponents: {opt.title}, alignment α = {alpha}")
    d.assume("One optimizer step from init; the loss derivative w.r.t. the output is Θ(1).")
    d.assume("Maximal stable update: each layer's own update ΔW z moves its output coordinates by Θ(1).")
    d.assume(f"Alignment: a coordinate of ΔW z has size |ΔW_ij|·fan_in^α with α = {alpha} "
             "(1: full, the gradient's low-rank structure lines up with z; 1/2: none).")
    aR, bR = init["a_readout"], init["b_readout"]
    g = aR + bR
    d.result("g", g, "Backward: the gradient w.r.t. a width-n pre-activation has coordinates n^-g, "
                     "g = a_R + b_R (the readout's initial effective weights)")
    for name in LAYERS:
        lc = LAYER_CLASSES[name]
        kind = kind_for(opt, lc.vector)
        a, b = init[f"a_{name}"], init[f"b_{name}"]
        c = sp.Symbol(f"c_{name}", real=True)
        if kind == "spectral":
            x = a + c + sp.Rational(lc.d_out, 2) - lc.d_in * (alpha - sp.Rational(1, 2))
            d.step(f"{name}: Muon's update has ‖ΔW‖_op = n^-(a+c); ‖ΔW z‖ ≈ ‖ΔW‖_op·‖z‖·fan_in^(α−1) with "
                   f"‖z‖ = fan_in^(1/2), so the RMS change of the output (over fan_out = n^{lc.d_out}) has exponent",
                   sp.Eq(sp.Symbol(f"x_{name}"), x))
        else:
            gamma = 0 if name == "readout" else g
            eps = entry_exponent(kind, a, b, c, gamma)
            fan = 0 if lc.vector else lc.d_in
            x = eps - alpha * fan
            what = {"gradient": "SGD: ε = 2a + c + γ", "normalized": "normalised update: ε = a + c",
                    "relative": "Adafactor: ε = a + b + c"}[kind]
            d.step(f"{name}: ΔW coordinates n^-ε ({what}, γ = {gamma}); the output change sums "
                   f"{'no' if fan == 0 else 'fan_in = n'} terms, exponent", sp.Eq(sp.Symbol(f"x_{name}"), x))
        sol = sp.solve(sp.Eq(x, 0), c)
        if len(sol) != 1:
            raise MupsimError(f"no learning-rate exponent makes the {name} update Θ(1)")
        d.result(f"c_{name}", sol[0], f"{name}: setting the exponent to 0")
    # cross-layer stability check (recorded, not imposed)
    out_term = 1 - g
    if out_term > 0:
        d.step(
            f"Check: with Θ(1) feature changes aligned with the readout, W_R Δz moves the output by "
            f"n^(1−g) = n^{out_term}: this parameterization cannot learn features stably at these rates "
            "(TP4's dichotomy for kernel-type parameterizations); the per-layer maximal rates are reported as "
            "Everett et al. 2024 do.", sp.Eq(sp.Symbol("growth_{W_R Δz}"), out_term))
    else:
        d.step("Check: W_R Δz with Θ(1), aligned feature changes moves the output by n^(1−g) = Θ(1): stable.",
               sp.Eq(sp.Symbol("growth_{W_R Δz}"), out_term))
    return d

"""Depth: residual-branch multiplier L^{-α_L} and the learning-rate exponents
in depth (Depth-μP: α_L = ½, Bordelon et al. 2023 / Yang et al. 2023;
CompleteP: α_L = 1, Dey et al. 2025). Exponents are the x of L^(-x).
"""

from __future__ import annotations

import sympy as sp

from mupsim.errors import choice
from mupsim.theory.derivation import Derivation
from mupsim.theory.optimizers import Optimizer, kind_for

DEPTH_RULES = {"depth_mup": sp.Rational(1, 2), "completep": sp.Integer(1)}


def derive_depth(opt: Optimizer, rule: str) -> Derivation:
    """Results: ``branch`` (α_L) and ``cL_<kind>`` for hidden-block parameters."""
    rule = choice("depth rule", rule, DEPTH_RULES)
    alpha_L = DEPTH_RULES[rule]
    d = Derivation(f"Depth exponents: {rule} (branch multiplier L^-{alpha_L})")
    d.assume("A residual stream of L blocks, h ← h + L^{-α_L} f_l(h); inside a block the width rules apply unchanged.")
    d.assume("Every block's update moves the residual stream by Θ(1/L), coherently across blocks, "
             "so the total change is Θ(1) and no block dominates (Dey et al. 2025: 'complete' feature learning).")
    aL, cL = sp.symbols("alpha_L c_L", real=True)
    init = sp.Rational(1, 2) - aL
    d.step("At init the L branches add like independent terms: the stream grows as L^{1/2 − α_L}, bounded iff α_L ≥ 1/2",
           sp.Eq(sp.Symbol("growth_{init}"), init.subs(aL, alpha_L)))
    d.result("branch", alpha_L, "Branch multiplier exponent of the rule")
    for block_kind in sorted({kind_for(opt, False), kind_for(opt, True)}):
        if block_kind == "gradient":
            # gradient to block weights carries one factor L^{-α_L}; the update passes through it again
            change = 2 * aL + cL
            why = "SGD: the gradient w.r.t. block weights carries L^-α_L, and the update's effect passes it again: L^-(2α_L + c_L)"
        elif block_kind == "relative" or block_kind == "normalized" or block_kind == "spectral":
            change = aL + cL
            why = "scale-free update (Adam/Lion/Muon/Adafactor): the branch output changes by L^-(α_L + c_L)"
        total = change - 1
        d.step(f"{block_kind}: {why}; L blocks add coherently, so the stream moves by L^(1 − ...) — set to Θ(1)",
               sp.Eq(total.subs(aL, alpha_L), 0))
        sol = sp.solve(sp.Eq(total.subs(aL, alpha_L), 0), cL)[0]
        d.result(f"cL_{block_kind}", sol, f"{block_kind}: learning-rate exponent in depth")
    return d

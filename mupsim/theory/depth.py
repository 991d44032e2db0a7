"""Depth: residual-branch multiplier (L/L_base)^{-α_L}, and the learning-rate, Adam-ε and
weight-decay exponents in depth (Depth-μP: α_L = ½, Bordelon et al. 2023 / Yang et al. 2023;
CompleteP: α_L = 1, Dey et al. 2025; general α_L in [½, 1] as in CompleteP's code).
Exponents are the x of L^(-x); multipliers are relative to the base depth (1 there).
"""

from __future__ import annotations

import sympy as sp

from mupsim.errors import MupsimError, choice, rational
from mupsim.theory import wd_rules
from mupsim.theory.derivation import Derivation
from mupsim.theory.optimizers import Optimizer, kind_for

DEPTH_RULES = {"depth_mup": sp.Rational(1, 2), "completep": sp.Integer(1)}
CREDITS = {
    "depth_mup": "Depth-μP (Yang et al. 2023, TP6; Bordelon et al. 2023): branch multiplier L^-1/2",
    "completep": "CompleteP (Dey et al. 2025): branch multiplier L^-α_L, α_L = 1 by default, "
    "any α_L in [1/2, 1] in the authors' code",
}


def parse_depth_alpha(rule: str, depth_alpha):
    """α_L of the rule, or the user's α_L in [½, 1] (CompleteP only)."""
    rule = choice("depth rule", rule, DEPTH_RULES)
    if depth_alpha is None:
        return DEPTH_RULES[rule]
    if rule != "completep":
        raise MupsimError(
            f"a depth exponent alpha_L is only taken by depth rule 'completep' (depth_mup fixes "
            f"alpha_L = 1/2); got depth rule {rule!r}"
        )
    r = rational(depth_alpha, "depth exponent alpha_L", sp.Rational(1, 2), 1)
    return sp.Rational(r.numerator, r.denominator)


def derive_depth(opt: Optimizer, rule: str, depth_alpha=None, wd_rule=None) -> Derivation:
    """Results: ``branch`` (α_L), ``cL_<kind>`` (learning rate in blocks), ``eps`` (Adam ε in blocks),
    ``wd`` (weight decay of block matrices under ``wd_rule``, a rule name or
    :class:`~mupsim.theory.wd_rules.WdRule`, dispatched on its kind; None without a rule)."""
    rule = choice("depth rule", rule, DEPTH_RULES)
    alpha_L = parse_depth_alpha(rule, depth_alpha)
    d = Derivation(f"Depth exponents: {rule}, α_L = {alpha_L}")
    d.assume(CREDITS[rule] + ".")
    d.assume(
        "A residual stream of L blocks, h ← h + (L/L_base)^{-α_L} f_l(h): the multiplier is 1 at the base "
        "depth, so a model tuned there is unchanged; inside a block the width rules apply unchanged."
    )
    d.assume(
        "Every block's update moves the residual stream by Θ(1/L), coherently across blocks, "
        "so the total change is Θ(1) and no block dominates (the criterion of Dey et al. 2025, "
        "'complete feature learning'; Depth-μP reaches the same total with α_L = 1/2)."
    )
    aL, cL = sp.symbols("alpha_L c_L", real=True)
    init = sp.Rational(1, 2) - aL
    d.step(
        "At init the L branches add like independent terms: the stream grows as L^{1/2 − α_L}, bounded iff α_L ≥ 1/2",
        sp.Eq(sp.Symbol("growth_init"), init.subs(aL, alpha_L)),
    )
    if alpha_L < sp.Rational(1, 2) or alpha_L > 1:
        raise MupsimError(f"alpha_L = {alpha_L} is outside [1/2, 1]")
    d.result("branch", alpha_L, "Branch multiplier exponent of the rule")
    for block_kind in sorted({kind_for(opt, False), kind_for(opt, True)}):
        if block_kind == "gradient":
            change = 2 * aL + cL
            why = (
                "SGD: the gradient w.r.t. block weights carries L^-α_L and the update's effect passes the "
                "multiplier again, so one block moves the stream by L^-(2α_L + c_L)"
            )
        else:
            change = aL + cL
            why = "scale-free update (Adam/Lion/Muon/Adafactor): one block moves the stream by L^-(α_L + c_L)"
        total = change - 1
        d.step(
            f"{block_kind}: {why}; L blocks add coherently, so the stream moves by L^(1 − α_L − c_L"
            f"{' − α_L' if block_kind == 'gradient' else ''}) — set to Θ(1)",
            sp.Eq(total.subs(aL, alpha_L), 0),
        )
        sol = sp.solve(sp.Eq(total.subs(aL, alpha_L), 0), cL)[0]
        d.result(f"cL_{block_kind}", sol, f"{block_kind}: learning-rate exponent in depth")
    d.result(
        "eps",
        alpha_L,
        "Adam ε in blocks: the gradient of a block parameter carries L^-α_L, so ε ∝ L^-α_L "
        "(embedding and readout: no depth factor)",
    )
    c_block = d.results[f"cL_{kind_for(opt, False)}"]
    rule = wd_rule if wd_rule is None or isinstance(wd_rule, wd_rules.WdRule) else wd_rules.get(wd_rule)
    if rule is None:
        d.results["wd"] = None
    elif rule.kind == "constant":
        d.result("wd", sp.Integer(0), f"{rule.name}: the same λ at every depth")
    elif rule.kind in ("timescale", "epoch"):
        d.result(
            "wd",
            -c_block,
            f"{rule.name}: keep η_l·λ_l (the relaxation time 1/(2ηλ)) fixed in depth: w_L = −c_L",
        )
    else:
        d.result(
            "wd",
            c_block,
            f"{rule.name}: keep the steady-state RMS ∝ sqrt(η_l/λ_l) of block matrices, and with "
            "it their spectral norm, fixed in depth (the branch multiplier already scales their "
            "output): w_L = c_L",
        )
    return d

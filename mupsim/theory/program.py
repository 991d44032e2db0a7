"""Everett et al.'s linear program for the learning-rate exponents.

Everett et al. 2024 (arXiv 2407.05872) choose the learning-rate exponents c_l
that maximise every learning rate — minimise Σ_l c_l — subject to stability:
after one step, the change of every activation, Δz_l ~ n^(-r_l), has r_l ≥ 0.
Each r_l is a minimum of linear terms (one per way the step reaches z_l), so
``r_l ≥ 0`` is the conjunction "every term ≥ 0": a finite set of linear
inequalities in the c_l, i.e. a linear program.

Terms (x of n^(-x); β_l(c, γ) from ``early.update_exponent``, the exponent
of ΔW_l z before the fan-in sum; per-layer alignment exponents α_l, ω_l, u_l):

- embedding (no fan-in sum):       r_1 = β_1
- hidden, stacked to any depth:    r_h = min(β_h − α_h, β_h + r_{h−1} − u_h, a_h + b_h + r_{h−1} − ω_h)
  plus the vector-like parameters of the layer (bias, norm gain): β_v ≥ 0
- readout:                          r_R = min(a_R + b_R + r_L − ω_R, β_R − α_R, β_R + r_L − u_R)
- backward (SGD): the gradient w.r.t. a width-n pre-activation has
  coordinates n^(-g), g = min(a_R + b_R, β_R): the readout after the step.

"Any depth": the hidden recursion r ↦ min(K, r + d) stays ≥ 0 for every
number of hidden layers iff K ≥ 0, r_1 ≥ 0 and d ≥ 0, so we impose
β_h − u_h ≥ 0 and require ω_h ≤ a_h + b_h = ½ (otherwise r falls by
ω_h − ½ per layer and no width exponent is depth-free: refused). The last
hidden layer then has r_L ≥ min(K, r_1), which the readout terms use.

The program is solved with HiGHS (scipy) and the optimum is *certified in
exact rational arithmetic*: the rationalised primal point satisfies every
constraint exactly and a rationalised dual vector y ≥ 0 with Aᵀy = 1 gives
the same objective, so it is optimal by LP duality. Ties (several optimal
points) are broken lexicographically: smallest c for embedding, then hidden,
readout, bias, norm gain (documented, deterministic).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy as sp

from mupsim.errors import MupsimError
from mupsim.theory.layers import LAYER_CLASSES, LAYERS
from mupsim.theory.optimizers import Optimizer, kind_for

ORDER = ("embedding", "hidden", "readout", "bias", "norm_gain")
C = {l: sp.Symbol(f"c_{l}".replace("norm_gain", "gain"), real=True) for l in LAYERS}


@dataclass(frozen=True)
class Alignment:
    """Per-layer alignment exponents: α (ΔW z⁰), ω (W⁰ Δz), u (ΔW Δz); sums of fan_in terms grow as fan_in^x."""

    alpha: sp.Rational
    omega: sp.Rational
    u: sp.Rational


@dataclass(frozen=True)
class Constraint:
    layer: str
    term: str
    expr: sp.Expr  # linear in the c symbols; the constraint is expr ≥ 0

    def label(self) -> str:
        return f"r_{self.layer} [{self.term}] ≥ 0"


@dataclass
class Solution:
    c: dict  # layer → sympy Rational
    objective: sp.Rational
    constraints: list
    active: list  # constraints with zero slack at the optimum
    dual: dict  # index of constraint → Rational multiplier (certificate)
    g: sp.Expr | None


def default_alignment(alpha) -> dict:
    """The global alignment exponent α as per-layer exponents: α_l = u_l = α, ω_l = ½ (Everett et al.)."""
    half = sp.Rational(1, 2)
    return {
        l: Alignment(sp.Rational(alpha), half, sp.Rational(alpha)) for l in ("embedding", "hidden", "readout")
    }


def _terms(opt: Optimizer, init: dict, layer: str, gamma, align: Alignment | None):
    """(own, cross): exponents of ΔW z⁰ and of ΔW Δz − r_prev (vectors and the embedding: own only)."""
    from mupsim.theory.early import entry_exponent, spectral_change_exponent

    lc = LAYER_CLASSES[layer]
    kind = kind_for(opt, lc.vector, layer)
    a, b, c = init[f"a_{layer}"], init[f"b_{layer}"], C[layer]
    if kind == "spectral":
        al = align.alpha if align is not None else 1
        u = align.u if align is not None else 1
        return sp.expand(spectral_change_exponent(layer, a, c, al)), sp.expand(
            spectral_change_exponent(layer, a, c, u)
        )
    beta = entry_exponent(kind, a, b, c, gamma)
    if align is None or lc.d_in == 0:
        return sp.expand(beta), sp.expand(beta)
    return sp.expand(beta - align.alpha * lc.d_in), sp.expand(beta - align.u * lc.d_in)


def constraints(init: dict, opt: Optimizer, align: dict) -> tuple[list[Constraint], list]:
    """All linear stability constraints (expr ≥ 0) and the terms of g (backward exponent)."""
    h = align["hidden"]
    aR, bR = init["a_readout"], init["b_readout"]
    ah, bh = init["a_hidden"], init["b_hidden"]
    if h.omega > ah + bh:
        raise MupsimError(
            f"hidden ω = {h.omega} > a_h + b_h = {ah + bh}: the W⁰Δz term then shrinks r by ω − ½ per layer and no "
            "width exponent is stable at every depth; allowed: hidden ω ≤ 1/2"
        )
    from mupsim.theory.early import entry_size_exponent

    R = align["readout"]
    kind_R = kind_for(opt, False, "readout")
    g_terms = [
        sp.simplify(aR + bR),
        sp.expand(entry_size_exponent(kind_R, "readout", aR, bR, C["readout"], 0)),
    ]
    gradient_layers = [
        l for l in LAYERS if l != "readout" and kind_for(opt, LAYER_CLASSES[l].vector, l) == "gradient"
    ]
    g_used = bool(gradient_layers)

    def terms(layer):
        """[(own, cross)] — one pair per term of g for SGD layers below the readout."""
        al = align.get(layer)
        if layer in gradient_layers:
            return [_terms(opt, init, layer, t, al) for t in g_terms]
        return [_terms(opt, init, layer, 0, al)]

    out: list[Constraint] = []

    def add(layer, term, expr):
        expr = sp.expand(expr)
        if not any(c.expr == expr for c in out):
            out.append(Constraint(layer, term, expr))

    r_emb = [own for own, _ in terms("embedding")]
    for i, t in enumerate(r_emb):
        add("embedding", "ΔW z" + (f", g term {i + 1}" if len(r_emb) > 1 else ""), t)
    K = []  # terms of r_h that do not involve r_{h-1}
    for own, cross in terms("hidden"):
        K.append(own)
        add("hidden", "ΔW z", own)
        add("hidden", "ΔW Δz, any depth (β_h − u_h)", cross)
    for v in ("bias", "norm_gain"):
        for own, _ in terms(v):
            K.append(own)
            add("hidden", f"Δ{v}", own)
    for rp in r_emb:
        add("hidden", "W⁰ Δz (first hidden layer)", ah + bh + rp - h.omega)
    r_last = K + r_emb  # r_L ≥ min(K, r_1) at every depth
    ((own_R, cross_R),) = terms("readout")
    for rl in r_last:
        add("readout", "W⁰ Δz", aR + bR + rl - R.omega)
        add("readout", "ΔW Δz", cross_R + rl)
    add("readout", "ΔW z", own_R)
    return out, (g_terms if g_used else None)


def _rat(x: float, what: str) -> Fraction:
    return Fraction(x).limit_denominator(10**6)


def solve(init: dict, opt: Optimizer, align: dict) -> Solution:
    """Solve the program; certify the optimum exactly (see the module docstring)."""
    from scipy.optimize import linprog

    cons, g_terms = constraints(init, opt, align)
    syms = [C[l] for l in ORDER]
    A = np.array([[float(c.expr.coeff(s)) for s in syms] for c in cons])
    b = np.array([float(c.expr.subs({s: 0 for s in syms})) for c in cons])
    A_ex = [[sp.Rational(c.expr.coeff(s)) for s in syms] for c in cons]
    b_ex = [sp.Rational(c.expr.subs({s: 0 for s in syms})) for c in cons]
    w = np.ones(len(syms))
    res = linprog(w, A_ub=-A, b_ub=b, bounds=[(None, None)] * len(syms), method="highs")
    if res.status != 0:
        raise MupsimError(f"the learning-rate program has no optimum ({res.message})")
    z = float(res.fun)
    y = np.maximum(-np.asarray(res.ineqlin.marginals), 0.0)
    # lexicographic tie-break on the optimal face
    x = res.x
    fixed_A, fixed_b = [w], [z + 1e-9]
    for i in range(len(syms)):
        e = np.zeros(len(syms))
        e[i] = 1.0
        r2 = linprog(
            e,
            A_ub=np.vstack([-A] + [np.array(fixed_A)]),
            b_ub=np.concatenate([b, fixed_b]),
            bounds=[(None, None)] * len(syms),
            method="highs",
        )
        if r2.status != 0:
            break
        x = r2.x
        fixed_A.append(e)
        fixed_b.append(r2.fun + 1e-9)
    c_ex = [sp.Rational(_rat(v, "c").numerator, _rat(v, "c").denominator) for v in x]
    y_ex = [sp.Rational(_rat(v, "y").numerator, _rat(v, "y").denominator) for v in y]
    slack = [sum(A_ex[i][j] * c_ex[j] for j in range(len(syms))) + b_ex[i] for i in range(len(cons))]
    obj = sum(c_ex)
    dual_obj = -sum(b_ex[i] * y_ex[i] for i in range(len(cons)))
    grad_ok = all(sum(A_ex[i][j] * y_ex[i] for i in range(len(cons))) == 1 for j in range(len(syms)))
    if min(slack) < 0 or not grad_ok or dual_obj != obj or min(y_ex) < 0:
        raise MupsimError(
            "could not certify the learning-rate program's optimum in exact arithmetic "
            f"(objective {obj}, dual {dual_obj}); please report this input"
        )
    c = dict(zip(ORDER, c_ex))
    active = [k for k, s in zip(cons, slack) if s == 0]
    g = None
    if g_terms is not None:
        g = sp.Min(*[t.subs(C["readout"], c["readout"]) for t in g_terms])
    return Solution(c, obj, cons, active, {i: v for i, v in enumerate(y_ex) if v != 0}, g)

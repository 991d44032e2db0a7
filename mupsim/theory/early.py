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

from mupsim.errors import MupsimError, rational, show
from mupsim.theory.derivation import Derivation, symbol
from mupsim.theory.layers import LAYER_CLASSES, LAYERS
from mupsim.theory.optimizers import Optimizer, entry_exponent, kind_for

ALIGNMENTS = {"full": sp.Integer(1), "none": sp.Rational(1, 2)}


def parse_alignment(alignment) -> sp.Rational:
    """'full' → 1, 'none' → ½, or a number in [½, 1] (the general exponent)."""
    if isinstance(alignment, str) and alignment.strip().lower() in ALIGNMENTS:
        return ALIGNMENTS[alignment.strip().lower()]
    try:
        value = rational(alignment, "alignment", sp.Rational(1, 2), 1)
    except MupsimError:
        raise MupsimError(
            f"unknown alignment {show(alignment)}; allowed: full, none, or an exponent in [1/2, 1]"
        ) from None
    return sp.Rational(value.numerator, value.denominator)


def spectral_change_exponent(name: str, a, c, alpha):
    """Exponent of the RMS change of a layer's output under a Muon (orthogonalised, full-rank) update.

    Δw = η n^-c O with O's singular values 1, ΔW = n^-a Δw. If fan_out ≥ fan_in, O has orthonormal
    columns and ‖O z‖ = ‖z‖ exactly, whatever the alignment; if fan_out < fan_in (readout), O z keeps
    the part of z in O's fan_out-dimensional row space: ‖O z‖ ≈ ‖z‖·(fan_out/fan_in)^(1−α)
    (α = 1: z lies in it; α = ½: a random z keeps the fraction fan_out/fan_in of its square norm).
    With ‖z‖ = fan_in^(1/2) and the RMS taken over fan_out the exponent is
    a + c + (d_out − d_in)/2 + (1 − α)·max(d_in − d_out, 0).
    """
    lc = LAYER_CLASSES[name]
    return a + c + sp.Rational(lc.d_out - lc.d_in, 2) + (1 - alpha) * max(lc.d_in - lc.d_out, 0)


def update_exponent(kind: str, name: str, a, b, c, gamma, alpha=1):
    """β such that the own-update term ΔW·z has coordinates n^-(β − α·fan_in) (fan_in → 0 for vectors).

    Entry-wise optimizers: β = ε, the exponent of ΔW's coordinates. Muon (spectral): see
    ``spectral_change_exponent`` (β = that exponent + α·d_in, so that β − α·d_in is the change).
    """
    if kind == "spectral":
        return spectral_change_exponent(name, a, c, alpha) + alpha * LAYER_CLASSES[name].d_in
    return entry_exponent(kind, a, b, c, gamma)


def entry_size_exponent(kind: str, name: str, a, b, c, gamma):
    """Exponent of the coordinates of ΔW (Muon: an orthogonal fan_out×fan_in matrix has entries of RMS 1/√max)."""
    if kind == "spectral":
        return a + c + sp.Rational(LAYER_CLASSES[name].d_max, 2)
    return entry_exponent(kind, a, b, c, gamma)


SOLVERS = ("program", "greedy")


def parse_layer_alignment(layer_alignment, alpha) -> dict:
    """Per-layer (α_l, ω_l, u_l): defaults from the global α (α_l = u_l = α, ω_l = ½), overridden by
    ``layer_alignment``, a dict layer → (alpha, omega, u) (numbers or fraction strings in [0, 1])."""
    from mupsim.theory.program import Alignment, default_alignment

    out = default_alignment(alpha)
    if layer_alignment is None:
        return out
    if not isinstance(layer_alignment, dict):
        raise MupsimError(
            f"layer alignment must be a dict layer → (alpha, omega, u), got {show(layer_alignment)}"
        )
    for layer, triple in layer_alignment.items():
        if layer not in out:
            raise MupsimError(
                f"layer alignment: unknown layer {show(layer)}; allowed: embedding, hidden, readout"
            )
        try:
            vals = list(triple)
        except TypeError:
            vals = []
        if len(vals) != 3:
            raise MupsimError(
                f"layer alignment for {layer} must be 3 exponents (alpha, omega, u), got {show(triple)}"
            )
        r = [rational(v, f"{layer} alignment {n}", 0, 1) for v, n in zip(vals, ("alpha", "omega", "u"))]
        out[layer] = Alignment(*(sp.Rational(x.numerator, x.denominator) for x in r))
    return out


def derive_learning_rates(
    init: dict, opt: Optimizer, alpha: sp.Rational, solver: str = "program", layer_alignment=None
) -> Derivation:
    """Solve the learning-rate exponent c of every layer class.

    ``init`` maps ``a_<layer>``/``b_<layer>`` to exponents (derive_init).
    ``solver``: "program" (default; Everett et al.'s linear program, see ``program.py``) or
    "greedy" (readout first, then each layer's own update at Θ(1); global α only).
    Results: ``c_<layer>``, ``g`` (backward exponent) and ``r_<layer>`` (activation-change exponents).
    """
    if solver == "greedy":
        if layer_alignment is not None:
            raise MupsimError(
                "per-layer alignment needs solver 'program' (the greedy solve takes one global α)"
            )
        return _derive_greedy(init, opt, alpha)
    if solver != "program":
        raise MupsimError(f"unknown solver {show(solver)}; allowed: {', '.join(SOLVERS)}")
    from mupsim.theory import program

    align = parse_layer_alignment(layer_alignment, alpha)
    d = Derivation(f"Learning-rate exponents (Everett et al.'s linear program): {opt.title}")
    d.assume("One optimizer step from init; the loss derivative w.r.t. the output is Θ(1).")
    d.assume(
        "Stability: every activation change Δz_l ~ n^(-r_l) after the step has r_l ≥ 0, at every depth "
        "of the hidden stack (Everett et al. 2024)."
    )
    d.assume(
        "Maximal learning rates: minimise Σ_l c_l over all five parameter classes subject to every "
        "stability constraint; ties broken by the smallest c for embedding, hidden, readout, bias, norm gain."
    )
    d.assume(
        "Alignment: a sum of fan_in terms grows as fan_in^x with x = α_l for ΔW z⁰, ω_l for W⁰ Δz, "
        "u_l for ΔW Δz: "
        + "; ".join(f"{l} (α, ω, u) = ({a.alpha}, {a.omega}, {a.u})" for l, a in align.items())
    )
    sol = program.solve(init, opt, align)
    d.step(
        "Size of the own-update term β_l (exponent of ΔW_l z before the fan-in sum): SGD 2a + c + γ "
        "(γ = g below the readout, 0 at the readout); Adam/Lion a + c; Adafactor a + b + c; "
        "Muon a + c + (d_out − d_in)/2 + α·d_in + (1 − α)·max(d_in − d_out, 0), "
        "i.e. a + c + (d_in + d_out)/2 at full alignment (see spectral_change_exponent)."
    )
    if sol.g is not None:
        d.step(
            "Backward: the gradient w.r.t. a width-n pre-activation has coordinates n^-g with g = min(a_R + b_R, β_R) "
            "(the readout after its step), so each SGD constraint below the readout appears once per term of g."
        )
    d.step("The program: minimise Σ c subject to (each line: expression ≥ 0)")
    for k in sol.constraints:
        d.step(f"{k.label()}", sp.GreaterThan(k.expr, 0))
    for k in sol.active:
        d.step(f"active at the optimum: {k.label()}", sp.Eq(k.expr, 0))
    d.step(
        "Optimum, certified in exact arithmetic by a dual vector y ≥ 0 with Aᵀy = 1 and equal objective",
        sp.Eq(sp.Symbol("Σc"), sol.objective),
    )
    for l in ("embedding", "hidden", "readout", "bias", "norm_gain"):
        d.result(f"c_{l}", sol.c[l], f"{l}: optimal learning-rate exponent")
    if sol.g is not None:
        d.result("g", sp.simplify(sol.g), "Backward exponent at the optimum")
    subs = {program.C[l]: sol.c[l] for l in sol.c}
    for layer in ("embedding", "hidden", "readout"):
        vals = [k.expr.subs(subs) for k in sol.constraints if k.layer == layer]
        d.results[f"r_{layer}"] = min(vals)
    d.step(
        "Activation-change exponents at the optimum (0: that layer's features move by Θ(1))",
        sp.Eq(
            sp.Tuple(sp.Symbol("r_emb"), sp.Symbol("r_hid"), sp.Symbol("r_out")),
            sp.Tuple(d.results["r_embedding"], d.results["r_hidden"], d.results["r_readout"]),
        ),
    )
    d.results["program"] = sol
    return d


def _derive_greedy(init: dict, opt: Optimizer, alpha: sp.Rational) -> Derivation:
    """Greedy readout-first solve (``solver="greedy"``): each layer's own update set to Θ(1) in turn.

    The readout is solved first and its update then sets the backward scale g. Stable, and equal to
    the program's optimum for every entry-wise normalised optimizer and for full alignment, but not
    for SGD without alignment (where raising c_R raises g and lets every other rate grow).

    ``init`` maps ``a_<layer>``/``b_<layer>`` to exponents (derive_init).
    Results: ``c_<layer>`` and, for the record, ``g`` (backward exponent).
    """
    d = Derivation(
        f"Learning-rate exponents (greedy readout-first solve): {opt.title}, alignment α = {alpha}"
    )
    d.assume("One optimizer step from init; the loss derivative w.r.t. the output is Θ(1).")
    d.assume("Maximal stable update: each layer's own update ΔW z moves its output coordinates by Θ(1).")
    d.assume(
        f"Alignment: a coordinate of ΔW z has size |ΔW_ij|·fan_in^α with α = {alpha} "
        "(1: full, the gradient's low-rank structure lines up with z; 1/2: none)."
    )
    aR, bR = init["a_readout"], init["b_readout"]
    order = ["readout"] + [l for l in LAYERS if l != "readout"]  # the readout's rate enters g
    g = None
    for name in order:
        lc = LAYER_CLASSES[name]
        kind = kind_for(opt, lc.vector, name)
        a, b = init[f"a_{name}"], init[f"b_{name}"]
        c = sp.Symbol(f"c_{name}".replace("norm_gain", "gain"), real=True)
        gamma = 0 if name == "readout" else g
        fan = 0 if lc.vector else lc.d_in
        x = update_exponent(kind, name, a, b, c, gamma, alpha) - alpha * fan
        if kind == "spectral":
            d.step(
                f"{name}: Muon's orthogonalised update moves ‖ΔW z‖ by n^-(a+c)·‖z‖ when fan_out ≥ fan_in "
                "(whatever the alignment), by n^-(a+c)·‖z‖·(fan_out/fan_in)^(1−α) otherwise; RMS over "
                f"fan_out = n^{lc.d_out}, exponent",
                sp.Eq(symbol(f"x_{name}"), x),
            )
        else:
            what = {
                "gradient": "SGD: ε = 2a + c + γ",
                "normalized": "normalised update: ε = a + c",
                "relative": "Adafactor: ε = a + b + c",
            }[kind]
            d.step(
                f"{name}: ΔW coordinates n^-ε ({what}, γ = {gamma}); the output change sums "
                f"{'no' if fan == 0 else 'fan_in = n'} terms, exponent",
                sp.Eq(symbol(f"x_{name}"), x),
            )
        sol = sp.solve(sp.Eq(x, 0), c)
        if len(sol) != 1:
            raise MupsimError(f"no learning-rate exponent makes the {name} update Θ(1)")
        d.result(f"c_{name}", sol[0], f"{name}: setting the exponent to 0")
        if name == "readout":
            g = sp.Min(aR + bR, entry_size_exponent(kind, "readout", aR, bR, sol[0], 0))
            d.result(
                "g",
                g,
                "Backward: the gradient w.r.t. a width-n pre-activation has coordinates n^-g, set by "
                "the readout's effective weights after the step, the larger of init n^-(a_R+b_R) and "
                "update (SGD: n^-(2a_R+c_R)); Everett et al. 2024",
            )
    _check_stability(d, init, opt, alpha)
    return d


def _check_stability(d: Derivation, init: dict, opt: Optimizer, alpha) -> None:
    """Everett et al.'s r-recursion: every activation change Δz_l ~ n^(-r_l) must have r_l ≥ 0.

    Terms of Δh_l: ΔW z (alignment α), W⁰ Δz (ω = ½: the initial weights are not aligned with
    the change of their input) and ΔW Δz (u = α). Recorded, not imposed (the maximal rates
    above satisfy it whenever r ≥ 0 is printed).
    """
    half = sp.Rational(1, 2)
    g = d.results["g"]
    # ΔW z has exponent base − α·d_in, ΔW Δz has base + r_prev − u·d_in
    base = {
        name: update_exponent(
            kind_for(opt, False, name),
            name,
            init[f"a_{name}"],
            init[f"b_{name}"],
            d.results[f"c_{name}"],
            0 if name == "readout" else g,
            alpha,
        )
        for name in ("embedding", "hidden", "readout")
    }
    r1 = base["embedding"]
    r_h = sp.Min(base["hidden"] - alpha, base["hidden"] + r1 - alpha, r1)
    r_R = sp.Min(
        init["a_readout"] + init["b_readout"] + r_h - half,
        base["readout"] - alpha,
        base["readout"] + r_h - alpha,
    )
    d.step(
        "Stability check (Everett et al. 2024, ω = 1/2, u = α): exponents r of the activation changes "
        "after one step — embedding, last hidden layer, output — must all be ≥ 0; r_hidden = 0 means "
        "the features move by Θ(1) (feature learning).",
        sp.Eq(
            sp.Tuple(sp.Symbol("r_emb"), sp.Symbol("r_hid"), sp.Symbol("r_out")),
            sp.Tuple(sp.simplify(r1), sp.simplify(r_h), sp.simplify(r_R)),
        ),
    )
    d.results["r_embedding"], d.results["r_hidden"], d.results["r_readout"] = (
        sp.simplify(r1),
        sp.simplify(r_h),
        sp.simplify(r_R),
    )
    aligned = 1 - (init["a_readout"] + init["b_readout"])
    if aligned > 0:
        d.step(
            f"Note: if instead the Θ(1) feature change were fully aligned with the initial readout "
            f"(ω = 1, TP4's argument), W_R⁰ Δz would grow as n^{aligned}: kernel-type parameterizations "
            "learn features stably only under Everett et al.'s ω = 1/2.",
            sp.Eq(sp.Symbol("growth_{W_R^0 Δz, ω=1}"), aligned),
        )

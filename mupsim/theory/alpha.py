"""What sets the alignment exponent α: how many strong directions a steady-state weight has.

α is defined (see :func:`mupsim.theory.steady_state.sigma_max_exponent`) by
σ_max ≈ RMS(w)·n^α for a matrix whose two dimensions both grow ∝ n (α = ½: noise-like,
α = 1: rank one). Here α is tied to the growth exponent ρ of the number of directions that
hold the matrix's energy, r_eff ∝ n^ρ, measured by the stable rank ‖w‖_F²/σ_max²:
α = 1 − ρ/2. Combined with the steady state RMS(w) ∝ √(η/λ) (equilibrium derivation), the
same α governs σ_max/√(η/λ), which is what the ``alignment`` weight-decay rule balances.
"""

from __future__ import annotations

import sympy as sp

from mupsim.theory.derivation import Derivation
from mupsim.theory.layers import LAYER_CLASSES
from mupsim.theory.optimizers import Optimizer, kind_for, update_rms_exponent
from mupsim.theory.steady_state import sigma_max_exponent

n, rms, r_eff, c_out, c_in, C = sp.symbols("n RMS r_eff c_out c_in C", positive=True)
rho = sp.Symbol("rho", nonnegative=True)
alpha = sp.Symbol("alpha", positive=True)
sigma = sp.Symbol("sigma_max", positive=True)
srank = sp.Symbol("srank", positive=True)


def derive_alpha() -> Derivation:
    """α as a function of the rank exponent ρ (symbolic).

    Results: ``alpha`` (α(ρ) = 1 − ρ/2), ``rho`` (ρ(α), the inverse), ``sigma_over_rms``
    (σ_max/RMS in terms of n, ρ), ``alpha_noise`` (α at ρ = 1), ``alpha_low_rank`` (ρ = 0),
    ``rho_fan2025`` (the ρ that gives Fan et al.'s α = 3/4).
    """
    d = Derivation("Alignment exponent from the growth of the number of strong directions")
    d.assume(
        "w is a fan_out × fan_in matrix with both dimensions growing with width: "
        "fan_out = c_out·n, fan_in = c_in·n (c_out, c_in fixed; hidden matrices, incl. W1 and "
        "W2 of an MLP with a fixed ratio)."
    )
    d.assume(
        "Its squared Frobenius norm sits in r_eff ∝ n^ρ directions of comparable size: "
        "σ_i² = Θ(‖w‖_F²/r_eff) for the top r_eff singular values, the rest carry a vanishing "
        "share. Then the stable rank ‖w‖_F²/σ_max² = Θ(r_eff), and 0 ≤ ρ ≤ 1 "
        "(1 ≤ r_eff ≤ min(fan_out, fan_in))."
    )
    d.assume(
        "Steady state (equilibrium derivation): RMS(w) ≈ RMS(u)·√(η/(2λ)) with RMS(u) "
        "independent of width (normalised optimizer steps); only then does the same α govern "
        "σ_max/√(η/λ)."
    )
    fro2 = c_out * c_in * n**2 * rms**2
    d.step("Squared Frobenius norm from the entry RMS:", sp.Eq(sp.Symbol("‖w‖_F^2"), fro2))
    d.step(
        "Definition of the stable rank, solved for σ_max (an identity, no assumption yet):",
        sp.Eq(sigma, sp.sqrt(sp.Symbol("‖w‖_F^2") / srank)),
    )
    ratio = sp.sqrt(fro2 / (C * n**rho)) / rms
    ratio = sp.powsimp(sp.simplify(ratio), force=True)
    d.step("With srank = Θ(r_eff) = C·n^ρ:", sp.Eq(sigma / rms, ratio))
    d.result("sigma_over_rms", ratio)
    log_slope = sp.simplify(sp.diff(sp.expand_log(sp.log(ratio), force=True), n) * n)
    slope = sp.Symbol("s")
    d.step("Its growth exponent s = d log(σ_max/RMS) / d log n:", sp.Eq(slope, log_slope))
    square = sigma_max_exponent(1, 1, alpha)
    d.step(
        "α is defined by σ_max ≈ RMS·n^α for a matrix growing in both dimensions "
        "(the exponent of max^{1/2}·min^{α−1/2} with max, min ∝ n):",
        sp.Eq(slope, square),
    )
    a = sp.solve(sp.Eq(square, log_slope), alpha)[0]
    d.result("alpha", a, "Hence")
    d.result("rho", sp.solve(sp.Eq(alpha, a), rho)[0], "Inversely, the rank exponent that gives α:")
    d.result(
        "alpha_low_rank",
        a.subs(rho, 0),
        "ρ = 0 (a width-independent number of strong directions, e.g. a fixed low-rank teacher):",
    )
    d.result(
        "alpha_noise",
        a.subs(rho, 1),
        "ρ = 1 (energy spread over Θ(n) directions, e.g. an i.i.d. matrix, whose stable rank is "
        "≈ n/4 for a square one):",
    )
    d.result(
        "rho_fan2025",
        sp.solve(sp.Eq(a, sp.Rational(3, 4)), rho)[0],
        "Fan et al. 2025's α = 3/4 corresponds to",
    )
    d.step(
        "With RMS(w) ∝ √(η/λ) independent of width at fixed per-layer η/λ, "
        "σ_max/√(η/λ) ∝ n^α with the same α: the quantity the `alignment` weight-decay rule keeps "
        "at the spectral condition."
    )
    d.step(
        "What is identity and what is premise: with ρ read off the measured stable rank, "
        "steps 1–6 hold for every matrix, so α of σ_max/RMS equals 1 − ρ/2 whatever training "
        "did. The one physical statement is the premise of step 11 (RMS(w)/√(η/λ) flat in "
        "width); a measured α̂ of σ_max/√(η/λ) that agrees with 1 − ρ̂/2 from the same runs "
        "tests that premise — the difference is exactly the width exponent of "
        "RMS(w)/√(η/λ) (F9 reports it) — and is not a prediction of α. Predicting α needs ρ "
        "from the task, the batch and the memory τ."
    )
    return d


def derive_alignment_wd(opt: Optimizer, a_hidden, c_hidden) -> Derivation:
    """The hidden matrix's weight-decay exponent w (λ ∝ n^{-w}) of the ``alignment`` rule as a
    function of ρ, with multiplier exponent ``a_hidden`` and lr exponent ``c_hidden``.

    Result ``w_hidden`` (symbolic in ρ); the same balance as
    :func:`mupsim.theory.steady_state.derive_weight_decay` with α = 1 − ρ/2 substituted.
    """
    d = Derivation("Alignment weight-decay rule in terms of the rank exponent")
    d.assume(
        "The alignment rule's balance (steady-state derivation): log_n σ_max(n^{-a} w) = "
        "−a − ρ_u − (c − w)/2 + s(α) must equal log_n √(fan_out/fan_in), with ρ_u the "
        "update RMS exponent and s(α) the σ_max/RMS growth."
    )
    a_of_rho = derive_alpha().results["alpha"]
    lc = LAYER_CLASSES["hidden"]
    rho_u = update_rms_exponent(kind_for(opt, False, "hidden"), lc.d_in, lc.d_out)
    w = sp.Symbol("w", real=True)
    s = sigma_max_exponent(lc.d_in, lc.d_out, a_of_rho)
    eq = sp.Eq(
        -sp.Integer(a_hidden) - rho_u - (sp.Integer(c_hidden) - w) / 2 + s, sp.Rational(lc.d_out - lc.d_in, 2)
    )
    d.step(f"hidden, {opt.title}: a = {a_hidden}, c = {c_hidden}, ρ_u = {rho_u}, α = 1 − ρ/2:", eq)
    d.result("w_hidden", sp.solve(eq, w)[0], "Solved")
    return d

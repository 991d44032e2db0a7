"""Stable rank of a steady-state hidden matrix, and the width exponents ρ(n), α(n) it implies.

Under lr-scaled decay (PyTorch AdamW) a matrix at steady state is an exponentially weighted sum
of its past updates, W_t = (1 − ηλ)^t W_0 − η Σ_j (1 − ηλ)^j u_{t−j} (the W_0 term is gone after
a few relaxation times τ = 1/(2ηλ)). Its stable rank srank = ‖W‖_F²/σ_max² counts how many
directions hold its energy. This module derives srank from three numbers — how many
effectively independent directions the sum holds (K, from the memory τ and the task's
correlation time), and how many dimensions the rows and the columns of those directions can
spread over (d_r, d_c, from the task) — with the free multiplicative convolution of two
Marchenko–Pastur laws, and from it the width exponent ρ(n) = d log srank / d log n and
α(n) = 1 − ρ(n)/2 (:mod:`mupsim.theory.alpha`).

Conventions: η, λ are the layer's per-step values (per-step decay ηλ), τ = 1/(2ηλ) steps (the
relaxation time of ‖W‖², :mod:`mupsim.theory.steady_state`), β1 Adam's momentum coefficient.
Rows of W index the layer's outputs (for W1 of the residual MLP: the hidden units, where the
backward signal δ arrives), columns its inputs (the representation z). n is the width.
"""

from __future__ import annotations

import sympy as sp

from mupsim.theory.derivation import Derivation

eta, lam, beta1 = sp.symbols("eta lambda beta1", positive=True)
tau, tau_c = sp.symbols("tau tau_c", positive=True)
K, d_r, d_c, z, y = sp.symbols("K d_r d_c z y", positive=True)
n = sp.Symbol("n", positive=True)
rho_r, rho_c, rho_K = sp.symbols("rho_r rho_c rho_K", real=True)
r = sp.Symbol("r", positive=True)  # 1 − ηλ, the per-step retention
g = sp.Symbol("gamma", positive=True)  # lag-one correlation of the coherent update direction
j = sp.Symbol("j", integer=True, nonnegative=True)


def _geometric(x):
    """Σ_{j≥0} x^j for 0 ≤ x < 1."""
    total = sp.summation(x**j, (j, 0, sp.oo))
    return total.args[0][0] if isinstance(total, sp.Piecewise) else total


def _readable(derived, form):
    """``form`` (a hand-written arrangement) after checking that it equals ``derived``."""
    if sp.simplify(derived - form) != 0:
        raise AssertionError(f"readable form {form} differs from the derived {derived}")
    return form


def derive_memory_count() -> Derivation:
    """How many effectively independent updates a steady-state matrix sums.

    Results: ``weights_sum`` and ``weights_sq_sum`` (Σ a_j, Σ a_j² of the weights of the raw
    per-step gradients in W), ``count_exact`` (their ratio (Σa)²/Σa², a function of r = 1 − ηλ and
    β1), ``count`` (its leading order in ηλ: 4τ, β1-free), ``count_momentum_correction`` (the
    first relative correction in ηλ), ``count_coherent_exact`` and ``count_coherent`` (the same
    count for an update direction that persists with lag-one correlation γ = e^(−1/τ_c), i.e. a
    correlation time τ_c steps: 1 + 2τ/τ_c to leading order).
    """
    d = Derivation("How many independent updates a steady-state matrix sums")
    d.assume(
        "lr-scaled decay (PyTorch AdamW): W_{t+1} = r·W_t − η·u_t with r = 1 − ηλ; after a few relaxation "
        "times τ = 1/(2ηλ) the initial weights are gone and W_t = −η Σ_j r^j u_{t−j}."
    )
    d.assume(
        "Momentum: u_t = (1 − β1) Σ_l β1^l g_{t−l}; Adam's division by the running second moment changes "
        "slowly (over 1/(1 − β2) steps) and is treated as a constant scale here."
    )
    d.assume(
        "The count of a weighted sum Σ a_j g_{t−j} of independent terms is its effective sample size "
        "(Σ a_j)²/Σ a_j²: the number of equal-weight independent terms with the same ratio of mean to spread."
    )
    a = (1 - beta1) * (r ** (j + 1) - beta1 ** (j + 1)) / (r - beta1)
    d.step(
        "Weight of the raw gradient g_{t−j} in Σ_i r^i u_{t−i} (the momentum's weights folded into the decay's):",
        sp.Eq(sp.Symbol("a_j"), a),
    )
    s1 = sp.simplify((1 - beta1) / (r - beta1) * (r * _geometric(r) - beta1 * _geometric(beta1)))
    s1 = _readable(s1, 1 / (1 - r))
    d.result("weights_sum", s1, "Their sum (the momentum conserves the total weight):")
    s2 = ((1 - beta1) / (r - beta1)) ** 2 * (
        r**2 * _geometric(r**2) - 2 * r * beta1 * _geometric(r * beta1) + beta1**2 * _geometric(beta1**2)
    )
    s2 = _readable(s2, (1 - beta1) * (1 + r * beta1) / ((1 - r**2) * (1 + beta1) * (1 - r * beta1)))
    d.result("weights_sq_sum", s2, "Their sum of squares:")
    count = _readable(
        sp.simplify(s1**2 / s2),
        (1 + r) * (1 + beta1) * (1 - r * beta1) / ((1 - r) * (1 - beta1) * (1 + r * beta1)),
    )
    d.result("count_exact", count, "Effective number of independent per-step gradients in W:")
    x = sp.Symbol("x", positive=True)  # ηλ
    lead = sp.limit(count.subs(r, 1 - x) * x, x, 0) / x
    d.step("To leading order in x = ηλ (β1 < 1 fixed):", sp.Eq(sp.Symbol("N"), lead))
    d.result("count", sp.simplify(lead.subs(x, 1 / (2 * tau))), "In relaxation times τ = 1/(2ηλ):")
    corr = sp.simplify(2 * sp.series(count.subs(r, 1 - x) * x / 2, x, 0, 2).removeO().coeff(x, 1))
    corr = _readable(corr, (beta1**2 + 4 * beta1 - 1) / (1 - beta1**2))
    d.result(
        "count_momentum_correction",
        corr,
        "Next order: N = 4τ + c(β1) with a width- and τ-free constant c (−1 without momentum, ≈ +18 at "
        "β1 = 0.9: momentum spreads each gradient over ~(1+β1)/(1−β1) steps and flattens the weights), "
        "negligible next to 4τ:",
    )
    # coherent part: a direction that persists with correlation gamma^|lag|
    cross = sp.simplify((_geometric(r**2)) * (1 + 2 * r * g * _geometric(r * g)))  # Σ_{j,l} r^{j+l} γ^{|j−l|}
    cross = _readable(cross, (1 + r * g) / ((1 - r**2) * (1 - r * g)))
    d.step(
        "A coherent (task) update whose direction decorrelates as γ^|lag| (γ = e^(−1/τ_c)): "
        "Σ_{j,l} r^{j+l} γ^{|j−l|} =",
        sp.Eq(sp.Symbol("C"), cross),
    )
    count_c = _readable(
        sp.simplify(1 / ((1 - r) ** 2 * cross)), (1 + r) * (1 - r * g) / ((1 - r) * (1 + r * g))
    )
    d.result(
        "count_coherent_exact", count_c, "Independent coherent directions in W (its effective sample size):"
    )
    lead_c = sp.limit(count_c.subs({r: 1 - 1 / (2 * tau), g: sp.exp(-x / tau_c)}).subs(tau, tau / x), x, 0)
    lead_c = sp.simplify(lead_c)
    lead_c = _readable(lead_c, (tau_c + 2 * tau) / tau_c)
    d.result(
        "count_coherent",
        1 + 2 * tau / tau_c,
        "To leading order (τ, τ_c ≫ 1): the memory holds 1 + 2τ/τ_c independent coherent directions "
        "(1 for a frozen direction, about 2τ/τ_c for one that moves fast; the steady-state model below takes "
        "the other reading, one direction per N_* examples, which fitted exploratory runs of the same task better):",
    )
    return d


def derive_free_product() -> Derivation:
    """srank of a sum of K independent rank-one directions with d_r-dimensional rows and
    d_c-dimensional columns (free multiplicative convolution of two Marchenko–Pastur laws).

    Results: ``chi`` (the inverse moment function χ(z)), ``edge_equation`` (the cubic whose
    positive root z* gives the spectral edge), ``srank`` (K·χ(z*), with z* symbolic),
    ``srank_many`` (K → ∞: d_r d_c/(√d_r + √d_c)²), ``srank_few`` (d_r, d_c → ∞: K),
    ``srank_square_noise`` (K → ∞, d_r = d_c = n: n/4), ``srank_balanced`` (K = d_r = d_c = d:
    4d/27), ``w_r``, ``w_c``, ``w_K`` (elasticities ∂log srank/∂log d_r, d_c, K at the edge; they
    sum to 1), ``rho`` (ρ(n) = w_r ρ_r + w_c ρ_c + w_K ρ_K) and ``alpha`` (1 − ρ/2).
    """
    d = Derivation("Stable rank of a sum of independent directions (free multiplicative convolution)")
    d.assume(
        "W = Σ_{i ≤ K} x_i y_iᵀ with K independent terms of equal weight: the row factors x_i spread "
        "isotropically over d_r dimensions and the column factors y_i over d_c dimensions (an anisotropic "
        "spectrum enters through its effective dimension)."
    )
    d.assume(
        "Large-dimension (free probability) limit: the Gram matrices XᵀX/d_r and YᵀY/d_c (K × K) are free, "
        "each a Marchenko–Pastur law of mean 1 and ratio K/d, and the nonzero eigenvalues of WWᵀ are those of "
        "(XᵀX)(YᵀY)."
    )
    d.assume(
        "σ_max² is the right edge of that spectrum (no outlier: the coherent directions are of comparable size)."
    )
    S = 1 / ((1 + K * z / d_r) * (1 + K * z / d_c))
    d.step(
        "S-transform of the product (product of the two MP S-transforms 1/(1 + (K/d) z)):",
        sp.Eq(sp.Symbol("S(z)"), S),
    )
    chi = z * S / (1 + z)
    d.result(
        "chi",
        chi,
        "Inverse of the moment function ψ(u) = Σ_k m_k u^k: χ(z) = z·S(z)/(1 + z); the spectrum's right edge "
        "is λ_+ = 1/max_{z>0} χ(z):",
    )
    crit = sp.factor(sp.numer(sp.together(sp.diff(chi, z))))
    poly = sp.expand(-crit / (d_c * d_r))
    poly = _readable(poly, 2 * K**2 * z**3 + K * (K + d_r + d_c) * z**2 - d_r * d_c)
    d.result("edge_equation", sp.Eq(poly, 0), "dχ/dz = 0: a cubic with exactly one positive root z*:")
    zs = sp.Symbol("z^*", positive=True)
    srank = K * chi.subs(z, zs)
    d.result(
        "srank",
        srank,
        "The mean eigenvalue is 1 (both factors have mean 1), so srank = K·mean/λ_+ = K·χ(z*):",
    )
    lead = sp.limit(K * chi.subs(z, y / K), K, sp.oo)
    ystar = sp.solve(sp.diff(lead, y), y)[0]
    many = _readable(sp.simplify(lead.subs(y, ystar)), d_r * d_c / (sp.sqrt(d_r) + sp.sqrt(d_c)) ** 2)
    d.result(
        "srank_many",
        many,
        "K → ∞ (z* = √(d_r d_c)/K): the rectangular Marchenko–Pastur edge of a d_r × d_c Gaussian matrix, "
        "1/√srank = 1/√d_r + 1/√d_c:",
    )
    d.result(
        "srank_square_noise",
        sp.simplify(many.subs({d_r: n, d_c: n})),
        "Isotropic noise on an n × n matrix (d_r = d_c = n):",
    )
    few = sp.limit(sp.limit(chi, d_r, sp.oo), d_c, sp.oo)
    few_max = sp.limit(few, z, sp.oo)
    d.result(
        "srank_few",
        K * few_max,
        "d_r, d_c → ∞ (χ → z/(1 + z), supremum 1): K orthogonal directions of equal size, srank = K:",
    )
    c3 = chi.subs({K: n, d_r: n, d_c: n})
    z3 = sp.solve(sp.diff(c3, z), z)[0]
    d.result(
        "srank_balanced",
        sp.simplify(n * c3.subs(z, z3)),
        "K = d_r = d_c = n (z* = 1/2, the Fuss–Catalan edge 27/4):",
    )
    # elasticities (envelope theorem: z* is stationary, so derivatives at fixed z)
    wr = sp.simplify(sp.diff(sp.log(K * chi), d_r) * d_r)
    wc = sp.simplify(sp.diff(sp.log(K * chi), d_c) * d_c)
    wK = sp.simplify(sp.diff(sp.log(K * chi), K) * K)
    d.result("w_r", wr.subs(z, zs), "Elasticity ∂log srank/∂log d_r (envelope theorem, at z*):")
    d.result("w_c", wc.subs(z, zs), "and ∂log srank/∂log d_c:")
    wK_form = _readable(sp.simplify(wK.subs(z, zs)), 1 - wr.subs(z, zs) - wc.subs(z, zs))
    d.result(
        "w_K",
        wK_form,
        "and ∂log srank/∂log K: the three sum to 1 (srank is homogeneous of degree 1 in (K, d_r, d_c)):",
    )
    rho = sp.Symbol("w_r") * rho_r + sp.Symbol("w_c") * rho_c + sp.Symbol("w_K") * rho_K
    d.result(
        "rho",
        rho,
        "Width exponent of srank when d_r ∝ n^ρ_r, d_c ∝ n^ρ_c, K ∝ n^ρ_K locally (chain rule):",
    )
    d.result(
        "alpha",
        1 - rho / 2,
        "Alignment exponent α(n) = 1 − ρ(n)/2 (identity σ_max² = ‖W‖_F²/srank with RMS(W) flat in width, "
        ":mod:`mupsim.theory.alpha`):",
    )
    d.step(
        "Limits: isotropic noise (K → ∞, d_r = d_c ∝ n: z* → 0, w_r = w_c = 1/2) gives ρ = 1, α = 1/2; a "
        "count-limited matrix (K ≪ d_r, d_c: w_K → 1) or saturated dimensions (ρ_r = ρ_c = 0) gives ρ = 0, α = 1."
    )
    return d


kappa, n_star, c_d, k_in, b = sp.symbols("kappa N_* c_d k b", positive=True)
s_b = sp.Symbol("s_b", positive=True)


def derive_steady_stable_rank() -> Derivation:
    """The stable rank of a steady-state hidden matrix as one coherent direction on top of a bulk
    of independent directions, with every input either from the config or one of three constants
    calibrated once (κ, N_*, c_d).

    Results: ``count`` (K = b·4τ/N_*), ``d_r``, ``d_c`` (the row and column dimensions at width n),
    ``rho_c`` (the width exponent of d_c), ``srank`` (in terms of the bulk's stable rank s_b, for
    κ ≤ 1), ``srank_strong_bulk`` (κ ≥ 1), ``rho`` (ρ(n) in terms of the bulk's elasticities),
    ``alpha``, and the limits ``srank_no_memory`` (K → 0: 1), ``srank_wide`` (n → ∞: the bulk
    saturates at K·k/(√K + √k)²), ``srank_wide_long`` (then τ → ∞: 1 + κ·k),
    ``srank_long_narrow`` (τ → ∞ at n ≪ k: the bulk is isotropic noise on c_d·n dimensions,
    s_b = c_d·n/4).
    """
    d = Derivation("Stable rank at steady state: a coherent direction on a bulk of independent directions")
    d.assume(
        "The steady-state matrix is one coherent (task) direction of energy E_s plus a bulk of energy E_b "
        "made of the other directions its memory holds."
    )
    d.assume(
        "The bulk is a sum of K independent directions (the free-product derivation), and σ_max² is the "
        "larger of E_s and the bulk's edge E_b/s_b, s_b the bulk's own stable rank."
    )
    d.assume(
        "The bulk's edge is a fixed fraction κ of the coherent energy, E_b/s_b = κ·E_s (calibrated once per "
        "matrix): the coherent direction holds 1/κ times the energy of the bulk's strongest direction."
    )
    d.assume(
        "K is proportional to the number of training examples whose gradients the memory holds: "
        "K = b·N/N_*, with N = 4τ the memory count (the memory-count derivation) and one independent "
        "direction per N_* examples (calibrated once per matrix)."
    )
    d.assume(
        "Rows spread over d_r = c_d·n dimensions (ReLU masks carry the backward signal to every hidden "
        "unit); columns over d_c with 1/d_c = 1/(c_d·n) + 1/k, since the representation of k inputs has at "
        "most k directions (c_d calibrated once per matrix)."
    )
    d.assume(
        "Everything else — the batch b, the memory τ = 1/(2η_lλ_l) from the calculator's per-layer values, "
        "the input dimension k, the width n — comes from the run's config."
    )
    count = b * 4 * tau / n_star
    d.result("count", count, "Independent bulk directions:")
    dr = c_d * n
    dc = 1 / (1 / (c_d * n) + 1 / k_in)
    dc = _readable(sp.simplify(dc), c_d * n * k_in / (c_d * n + k_in))
    d.result("d_r", dr, "Row dimensions:")
    d.result("d_c", dc, "Column dimensions:")
    rc = _readable(sp.simplify(sp.diff(sp.log(dc), n) * n), k_in / (c_d * n + k_in))
    d.result("rho_c", rc, "Width exponent of d_c (1 while c_d·n ≪ k, 0 once the k inputs are exhausted):")
    sr = 1 + kappa * s_b
    d.result(
        "srank",
        sr,
        "κ ≤ 1 (the coherent direction is the top one): srank = (E_s + E_b)/E_s with E_b = κ·s_b·E_s:",
    )
    d.result(
        "srank_strong_bulk",
        sp.expand(sr / kappa),
        "κ ≥ 1 (the bulk's edge is the top): srank = (E_s + E_b)/(E_b/s_b):",
    )
    w_r, w_c = sp.symbols("w_r w_c", positive=True)
    rho_b = w_r * 1 + w_c * rc
    d.step(
        "Width exponent of the bulk (K does not depend on n; free-product elasticities w_r, w_c; d_r ∝ n):",
        sp.Eq(sp.Symbol("rho_b"), rho_b),
    )
    rho = sp.simplify(sp.diff(sp.log(sr), s_b) * s_b) * rho_b
    d.result("rho", rho, "Width exponent of the stable rank (κ ≤ 1), ρ(n) = d log srank/d log n:")
    d.result("alpha", 1 - rho / 2, "and α(n) = 1 − ρ(n)/2:")
    d.result(
        "srank_no_memory",
        sp.limit(sr, s_b, 0),
        "No memory (K → 0, hence s_b → 0): the coherent direction alone, srank → 1, ρ → 0, α → 1:",
    )
    # wide: d_r -> oo, d_c -> k
    Kc, dcc = sp.symbols("K d_c", positive=True)
    zz = sp.Symbol("z", positive=True)
    chi = zz / ((1 + zz) * (1 + Kc * zz / dcc))  # d_r → ∞
    z_w = sp.solve(sp.diff(chi, zz), zz)
    z_w = [x for x in z_w if x.is_positive is not False][0]
    wide = _readable(sp.simplify(Kc * chi.subs(zz, z_w)), Kc * dcc / (sp.sqrt(Kc) + sp.sqrt(dcc)) ** 2)
    wide = wide.subs(dcc, sp.limit(dc, n, sp.oo))
    d.result(
        "srank_wide",
        1 + kappa * wide.subs(Kc, count),
        "Wide (n → ∞: d_r → ∞, d_c → k): the bulk saturates at K·k/(√K + √k)², so srank saturates, ρ → 0 and "
        "α bends back to 1:",
    )
    d.result(
        "srank_wide_long",
        sp.limit(1 + kappa * wide.subs(Kc, count), tau, sp.oo),
        "and with a long memory as well (τ → ∞): the bulk fills the k input directions:",
    )
    many = derive_free_product().results["srank_many"]
    narrow = sp.simplify(many.subs({d_r: c_d * n, d_c: c_d * n}))
    d.result(
        "srank_long_narrow",
        1 + kappa * narrow,
        "Long memory at n ≪ k (K → ∞, d_r = d_c = c_d·n): the bulk is isotropic noise on c_d·n dimensions "
        "(w_r = w_c = 1/2, ρ_b = 1), so ρ → κs_b/(1 + κs_b), which tends to 1 (α → 1/2) once κ·c_d·n/4 ≫ 1:",
    )
    d.step(
        "Monotonicity: s_b increases with K (w_K > 0), and K with τ and with b, so srank and ρ(n) grow with the "
        "memory and the batch; in this model only the product b·τ enters (the held-out runs refute that: a "
        "larger batch raises srank more than a proportionally longer memory, theory/results.md)."
    )
    return d

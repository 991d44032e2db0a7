"""Steady state of a scale-invariant matrix under lr-scaled decay (PyTorch AdamW), and the
weight-decay exponents that keep the spectral condition there.

Units: ``lr`` η and ``wd`` λ are the per-layer values actually used by the
optimizer (lr-scaled decay, as in PyTorch AdamW: per-step decay factor 1 − ηλ); RMS is over the entries of
the raw parameter w; times are in optimizer steps.
"""

from __future__ import annotations

import sympy as sp

from mupsim.errors import MupsimError, rational
from mupsim.theory import wd_rules
from mupsim.theory.derivation import Derivation
from mupsim.theory.layers import LAYER_CLASSES, MATRIX_LAYERS, VECTOR_LAYERS
from mupsim.theory.optimizers import OPTIMIZERS, Optimizer, kind_for, update_rms_exponent

eta, lam, U, beta, S, t = sp.symbols("eta lambda U beta1 S t", positive=True)
k = sp.Symbol("k", integer=True)
WD_RULES = tuple(wd_rules.WD_RULES)
FAN2025_ALPHA = sp.Rational(3, 4)
assert wd_rules.WD_RULES["fan2025"].alpha == FAN2025_ALPHA


def derive_equilibrium() -> Derivation:
    """Equilibrium RMS, relaxation time and angular update (symbolic).

    Results: ``ms_exact`` (equilibrium mean square), ``rms`` (leading order in
    ηλ), ``tau_exact`` / ``tau`` (relaxation time of the mean square, steps),
    ``angular`` (equilibrium angular update per step, radians, leading order),
    ``momentum_factor`` (Σ of the autocorrelation of an EMA of i.i.d. steps).
    """
    d = Derivation("Steady state of a scale-invariant matrix under lr-scaled decay (PyTorch AdamW)")
    d.assume(
        "A normalisation follows W, so the loss is invariant to the scale of W and its gradient is orthogonal to W."
    )
    d.assume(
        "lr-scaled decay (PyTorch AdamW, often called 'decoupled'): w ← (1 − ηλ) w − η u, with u the Adam "
        "direction; ρ = 1 − ηλ; RMS over the entries of w."
    )
    d.assume(
        "The per-step directions g_t are orthogonal to w and i.i.d. in time with mean square U² (white noise: "
        "independent of the past steps, hence of w_t apart from what w_t has accumulated from them)."
    )
    d.assume(
        "Momentum: u_t = (1 − β1) Σ_k β1^k g_{t−k}, an exponential moving average; β1 = 0 means u_t = g_t."
    )
    S1, St, Sstar = sp.Symbol("S_{t+1}"), sp.Symbol("S_t"), sp.Symbol("S^*")
    rec = sp.Eq(S1, (1 - eta * lam) ** 2 * S + eta**2 * U**2)
    d.step("Mean square of w after one step with β1 = 0 (the cross term vanishes: g_t ⟂ w_t):", rec)
    ms = sp.solve(sp.Eq(S, rec.rhs), S)[0]
    ms = _readable(ms, eta * U**2 / (lam * (2 - eta * lam)))
    d.result("ms_exact", ms, "Fixed point S* of the recursion:")
    lead = sp.limit(ms * lam / eta, eta, 0) * eta / lam
    d.step("To leading order in ηλ ≪ 1:", sp.Eq(Sstar, lead))
    rms = sp.sqrt(lead)
    d.result("rms", sp.simplify(rms), "Equilibrium RMS (β1 = 0):")
    # relaxation
    factor = (1 - eta * lam) ** 2
    d.step(
        "Deviations from S* shrink by the factor (1 − ηλ)² per step:",
        sp.Eq(S1 - Sstar, factor * (St - Sstar)),
    )
    tau_exact = -1 / sp.log(factor)
    d.result("tau_exact", tau_exact, "Relaxation time (e-folding, steps):")
    x = sp.Symbol("x", positive=True)
    tau_lead = sp.series(tau_exact.subs(eta, x / lam), x, 0, 1).removeO()
    tau_lead = sp.simplify(
        sp.Add(*[term for term in sp.Add.make_args(sp.expand(tau_lead)) if term.has(x)]).subs(x, eta * lam)
    )
    d.result("tau", tau_lead, "Leading order:")
    # momentum
    rms_u = sp.Function("RMS")(sp.Symbol("u"))
    var_u = _readable((1 - beta) ** 2 * _geometric(beta**2), (1 - beta) / (1 + beta))
    d.step("With momentum, the mean square of u_t per unit U² is", sp.Eq(rms_u**2 / U**2, var_u))
    d.step("and its lag-j autocorrelation is E⟨u_t, u_{t−j}⟩ = RMS(u)²·β1^j.")
    rho = sp.Symbol("rho", positive=True)
    cross = _readable(beta * _geometric(rho * beta), beta / (1 - rho * beta))  # Σ_{j≥1} ρ^{j−1} β1^j, ρβ1 < 1
    d.step(
        "w_t = ρ^t w_0 − η Σ_{j≥1} ρ^{j−1} u_{t−j}, so the cross term is E⟨w_t, u_t⟩ = −η RMS(u)²·Σ_j ρ^{j−1}β1^j:",
        sp.Eq(sp.Symbol("Sigma"), cross),
    )
    Sm = sp.Symbol("S", positive=True)
    V = sp.Symbol("V", positive=True)  # RMS(u)^2
    rec_m = sp.Eq(Sm, rho**2 * Sm + 2 * rho * eta**2 * V * cross + eta**2 * V)
    d.step("Mean square balance with the ρβ1 coupling (V = RMS(u)²):", rec_m)
    ms_m = sp.solve(rec_m, Sm)[0].subs(rho, 1 - eta * lam)
    r_ = 1 - eta * lam
    ms_m = _readable(ms_m, eta * V * (1 + r_ * beta) / (lam * (2 - eta * lam) * (1 - r_ * beta)))
    d.result(
        "ms_exact_momentum",
        ms_m.subs(V, U**2),
        "Exact fixed point with momentum, in terms of the measured RMS(u) (written U here):",
    )
    mfac = _readable(sp.limit(ms_m / (eta * V / (2 * lam)), eta, 0), (1 + beta) / (1 - beta))
    d.result(
        "momentum_factor",
        mfac,
        "Leading order in ηλ: the β1 = 0 balance with RMS(u)² multiplied by "
        "(1+β1)/(1−β1) (Kosson et al. 2023):",
    )
    d.step(
        "Equilibrium RMS in terms of the measured RMS(u):",
        sp.Eq(sp.Function("RMS")(sp.Symbol("w")), rms_u * sp.sqrt(mfac * eta / (2 * lam))),
    )
    ang = sp.simplify(eta * sp.sqrt(var_u) * U / (U * sp.sqrt(eta / (2 * lam))))
    d.result(
        "angular",
        sp.simplify(ang),
        "Equilibrium angular update per step, η·RMS(u)/RMS(w) (Kosson et al. 2023: √(2ηλ(1−β1)/(1+β1))):",
    )
    return d


def _readable(derived, form):
    """``form`` (a hand-written, readable arrangement) after checking that it equals ``derived``."""
    if sp.simplify(derived - form) != 0:
        raise AssertionError(f"readable form {form} differs from the derived {derived}")
    return form


def _geometric(r):
    """Σ_{k≥0} r^k for 0 ≤ r < 1 (β1 ∈ [0, 1))."""
    total = sp.summation(r**k, (k, 0, sp.oo))  # Piecewise: the convergent branch first
    return total.args[0][0] if isinstance(total, sp.Piecewise) else total


def sigma_max_exponent(d_in: int, d_out: int, alpha) -> sp.Expr:
    """Growth exponent s of σ_max/RMS ≈ n^s for a fan_out×fan_in matrix.

    α interpolates between a noise-like matrix (α = ½: σ_max ≈ RMS·sqrt(max dim))
    and a rank-one one (α = 1: σ_max ≈ RMS·sqrt(fan_in·fan_out)):
    σ_max ≈ RMS · max^{1/2} · min^{α−1/2}. For an n×n matrix this is RMS·n^α.
    """
    return sp.Rational(max(d_in, d_out), 2) + min(d_in, d_out) * (alpha - sp.Rational(1, 2))


def derive_weight_decay(opt: Optimizer, a: dict, c: dict, rule, alpha=None) -> Derivation:
    """Weight-decay exponents w (λ_l ∝ n^{-w}) for every layer under ``rule`` (a name or a
    :class:`~mupsim.theory.wd_rules.WdRule`), dispatched on the rule's kind.

    ``a`` and ``c`` map layer names to the multiplier and learning-rate
    exponents already derived. Results: ``w_<layer>`` (None: no decay).
    """
    if not isinstance(rule, wd_rules.WdRule):
        if rule not in wd_rules.WD_RULES:
            raise MupsimError(f"unknown wd rule {rule!r}; allowed: {', '.join(WD_RULES)}")
        rule = wd_rules.WD_RULES[rule]
    d = Derivation(f"Weight-decay exponents: rule '{rule.name}'")
    if opt.kind == "gradient":
        d.assume(
            "SGD's weight decay: w ← w − η_l(g + λ_l w), a per-step decay η_lλ_l, with λ_l = λ n^{-w} and "
            "η_l = η n^{-c}."
        )
    elif opt.name == "adam":
        d.assume(
            "Adam's weight decay is an L2 term added to the gradient before normalisation (not AdamW's): "
            "λ_l = λ n^{-w} with η_l = η n^{-c}."
        )
    else:
        d.assume(
            "lr-scaled decay (PyTorch AdamW): the per-step decay is η_lλ_l, with λ_l = λ n^{-w} and "
            "η_l = η n^{-c} (not independent decay, whose per-step factor is λ_l alone)."
        )
    d.assume(
        "Vector-like parameters (biases, norm gains) get no weight decay under every rule "
        "(Fan et al. 2025: λ₁ = 0; nanoGPT and Megatron likewise)."
    )
    for name in VECTOR_LAYERS:
        d.result(f"w_{name}", None)
    if rule.kind == "constant":
        d.step(
            f"{rule.name}: the same λ at every width for every matrix (nanoGPT-μP, Megatron): w = 0. "
            "Not gauge-covariant: 'the same λ' is a different rule in each gauge for layers whose "
            "multiplier a depends on the gauge (embedding, readout); nanoGPT-μP's is the mup-package "
            "gauge a = (0, 0, 1)."
        )
        for name in MATRIX_LAYERS:
            d.result(f"w_{name}", sp.Integer(0))
        return d
    if rule.kind == "epoch":
        d.step(
            f"{rule.name}: keep τ_epoch = B/(η_lλ_l D) of the base run (Wang & Aitchison 2024); in width, with "
            "the same batch and data, that keeps η_lλ_l fixed: c + w = 0; batch size and dataset size enter "
            "as the factor (B/B0)·(D0/D) on λ (see the horizon derivation)"
        )
        for name in MATRIX_LAYERS:
            d.result(f"w_{name}", -c[name], f"{name}: w = −c")
        return d
    if rule.kind == "timescale":
        d.step(
            f"{rule.name}: keep the per-step decay η_l λ_l, hence the relaxation time 1/(2η_lλ_l), width-free "
            "(Wang & Aitchison 2024; what the mup package's MuAdamW does): c + w = 0"
        )
        for name in MATRIX_LAYERS:
            d.result(f"w_{name}", -c[name], f"{name}: w = −c")
        return d
    # steady-state rules
    if not opt.steady_state:
        allowed = ", ".join(n for n, r in wd_rules.WD_RULES.items() if r.kind != "steady_state")
        steady = ", ".join(o.name for o in OPTIMIZERS.values() if o.steady_state)
        raise MupsimError(
            f"wd rule {rule.name!r} balances a scale-free update against lr-scaled decay (PyTorch AdamW) in steady "
            f"state; optimizer {opt.name!r} does not fit that ({opt.note}). Allowed for {opt.name}: {allowed}; "
            f"steady-state rules: {steady}"
        )
    matrices = tuple(m for m in MATRIX_LAYERS if m in rule.decayed)
    if rule.alpha is not None:
        alpha = sp.Rational(rule.alpha.numerator, rule.alpha.denominator)
        d.assume(
            f"{rule.name}: σ_max of a hidden matrix grows as RMS·n^{{{alpha}}} (Fan et al. 2025's measured "
            "exponent)."
        )
        d.assume(
            f"{rule.name} decays matrix-like parameters only; in TP5's terms those are the hidden matrices, while "
            "embedding and readout (one growing dimension) are vector-like and get λ₁ = 0 "
            "(their learning rates are the parameterization's; Θ(1) in the mup-package gauge a = (0, 0, 1))."
        )
        for name in MATRIX_LAYERS:
            if name not in matrices:
                d.result(f"w_{name}", None)
    else:
        if alpha is None:
            raise MupsimError(
                f"wd rule {rule.name!r} needs {rule.needs} (--alignment-exponent ALPHA): σ_max ≈ RMS·n^α"
            )
        alpha = rational(alpha, "alignment exponent", sp.Rational(1, 2), 1)
        alpha = sp.Rational(alpha.numerator, alpha.denominator)
        d.assume(f"{rule.name}: σ_max ≈ RMS·max^{{1/2}}·min^{{α−1/2}} with α = {alpha}.")
        d.assume(
            "Limit of this rule: the norm balance below holds for scale-invariant matrices (a normalisation "
            "follows them, so their gradient is orthogonal to w). The hidden matrices of a normalised network "
            "are; the embedding is only when a normalisation follows it (pre-norm residual stream); the "
            "readout never is (its scale sets the output, so its gradient has a component along w that the "
            "balance ignores). The embedding and readout exponents of this rule are therefore an "
            "extrapolation outside the derivation's assumptions, served for comparison; fan2025 (λ = 0 there) "
            "or timescale do not rely on the balance for them."
        )
    d.assume(
        "Steady state (see the equilibrium derivation; gradients orthogonal to w and i.i.d. in time): "
        "RMS(w) ≈ RMS(u)·sqrt(η_l/(2λ_l))."
    )
    d.assume(
        "Spectral condition (Yang, Simon & Bernstein 2023) kept in steady state: "
        "σ_max(n^{-a} w) = Θ(sqrt(fan_out/fan_in))."
    )
    w = sp.Symbol("w", real=True)
    for name in matrices:
        lc = LAYER_CLASSES[name]
        rho = update_rms_exponent(kind_for(opt, False, name), lc.d_in, lc.d_out)
        s = sigma_max_exponent(lc.d_in, lc.d_out, alpha)
        growth = -a[name] - rho - (c[name] - w) / 2 + s
        target = sp.Rational(lc.d_out - lc.d_in, 2)
        eq = sp.Eq(growth, target)
        d.step(
            f"{name}: log_n σ_max(n^-a w) = −a − ρ − (c − w)/2 + s, with a = {a[name]}, c = {c[name]}, "
            f"ρ = {rho} (RMS(u) ∝ n^-ρ), s = {s}; target log_n sqrt(fan_out/fan_in) = {target}",
            eq,
        )
        sol = sp.solve(eq, w)[0]
        d.result(f"w_{name}", sol, f"{name}: solved")
    return d

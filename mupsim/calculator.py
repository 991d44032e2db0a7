"""The calculator: exponents derived in ``mupsim.theory``, served per layer.

Conventions: effective weight W = n^(-a)·w, init w0 ~ N(0, n^(-2b)), learning
rate η·n^(-c), weight decay λ·n^(-w) (lr-scaled decay, PyTorch AdamW: w ← w − η_l(u + λ_l w); not independent decay w ← w − η_l u − λ_l w).
Every exponent is the x of n^(-x), an exact ``fractions.Fraction``.

Why one module over 600 lines: :func:`exponents` and :func:`transfer` are the two halves of one
public contract (the exponents and the values they give at a width), and most of the file is
their input validation, whose error messages refer to each other's arguments (a ``wd`` needs a
``wd_rule``, ``global_lr`` refuses derived wd rules, ``depth_alpha`` needs a depth transfer, the
batch/horizon factors of the ``tau_epoch`` rule). The theory itself lives in ``mupsim.theory``;
splitting the validation from the two functions it guards would scatter one API's rules over
several files without making any of them reusable elsewhere.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from numbers import Integral, Real

import sympy as sp

from mupsim.errors import MupsimError, choice, flag, rational, show
from mupsim.theory import depth as _depth
from mupsim.theory import early, epsilon, optimizers, parameterizations, steady_state, wd_rules
from mupsim.theory.derivation import Derivation
from mupsim.theory.layers import LAYERS, MATRIX_LAYERS

FIELDS = ("multiplier", "init_std", "lr", "wd", "eps")
PARAMETERIZATIONS = tuple(parameterizations.PARAMETERIZATIONS)
OPTIMIZERS = tuple(optimizers.OPTIMIZERS)
WD_RULES = tuple(wd_rules.WD_RULES)
DEPTH_RULES = tuple(_depth.DEPTH_RULES)


def _frac(x) -> Fraction | None:
    if x is None:
        return None
    x = sp.Rational(x)
    return Fraction(int(x.p), int(x.q))


@dataclass(frozen=True)
class LayerExponents:
    """One layer's exponents, each the x of n^(-x) as an exact ``Fraction``.

    Attributes:
        multiplier: a, the forward multiplier n^(-a).
        init_std: b, the init std n^(-b).
        lr: c, the learning rate η·n^(-c).
        wd: w, the weight decay λ·n^(-w) (lr-scaled, coupled AdamW); None: no decay.
        eps: the Adam ε exponent; None: no ε (not an Adam-family optimizer).

    Examples:
        >>> import mupsim
        >>> mupsim.exponents("mup", "adamw").layers["hidden"].lr
        Fraction(1, 1)
    """

    multiplier: Fraction
    init_std: Fraction
    lr: Fraction
    wd: Fraction | None
    eps: Fraction | None = None

    def to_dict(self) -> dict:
        return {f: (None if getattr(self, f) is None else float(getattr(self, f))) for f in FIELDS}


@dataclass(frozen=True)
class Exponents:
    """The answer of :func:`exponents`: the inputs, normalised, and per-layer exponents.

    Attributes:
        parameterization: sp | ntk | mup | mfp.
        optimizer: the optimizer name.
        alignment: "full", "none" or the alignment exponent α as text.
        wd_rule: hidden's weight-decay rule (None: no rule).
        alignment_exponent: α̂ of the 'alignment' wd rule, or None.
        layers: layer name (embedding, hidden, readout, ...) → :class:`LayerExponents`.
        depth: the depth rule's exponents, or None without a depth rule.
        derivation: the ``Derivation`` the exponents come from (``--explain``).
        solver: "program" or "greedy".
        layer_alignment: per-layer (alpha, omega, u) overrides as strings, or None.
        muon_convention: "spectral" or "rms".
        layer_wd_rules: matrix layer → wd rule where it differs from ``wd_rule``, or None.

    Examples:
        >>> import mupsim
        >>> e = mupsim.exponents("mup", "adamw")
        >>> e.layers["readout"].multiplier, e.to_dict()["layers"]["hidden"]["lr"]
        (Fraction(1, 2), 1.0)
    """

    parameterization: str
    optimizer: str
    alignment: str
    wd_rule: str | None
    alignment_exponent: Fraction | None
    layers: dict[str, LayerExponents]
    depth: dict | None = None
    derivation: Derivation = field(default=None, repr=False, compare=False)
    solver: str = "program"
    layer_alignment: dict | None = None  # per-layer (alpha, omega, u) overrides, as strings
    muon_convention: str = "spectral"
    layer_wd_rules: dict | None = None  # matrix layer → wd rule where it differs from ``wd_rule`` (hidden's)

    def to_dict(self) -> dict:
        out = {
            "parameterization": self.parameterization,
            "optimizer": self.optimizer,
            "alignment": self.alignment,
            "wd_rule": self.wd_rule,
            "alignment_exponent": None if self.alignment_exponent is None else float(self.alignment_exponent),
            "solver": self.solver,
            "layer_alignment": None
            if self.layer_alignment is None
            else {
                k: dict(zip(("alpha", "omega", "u"), (float(sp.Rational(x)) for x in v)))
                for k, v in self.layer_alignment.items()
            },
            "muon_convention": self.muon_convention,
            **({} if self.layer_wd_rules is None else {"layer_wd_rules": dict(self.layer_wd_rules)}),
            "convention": "x in n^(-x); effective W = n^-a w, w0 ~ N(0, n^-2b), lr eta n^-c, wd lambda n^-w (lr-scaled decay as in PyTorch AdamW: per-step decay lr*wd)",
            "layers": {k: v.to_dict() for k, v in self.layers.items()},
        }
        if self.depth is not None:
            out["depth"] = {k: (float(v) if isinstance(v, Fraction) else v) for k, v in self.depth.items()}
        return out

    def explain(self) -> str:
        return self.derivation.to_text()


def _alignment_name(alpha: sp.Rational) -> str:
    for k, v in early.ALIGNMENTS.items():
        if v == alpha:
            return k
    return str(alpha)


@lru_cache(maxsize=512)
def _exponents_cached(
    parameterization,
    optimizer,
    alignment,
    multipliers,
    wd_rule,
    alignment_exponent,
    depth_rule,
    solver="program",
    layer_alignment=None,
    depth_alpha=None,
    muon_convention="spectral",
    layer_wd_rules=None,
):
    p = parameterizations.get(parameterization)
    opt = optimizers.get(optimizer)
    alpha = early.parse_alignment(alignment)
    init = parameterizations.derive_init(p.name, multipliers)
    la = None if layer_alignment is None else {l: tuple(v) for l, v in layer_alignment}
    lrs = early.derive_learning_rates(init.results, opt, alpha, solver, la)
    full = Derivation(
        f"{p.name.upper()} · {opt.name} · alignment {_alignment_name(alpha)}"
        + (" (per-layer overrides)" if la else "")
        + (f" · wd rule {wd_rule}" if wd_rule else "")
        + ("".join(f", {l} {r}" for l, r in layer_wd_rules) if layer_wd_rules else "")
        + f" · solver {solver}"
    )
    full.extend(init)
    full.extend(lrs)
    a = {l: init.results[f"a_{l}"] for l in LAYERS}
    c = {l: lrs.results[f"c_{l}"] for l in LAYERS}
    w = {l: None for l in LAYERS}
    ae = None
    rules = _layer_rules(wd_rule, layer_wd_rules)
    given_ae = None if alignment_exponent is None else sp.Rational(alignment_exponent)
    if wd_rule is not None:
        derived = {}
        for name, layers in _rule_layers(wd_rule, layer_wd_rules):  # hidden's rule first, then the overrides
            r = wd_rules.WD_RULES[name]
            try:
                derived[name] = steady_state.derive_weight_decay(
                    opt, a, c, r, given_ae if r.takes_alignment_exponent else None
                )
            except MupsimError as err:
                _raise_for(layers, name, str(err))
            full.extend(derived[name])
        for l, r in layer_wd_rules or ():
            full.step(f"{l}: weight decay of rule '{r}' (rule '{wd_rule}' elsewhere)")
        w = {l: derived[rules[l].name].results[f"w_{l}"] for l in LAYERS}
        main = rules["hidden"]
        if main.alpha is not None:
            ae = sp.Rational(main.alpha.numerator, main.alpha.denominator)
        elif main.takes_alignment_exponent:
            ae = given_ae
    c_served, w, conv = optimizers.derive_muon_convention(opt, c, w, muon_convention, rules)
    full.extend(conv)
    aR, bR = init.results["a_readout"], init.results["b_readout"]
    kind_R = optimizers.kind_for(opt, False, "readout")
    g = sp.Min(aR + bR, early.entry_size_exponent(kind_R, "readout", aR, bR, c["readout"], 0))
    eps = epsilon.derive_eps(init.results, opt, g)
    full.extend(eps)
    layers = {
        l: LayerExponents(
            _frac(a[l]),
            _frac(init.results[f"b_{l}"]),
            _frac(c_served[l]),
            _frac(w[l]),
            _frac(eps.results[f"e_{l}"]),
        )
        for l in LAYERS
    }
    depth = None
    if depth_rule is not None:
        dd = _depth.derive_depth(
            opt, depth_rule, None if depth_alpha is None else sp.Rational(depth_alpha), rules["hidden"]
        )
        full.extend(dd)
        depth = {
            "rule": choice("depth rule", depth_rule, DEPTH_RULES),
            "branch_multiplier": _frac(dd.results["branch"]),
            "hidden_lr": _frac(dd.results[f"cL_{optimizers.kind_for(opt, False, 'hidden')}"]),
            "vector_lr": _frac(dd.results[f"cL_{optimizers.kind_for(opt, True)}"]),
            "block_eps": _frac(dd.results["eps"])
            if any(epsilon.has_eps(opt, l) for l in ("hidden", "bias"))
            else None,
            "hidden_wd": _frac(dd.results["wd"]),
            "convention": "x in (L/L_base)^(-x); hidden_lr/vector_lr/block_eps/hidden_wd apply to parameters "
            "inside residual blocks; branch multiplier (L/L_base)^-alpha_L is 1 at the base depth",
        }
    return Exponents(
        p.name,
        opt.name,
        _alignment_name(alpha),
        wd_rule,
        None if ae is None else _frac(ae),
        layers,
        depth,
        full,
        solver,
        la,
        muon_convention,
        None if layer_wd_rules is None else dict(layer_wd_rules),
    )


class LayerRuleError(MupsimError):
    """A rule refused for some matrix layers only (a per-layer ``wd_rule``).

    Attributes:
        layers: the matrix layers the rule was refused for.
        rule: the refused rule.
        reason: the refusal without the layer prefix.
    """

    def __init__(self, layers: tuple, rule: str, reason: str):
        super().__init__(f"wd rule of the {' and '.join(layers)} ({rule!r}): {reason}")
        self.layers, self.rule, self.reason = tuple(layers), rule, reason


def _raise_for(layers, rule, reason):
    """Raise ``reason``: as it is for hidden's rule, as a LayerRuleError for an override's layers."""
    if "hidden" in layers:
        raise MupsimError(reason)
    raise LayerRuleError(layers, rule, reason)


def _rule_layers(rule, layer_rules):
    """[(rule name, matrix layers under it)], hidden's rule first (nothing without a rule)."""
    if rule is None:
        return []
    out = {rule: [l for l in MATRIX_LAYERS if dict(layer_rules or ()).get(l, rule) == rule]}
    for l, r in layer_rules or ():
        out.setdefault(r, []).append(l)
    return [(r, tuple(ls)) for r, ls in out.items()]


def _rules_text(rule, layer_rules) -> str:
    """'fan2025' or "'fan2025' (embedding 'constant', readout 'constant')"."""
    text = repr(rule)
    if layer_rules:
        text += " (" + ", ".join(f"{l} {r!r}" for l, r in layer_rules) + ")"
    return text


def _layer_rules(rule, layer_rules) -> dict:
    """Every layer's WdRule (None: no rule) from hidden's rule name and the (layer, rule) overrides."""
    out = {l: rule for l in LAYERS}
    out.update(dict(layer_rules or ()))
    return {l: None if r is None else wd_rules.WD_RULES[r] for l, r in out.items()}


def _ordered(what, value, order, text: bool):
    """Refuse a set or dict (or an iterator) where an ordered triple is expected: its order is not
    the caller's; text ('x,y,z') only where ``text``."""
    if (
        value is None
        or isinstance(value, (list, tuple))
        or getattr(value, "ndim", None) == 1
        or (text and isinstance(value, str))
    ):
        return
    raise MupsimError(
        f"{what} must be an ordered triple {order}: a list or tuple"
        + (" or 'x,y,z' text" if text else "")
        + f", got {show(value)}"
    )


def _norm_alignment_exponent(x):
    if x is None:
        return None
    return str(rational(x, "alignment exponent", Fraction(1, 2), 1))


def exponents(
    parameterization: str = "mup",
    optimizer: str = "adamw",
    alignment="full",
    multipliers=None,
    wd_rule: str | dict | None = None,
    alignment_exponent=None,
    depth_rule: str | None = None,
    solver: str = "program",
    layer_alignment=None,
    depth_alpha=None,
    muon_convention: str = "spectral",
) -> Exponents:
    """Per-layer exponents (x of n^-x) derived from the theory.

    Conventions: multiplier n^(-a), init std n^(-b), lr η·n^(-c), weight decay λ·n^(-w), the
    decay lr-scaled (coupled AdamW: w ← w − η_l(u + λ_l w)). Exponents are exact fractions.

    Args:
        parameterization: sp | ntk | mup | mfp (canonical gauge of Everett et al. 2024).
        optimizer: sgd | adam | adamw | adafactor | lion | muon.
        alignment: "full" (α = 1), "none" (α = ½) or an exponent in [½, 1].
        multipliers: (a_embedding, a_hidden, a_readout) to fix the gauge yourself.
        wd_rule: None, a rule of ``mupsim.theory.wd_rules`` (constant | fan2025 | timescale |
            alignment, which needs alignment_exponent | tau_epoch), or a dict matrix layer →
            rule, e.g. {"hidden": "fan2025", "embedding": "constant", "readout": "constant"}
            (hidden's rule is required and is ``wd_rule`` of the answer; embedding and readout
            default to it; vectors are never decayed).
        alignment_exponent: α̂ in σ_max ≈ RMS·n^α̂ for the 'alignment' wd rule.
        depth_rule: None | depth_mup | completep.
        solver: "program" (Everett et al.'s linear program: minimise Σc subject to every
            stability constraint, default) or "greedy" (readout first, then each layer's own
            update Θ(1)).
        layer_alignment: dict layer → (alpha, omega, u) for embedding/hidden/readout, overriding
            the defaults α_l = u_l = α, ω_l = ½ (measured alignments go here; solver "program"
            only).
        depth_alpha: α_L in [1/2, 1] for depth rule completep (default 1).
        muon_convention: "spectral" (lr = spectral norm of the step, default) or "rms"
            (Moonlight's 0.2·√max(fan_in, fan_out) RMS matching; Muon optimizers only).

    Returns:
        Exponents: the normalised inputs and a :class:`LayerExponents` per layer.

    Raises:
        MupsimError: an unknown name, a malformed triple or alignment, or an argument the chosen
            rule does not use (or lacks, e.g. the 'alignment' rule without
            ``alignment_exponent``).

    Examples:
        >>> import mupsim
        >>> e = mupsim.exponents("mup", "adamw", wd_rule="fan2025")
        >>> h = e.layers["hidden"]
        >>> h.multiplier, h.init_std, h.lr, h.wd
        (Fraction(0, 1), Fraction(1, 2), Fraction(1, 1), Fraction(-1, 2))
    """
    p = choice("parameterization", parameterization, PARAMETERIZATIONS)
    o = choice("optimizer", optimizer, OPTIMIZERS)
    al = str(early.parse_alignment(alignment))
    _ordered("multipliers", multipliers, "(input, hidden, output)", text=True)
    if isinstance(layer_alignment, dict):
        for layer, triple in layer_alignment.items():
            _ordered(f"layer alignment for {show(layer)}", triple, "(alpha, omega, u)", text=False)
    mult = parameterizations.parse_multipliers(multipliers)
    rule, layer_rules = wd_rules.parse_layer_rules(wd_rule)
    ae = _norm_alignment_exponent(alignment_exponent)
    rules = _layer_rules(rule, layer_rules)
    for name, layers in _rule_layers(rule, layer_rules):
        if wd_rules.WD_RULES[name].takes_alignment_exponent and ae is None:
            _raise_for(
                layers,
                name,
                f"wd rule {name!r} needs {wd_rules.WD_RULES[name].needs} "
                "(alignment_exponent= / --alignment-exponent ALPHA): σ_max ≈ RMS·n^α",
            )
    if ae is not None and not any(r is not None and r.takes_alignment_exponent for r in rules.values()):
        takers = [n for n, r in wd_rules.WD_RULES.items() if r.takes_alignment_exponent]
        raise MupsimError(
            f"an alignment exponent is only used by wd rule {', '.join(map(repr, takers))} "
            f"(got wd rule {_rules_text(rule, layer_rules)}); "
            f"drop it or choose --wd-rule {takers[0]}"
        )
    dr = None if depth_rule is None else choice("depth rule", depth_rule, DEPTH_RULES)
    sv = choice("solver", solver, early.SOLVERS)
    la = None
    if layer_alignment is not None:
        parsed = early.parse_layer_alignment(layer_alignment, early.parse_alignment(alignment))
        la = tuple(
            sorted(
                (l, tuple(str(x) for x in (v.alpha, v.omega, v.u)))
                for l, v in parsed.items()
                if l in layer_alignment
            )
        )
    da = None
    if depth_alpha is not None:
        if dr is None:
            raise MupsimError("depth_alpha needs depth_rule 'completep'")
        da = str(_depth.parse_depth_alpha(dr, depth_alpha))
    mc = choice("muon convention", muon_convention, optimizers.MUON_CONVENTIONS)
    if mc != "spectral" and not o.startswith("muon"):
        raise MupsimError(
            f"muon_convention {mc!r} applies to Muon only (optimizer {o!r}); allowed: muon, muon_all"
        )
    e = _exponents_cached(
        p,
        o,
        al,
        None if mult is None else tuple(str(m) for m in mult),
        rule,
        ae,
        dr,
        sv,
        la,
        da,
        mc,
        layer_rules,
    )
    # a copy with fresh containers, so that a caller's edits cannot reach the cache
    return dataclasses.replace(
        e,
        layers=dict(e.layers),
        depth=None if e.depth is None else dict(e.depth),
        layer_wd_rules=None if e.layer_wd_rules is None else dict(e.layer_wd_rules),
    )


@dataclass(frozen=True)
class LayerSettings:
    """One layer's concrete values at the target width (floats).

    Attributes:
        multiplier: the forward multiplier.
        init_std: the init standard deviation.
        lr: the learning rate η_l.
        wd: the weight decay λ_l (lr-scaled: the per-step decay is η_l·λ_l; 0.0: no decay).
        eps: Adam's ε; None for optimizers without one.

    Examples:
        >>> import mupsim
        >>> mupsim.transfer(256, 1024, lr=1e-3).layers["hidden"].lr
        0.00025
    """

    multiplier: float
    init_std: float
    lr: float
    wd: float
    eps: float | None = None

    def to_dict(self) -> dict:
        return {f: getattr(self, f) for f in FIELDS}


@dataclass(frozen=True)
class Settings:
    """The answer of :func:`transfer`: per-layer values at ``width`` and what they came from.

    Attributes:
        base_width: the width the (lr, wd) were tuned at.
        width: the target width.
        exponents: the :class:`Exponents` used.
        layers: layer name → :class:`LayerSettings`.
        base_depth: the base depth of a depth transfer, or None.
        depth: the target depth, or None.
        branch_multiplier: the residual branch multiplier (depth/base_depth)^(-α_L), or None.
        global_lr: True for the plain-practice baseline (one lr for every layer at every width).
        batch: the batch/horizon factor of the ``tau_epoch`` rule, or None.
        horizon: per-layer relaxation times and the layers whose run is too short, or None.

    Examples:
        >>> import mupsim
        >>> s = mupsim.transfer(256, 1024, lr=1e-3, wd=0.1, wd_rule="fan2025")
        >>> s.to_dict()["layers"]["hidden"]["wd"]
        0.2
    """

    base_width: int
    width: int
    exponents: Exponents
    layers: dict[str, LayerSettings]
    base_depth: int | None = None
    depth: int | None = None
    branch_multiplier: float | None = None
    global_lr: bool = False
    batch: dict | None = None
    horizon: dict | None = None

    def to_dict(self) -> dict:
        e = self.exponents
        out = {
            "parameterization": e.parameterization,
            "optimizer": e.optimizer,
            "alignment": e.alignment,
            "wd_rule": e.wd_rule,
            "alignment_exponent": None if e.alignment_exponent is None else float(e.alignment_exponent),
            "base_width": self.base_width,
            "width": self.width,
            "layers": {k: v.to_dict() for k, v in self.layers.items()},
        }
        if self.depth is not None:
            out.update(base_depth=self.base_depth, depth=self.depth, branch_multiplier=self.branch_multiplier)
        if self.global_lr:
            out["global_lr"] = True
        if self.batch is not None:
            out["batch"] = self.batch
        if self.horizon is not None:
            out["horizon"] = self.horizon
        return out


MAX_WIDTH = 2**40


def _check_width(name, value):
    if isinstance(value, bool) or not isinstance(value, Real):
        raise MupsimError(f"{name} must be a positive integer, got {show(value)}")
    if not isinstance(value, Integral):
        if not (math.isfinite(float(value)) and float(value).is_integer()):
            raise MupsimError(f"{name} must be a positive integer, got {show(value)}")
        value = int(float(value))
    if not 0 < value <= MAX_WIDTH:
        raise MupsimError(f"{name} must be a positive integer up to 2^40, got {show(value)}")
    return int(value)


def _check_nonneg(name, value):
    try:
        finite = math.isfinite(value)
    except (TypeError, OverflowError):  # not a number, or an integer beyond float range
        finite = False
    if isinstance(value, bool) or not isinstance(value, Real) or not finite:
        raise MupsimError(f"{name} must be a finite non-negative number, got {show(value)}")
    if value < 0:
        raise MupsimError(f"{name} must be non-negative, got {show(value)}")
    return float(value) + 0.0  # -0.0 -> 0.0


def _per_layer(name, value):
    if value is None:
        return {}
    if isinstance(value, Real) and not isinstance(value, bool):
        return {l: _check_nonneg(name, value) for l in LAYERS}
    if isinstance(value, dict):
        bad = [k for k in value if k not in LAYERS]
        if bad:
            raise MupsimError(f"{name}: unknown layer(s) {bad}; allowed: {', '.join(LAYERS)}")
        return {k: _check_nonneg(f"{name}[{k}]", v) for k, v in value.items()}
    raise MupsimError(f"{name} must be a number or a dict layer → number, got {show(value)}")


def transfer(
    base_width: int,
    width: int,
    lr: float,
    wd: float = 0.0,
    *,
    parameterization: str = "mup",
    optimizer: str = "adamw",
    alignment="full",
    multipliers=None,
    wd_rule: str | dict | None = None,
    alignment_exponent=None,
    base_multiplier=None,
    base_init_std=None,
    base_depth: int | None = None,
    depth: int | None = None,
    depth_rule: str | None = None,
    global_lr: bool = False,
    solver: str = "program",
    layer_alignment=None,
    eps: float = 1e-8,
    depth_alpha=None,
    batch_size: int | None = None,
    base_batch_size: int | None = None,
    tokens: int | None = None,
    base_tokens: int | None = None,
    steps: int | None = None,
    base_steps: int | None = None,
    muon_convention: str = "spectral",
) -> Settings:
    """Concrete per-layer settings at ``width`` for (lr, wd) tuned at ``base_width``.

    With m = width/base_width (and m_L = depth/base_depth)::

        lr_l         = lr · m^(-c_l) [· m_L^(-c_L) inside residual blocks]
        wd_l         = wd · m^(-w_l)   (0.0 where the rule applies no decay)
        multiplier_l = base_multiplier_l · m^(-a_l), default base n0^(-a_l) (abc absolute: n^(-a_l))
        init_std_l   = base_init_std_l · m^(-b_l),   default base n0^(-b_l) (abc absolute: n^(-b_l))
        eps_l        = eps · m^(-e_l) [· m_L^(-α_L) inside residual blocks]  (Adam-family only)
        branch multiplier (m_L)^(-α_L): 1 at the base depth (CompleteP's convention)
        wd_l of block matrices also gets m_L^(-w_L) from the depth rule (keeps each rule's premise)

    ``wd`` is lr-scaled (coupled AdamW, w ← w − η_l(u + λ_l w)): the per-step decay is η_l·λ_l.
    Batch and horizon (wd rule ``tau_epoch``, Wang & Aitchison 2024): with ``batch_size``/
    ``base_batch_size`` and ``tokens``/``base_tokens`` (samples) or ``steps``/``base_steps``
    (D = steps·B), wd_l gets the factor (B/B0)·(D0/D) that keeps τ_epoch = B/(η_lλ_l D) of the
    base run (the learning rates are not changed with the batch: no batch-size lr rule is derived
    here). Given the target's ``steps`` (or ``tokens`` and ``batch_size``), ``horizon`` reports
    per layer the relaxation time 1/(2η_lλ_l) in steps and flags layers whose run is shorter than
    3 relaxation times (the steady state the steady-state wd rules assume is not reached).

    Args:
        base_width: the width (lr, wd) were tuned at, a positive integer up to 2^40.
        width: the target width.
        lr: the base learning rate η (finite, >= 0).
        wd: the base weight decay λ (finite, >= 0); a positive ``wd`` needs a ``wd_rule``.
        parameterization: as in :func:`exponents`.
        optimizer: as in :func:`exponents`.
        alignment: as in :func:`exponents`.
        multipliers: as in :func:`exponents`.
        wd_rule: a rule name, or a dict matrix layer → rule (see :func:`exponents`), each
            layer's wd then following its own rule.
        alignment_exponent: as in :func:`exponents`.
        base_multiplier: the base multipliers, a number for all layers or a dict layer → value.
        base_init_std: the base init stds, a number for all layers or a dict layer → value.
        base_depth: the depth (lr, wd) were tuned at (depth transfer only).
        depth: the target depth (depth transfer only).
        depth_rule: None | depth_mup | completep; base_depth, depth and depth_rule go together.
        global_lr: the plain-practice baseline, not a derived rule: every layer gets ``lr`` at
            every width (c = 0), e.g. SP trained with one global learning rate.
        solver: as in :func:`exponents`.
        layer_alignment: as in :func:`exponents`.
        eps: Adam's base ε.
        depth_alpha: α_L of depth rule completep (needs a depth transfer).
        batch_size: the target batch size B (needs ``tokens`` or ``steps``).
        base_batch_size: the base batch size B0.
        tokens: the target run's samples D.
        base_tokens: the base run's samples D0.
        steps: the target run's steps (D = steps·B).
        base_steps: the base run's steps.
        muon_convention: as in :func:`exponents`.

    Returns:
        Settings: per-layer :class:`LayerSettings` at ``width`` and the exponents used.

    Raises:
        MupsimError: a width, lr, wd or eps out of range, a positive ``wd`` without a rule, an
            incomplete depth transfer, or an input that would set nothing (``batch_size``
            without ``tokens`` or ``steps``, ``depth_alpha`` without a depth transfer).

    Examples:
        >>> import mupsim
        >>> s = mupsim.transfer(256, 1024, lr=1e-3, wd=0.1, wd_rule="fan2025")
        >>> h = s.layers["hidden"]
        >>> h.lr, h.wd, h.init_std
        (0.00025, 0.2, 0.03125)
    """
    n0 = _check_width("base width", base_width)
    n = _check_width("width", width)
    lr = _check_nonneg("lr", lr)
    wd = _check_nonneg("wd", wd)
    eps = _check_nonneg("eps", eps)
    if wd > 0 and wd_rule is None:
        raise MupsimError(
            f"wd={wd} needs a weight-decay rule to scale it; choose one of: {', '.join(WD_RULES)}"
        )
    if (depth is None, base_depth is None, depth_rule is None) not in (
        (True, True, True),
        (False, False, False),
    ):
        raise MupsimError(
            "depth transfer needs all of base_depth, depth and depth_rule "
            f"(depth rules: {', '.join(DEPTH_RULES)})"
        )
    if depth_alpha is not None and depth is None:
        raise MupsimError(
            "depth_alpha (--depth-alpha) is the exponent of depth rule 'completep' and needs a "
            "depth transfer: give base_depth, depth and depth_rule='completep', or drop it"
        )
    global_lr = flag(global_lr, "global_lr")
    if global_lr:
        rule, layer_rules = wd_rules.parse_layer_rules(wd_rule)
        for name, layers in _rule_layers(rule, layer_rules):
            if wd_rules.WD_RULES[name].kind != "constant":
                constant = [n for n, r in wd_rules.WD_RULES.items() if r.kind == "constant"]
                _raise_for(
                    layers,
                    name,
                    f"global_lr replaces the derived learning rates, so wd rule {name!r} "
                    "(derived from them) would not mean what it says; allowed with global_lr: "
                    f"no wd rule or {', '.join(map(repr, constant))}",
                )
    e = exponents(
        parameterization,
        optimizer,
        alignment,
        multipliers,
        wd_rule,
        alignment_exponent,
        depth_rule if depth is not None else None,
        solver,
        layer_alignment,
        depth_alpha if depth is not None else None,
        muon_convention,
    )
    bm = _per_layer("base_multiplier", base_multiplier)
    bs = _per_layer("base_init_std", base_init_std)
    m = n / n0
    mL = None
    if depth is not None:
        L0 = _check_width("base depth", base_depth)
        L = _check_width("depth", depth)
        mL = L / L0
    layers = {}
    for l, x in e.layers.items():
        lr_l = lr if global_lr else lr * m ** (-float(x.lr))
        wd_l = 0.0 if x.wd is None else wd * m ** (-float(x.wd))
        eps_l = None if x.eps is None else eps * m ** (-float(x.eps))
        in_block = mL is not None and l in ("hidden", "bias", "norm_gain")
        if in_block:
            lr_l *= mL ** (-float(e.depth["hidden_lr" if l == "hidden" else "vector_lr"]))
            if eps_l is not None and e.depth["block_eps"] is not None:
                eps_l *= mL ** (-float(e.depth["block_eps"]))
            if x.wd is not None and e.depth["hidden_wd"] is not None:
                wd_l *= mL ** (-float(e.depth["hidden_wd"]))
        layers[l] = LayerSettings(
            multiplier=bm.get(l, n0 ** (-float(x.multiplier))) * m ** (-float(x.multiplier)),
            init_std=bs.get(l, n0 ** (-float(x.init_std))) * m ** (-float(x.init_std)),
            lr=lr_l,
            wd=wd_l,
            eps=eps_l,
        )
    branch = None
    if mL is not None:
        branch = mL ** (-float(e.depth["branch_multiplier"]))
    rules = _layer_rules(e.wd_rule, None if e.layer_wd_rules is None else tuple(e.layer_wd_rules.items()))
    epoch = [l for l, r in rules.items() if r is not None and r.kind == "epoch"]
    batch, S = _batch_and_steps(epoch, batch_size, base_batch_size, tokens, base_tokens, steps, base_steps)
    if batch is not None:
        layers = {
            l: dataclasses.replace(x, wd=x.wd * batch["wd_factor"]) if l in epoch else x
            for l, x in layers.items()
        }
    horizon = None if S is None else _horizon(layers, S)
    bad = [
        f"{l}.{f}"
        for l, x in layers.items()
        for f in FIELDS
        if getattr(x, f) is not None and not math.isfinite(getattr(x, f))
    ]
    if bad:
        raise MupsimError(
            f"the settings overflow floating point at width {n} (not finite: {', '.join(bad)}); "
            "use smaller widths, exponents or base values"
        )
    return Settings(n0, n, e, layers, base_depth, depth, branch, global_lr, batch, horizon)


def _pos_int_or_none(name, v):
    return None if v is None else _check_width(name, v)


def _batch_and_steps(epoch_layers, B, B0, D, D0, S, S0):
    """(batch dict or None, target steps or None); validates the combination of inputs.
    ``epoch_layers``: the layers whose wd rule is of kind epoch (the batch dict only when some are)."""
    B, B0 = _pos_int_or_none("batch_size", B), _pos_int_or_none("base_batch_size", B0)
    D, D0 = _pos_int_or_none("tokens", D), _pos_int_or_none("base_tokens", D0)
    S, S0 = _pos_int_or_none("steps", S), _pos_int_or_none("base_steps", S0)
    if D is not None and S is not None or D0 is not None and S0 is not None:
        raise MupsimError("give the training length as tokens or as steps, not both")
    steps = S if S is not None else (None if D is None or B is None else math.ceil(D / B))
    if D is not None and B is None:
        raise MupsimError("tokens needs batch_size (steps = tokens / batch_size)")
    epoch = [n for n, r in wd_rules.WD_RULES.items() if r.kind == "epoch"]
    if B is not None and D is None and S is None:
        raise MupsimError(
            "batch_size alone sets nothing: give the target's training length too (tokens or "
            f"steps), for the horizon check or wd rule {', '.join(map(repr, epoch))}, or drop it"
        )
    if not epoch_layers:
        if B0 is not None or D0 is not None or S0 is not None:
            raise MupsimError(
                f"base_batch_size/base_tokens/base_steps are used by wd rule {', '.join(map(repr, epoch))} "
                f"only; choose --wd-rule {epoch[0]} or drop them"
            )
        return None, steps
    if B is None or B0 is None or ((D is None or D0 is None) and (S is None or S0 is None)):
        raise MupsimError(
            f"wd rule {', '.join(map(repr, epoch))} needs {wd_rules.WD_RULES[epoch[0]].needs} "
            "(tau_epoch = B/(eta*lambda*D) is kept from the base run)"
        )
    Dt = D if D is not None else S * B
    Db = D0 if D0 is not None else S0 * B0
    factor = _tau_epoch_factor()(B, B0, Dt, Db)
    return {
        "batch_size": B,
        "base_batch_size": B0,
        "tokens": Dt,
        "base_tokens": Db,
        "wd_factor": float(factor),
        "rule": "tau_epoch = B/(eta_l*lambda_l*D) kept from the base run (Wang & Aitchison 2024); "
        "lr unchanged with batch size",
    }, steps


@lru_cache(maxsize=1)
def _tau_epoch_factor():
    from mupsim.theory import horizon as h

    lam = h.derive_tau_epoch().results["lam"].subs(h.eta, h.eta0) / h.lam0
    return sp.lambdify((h.B, h.B0, h.D, h.D0), lam, "math")


def _horizon(layers, S) -> dict:
    from mupsim.steady_state import relaxation_time
    from mupsim.theory.horizon import HORIZON_RELAXATIONS

    # the exact e-folding time of (1 - lr·wd)^2 (the leading-order 1/(2·lr·wd) warns above lr·wd = 0.1);
    # lr·wd >= 2 has no steady state at all: counted as 0 relaxations (short)
    tau = {
        l: (float(relaxation_time(x.lr, x.wd, exact=True)) if x.lr * x.wd < 2 else math.inf)
        for l, x in layers.items()
        if x.lr > 0 and x.wd > 0
    }
    rel = {l: (S / t if t > 0 else math.inf) for l, t in tau.items()}
    short = sorted(l for l, r in rel.items() if r < HORIZON_RELAXATIONS)
    return {
        "steps": float(S),
        "relaxation_steps": tau,
        "relaxations": rel,
        "short": short,
        "threshold": HORIZON_RELAXATIONS,
        "note": "relaxation time -1/(2*log(1 - lr_l*wd_l)) ≈ 1/(2*lr_l*wd_l) steps (lr-scaled decay, PyTorch AdamW); short: fewer than threshold relaxations, "
        "the steady state assumed by the steady-state wd rules is not reached",
    }

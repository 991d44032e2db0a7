"""The calculator: exponents derived in ``mupsim.theory``, served per layer.

Conventions: effective weight W = n^(-a)·w, init w0 ~ N(0, n^(-2b)), learning
rate η·n^(-c), weight decay λ·n^(-w) (coupled AdamW: w ← w − η_l(u + λ_l w)).
Every exponent is the x of n^(-x), an exact ``fractions.Fraction``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from numbers import Integral, Real

import sympy as sp

from mupsim.errors import MupsimError, choice, rational
from mupsim.theory import depth as _depth
from mupsim.theory import early, optimizers, parameterizations, steady_state
from mupsim.theory.derivation import Derivation
from mupsim.theory.layers import LAYERS, MATRIX_LAYERS

FIELDS = ("multiplier", "init_std", "lr", "wd")
PARAMETERIZATIONS = tuple(parameterizations.PARAMETERIZATIONS)
OPTIMIZERS = tuple(optimizers.OPTIMIZERS)
WD_RULES = steady_state.WD_RULES
DEPTH_RULES = tuple(_depth.DEPTH_RULES)


def _frac(x) -> Fraction | None:
    if x is None:
        return None
    x = sp.Rational(x)
    return Fraction(int(x.p), int(x.q))


@dataclass(frozen=True)
class LayerExponents:
    """Exponents x of n^(-x): multiplier a, init std b, lr c, wd w (None: no decay)."""

    multiplier: Fraction
    init_std: Fraction
    lr: Fraction
    wd: Fraction | None

    def to_dict(self) -> dict:
        return {f: (None if getattr(self, f) is None else float(getattr(self, f))) for f in FIELDS}


@dataclass(frozen=True)
class Exponents:
    parameterization: str
    optimizer: str
    alignment: str
    wd_rule: str | None
    alignment_exponent: Fraction | None
    layers: dict[str, LayerExponents]
    depth: dict | None = None
    derivation: Derivation = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        out = {
            "parameterization": self.parameterization,
            "optimizer": self.optimizer,
            "alignment": self.alignment,
            "wd_rule": self.wd_rule,
            "alignment_exponent": None if self.alignment_exponent is None else float(self.alignment_exponent),
            "convention": "x in n^(-x); effective W = n^-a w, w0 ~ N(0, n^-2b), lr eta n^-c, wd lambda n^-w (coupled)",
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
def _exponents_cached(parameterization, optimizer, alignment, multipliers, wd_rule, alignment_exponent, depth_rule):
    p = parameterizations.get(parameterization)
    opt = optimizers.get(optimizer)
    alpha = early.parse_alignment(alignment)
    init = parameterizations.derive_init(p.name, multipliers)
    lrs = early.derive_learning_rates(init.results, opt, alpha)
    full = Derivation(
        f"{p.name.upper()} · {opt.name} · alignment {_alignment_name(alpha)}"
        + (f" · wd rule {wd_rule}" if wd_rule else ""))
    full.extend(init)
    full.extend(lrs)
    a = {l: init.results[f"a_{l}"] for l in LAYERS}
    c = {l: lrs.results[f"c_{l}"] for l in LAYERS}
    w = {l: None for l in LAYERS}
    ae = None
    if wd_rule is not None:
        if alignment_exponent is not None:
            ae = sp.Rational(alignment_exponent)
        wd = steady_state.derive_weight_decay(opt, a, c, wd_rule, ae)
        full.extend(wd)
        w = {l: wd.results[f"w_{l}"] for l in LAYERS}
        if wd_rule == "fan2025":
            ae = steady_state.FAN2025_ALPHA
    layers = {
        l: LayerExponents(_frac(a[l]), _frac(init.results[f"b_{l}"]), _frac(c[l]), _frac(w[l]))
        for l in LAYERS
    }
    depth = None
    if depth_rule is not None:
        dd = _depth.derive_depth(opt, depth_rule)
        full.extend(dd)
        depth = {
            "rule": choice("depth rule", depth_rule, DEPTH_RULES),
            "branch_multiplier": _frac(dd.results["branch"]),
            "hidden_lr": _frac(dd.results[f"cL_{optimizers.kind_for(opt, False, 'hidden')}"]),
            "vector_lr": _frac(dd.results[f"cL_{optimizers.kind_for(opt, True)}"]),
            "convention": "x in L^(-x); hidden_lr/vector_lr apply to parameters inside residual blocks",
        }
    return Exponents(p.name, opt.name, _alignment_name(alpha), wd_rule,
                     None if ae is None else _frac(ae), layers, depth, full)


def _norm_wd_rule(wd_rule):
    if wd_rule is None:
        return None
    return choice("wd rule", wd_rule, WD_RULES)


def _norm_alignment_exponent(x):
    if x is None:
        return None
    return str(rational(x, "alignment exponent", Fraction(1, 2), 1))


def exponents(parameterization: str = "mup", optimizer: str = "adamw", alignment="full", multipliers=None,
              wd_rule: str | None = None, alignment_exponent=None, depth_rule: str | None = None) -> Exponents:
    """Per-layer exponents (x of n^-x) derived from the theory.

    parameterization: sp | ntk | mup | mfp (canonical gauge of Everett et al. 2024)
    optimizer: sgd | adam | adamw | adafactor | lion | muon
    alignment: "full" (α = 1), "none" (α = ½) or an exponent in [½, 1]
    multipliers: (a_embedding, a_hidden, a_readout) to fix the gauge yourself
    wd_rule: None | constant | fan2025 | timescale | alignment (needs alignment_exponent)
    alignment_exponent: α̂ in σ_max ≈ RMS·n^α̂ for the 'alignment' wd rule
    depth_rule: None | depth_mup | completep
    """
    p = choice("parameterization", parameterization, PARAMETERIZATIONS)
    o = choice("optimizer", optimizer, OPTIMIZERS)
    al = str(early.parse_alignment(alignment))
    mult = parameterizations.parse_multipliers(multipliers)
    rule = _norm_wd_rule(wd_rule)
    ae = _norm_alignment_exponent(alignment_exponent)
    if rule == "alignment" and ae is None:
        raise MupsimError("wd rule 'alignment' needs an alignment exponent α in [1/2, 1] "
                          "(alignment_exponent= / --alignment-exponent ALPHA): σ_max ≈ RMS·n^α")
    if ae is not None and rule != "alignment":
        raise MupsimError(f"an alignment exponent is only used by wd rule 'alignment' (got wd rule {rule!r}); "
                          "drop it or choose --wd-rule alignment")
    dr = None if depth_rule is None else choice("depth rule", depth_rule, DEPTH_RULES)
    e = _exponents_cached(p, o, al, None if mult is None else tuple(str(m) for m in mult), rule, ae, dr)
    # a copy with fresh containers, so that a caller's edits cannot reach the cache
    return dataclasses.replace(e, layers=dict(e.layers), depth=None if e.depth is None else dict(e.depth))


@dataclass(frozen=True)
class LayerSettings:
    """Concrete values at the target width: multiplier, init std, lr, wd (floats)."""

    multiplier: float
    init_std: float
    lr: float
    wd: float

    def to_dict(self) -> dict:
        return {f: getattr(self, f) for f in FIELDS}


@dataclass(frozen=True)
class Settings:
    base_width: int
    width: int
    exponents: Exponents
    layers: dict[str, LayerSettings]
    base_depth: int | None = None
    depth: int | None = None
    branch_multiplier: float | None = None
    global_lr: bool = False

    def to_dict(self) -> dict:
        e = self.exponents
        out = {
            "parameterization": e.parameterization, "optimizer": e.optimizer, "alignment": e.alignment,
            "wd_rule": e.wd_rule,
            "alignment_exponent": None if e.alignment_exponent is None else float(e.alignment_exponent),
            "base_width": self.base_width, "width": self.width,
            "layers": {k: v.to_dict() for k, v in self.layers.items()},
        }
        if self.depth is not None:
            out.update(base_depth=self.base_depth, depth=self.depth, branch_multiplier=self.branch_multiplier)
        if self.global_lr:
            out["global_lr"] = True
        return out


MAX_WIDTH = 2 ** 40


def _check_width(name, value):
    if isinstance(value, bool) or not isinstance(value, Real):
        raise MupsimError(f"{name} must be a positive integer, got {value!r}")
    if not isinstance(value, Integral):
        if not (math.isfinite(float(value)) and float(value).is_integer()):
            raise MupsimError(f"{name} must be a positive integer, got {value!r}")
        value = int(float(value))
    if not 0 < value <= MAX_WIDTH:
        raise MupsimError(f"{name} must be a positive integer up to 2^40, got {value}")
    return int(value)


def _check_nonneg(name, value):
    try:
        finite = math.isfinite(value)
    except (TypeError, OverflowError):  # not a number, or an integer beyond float range
        finite = False
    if isinstance(value, bool) or not isinstance(value, Real) or not finite:
        raise MupsimError(f"{name} must be a finite non-negative number, got {value!r}")
    if value < 0:
        raise MupsimError(f"{name} must be non-negative, got {value}")
    return float(value)


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
    raise MupsimError(f"{name} must be a number or a dict layer → number, got {value!r}")


def transfer(base_width: int, width: int, lr: float, wd: float = 0.0, *, parameterization: str = "mup",
             optimizer: str = "adamw", alignment="full", multipliers=None, wd_rule: str | None = None,
             alignment_exponent=None, base_multiplier=None, base_init_std=None,
             base_depth: int | None = None, depth: int | None = None, depth_rule: str | None = None,
             global_lr: bool = False) -> Settings:
    """Concrete per-layer settings at ``width`` for (lr, wd) tuned at ``base_width``.

    With m = width/base_width (and m_L = depth/base_depth):
      lr_l   = lr · m^(-c_l) [· m_L^(-c_L) inside residual blocks]
      wd_l   = wd · m^(-w_l)   (0.0 where the rule applies no decay)
      multiplier_l = base_multiplier_l · m^(-a_l), default base n0^(-a_l) (abc absolute: n^(-a_l))
      init_std_l   = base_init_std_l · m^(-b_l),   default base n0^(-b_l) (abc absolute: n^(-b_l))
    ``base_multiplier``/``base_init_std``: a number for all layers or a dict layer → value.
    A positive ``wd`` needs a ``wd_rule``.
    ``global_lr=True`` is the plain-practice baseline, not a derived rule: every layer gets
    ``lr`` at every width (c = 0), e.g. SP trained with one global learning rate.
    """
    n0 = _check_width("base width", base_width)
    n = _check_width("width", width)
    lr = _check_nonneg("lr", lr)
    wd = _check_nonneg("wd", wd)
    if wd > 0 and wd_rule is None:
        raise MupsimError(f"wd={wd} needs a weight-decay rule to scale it; choose one of: {', '.join(WD_RULES)}")
    if (depth is None, base_depth is None, depth_rule is None) not in ((True, True, True), (False, False, False)):
        raise MupsimError("depth transfer needs all of base_depth, depth and depth_rule "
                          f"(depth rules: {', '.join(DEPTH_RULES)})")
    try:
        global_lr = bool({True: True, False: False}[global_lr])
    except (KeyError, TypeError):
        raise MupsimError(f"global_lr must be True or False, got {global_lr!r}") from None
    if global_lr and wd_rule is not None and str(wd_rule).lower() != "constant":
        raise MupsimError(f"global_lr replaces the derived learning rates, so wd rule {wd_rule!r} (derived from "
                          "them) would not mean what it says; allowed with global_lr: no wd rule or 'constant'")
    e = exponents(parameterization, optimizer, alignment, multipliers, wd_rule, alignment_exponent,
                  depth_rule if depth is not None else None)
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
        if mL is not None and l in ("hidden", "bias", "norm_gain"):
            lr_l *= mL ** (-float(e.depth["hidden_lr" if l == "hidden" else "vector_lr"]))
        layers[l] = LayerSettings(
            multiplier=bm.get(l, n0 ** (-float(x.multiplier))) * m ** (-float(x.multiplier)),
            init_std=bs.get(l, n0 ** (-float(x.init_std))) * m ** (-float(x.init_std)),
            lr=lr_l,
            wd=0.0 if x.wd is None else wd * m ** (-float(x.wd)),
        )
    branch = None
    if mL is not None:
        branch = float(depth) ** (-float(e.depth["branch_multiplier"]))
    bad = [f"{l}.{f}" for l, x in layers.items() for f in FIELDS if not math.isfinite(getattr(x, f))]
    if bad:
        raise MupsimError(f"the settings overflow floating point at width {n} (not finite: {', '.join(bad)}); "
                          "use smaller widths, exponents or base values")
    return Settings(n0, n, e, layers, base_depth, depth, branch, global_lr)

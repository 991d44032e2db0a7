"""Parameterizations as assumptions, and the init/multiplier exponents they imply.

A parameterization is two statements, not a table:

- a *gauge*: which of (a, b) is pinned for the matrix layers (SP: no
  multipliers, a = 0; NTK and MFP: unit init, b = 0; μP in Everett et al.'s
  form: init variance 1/n everywhere, b = ½). A user may instead pin the
  multipliers a directly (e.g. TP5 Table 3 is μP with a = (0, 0, 0), the
  ``mup`` package's Table 8 is a = (0, 0, 1)).
- a *readout condition*: kernel-type parameterizations (SP, NTK) keep the
  output Θ(1) at init; feature-learning ones (μP, MFP) make the readout's
  initial weights no larger than its updates, so that a Θ(1) change of the
  last features, aligned with the readout, moves the output by Θ(1).

Forward stability at init then fixes a + b for every layer and the gauge
fixes the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from mupsim.errors import MupsimError, choice, rational, show
from mupsim.theory.derivation import Derivation, plain
from mupsim.theory.layers import LAYER_CLASSES, MATRIX_LAYERS, VECTOR_LAYERS


@dataclass(frozen=True)
class Parameterization:
    name: str
    title: str
    gauge_symbol: str  # "a" or "b": which exponent is pinned for matrices
    gauge_value: sp.Rational
    feature_learning: bool
    reference: str


PARAMETERIZATIONS: dict[str, Parameterization] = {
    "sp": Parameterization(
        "sp",
        "standard parameterization",
        "a",
        sp.Integer(0),
        False,
        "PyTorch default: no multipliers, init variance 1/fan_in",
    ),
    "ntk": Parameterization(
        "ntk",
        "neural tangent parameterization",
        "b",
        sp.Integer(0),
        False,
        "Jacot et al. 2018: unit init, 1/sqrt(fan_in) multipliers",
    ),
    "mup": Parameterization(
        "mup",
        "maximal update parameterization (μP)",
        "b",
        sp.Rational(1, 2),
        True,
        "Yang & Hu 2021 (TP4), Yang et al. 2022 (TP5); Everett et al. 2024 gauge",
    ),
    "mfp": Parameterization(
        "mfp",
        "mean-field parameterization",
        "b",
        sp.Integer(0),
        True,
        "Mei et al. 2018; Everett et al. 2024 gauge",
    ),
}


def get(name: str) -> Parameterization:
    return PARAMETERIZATIONS[choice("parameterization", name, PARAMETERIZATIONS)]


def parse_multipliers(multipliers) -> tuple[sp.Rational, sp.Rational, sp.Rational] | None:
    """(a_embedding, a_hidden, a_readout) as exact rationals, or None."""
    if multipliers is None:
        return None
    if isinstance(multipliers, str):
        # commas separate; spaces inside a number are an error ("0 1,0,0" is not (1, 0, 0))
        multipliers = [m.strip() for m in multipliers.split(",") if m.strip() != ""]
    try:
        values = list(multipliers)
    except TypeError:
        raise MupsimError(
            f"multipliers must be 3 exponents A_IN,A_HID,A_OUT, got {show(multipliers)}"
        ) from None
    if len(values) != 3:
        raise MupsimError(
            f"multipliers must be 3 exponents A_IN,A_HID,A_OUT (input, hidden, output), got {len(values)}: {show(multipliers)}"
        )
    out = []
    for name, v in zip(("embedding", "hidden", "readout"), values):
        r = rational(v, f"multiplier exponent of the {name}")
        out.append(sp.Rational(r.numerator, r.denominator))
    return tuple(out)


def readout_condition(feature_learning: bool):
    """The value of a_R + b_R fixed by the readout condition, with its reason."""
    if feature_learning:
        return sp.Integer(1), (
            "feature learning: a Θ(1) change of the n last features, aligned with the readout "
            "(it is produced by back-propagating through it), must move the output by Θ(1): "
            "n · n^{-(a+b)} = Θ(1)"
        )
    return sp.Rational(1, 2), (
        "kernel regime: the output is Θ(1) at init, a sum of n independent terms: n^{1/2} · n^{-(a+b)} = Θ(1)"
    )


def derive_init(parameterization: str, multipliers=None) -> Derivation:
    """Solve a (multiplier) and b (init) exponents for every layer class.

    Results: ``a_<layer>`` and ``b_<layer>`` for all layer classes.
    """
    p = get(parameterization)
    fixed_a = parse_multipliers(multipliers)
    d = Derivation(f"Init and multiplier exponents: {p.title}")
    d.assume(
        "Inputs have Θ(1) coordinates; weights are initialised i.i.d. with zero mean, independent of the inputs."
    )
    d.assume(
        "Effective weight W = n^{-a} w with w_ij ~ N(0, n^{-2b}); a coordinate of size Θ(n^{-x}) is written as its exponent x."
    )
    if fixed_a is None:
        d.assume(f"Gauge of {p.name.upper()}: {p.gauge_symbol} = {p.gauge_value} for every matrix layer.")
    else:
        d.assume(
            f"Gauge fixed by the user: a = ({', '.join(map(str, fixed_a))}) for (embedding, hidden, readout)."
        )
    target_R, why_R = readout_condition(p.feature_learning)
    d.assume(f"Readout condition ({p.name.upper()}): {why_R}.")

    for i, name in enumerate(MATRIX_LAYERS):
        lc = LAYER_CLASSES[name]
        a, b = sp.symbols(f"a_{name} b_{name}", real=True)
        # coordinate of W x: sum over n^{d_in} i.i.d. terms of size n^{-(a+b)}
        size = a + b - sp.Rational(lc.d_in, 2)
        if name == "readout":
            cond = sp.Eq(a + b, target_R)
            d.step(f"{name}: the readout condition pins a + b", cond)
        else:
            cond = sp.Eq(size, 0)
            d.step(
                f"{name}: a coordinate of W x sums n^{lc.d_in} independent terms of size n^-(a+b); "
                f"its exponent must vanish (Θ(1) activations at init)",
                cond,
            )
        if fixed_a is not None:
            gauge = sp.Eq(a, fixed_a[i])
        elif p.gauge_symbol == "a":
            gauge = sp.Eq(a, p.gauge_value)
        else:
            gauge = sp.Eq(b, p.gauge_value)
        sol = sp.solve([cond, gauge], [a, b], dict=True)[0]
        d.result(f"a_{name}", sol[a])
        d.result(f"b_{name}", sol[b])
        d.step(f"{name}: with the gauge {plain(gauge)}", sp.Eq(sp.Tuple(a, b), sp.Tuple(sol[a], sol[b])))
    for name in VECTOR_LAYERS:
        d.result(f"a_{name}", sp.Integer(0))
        d.result(f"b_{name}", sp.Integer(0))
    d.step(
        "vector-like parameters (biases initialised at 0, norm gains at 1) have no fan-in sum and no "
        "multiplier: a = b = 0 in every parameterization"
    )
    return d

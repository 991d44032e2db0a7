"""Exceptions raised for bad user input.

Every message names what was wrong and what is allowed; the CLI prints it as
one line and exits with status 2.
"""

from __future__ import annotations


class MupsimError(ValueError):
    """Invalid input to a mupsim API or CLI call (message is user-facing)."""


class MupsimWarning(UserWarning):
    """Valid input for which an answer is less accurate than usual (e.g. an approximation
    used near the edge of its range); the message says why."""


def choice(kind: str, value, allowed) -> str:
    """Validate that ``value`` is one of ``allowed``; return it normalised.

    Strings are compared case-insensitively with ``-`` and ``_`` treated alike.
    Raises MupsimError naming ``kind`` and the allowed choices.
    """
    allowed = tuple(allowed)
    if isinstance(value, str):
        key = value.strip().lower().replace("-", "_")
        for a in allowed:
            if key == a.lower().replace("-", "_"):
                return a
    raise MupsimError(
        f"unknown {kind} {value!r}; allowed: {', '.join(allowed)}"
    )


def float_array(value, what: str):
    """``value`` (a number or nested sequence of numbers) as a float numpy array; MupsimError
    naming ``what`` when it is not numbers (text, None, objects, integers beyond float range)."""
    import numpy as np

    try:
        if isinstance(value, (str, bytes)):
            raise TypeError
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError):
        text = repr(value)
        text = text if len(text) <= 80 else text[:77] + "..."
        raise MupsimError(f"{what} must be a number or an array of numbers; got {text}") from None


MAX_EXPONENT = 16


def rational(value, what: str, lo=None, hi=None):
    """Parse an exponent given as int, float, Fraction or a string like '1/2', '-0.5'.

    Never evaluates code (no sympify/eval). Returns a ``fractions.Fraction``; raises MupsimError
    naming ``what`` when the value is not a finite number, lies outside [lo, hi], or exceeds
    ``MAX_EXPONENT`` in magnitude (widths n^x must stay representable as floats).
    """
    import math
    from fractions import Fraction
    from numbers import Rational, Real

    r = None
    if isinstance(value, bool):
        r = None
    elif isinstance(value, Rational):
        r = Fraction(int(value.numerator), int(value.denominator))
    elif isinstance(value, Real):
        if math.isfinite(float(value)):
            r = Fraction(float(value)).limit_denominator(10**6)
    elif isinstance(value, str):
        text = value.strip()
        if text and len(text) <= 40 and all(ch in "0123456789+-./eE " for ch in text):
            try:
                r = Fraction(text)
            except (ValueError, ZeroDivisionError):
                try:
                    f = float(text)
                    r = Fraction(f).limit_denominator(10**6) if math.isfinite(f) else None
                except ValueError:
                    r = None
    if r is None:
        raise MupsimError(f"{what} must be a finite number such as 0, 1/2 or -1, got {value!r}")
    if abs(r) > MAX_EXPONENT:
        raise MupsimError(f"{what} must lie within ±{MAX_EXPONENT}, got {value!r}")
    if (lo is not None and r < lo) or (hi is not None and r > hi):
        raise MupsimError(f"{what} must lie in [{lo}, {hi}], got {value!r}")
    return r

"""Exceptions raised for bad user input.

Every message names what was wrong and what is allowed; the CLI prints it as
one line and exits with status 2.
"""

from __future__ import annotations


class MupsimError(ValueError):
    """Invalid input to a mupsim API or CLI call (message is user-facing).

    A ``ValueError``: the message names the value that was wrong and what is allowed.

    Examples:
        >>> import mupsim
        >>> try:
        ...     mupsim.exponents("nope")
        ... except mupsim.MupsimError as err:
        ...     print(err)
        unknown parameterization 'nope'; allowed: sp, ntk, mup, mfp
    """


class MupsimWarning(UserWarning):
    """Valid input for which an answer is less accurate than usual (e.g. an approximation
    used near the edge of its range); the message says why."""


def choice(kind: str, value, allowed) -> str:
    """Validate that ``value`` is one of ``allowed``; return it normalised.

    Strings are compared case-insensitively with ``-`` and ``_`` treated alike.

    Args:
        kind: what the value is, for the message (e.g. "optimizer").
        value: the user's value.
        allowed: the allowed names, in their canonical spelling.

    Returns:
        The allowed name ``value`` matches.

    Raises:
        MupsimError: naming ``kind`` and the allowed choices.

    Examples:
        >>> from mupsim.errors import choice
        >>> choice("optimizer", "AdamW", ("sgd", "adamw"))
        'adamw'
    """
    allowed = tuple(allowed)
    if isinstance(value, str):
        key = value.strip().lower().replace("-", "_")
        for a in allowed:
            if key == a.lower().replace("-", "_"):
                return a
    raise MupsimError(f"unknown {kind} {show(value)}; allowed: {', '.join(allowed)}")


def show(value, limit: int = 80) -> str:
    """``repr(value)`` for an error message.

    Never raises (an integer too long for ``str``, an object whose repr fails); huge integers
    are shown as their digit count.

    Args:
        value: anything.
        limit: the longest text returned; longer text is cut with "...".

    Returns:
        The text.

    Examples:
        >>> from mupsim.errors import show
        >>> show("abc"), show(10**300)
        ("'abc'", '<an integer of 301 digits>')
    """
    import math

    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        digits = int(math.log10(abs(value))) + 1
        return f"{'-' if value < 0 else ''}<an integer of {digits} digits>"
    try:
        text = repr(value)
    except Exception:  # e.g. a list holding an integer beyond the int-to-str digit limit
        text = f"<{type(value).__name__} that cannot be shown>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_real(value) -> bool:
    """A real number that is not a bool (Python or numpy): int, float, Fraction, numpy number.

    Args:
        value: anything.

    Returns:
        Whether ``value`` is such a number.

    Examples:
        >>> from mupsim.errors import is_real
        >>> is_real(0.5), is_real(True), is_real("1")
        (True, False, False)
    """
    from numbers import Real

    import numpy as np

    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


def flag(value, what: str) -> bool:
    """``value`` if it is True or False (a numpy bool too).

    Args:
        value: the user's value ("yes", 1, None are not flags).
        what: its name, for the message.

    Returns:
        ``value`` as a Python bool.

    Raises:
        MupsimError: naming ``what``, for anything else.

    Examples:
        >>> from mupsim.errors import flag
        >>> flag(True, "resume")
        True
    """
    import numpy as np

    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise MupsimError(f"{what} must be True or False, got {show(value)}")


def real(value, what: str) -> float:
    """``value`` (a real number, not a bool or text) as a float.

    NaN and ±inf pass: range checks are the caller's. -0.0 becomes 0.0, so equal inputs give
    identical floats.

    Args:
        value: the user's value.
        what: its name, for the message.

    Returns:
        The float.

    Raises:
        MupsimError: naming ``what``, for a non-number, a bool, text or an integer beyond float
            range.

    Examples:
        >>> from mupsim.errors import real
        >>> real(-0.0, "lr"), real(3, "lr")
        (0.0, 3.0)
    """
    if is_real(value):
        try:
            return float(value) + 0.0
        except OverflowError:
            pass
    raise MupsimError(f"{what} must be a real number, got {show(value)}")


def _not_numbers(value) -> bool:
    """Whether ``value`` holds anything but real numbers: bools, text, None, sets, dicts,
    complex numbers, objects (nested lists and tuples are walked without recursion)."""
    import numpy as np

    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, np.ndarray):
            if v.dtype.kind in "iuf":
                continue
            if v.dtype.kind != "O":
                return True
            stack.extend(v.ravel().tolist())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
        elif not is_real(v):
            return True
    return False


def float_array(value, what: str):
    """``value`` (a number or nested list/tuple/array of numbers) as a float numpy array.

    Args:
        value: the user's value.
        what: its name, for the message.

    Returns:
        A float numpy array, -0.0 as 0.0.

    Raises:
        MupsimError: naming ``what`` when ``value`` holds anything else (bools, text, None, sets
            and dicts, which have no order, complex numbers) or integers beyond float range.

    Examples:
        >>> from mupsim.errors import float_array
        >>> float_array([1, 2.5], "widths").tolist()
        [1.0, 2.5]
    """
    import numpy as np

    try:
        if _not_numbers(value):
            raise TypeError
        return np.asarray(np.asarray(value, dtype=float) + 0.0)
    except (TypeError, ValueError, OverflowError):
        raise MupsimError(
            f"{what} must be a number or an array (list, tuple) of real numbers; got {show(value)}"
        ) from None


MAX_EXPONENT = 16


def rational(value, what: str, lo=None, hi=None):
    """Parse an exponent given as int, float, Fraction or a string like '1/2', '-0.5'.

    Never evaluates code (no sympify/eval).

    Args:
        value: the user's value.
        what: its name, for the message.
        lo: the smallest allowed value, or None.
        hi: the largest allowed value, or None.

    Returns:
        A ``fractions.Fraction``.

    Raises:
        MupsimError: naming ``what`` when the value is not a finite number, lies outside
            [lo, hi], or exceeds ``MAX_EXPONENT`` in magnitude (widths n^x must stay
            representable as floats).

    Examples:
        >>> from mupsim.errors import rational
        >>> rational("1/2", "alpha"), rational(-0.5, "alpha")
        (Fraction(1, 2), Fraction(-1, 2))
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
        raise MupsimError(f"{what} must be a finite number such as 0, 1/2 or -1, got {show(value)}")
    if abs(r) > MAX_EXPONENT:
        raise MupsimError(f"{what} must lie within ±{MAX_EXPONENT}, got {show(value)}")
    if (lo is not None and r < lo) or (hi is not None and r > hi):
        raise MupsimError(f"{what} must lie in [{lo}, {hi}], got {show(value)}")
    return r

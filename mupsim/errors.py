"""Exceptions raised for bad user input.

Every message names what was wrong and what is allowed; the CLI prints it as
one line and exits with status 2.
"""

from __future__ import annotations


class MupsimError(ValueError):
    """Invalid input to a mupsim API or CLI call (message is user-facing)."""


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

"""Reading the numbers that the prose (README.md, theory/results.md) quotes from the figure JSON."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NUM = r"[-+]?\d+(?:\.\d+)?"
INTERVAL = re.compile(rf"({NUM}) \[({NUM}), ({NUM})\]")


def plain(s: str) -> str:
    """Unicode minus as '-', no explicit '+' sign: the prose writes −0.03 and +0.39 [+0.36, ...]."""
    return re.sub(r"\+(?=\d)", "", s.replace("\u2212", "-"))


def intervals(text: str) -> list[tuple[str, str, str]]:
    """Every 'x [a, b]' in ``text`` (after :func:`plain`), as the three strings shown."""
    return INTERVAL.findall(plain(text))


def shows(value: float, shown: str) -> bool:
    """Is ``shown`` (e.g. '0.97', '-0.00') ``value`` rounded to the digits shown?"""
    digits = len(shown.split(".")[1]) if "." in shown else 0
    return math.isfinite(value) and abs(value - float(shown)) <= 0.5 * 10.0**-digits * (1 + 1e-9)


def _scalars(obj: dict) -> list[float]:
    return [float(v) for v in obj.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]


def objects(obj):
    """Every JSON object (dict) inside ``obj``, depth first."""
    if isinstance(obj, dict):
        yield obj
        for v in obj.values():
            yield from objects(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from objects(v)


def figure_json(name: str) -> dict:
    return json.loads((ROOT / "figures" / f"{name}.json").read_text(encoding="utf-8"))


def interval_in(triple: tuple[str, str, str], data) -> bool:
    """Is 'x [a, b]' in ``data``: one JSON object with a number shown as x and either its ``ci``
    (or ``*_ci``) list shown as [a, b], or two further numbers shown as a and b (a median
    with its min and max)?"""
    x, a, b = triple
    for o in objects(data):
        nums = _scalars(o)
        if not any(shows(v, x) for v in nums):
            continue
        for k, v in o.items():
            if (
                (k == "ci" or k.endswith("_ci"))
                and isinstance(v, list)
                and len(v) == 2
                and all(isinstance(e, (int, float)) for e in v)
                and shows(v[0], a)
                and shows(v[1], b)
            ):
                return True
        if any(shows(v, a) for v in nums) and any(shows(v, b) for v in nums):
            return True
    return False

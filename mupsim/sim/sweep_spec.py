"""Sweep spec files (JSON): reading, checking and expanding them into configs.

Format::

    {"name": "wd-transfer",             # optional, defaults to the file stem
     "description": "...",              # optional, free text
     "base": {SimConfig fields},        # optional
     "grid": {field: [v1, v2, ...]},    # optional, Cartesian product
     "zip":  {field: [...], ...}}       # optional, equal-length lists zipped together

Expansion order: for each zip row (in order), every grid combination (itertools.product over
the grid fields in the order written, the last field varying fastest). Equal configs (e.g. a
grid ``seed: [0, 0, 1]``) are kept; a sweep runs and tabulates them once.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mupsim.errors import MupsimError
from mupsim.sim.config import SimConfig
from mupsim.sim.limits import MAX_SWEEP_CONFIGS

SPEC_KEYS = ("name", "description", "base", "grid", "zip")


def load_spec(path) -> dict:
    """Read and check a sweep spec JSON file.

    Args:
        path: the spec file.

    Returns:
        The spec dict (``name`` filled in from the file stem when absent).

    Raises:
        MupsimError: an unreadable file, not a JSON object, or an invalid spec.

    Examples:
        >>> import json
        >>> from pathlib import Path
        >>> from mupsim.sim import load_spec
        >>> _ = Path("wd.json").write_text(json.dumps({"grid": {"wd": [0.0, 0.1]}}))
        >>> load_spec("wd.json")["name"]
        'wd'
    """
    from mupsim.sim.files import read_json

    p = Path(path)
    spec = read_json(p, "sweep spec")
    if not isinstance(spec, dict):
        raise MupsimError(f"sweep spec {p} must be a JSON object with keys {', '.join(SPEC_KEYS)}")
    spec.setdefault("name", p.stem)
    _check_spec(spec)
    return spec


def expand_spec(spec: Mapping[str, Any]) -> list[SimConfig]:
    """All configs of a spec (see module docstring for the order). Every config is validated.

    Args:
        spec: a spec dict (as :func:`load_spec` returns).

    Returns:
        One SimConfig per zip row and grid combination.

    Raises:
        MupsimError: an invalid spec or config, or more than ``limits.MAX_SWEEP_CONFIGS``
            configs (counted before anything is expanded).

    Examples:
        >>> from mupsim.sim import expand_spec
        >>> spec = {"base": {"width": 32}, "grid": {"lr": [1e-3, 1e-2], "seed": [0, 1]}}
        >>> [(c.lr, c.seed) for c in expand_spec(spec)]
        [(0.001, 0), (0.001, 1), (0.01, 0), (0.01, 1)]
    """
    _check_spec(spec)
    n = spec_size(spec)
    if n > MAX_SWEEP_CONFIGS:
        raise MupsimError(
            f"sweep spec expands to {n:,} configs, over the limit of "
            f"{MAX_SWEEP_CONFIGS:,}; allowed: fewer grid values (split the sweep "
            f"into several specs)"
        )
    base = dict(spec.get("base") or {})
    grid = dict(spec.get("grid") or {})
    zipped = dict(spec.get("zip") or {})
    if zipped:
        rows = [dict(zip(zipped, vals)) for vals in zip(*zipped.values())]
    else:
        rows = [{}]
    combos = [dict(zip(grid, vals)) for vals in itertools.product(*grid.values())]
    configs = []
    for row in rows:
        for combo in combos:
            d = {**base, **row, **combo}
            try:
                configs.append(SimConfig.from_dict(d))
            except MupsimError as e:
                over = {**row, **combo}
                raise MupsimError(f"sweep spec: invalid config for {over or 'base'}: {e}") from None
    return configs


def spec_size(spec: Mapping[str, Any]) -> int:
    """Number of configs the spec expands to (zip rows × grid combinations), without expanding.

    Examples:
        >>> spec_size({"zip": {"width": [32, 64], "base_width": [32, 32]}, "grid": {"seed": [0, 1, 2]}})
        6
    """
    _check_spec(spec)
    zipped = spec.get("zip") or {}
    n = len(next(iter(zipped.values()))) if zipped else 1
    for values in (spec.get("grid") or {}).values():
        n *= len(values)
    return n


def _check_spec(spec: Mapping[str, Any]) -> None:
    if not isinstance(spec, Mapping):
        raise MupsimError(f"sweep spec must be a mapping; got {type(spec).__name__}")
    bad = [k for k in spec if k not in SPEC_KEYS]
    if bad:
        raise MupsimError(
            f"unknown sweep spec key(s) {', '.join(map(repr, bad))}; valid keys: {', '.join(SPEC_KEYS)}"
        )
    if "name" in spec and not isinstance(spec["name"], str):
        raise MupsimError(f"sweep spec 'name' must be a string; got {spec['name']!r}")
    valid = SimConfig.field_names()
    for section in ("base", "grid", "zip"):
        sec = spec.get(section)
        if sec is None:
            continue
        if not isinstance(sec, Mapping):
            raise MupsimError(
                f"sweep spec '{section}' must be an object of SimConfig fields; got {type(sec).__name__}"
            )
        unknown = [k for k in sec if k not in valid]
        if unknown:
            raise MupsimError(
                f"unknown SimConfig field(s) {', '.join(map(repr, unknown))} in "
                f"sweep spec '{section}'; valid fields: {', '.join(valid)}"
            )
        if section in ("grid", "zip"):
            for k, v in sec.items():
                if not isinstance(v, list) or not v:
                    raise MupsimError(
                        f"sweep spec '{section}.{k}' must be a non-empty list of values; got {v!r}"
                    )
    grid, zipped = spec.get("grid") or {}, spec.get("zip") or {}
    both = sorted(set(grid) & set(zipped))
    if both:
        raise MupsimError(
            f"sweep spec field(s) {', '.join(both)} appear in both 'grid' and "
            f"'zip'; put each field in one of them"
        )
    lengths = {k: len(v) for k, v in zipped.items()}
    if len(set(lengths.values())) > 1:
        raise MupsimError(
            f"sweep spec 'zip' lists must have equal lengths; got "
            f"{', '.join(f'{k}: {n}' for k, n in lengths.items())}"
        )

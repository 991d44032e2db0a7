"""Committed runs: the figures' longest runs, stored in the repository so that a cold
``make figures`` reads them instead of running them.

``make figures`` (:mod:`mupsim.experiments.make_figures`) runs every figure's configs into the
results cache. The runs estimated at :data:`MIN_SECONDS` or more on one core
(:func:`mupsim.sim.limits.estimate_seconds`) are also committed
in :data:`ARCHIVE`, one result file pair per run (``<config.key()>.json``/``.npz``, the format
of :mod:`mupsim.sim.result`, each with its own provenance: commit, date, machine, wall time),
plus :data:`MANIFEST_NAME` (the rule, the keys, who wrote them, when, and the summed run time).

A run is read from the archive only when it is what the run would be now: the stored config
equals the requested one, made by the backend that would make it, with the calculator's
per-layer settings and the simulator version of today (:func:`mupsim.sim.sweep._load_existing`).
Anything else — a changed rule, kernel, task or figure design — is simply run, so the archive
can make ``make figures`` faster but never makes it read a stale number; a test fails when the
archive falls behind the figures, and one command brings it up to date::

    python -m mupsim.experiments.make_figures --archive write     # make archive-runs

which runs every figure with the archive ignored (stored results in the cache are reused when
current) and replaces :data:`ARCHIVE` with the selected runs of that invocation, atomically.
``--archive none`` ignores it (every run computed here).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from mupsim.errors import MupsimError
from mupsim.sim.config import SimConfig
from mupsim.sim.limits import estimate_seconds

REPO = Path(__file__).resolve().parents[2]
ARCHIVE = REPO / "figures" / "data" / "runs"
"""The committed runs (a result store like the cache: one file pair per config key)."""

MANIFEST_NAME = "MANIFEST.json"
FORMAT = "mupsim.archive/1"

MIN_SECONDS = 2.0
"""A figure's run is archived when its estimated time on one core is at least this many seconds."""


def selected(config: SimConfig) -> bool:
    """Whether ``config`` belongs in the archive (estimated ≥ :data:`MIN_SECONDS` on one core)."""
    return estimate_seconds(config) >= MIN_SECONDS


def read(archive: Path, out: Path, config: SimConfig, backend: str = "numba"):
    """The archived result of ``config`` copied into the store ``out`` (and returned), or None
    when the archive has none that is current (see the module docstring)."""
    from mupsim.sim import sweep as sw

    key = config.key()
    r = sw._load_existing(Path(archive) / key, config, sw._backend_for(config, backend))
    if r is None:
        return None
    r.save(Path(out) / key)
    return r


def manifest(archive: Path = ARCHIVE) -> dict:
    """The archive's manifest (MupsimError if it is missing or unreadable)."""
    p = Path(archive) / MANIFEST_NAME
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise MupsimError(f"cannot read the archive manifest {p}: {e}") from None
    if doc.get("format") != FORMAT:
        raise MupsimError(f"{p} has format {doc.get('format')!r}; expected {FORMAT!r}")
    return doc


def _same_run(stem: Path, result) -> bool:
    """Does the stored run at ``stem`` hold exactly ``result`` (:meth:`Result.__eq__`: bit-identical
    series, equal config and provenance)? A stored pair that does not load is not the same run."""
    from mupsim.sim.result import Result

    if not stem.with_suffix(".json").is_file():
        return False
    try:
        return Result.load(stem) == result
    except (MupsimError, OSError, ValueError):
        return False


def write(results: dict, archive: Path = ARCHIVE, command: str | None = None) -> dict:
    """Replace ``archive`` with the selected runs among ``results`` ({key: Result}, every run a
    full ``make figures`` read) and a manifest; atomic: the new folder is written beside the old
    one and swapped in by two renames. A run the old archive already holds unchanged keeps its
    files byte for byte (a rewrite changes only what changed). Returns the manifest."""
    from mupsim.sim.result import provenance
    from mupsim.sim.settings import SIMULATOR_VERSION

    archive = Path(archive)
    keep = {
        k: r
        for k, r in sorted(results.items())
        if r.status != "error" and selected(SimConfig.from_dict(r.config))
    }
    now = provenance()
    doc = {
        "format": FORMAT,
        "rule": f"runs of make figures estimated at >= {MIN_SECONDS:g} s on one core "
        "(mupsim.sim.limits.estimate_seconds)",
        "min_seconds": MIN_SECONDS,
        "runs": len(keep),
        "run_seconds": round(sum(float(r.provenance.get("wall_time_s") or 0.0) for r in keep.values()), 1),
        "estimated_seconds": round(
            sum(estimate_seconds(SimConfig.from_dict(r.config)) for r in keep.values()), 1
        ),
        "simulator_version": SIMULATOR_VERSION,
        "git_commit": now["git_commit"],
        "mupsim_version": now["mupsim_version"],
        "created": now["created"],
        "machine": {"platform": now["platform"], "cpus": os.cpu_count(), "python": now["python_version"]},
        "command": command or " ".join([Path(sys.executable).name, *sys.argv]),
        "keys": sorted(keep),
    }
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=archive.parent, prefix=f".{archive.name}.new."))
    try:
        for k, r in keep.items():
            if _same_run(archive / k, r):
                for ext in (".json", ".npz"):
                    shutil.copy2(archive / f"{k}{ext}", tmp / f"{k}{ext}")
            else:
                r.save(tmp / k)
        (tmp / MANIFEST_NAME).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = archive.with_name(f".{archive.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    moved = False
    try:
        if archive.exists():
            os.replace(archive, old)
            moved = True
        os.replace(tmp, archive)
    except BaseException:
        if moved and not archive.exists():  # put the old archive back
            os.replace(old, archive)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return doc


__all__ = ["ARCHIVE", "MIN_SECONDS", "manifest", "read", "selected", "write"]

"""The sweep's summary table: one flat row per distinct config, written as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mupsim.sim.config import SimConfig
from mupsim.sim.files import remove_temps
from mupsim.sim.result import Result, _atomic_write

TABLE_METRICS = ("rms", "sigma_max", "gain", "update_rms")


def table(results: Sequence[Result]) -> list[dict]:
    """One flat row per distinct config (by key; the first of equal configs, in order, as
    :func:`sweep` stores one result for them): every config field, key, status, divergence
    step, final losses (and, for the next-token task, ``teacher_entropy``, the held-out
    loss's floor) and, per matrix, the final ``TABLE_METRICS`` (columns
    ``<metric>:<matrix>``). NaN after divergence."""
    rows, seen = [], set()
    for r in results:
        key = SimConfig.from_dict(r.config).key()
        if key in seen:
            continue
        seen.add(key)
        row = dict(r.config)
        if row.get("multipliers") is not None:
            row["multipliers"] = ",".join(str(x) for x in row["multipliers"])
        row.update(
            key=key,
            status=r.status,
            diverged_step=r.diverged_step,
            final_train_loss=r.final("train_loss") if r.status != "error" else float("nan"),
            final_test_loss=r.final("test_loss") if r.status != "error" else float("nan"),
        )
        if "teacher_entropy" in r.provenance:
            row["teacher_entropy"] = r.provenance["teacher_entropy"]
        if r.status != "error":
            for m in TABLE_METRICS:
                if m in r.matrix:
                    for name, v in r.final(m).items():
                        row[f"{m}:{name}"] = v
        rows.append(row)
    return rows


def write_table(rows: Sequence[Mapping[str, Any]], path) -> Path:
    """Write ``rows`` as CSV atomically (temp file + rename); columns in first-seen order."""
    cols: list[str] = []
    for row in rows:
        cols += [c for c in row if c not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, restval="")
    w.writeheader()
    w.writerows(rows)
    path = Path(path)
    remove_temps(path)  # stale temp files of killed writes
    _atomic_write(path, lambda f: f.write(buf.getvalue().encode("utf-8")), "table")
    return path

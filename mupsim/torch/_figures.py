"""Saving matplotlib figures atomically (a temp file in the same folder, then os.replace)."""

from __future__ import annotations

import os
import tempfile

from mupsim.errors import MupsimError


def save_figure(fig, path, dpi: int = 120) -> None:
    """Write ``fig`` to ``path`` (PNG) atomically and close it; an unwritable destination is a
    MupsimError naming it."""
    import matplotlib.pyplot as plt

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, dpi=dpi, format="png")
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise MupsimError(f"cannot write the plot {path!r}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)

"""Saving matplotlib figures atomically (with :func:`mupsim.sim.result._atomic_write`)."""

from __future__ import annotations

import os
from pathlib import Path

from mupsim.errors import MupsimError


def save_figure(fig, path, dpi: int = 120) -> None:
    """Write ``fig`` to ``path`` (PNG) atomically and close it; an unwritable destination is a
    MupsimError naming it."""
    import matplotlib.pyplot as plt

    from mupsim.sim.result import _atomic_write

    path = os.fspath(path)
    try:
        _atomic_write(Path(os.path.abspath(path)), lambda f: fig.savefig(f, dpi=dpi, format="png"))
    except OSError as exc:
        raise MupsimError(f"cannot write the plot {path!r}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)

"""Saving matplotlib figures atomically (a temp file in the same folder, then os.replace)."""

from __future__ import annotations

import os


def save_figure(fig, path, dpi: int = 120) -> None:
    """Write ``fig`` to ``path`` atomically and close it."""
    import matplotlib.pyplot as plt

    tmp = os.fspath(path) + ".tmp.png"
    try:
        fig.savefig(tmp, dpi=dpi)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)

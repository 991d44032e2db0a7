"""What a figure is to the pipeline: its configs, its analysis, its plot, and how they chain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One figure of :mod:`mupsim.experiments.make_figures`, defined in its own module under
    :mod:`mupsim.experiments.figures`.

    Attributes:
        name: the figure's name on the command line (``--only F5C``).
        stem: the output files' stem, ``<stem>.png``/``.csv``/``.json``.
        configs: ``configs(quick, **inputs) -> list[SimConfig]``: every config the figure runs;
            ``inputs`` are the measurements of earlier figures its design depends on (α̂, a best
            learning rate), with defaults.
        analyse: ``analyse(results, ...) -> dict``: stored Results -> the numbers behind the
            figure (``figure``, ``title``, ``headline``, ``summary``, ``rows``, ``series``, ...).
        plot: ``plot(data) -> matplotlib.figure.Figure``: the analysed numbers drawn.
        make: ``make(pipeline) -> dict``: the figure's configs read (or run) through the
            pipeline, with its inputs taken from earlier figures' analyses, and analysed.

    Example:
        >>> from mupsim.experiments.figures import FIGURES
        >>> FIGURES["F5C"].stem
        'f5c_onepass_transfer'
    """

    name: str
    stem: str
    configs: Callable[..., list]
    analyse: Callable[..., dict]
    plot: Callable[[dict], Any]
    make: Callable[[Any], dict]

"""theory/results.md quotes the committed figure JSON: every bold number is in a figure's headline
and every 'x [a, b]' is a value with its interval in the figures' JSON, so the text cannot go
stale when the figures are regenerated."""

import re

from results_text import ROOT, figure_json, interval_in, intervals, plain

RESULTS = ROOT / "theory" / "results.md"
FIGURES = sorted(p.stem for p in (ROOT / "figures").glob("*.json"))

NOT_FROM_THE_FIGURES = {
    ("0.96", "0.92", "1.01"): "F3's previous committed α̂ (float64, widths 64-512), quoted for "
    "comparison with the current one",
}
"""Intervals the text quotes from elsewhere, each with where it comes from."""


def _text() -> str:
    return RESULTS.read_text(encoding="utf-8")


def _headline_numbers() -> set[str]:
    return {n for f in FIGURES for n in re.findall(r"-?\d+\.\d+", plain(figure_json(f).get("headline", "")))}


def test_every_bold_number_in_the_results_is_in_a_figure_headline():
    shown = _headline_numbers()
    bold = re.findall(r"\*\*(.+?)\*\*", plain(_text()))
    numbers = [n for b in bold for n in re.findall(r"-?\d+\.\d+", b)]
    assert len(numbers) >= 20, "the bold headline numbers of theory/results.md were not found"
    stale = sorted({n for n in numbers if n not in shown})
    assert not stale, f"bold numbers in theory/results.md in no figure headline: {stale}"


def test_every_interval_in_the_results_is_a_fit_in_the_figure_json():
    data = [figure_json(f) for f in FIGURES]
    found = intervals(_text())
    assert len(found) >= 40, "the intervals of theory/results.md were not found"
    stale = [
        f"{x} [{a}, {b}]"
        for x, a, b in found
        if (x, a, b) not in NOT_FROM_THE_FIGURES and not interval_in((x, a, b), data)
    ]
    assert not stale, f"intervals in theory/results.md not in the figure JSON: {stale}"


def test_a_changed_number_is_caught():
    """The checks above fail on a stale number: a value moved by 0.5 is not found."""
    data = [figure_json("f3_sigma_max_vs_width")]
    x, a, b = intervals(figure_json("f3_sigma_max_vs_width")["headline"])[0]
    assert interval_in((x, a, b), data)
    off = f"{float(x) + 0.5:.{len(x.split('.')[1])}f}"
    assert not interval_in((off, a, b), data)

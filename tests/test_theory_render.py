"""The rendered derivations in theory/ are current (run `make theory` when this fails)."""

from pathlib import Path

from mupsim.theory import render

ROOT = Path(__file__).resolve().parents[1] / "theory"


def test_rendered_theory_files_are_up_to_date():
    stale = [rel for rel, text in render.files().items()
             if not (ROOT / rel).exists() or (ROOT / rel).read_text(encoding="utf-8") != text]
    assert not stale, f"stale or missing rendered derivations (run `make theory`): {stale}"


def test_rendered_markdown_contains_latex():
    text = render.files()["steady_state.md"]
    assert "$$" in text and "\\sqrt" in text

"""The rendered derivations in theory/ are current (run `make theory` when this fails)."""

from pathlib import Path

from mupsim import render

ROOT = Path(__file__).resolve().parents[1] / "theory"


def test_rendered_theory_files_are_up_to_date():
    stale = [
        rel
        for rel, text in render.files().items()
        if not (ROOT / rel).exists() or (ROOT / rel).read_text(encoding="utf-8") != text
    ]
    assert not stale, f"stale or missing rendered derivations (run `make theory`): {stale}"


def test_rendered_markdown_contains_latex():
    text = render.files()["steady_state.md"]
    assert "$$" in text and "\\sqrt" in text


RAW_SYMPY = ("Eq(", "Symbol(", "Symbol", "GreaterThan(", "Piecewise(", "Limit(", "Sum(", "sstr")
PLACEHOLDERS = ("...", "TODO", "XXX", "FIXME", "<placeholder>")


def test_rendered_theory_has_no_unrendered_sympy_or_placeholders():
    import re

    bad = []
    for rel, text in render.files().items():
        text = re.sub(r"`[^`\n]*`", "", text)  # inline code may quote Python (e.g. exponents(..., ...))
        for needle in RAW_SYMPY + PLACEHOLDERS:
            if needle in text:
                bad.append((rel, needle))
    assert not bad, bad


def test_rendered_theory_subscripts_are_single_words():
    # 'x_norm_gain' would render as x_{norm gain}; 'ms_exact_momentum' as ms_{exact momentum}
    import re

    for rel, text in render.files().items():
        assert not re.search(r"_\{[a-z]+ [a-z]+\}", text), rel


def test_decay_modes_are_named_so_they_cannot_be_misread():
    text = "".join(render.files().values())
    assert "lr-scaled decay (PyTorch AdamW)" in text and "coupled AdamW" not in text

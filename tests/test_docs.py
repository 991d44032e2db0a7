"""The documentation: the site builds with ``mkdocs build --strict`` and every code block runs.

Code blocks in README.md and docs/*.md, by fence language (page by page, in order, in one
temporary folder per page; the blocks of a page share one Python namespace):

* ``python``  executed;
* ``pycon``   doctest (``>>>``); a printed number matches to the precision it is shown with;
* ``console`` each ``$ mupsim ...`` line is run and its output (stdout and stderr) compared with
  the lines below it; a line starting ``mupsim: error:`` means exit status 2, otherwise 0;
* ``sh``      run by bash (``set -e``), with ``mupsim`` on the PATH;
* anything else (``text``, ``json``, none) is shown, not run.

An HTML comment on the line before a fence changes that: ``<!-- no-run: REASON -->`` shows the
block without running it (a reason is required), and ``<!-- output: numbers vary -->`` before a
``console`` block compares its output with every number masked (a simulation's values and wall
time depend on the CPU; the words, columns and status do not).
"""

from __future__ import annotations

import contextlib
import doctest
import io
import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from results_text import plain

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN_LANGS = {"python", "pycon", "console", "sh"}
SHOWN_LANGS = {"", "text", "json", "yaml", "toml"}

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^[ \t]*```[ \t]*$", re.M | re.S
)
_MARK = re.compile(r"<!--\s*(?P<kind>no-run|output):\s*(?P<text>.*?)\s*-->\s*$")
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    body: str
    indent: str
    mark: tuple[str, str] | None  # ("no-run", reason) or ("output", what)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """Every fenced code block of ``page`` with the HTML-comment mark on the line before it."""
    text = page.read_text(encoding="utf-8")
    out = []
    for m in _FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = _MARK.search(before)
        out.append(
            Block(
                page, line, m["lang"], m["body"], m["indent"], (mark["kind"], mark["text"]) if mark else None
            )
        )
    return out


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


# ---------------------------------------------------------------- the site


def _mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess:
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python"):
        pytest.importorskip(module, reason="the docs site needs the docs extra ('.[docs]')")
    # no --quiet: it hides the warnings that --strict counts, and the build then passes anyway
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def test_mkdocs_build_strict_passes(tmp_path):
    """A broken link or anchor, a page missing from the nav or a failed API reference fails here."""
    t0 = time.perf_counter()
    proc = _mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "api" / "index.html").exists()
    print(f"mkdocs build --strict: {time.perf_counter() - t0:.1f} s")


@pytest.mark.parametrize("bad", ["[x](no-such-page.md)", "[x](calculator.md#no-such-anchor)"])
def test_mkdocs_build_strict_fails_on_a_broken_link(tmp_path, bad):
    """The same configuration on a copy of docs/ with one broken link appended must fail."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for page in (ROOT / "docs").iterdir():
        if page.is_symlink():
            (docs / page.name).symlink_to(page.resolve())
        elif page.suffix == ".md":
            (docs / page.name).write_text(page.read_text(encoding="utf-8"), encoding="utf-8")
    with open(docs / "index.md", "a", encoding="utf-8") as f:
        f.write(f"\n{bad}\n")
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    config = config.replace("docs_dir: docs", f"docs_dir: {docs}").replace("paths: [.]", f"paths: [{ROOT}]")
    (tmp_path / "mkdocs.yml").write_text(config, encoding="utf-8")
    proc = _mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode != 0 and "Aborted" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_every_docs_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    missing = [p.name for p in (ROOT / "docs").glob("*.md") if p.name not in nav]
    assert not missing, f"docs pages not listed in mkdocs.yml's nav: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_relative_links_point_at_files_that_exist(page):
    """README.md is read on the code host, not by mkdocs: its links are checked here."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'src="([^"]+)"', text):
        path = target.split("#", 1)[0]
        if not path or re.match(r"^[a-z]+:", path):
            continue
        if not (page.parent / path).exists():
            broken.append(target)
    assert not broken, f"{_page_id(page)} links to missing files: {broken}"


def test_readme_is_at_most_250_lines():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 250


def test_readme_results_come_from_the_committed_json():
    """Each row of the README's results table names a figure's JSON; its numbers are in its headline."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\|[^|\n]*\|\s*([^|\n]*?)\s*\|\s*`(figures/[\w.]+\.json)`\s*\|\s*$", text, re.M)
    assert len(rows) >= 5, "the README's results table was not found"
    for value, src in rows:
        headline = plain(json.loads((ROOT / src).read_text(encoding="utf-8"))["headline"])
        value = plain(value)
        numbers = re.findall(r"-?\d+\.\d+", value)
        assert numbers, f"no number in the README's row for {src}: {value!r}"
        shown = set(re.findall(r"-?\d+\.\d+", headline))
        assert set(numbers) <= shown, f"{sorted(set(numbers) - shown)} are not in {src}'s headline"
        for interval in re.findall(r"-?\d+\.\d+ \[-?\d+\.\d+, -?\d+\.\d+\]", value):
            assert interval in headline, f"{interval} is not in {src}'s headline"


# ---------------------------------------------------------------- the code blocks


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_code_block_is_run_or_says_why_not(page):
    bad = []
    for b in blocks(page):
        if b.indent:
            bad.append(f"{b.where}: indented fence (not seen by this test; start it at column 0)")
        elif b.lang not in RUN_LANGS | SHOWN_LANGS:
            bad.append(f"{b.where}: fence language {b.lang!r}; use one of {sorted(RUN_LANGS | SHOWN_LANGS)}")
        elif b.mark and b.mark[0] == "no-run" and not b.mark[1]:
            bad.append(f"{b.where}: no-run without a reason")
        elif b.lang == "console" and not (b.mark and b.mark[0] == "no-run"):
            for cmd, _ in _console_commands(b):
                if not cmd.startswith("mupsim "):
                    bad.append(f"{b.where}: console command {cmd!r} is not mupsim; mark it no-run")
    assert not bad, "\n".join(bad)


def _runnable(page: Path) -> list[Block]:
    return [b for b in blocks(page) if b.lang in RUN_LANGS and not (b.mark and b.mark[0] == "no-run")]


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if _runnable(p)], ids=_page_id)
def test_code_blocks_run(page, tmp_path, monkeypatch):
    runnable = _runnable(page)
    if any(re.search(r"\btorch\b|ensemble", b.body) for b in runnable):
        pytest.importorskip("torch", reason="this page's examples need PyTorch ('.[torch]')")
    monkeypatch.chdir(tmp_path)
    bin_dir = tmp_path / ".bin"
    bin_dir.mkdir()
    (bin_dir / "mupsim").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mupsim "$@"\n')
    (bin_dir / "mupsim").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba")),
    }
    namespace = {"__name__": "__docs__"}
    for b in runnable:
        {"python": _run_python, "pycon": _run_pycon, "console": _run_console, "sh": _run_sh}[b.lang](
            b, namespace=namespace, env=env
        )


def _run_python(b: Block, namespace: dict, env: dict) -> None:
    try:
        exec(compile(b.body, b.where, "exec"), namespace)
    except Exception as exc:  # noqa: BLE001 -- reported with the block's place
        raise AssertionError(f"{b.where}: python block raised {exc!r}") from exc


class _ShownPrecision(doctest.OutputChecker):
    """Exact match, or the same text with every number equal to the precision it is shown with."""

    def check_output(self, want, got, optionflags):
        if super().check_output(want, got, optionflags):
            return True
        w_parts, g_parts = _NUMBER.split(want), _NUMBER.split(got)
        w_nums, g_nums = _NUMBER.findall(want), _NUMBER.findall(got)
        if len(w_nums) != len(g_nums) or [" ".join(p.split()) for p in w_parts] != [
            " ".join(p.split()) for p in g_parts
        ]:
            return False
        return all(abs(float(g) - float(w)) <= _half_last_digit(w) for w, g in zip(w_nums, g_nums))


def _half_last_digit(shown: str) -> float:
    mantissa, _, exp = shown.lower().partition("e")
    decimals = len(mantissa.split(".", 1)[1]) if "." in mantissa else 0
    return 0.5 * 10.0 ** (int(exp or 0) - decimals)


def _run_pycon(b: Block, namespace: dict, env: dict) -> None:
    test = doctest.DocTestParser().get_doctest(b.body, namespace, b.where, str(b.page), b.line)
    runner = doctest.DocTestRunner(checker=_ShownPrecision(), optionflags=doctest.ELLIPSIS)
    report = io.StringIO()
    runner.run(test, out=report.write, clear_globs=False)
    assert runner.failures == 0, report.getvalue()


def _console_commands(b: Block) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) for each ``$ `` line; a trailing backslash continues it."""
    out: list[tuple[str, list[str]]] = []
    lines = b.body.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("$ "):
            cmd = lines[i][2:]
            while cmd.endswith("\\") and i + 1 < len(lines):
                i += 1
                cmd = cmd[:-1].rstrip() + " " + lines[i].strip()
            out.append((cmd, []))
        elif out:
            out[-1][1].append(lines[i])
        i += 1
    return out


def _trimmed(lines: list[str]) -> list[str]:
    lines = [line.rstrip() for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _mask(lines: list[str]) -> list[str]:
    return [" ".join(_NUMBER.sub("N", line).split()) for line in lines]


def _run_console(b: Block, namespace: dict, env: dict) -> None:
    from mupsim.cli import main

    for cmd, want in _console_commands(b):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(shlex.split(cmd)[1:])
        got = _trimmed((out.getvalue() + err.getvalue()).splitlines())
        want = _trimmed(want)
        expected_code = 2 if want and want[0].startswith("mupsim: error:") else 0
        assert code == expected_code, f"{b.where}: `{cmd}` exited {code}:\n" + "\n".join(got)
        if b.mark == ("output", "numbers vary"):
            got, want = _mask(got), _mask(want)
        assert got == want, (
            f"{b.where}: `{cmd}` printed\n" + "\n".join(got) + "\ninstead of\n" + "\n".join(want)
        )


def _run_sh(b: Block, namespace: dict, env: dict) -> None:
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", b.body], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"{b.where}: sh block exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"

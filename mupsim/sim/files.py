"""User files in and out: reading JSON inputs, checking destinations before computing.

* :func:`read_json` reads a config or sweep spec file: at most ``MAX_JSON_BYTES``, UTF-8 (a
  byte-order mark is allowed), any failure a one-line :class:`~mupsim.errors.MupsimError`.
* :func:`check_result_stem` (``mupsim simulate --out STEM``) and :func:`check_folder`
  (a sweep's result folder) say *before* a run starts whether its results could be written:
  an empty or folder-like stem, a path through a file, a missing parent under a folder that
  cannot be written (``/proc``, read-only media, no permission), a name too long. They create
  nothing: missing folders are made when the result is saved.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from mupsim.errors import MupsimError

MAX_JSON_BYTES = 16 * 1024 ** 2


def read_json(path, what: str):
    """Parsed JSON of the file at ``path``; ``what`` names it in errors ("config file", ...)."""
    p = Path(_text(path, what))
    try:
        with open(p, "rb") as f:
            data = f.read(MAX_JSON_BYTES + 1)
    except OSError as e:
        raise MupsimError(f"cannot read {what} {p}: {e.strerror or e}") from None
    if len(data) > MAX_JSON_BYTES:
        raise MupsimError(f"{what} {p} is larger than {MAX_JSON_BYTES // 1024 ** 2} MiB; "
                          f"allowed: a JSON file up to that size")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise MupsimError(f"{what} {p} is not UTF-8 text (byte {e.start} is 0x{data[e.start]:02x}); "
                          f"allowed: a JSON file in UTF-8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise MupsimError(f"{what} {p} is not valid JSON: {e.msg} at line {e.lineno}, "
                          f"column {e.colno}") from None
    except RecursionError:
        raise MupsimError(f"{what} {p} is not valid JSON here: nested too deeply") from None
    except ValueError as e:  # e.g. an integer with more digits than Python converts
        raise MupsimError(f"{what} {p} is not valid JSON here: {e}") from None


def _text(path, what: str) -> str:
    try:
        text = os.fspath(path)
    except TypeError:
        raise MupsimError(f"{what} must be a path; got {type(path).__name__}") from None
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if "\x00" in text:
        raise MupsimError(f"{what} {text!r} contains a NUL character; allowed: a path")
    return text


def _nearest_existing(p: Path) -> Path:
    """``p`` or its nearest ancestor that exists (``.`` for a relative path with none)."""
    q = p
    while not q.exists():
        if q.parent == q:
            return q
        q = q.parent
    return q


def _probe(folder: Path, what: str, target: Path, prefix: str) -> None:
    """Create and remove a temp file in ``folder`` named like the atomic writes'."""
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
    except OSError as e:
        raise MupsimError(f"{what} {target}: cannot write in {folder} ({e.strerror or e}); "
                          f"allowed: a path in a writable folder") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def check_folder(path, what: str = "--out") -> Path:
    """Check that ``path`` is (or can become) a writable folder; returns it as a Path.

    Raises MupsimError when it, or the first of its ancestors that exists, is not a folder,
    or that folder cannot be written. Creates nothing.
    """
    text = _text(path, what)
    if not text.strip():
        raise MupsimError(f"{what} needs a folder name; got {text!r}")
    try:
        return _check_folder(Path(text), what, Path(text))
    except OSError as e:  # e.g. no permission to look inside a parent
        raise MupsimError(f"{what} {text}: {e.strerror or e}") from None


def _check_folder(p: Path, what: str, target: Path) -> Path:
    base = _nearest_existing(p)
    if not base.is_dir():
        raise MupsimError(f"{what} {target}: {base} is a file, not a folder; allowed: a path "
                          f"in a folder")
    _probe(base, what, target, ".mupsim-probe-")
    return p


def check_result_stem(path_stem, what: str = "--out") -> Path:
    """Check that a result can be saved at ``STEM.npz`` + ``STEM.json``; returns the stem.

    ``STEM`` may end in ``.npz``/``.json`` (dropped, as :meth:`Result.save` does). Refused:
    an empty stem, one ending in a path separator or naming ``.``/``..`` (a folder, not a
    file stem), ``STEM.npz``/``STEM.json`` existing as something other than files, and any
    destination :func:`check_folder` refuses. Creates nothing.
    """
    from mupsim.sim.result import _stem

    text = _text(path_stem, what)
    example = "runs/one (writes runs/one.npz and runs/one.json)"
    if not text.strip():
        raise MupsimError(f"{what} needs a file stem such as {example}; got {text!r}")
    if text.endswith(("/", os.sep)) or text.replace(os.sep, "/").split("/")[-1] in (".", ".."):
        raise MupsimError(f"{what} {text} names a folder; it takes a file stem such as "
                          f"{text.rstrip('/' + os.sep) or '.'}/run1 (writes run1.npz and "
                          f"run1.json there)")
    stem = _stem(Path(text))
    try:
        _check_stem_files(stem, text, what)
    except OSError as e:  # e.g. no permission to look inside a parent
        raise MupsimError(f"{what} {text}: {e.strerror or e}") from None
    return stem


def _check_stem_files(stem: Path, text: str, what: str) -> None:
    for suffix in (".npz", ".json"):
        f = stem.with_name(stem.name + suffix)
        if f.exists() and not f.is_file():
            raise MupsimError(f"{what} {text}: {f} exists and is not a file; allowed: a new "
                              f"file stem or one with earlier results to replace")
    folder = stem.parent
    if folder.is_dir():  # the exact temp names of Result.save (catches names too long)
        _probe(folder, what, stem, f".{stem.name}.json.")
    else:
        _check_folder(folder, what, Path(text))

"""User files in and out: reading JSON inputs, checking destinations before computing.

* :func:`open_regular` opens an input for reading only if it is a regular file (symlinks
  followed): a FIFO, device, socket or folder is refused before anything is read, so a reader
  can neither block on a pipe nobody writes nor consume a device. :func:`read_json` (config
  and sweep spec files) reads through it: at most ``MAX_JSON_BYTES``, UTF-8 (a byte-order
  mark is allowed), any failure a one-line :class:`~mupsim.errors.MupsimError`.
* :func:`output_target` is the check every file writer makes: the path it will replace
  (symlinks resolved) must be absent or a regular file; a device node, FIFO, socket or folder
  is never replaced. :func:`check_output_file` makes the same check (and the folder's) before a
  computation starts.
* :func:`check_result_stem` (``mupsim simulate --out STEM``) and :func:`check_folder`
  (a sweep's result folder) say *before* a run starts whether its results could be written:
  an empty or folder-like stem, a path through a file, a missing parent under a folder that
  cannot be written (``/proc``, read-only media, no permission), a name too long. They create
  nothing: missing folders are made when the result is saved.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import stat
import tempfile
from pathlib import Path

from mupsim.errors import MupsimError

MAX_JSON_BYTES = 16 * 1024**2


def file_kind(mode: int) -> str:
    """What a ``st_mode`` describes, for messages ("a regular file", "a folder", "a FIFO ...")."""
    for test, name in (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path, what: str):
    """``path`` opened for binary reading, only if it is a regular file (symlinks followed).

    The path is checked before it is opened (a device is never opened), then opened
    non-blocking and checked again on the descriptor (a FIFO swapped in meanwhile cannot block),
    so a FIFO without a writer, a device, a socket or a folder is refused at once. Missing file: :class:`FileNotFoundError`; anything else: MupsimError naming ``what``.
    """
    p = _text(path, what)
    try:  # look first: a device is not even opened
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        raise
    except OSError as e:
        raise MupsimError(f"cannot read {what} {p}: {e.strerror or e}") from None
    if not stat.S_ISREG(mode):
        raise MupsimError(f"cannot read {what} {p}: it is {file_kind(mode)}; allowed: a regular file")
    try:  # then check what was opened (it may have been swapped since)
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise MupsimError(f"cannot read {what} {p}: it is a folder; allowed: a regular file") from None
    except OSError as e:
        raise MupsimError(f"cannot read {what} {p}: {e.strerror or e}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise MupsimError(f"cannot read {what} {p}: it is {file_kind(mode)}; allowed: a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class _DuplicateKey(ValueError):
    """A JSON object names one key twice (``json`` would silently keep the last value)."""


def _unique_keys(pairs: list) -> dict:
    d = {}
    for k, v in pairs:
        if k in d:
            raise _DuplicateKey(k)
        d[k] = v
    return d


def read_json(path, what: str):
    """Parsed JSON of the file at ``path``; ``what`` names it in errors ("config file", ...)."""
    p = Path(_text(path, what))
    try:
        with open_regular(p, what) as f:
            data = f.read(MAX_JSON_BYTES + 1)
    except OSError as e:
        raise MupsimError(f"cannot read {what} {p}: {e.strerror or e}") from None
    if len(data) > MAX_JSON_BYTES:
        raise MupsimError(
            f"{what} {p} is larger than {MAX_JSON_BYTES // 1024**2} MiB; allowed: a JSON file up to that size"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise MupsimError(
            f"{what} {p} is not UTF-8 text (byte {e.start} is 0x{data[e.start]:02x}); "
            f"allowed: a JSON file in UTF-8"
        ) from None
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as e:
        raise MupsimError(
            f"{what} {p} gives the key {e.args[0]!r} twice in one object; allowed: each key once"
        ) from None
    except json.JSONDecodeError as e:
        raise MupsimError(
            f"{what} {p} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}"
        ) from None
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


def output_target(path, what: str = "output file") -> Path:
    """The file a write to ``path`` replaces: ``path`` with symlinks resolved, as an absolute
    Path. MupsimError if it exists and is not a regular file (device node, FIFO, socket,
    folder, or a symlink to one); writers replace only regular files or create new ones."""
    text = _text(path, what)
    target = Path(os.path.realpath(text))
    try:
        mode = os.stat(target).st_mode
    except (FileNotFoundError, NotADirectoryError):  # absent (its folder is checked elsewhere)
        return target
    except OSError as e:
        raise MupsimError(f"{what} {text}: {e.strerror or e}") from None
    if not stat.S_ISREG(mode):
        via = "" if os.path.abspath(text) == str(target) else f" ({target}, via a symlink)"
        raise MupsimError(
            f"{what} {text}{via} is {file_kind(mode)}; allowed: a new file or an "
            f"existing regular file to replace"
        )
    return target


def check_output_file(path, what: str = "output file") -> Path:
    """Check before computing that a file could be written at ``path``: it is absent or a
    regular file (see :func:`output_target`) and its folder is (or can become) writable.
    Returns the resolved target. Creates nothing."""
    target = output_target(path, what)
    try:
        _check_folder(target.parent, what, Path(_text(path, what)))
    except OSError as e:
        raise MupsimError(f"{what} {path}: {e.strerror or e}") from None
    return target


def remove_temps(path) -> None:
    """Remove the temp files beside ``path`` that killed atomic writes left
    (``.<name>.<random>.tmp``, as :mod:`mupsim.sim.result` names them)."""
    path = Path(path)
    for p in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            p.unlink()


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
        raise MupsimError(
            f"{what} {target}: cannot write in {folder} ({e.strerror or e}); "
            f"allowed: a path in a writable folder"
        ) from None
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
        raise MupsimError(f"{what} {target}: {base} is a file, not a folder; allowed: a path in a folder")
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
        raise MupsimError(
            f"{what} {text} names a folder; it takes a file stem such as "
            f"{text.rstrip('/' + os.sep) or '.'}/run1 (writes run1.npz and "
            f"run1.json there)"
        )
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
            kind = file_kind(os.stat(f).st_mode)
            raise MupsimError(
                f"{what} {text}: {f} exists and is not a file ({kind}); allowed: "
                f"a new file stem or one with earlier regular result files to "
                f"replace"
            )
    folder = stem.parent
    if folder.is_dir():  # the exact temp names of Result.save (catches names too long)
        _probe(folder, what, stem, f".{stem.name}.json.")
    else:
        _check_folder(folder, what, Path(text))

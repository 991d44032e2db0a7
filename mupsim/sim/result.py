"""Result of one simulation run, and its on-disk store.

A result is two files next to each other: ``<stem>.npz`` (all arrays, no pickles) and
``<stem>.json`` (config, provenance, status, names, and the ordering of the array keys).
Both files are first written in full as temp files in the same directory (fsync), then
renamed into place (``os.replace``), the ``.npz`` first and the ``.json`` last; both carry the
same random ``save_id`` and :meth:`Result.load` checks that they match, so a crash between the
two renames can never pass for a valid result, and a failed write (disk full) leaves neither.

The ``.json`` also records ``content_sha256``: SHA-256 over its own content (canonical JSON
without that field) and over every array of the ``.npz`` (name, dtype, shape, bytes). Loading
checks it and the structure of both files (types, names, shapes), so a truncated file, a
hand-edited ``status`` or key list, or a rewritten ``.npz`` is reported as corrupt, never
trusted. Results written without the hash (format 1) are reported as outdated: a sweep re-runs
them.

Writes replace only regular files (or create new ones; symlinks are followed to their target),
never a device node, FIFO, socket or folder. New files get the usual ``0666 & ~umask`` mode; a
replaced file keeps its mode.

Array conventions (T logged steps, M matrices, A activation sites):

* ``steps``: int64[T], optimizer steps at which quantities were logged (0 = init).
* ``train_loss``, ``test_loss``: float64[T] (``test_loss`` is NaN without a held-out set).
* ``matrix[metric]``: float64[M, T], rows in ``matrix_names`` order; metrics are
  ``rms, sigma_max, gain, update_rms, rel_update, angular_update, cos_w_update, eff_lr,
  stable_rank, effective_rank, sv1, sv2, sv3, sv4`` (definitions:
  :mod:`mupsim.sim.kernels.diagnostics`). Results saved before simulator version 3 lack the
  last six and load without them; runs with ``rank_metrics=False`` have them all NaN.
* ``activation_rms``: float64[A, T], rows in ``activation_names`` order.
* ``spectra[name]``: float64 singular values of each matrix at the end of training.
* Entries logged after a divergence are NaN. ``status`` is ``"ok"``, ``"diverged"`` or
  ``"error"`` (the sweep's record of a run that raised; message in ``provenance["error"]``).
* Per-run scalars of the task travel in ``provenance`` (so the format and its content hash are
  unchanged): ``provenance["teacher_entropy"]`` for ``task="next_token"``, the teacher's mean
  conditional entropy over the held-out contexts in nats (:func:`mupsim.sim.data.teacher_entropy`),
  the floor of ``test_loss``; absent for the other tasks.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import hashlib
import io
import json
import os
import platform
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from mupsim.errors import MupsimError

STATUSES = ("ok", "diverged", "error")
MATRIX_METRICS = (
    "rms",
    "sigma_max",
    "gain",
    "update_rms",
    "rel_update",
    "angular_update",
    "cos_w_update",
    "eff_lr",
    "stable_rank",
    "effective_rank",
    "sv1",
    "sv2",
    "sv3",
    "sv4",
)
FORMAT_VERSION = 2
HASH_FIELD = "content_sha256"


@dataclass(eq=False)
class Result:
    """Logged trajectory and final diagnostics of one run (see module docstring for the store).

    Attributes:
        config: the run's ``SimConfig.to_dict()``.
        provenance: versions, date, wall time, settings (see :func:`provenance`).
        status: "ok", "diverged" or "error".
        diverged_step: the step the loss left ``divergence_bound``, or None.
        steps: the logged optimizer steps (T,).
        train_loss: the training loss at each logged step (T,).
        test_loss: the held-out loss at each logged step (T,).
        matrix_names: the matrices' names (M).
        matrix: metric name (rms, sigma_max, stable_rank, ...) → (M, T) array.
        activation_names: the activations' names (A).
        activation_rms: (A, T) RMS of each activation.
        spectra: matrix name → its final singular values.

    Raises:
        MupsimError: an unknown ``status``.

    Examples:
        >>> import numpy as np
        >>> from mupsim.sim import Result, SimConfig
        >>> r = Result(config=SimConfig(width=8).to_dict(), provenance={}, status="ok",
        ...            diverged_step=None, steps=[0, 10], train_loss=[1.0, 0.5],
        ...            test_loss=[1.0, 0.25], matrix_names=["hidden"],
        ...            matrix={"rms": [[0.5, 0.75]]}, activation_rms=np.zeros((0, 2)))
        >>> r.final("test_loss"), r.final("rms", "hidden")
        (0.25, 0.75)
        >>> r.save("demo")
        >>> Result.exists("demo"), Result.load("demo") == r, r.key == SimConfig(width=8).key()
        (True, True, True)
    """

    config: dict
    provenance: dict
    status: str
    diverged_step: int | None
    steps: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    matrix_names: list
    matrix: dict
    activation_names: list = field(default_factory=list)
    activation_rms: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    spectra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise MupsimError(f"unknown result status {self.status!r}; allowed: {', '.join(STATUSES)}")
        if self.diverged_step is not None:
            self.diverged_step = int(self.diverged_step)
        self.config = dict(self.config)
        self.provenance = dict(self.provenance)
        self.steps = np.asarray(self.steps, dtype=np.int64)
        self.train_loss = np.asarray(self.train_loss, dtype=np.float64)
        self.test_loss = np.asarray(self.test_loss, dtype=np.float64)
        self.matrix_names = [str(n) for n in self.matrix_names]
        self.matrix = {str(k): np.asarray(v, dtype=np.float64) for k, v in self.matrix.items()}
        self.activation_names = [str(n) for n in self.activation_names]
        self.activation_rms = np.asarray(self.activation_rms, dtype=np.float64)
        self.spectra = {str(k): np.asarray(v, dtype=np.float64) for k, v in self.spectra.items()}

    # ------------------------------------------------------------------ equality
    def __eq__(self, other: object) -> bool:
        """Bit-identical arrays (dtype, shape, bytes; NaN payloads included) and equal dicts."""
        if not isinstance(other, Result):
            return NotImplemented
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray):
                if not _same_array(a, b):
                    return False
            elif f.name in ("matrix", "spectra"):
                if a.keys() != b.keys() or not all(_same_array(a[k], b[k]) for k in a):
                    return False
            elif f.name in ("config", "provenance"):
                if _canon(a) != _canon(b):
                    return False
            elif a != b:
                return False
        return True

    __hash__ = None  # mutable

    # ------------------------------------------------------------------ accessors
    @property
    def key(self) -> str:
        """The config's key() (result file stem)."""
        from mupsim.sim.config import SimConfig

        return SimConfig.from_dict(self.config).key()

    def sim_config(self):
        """The run's :class:`SimConfig`."""
        from mupsim.sim.config import SimConfig

        return SimConfig.from_dict(self.config)

    def final(self, metric: str, name: str | None = None):
        """Last logged value of ``metric`` (NaN if the run diverged before the last log).

        Args:
            metric: ``"train_loss"``, ``"test_loss"``, a matrix metric (``"rms"``, ...) or
                ``"activation_rms"``.
            name: a matrix (or activation) name, for one value instead of all.

        Returns:
            A float for the losses; for a matrix metric a dict matrix name → float, or one
            float if ``name`` is given; ``"activation_rms"`` likewise with activation names.

        Raises:
            MupsimError: an unknown metric or name.
        """
        if metric in ("train_loss", "test_loss"):
            arr = getattr(self, metric)
            return float(arr[-1]) if arr.size else float("nan")
        if metric == "activation_rms":
            names, arr = self.activation_names, self.activation_rms
        elif metric in self.matrix:
            names, arr = self.matrix_names, self.matrix[metric]
        else:
            allowed = ["train_loss", "test_loss", "activation_rms", *self.matrix]
            raise MupsimError(f"unknown metric {metric!r}; allowed: {', '.join(allowed)}")
        vals = {
            n: (float(arr[i, -1]) if arr.ndim == 2 and arr.shape[1] else float("nan"))
            for i, n in enumerate(names)
        }
        if name is None:
            return vals
        if name not in vals:
            raise MupsimError(
                f"unknown {'activation' if metric == 'activation_rms' else 'matrix'}"
                f" {name!r}; allowed: {', '.join(names)}"
            )
        return vals[name]

    # ------------------------------------------------------------------ store
    def save(self, path_stem) -> None:
        """Write ``<stem>.npz`` and ``<stem>.json`` atomically as a pair (parents are created).

        Args:
            path_stem: the path without suffix (a ``.npz``/``.json`` suffix is dropped).

        Raises:
            MupsimError: an OSError (disk full, read-only folder, ...) as one line; neither new
                file is left behind: earlier files at the stem stay as they were, except when
                the failure falls between the two renames, where the half-replaced pair is
                removed rather than left mismatched.
        """
        from mupsim.sim.files import output_target

        stem = _stem(path_stem)
        save_id = uuid.uuid4().hex
        arrays: dict[str, np.ndarray] = {
            "steps": self.steps,
            "train_loss": self.train_loss,
            "test_loss": self.test_loss,
            "activation_rms": self.activation_rms,
            "save_id": np.frombuffer(save_id.encode("ascii"), dtype=np.uint8),
        }
        matrix_keys = list(self.matrix)
        spectra_keys = list(self.spectra)
        for i, k in enumerate(matrix_keys):
            arrays[f"matrix_{i}"] = self.matrix[k]
        for i, k in enumerate(spectra_keys):
            arrays[f"spectra_{i}"] = self.spectra[k]
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        meta = {
            "format_version": FORMAT_VERSION,
            "save_id": save_id,
            "config": self.config,
            "provenance": self.provenance,
            "status": self.status,
            "diverged_step": self.diverged_step,
            "matrix_names": self.matrix_names,
            "activation_names": self.activation_names,
            "matrix_keys": matrix_keys,
            "spectra_keys": spectra_keys,
        }
        # fail before touching disk; the hash is taken over what a load will read back
        meta = json.loads(json.dumps(meta, default=_json_default))
        meta[HASH_FIELD] = content_hash(meta, arrays)
        text = json.dumps(meta, indent=1)
        npz = output_target(stem.with_name(stem.name + ".npz"), "result file")
        js = output_target(stem.with_name(stem.name + ".json"), "result file")
        # both files are written in full (temp files, fsync) before either is renamed into
        # place, so a full disk or a crash leaves no .npz without its .json
        tmps: list = []
        replaced = False
        try:
            stem.parent.mkdir(parents=True, exist_ok=True)
            tmps.append(_write_temp(npz, lambda f: np.savez(f, allow_pickle=False, **arrays)))
            tmps.append(_write_temp(js, lambda f: f.write(text.encode("utf-8"))))
            os.replace(tmps[0], npz)
            replaced = True
            os.replace(tmps[1], js)
        except BaseException as e:
            for t in tmps:
                with contextlib.suppress(OSError):
                    os.unlink(t)
            if replaced:  # the new .npz is in place but its .json is not: remove the pair
                for f in (npz, js):
                    with contextlib.suppress(OSError):
                        os.unlink(f)
            if isinstance(e, OSError):
                raise MupsimError(
                    f"cannot save the result at {stem} (.npz and .json): {e.strerror or e}; nothing was saved"
                ) from None
            raise
        for folder in {npz.parent, js.parent}:
            _fsync_dir(folder)

    @classmethod
    def load(cls, path_stem) -> Result:
        """Read a result written by :meth:`save`.

        Args:
            path_stem: the path without suffix.

        Returns:
            Result: equal to the one saved.

        Raises:
            MupsimError: missing, corrupt (unreadable, structurally wrong, or its content hash
                does not match) or outdated.
        """
        from mupsim.sim.files import open_regular

        stem = _stem(path_stem)
        jpath, npath = stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".npz")
        try:
            with open_regular(jpath, "result file") as f:
                meta = json.loads(f.read().decode("utf-8"))
            with open_regular(npath, "result file") as f, np.load(f, allow_pickle=False) as z:
                arr = {k: z[k] for k in z.files}
        except FileNotFoundError as e:
            raise MupsimError(f"no saved result at {stem} (missing {e.filename})") from None
        except MupsimError as e:
            raise MupsimError(f"corrupt result at {stem}: {e}") from None
        except Exception as e:  # noqa: BLE001 - corrupt file of any kind
            raise MupsimError(f"corrupt result at {stem}: {type(e).__name__}: {e}") from None
        try:
            return cls._from_stored(meta, arr)
        except MupsimError as e:
            raise MupsimError(f"corrupt result at {stem}: {e}") from None
        except Exception as e:  # noqa: BLE001 - any structural surprise is corruption
            raise MupsimError(f"corrupt result at {stem}: {type(e).__name__}: {e}") from None

    @classmethod
    def _from_stored(cls, meta, arr: dict) -> Result:
        """A Result from a loaded ``.json`` (``meta``) and ``.npz`` (``arr``), after checking
        the format, the content hash, the save id and the structure."""
        if not isinstance(meta, dict):
            raise MupsimError(f".json holds {type(meta).__name__}, not an object")
        version = meta.get("format_version")
        if version != FORMAT_VERSION or not isinstance(meta.get(HASH_FIELD), str):
            raise MupsimError(
                f"format {version!r} without a content hash (this mupsim writes "
                f"format {FORMAT_VERSION}); outdated, run it again"
            )
        if content_hash(meta, arr) != meta[HASH_FIELD]:
            raise MupsimError("content hash does not match (.json or .npz changed after saving)")
        sid = arr["save_id"]
        if sid.dtype != np.uint8 or sid.ndim != 1 or sid.tobytes().decode("ascii") != meta["save_id"]:
            raise MupsimError(".npz and .json come from different saves")
        _expect(meta, "config", dict)
        _expect(meta, "provenance", dict)
        _expect(meta, "status", str)
        if meta["diverged_step"] is not None:
            _expect(meta, "diverged_step", int)
        names = {
            f: _names(meta, f) for f in ("matrix_names", "activation_names", "matrix_keys", "spectra_keys")
        }
        for f in ("matrix_keys", "spectra_keys"):
            if len(set(names[f])) != len(names[f]):
                raise MupsimError(f"'{f}' repeats a name")
        r = cls(
            config=meta["config"],
            provenance=meta["provenance"],
            status=meta["status"],
            diverged_step=meta["diverged_step"],
            steps=arr["steps"],
            train_loss=arr["train_loss"],
            test_loss=arr["test_loss"],
            matrix_names=names["matrix_names"],
            matrix={k: arr[f"matrix_{i}"] for i, k in enumerate(names["matrix_keys"])},
            activation_names=names["activation_names"],
            activation_rms=arr["activation_rms"],
            spectra={k: arr[f"spectra_{i}"] for i, k in enumerate(names["spectra_keys"])},
        )
        r._check_shapes()
        return r

    def _check_shapes(self) -> None:
        """MupsimError unless the arrays have the shapes of the module docstring."""
        T = self.steps.shape[0] if self.steps.ndim == 1 else -1
        if T < 0 or self.train_loss.shape != (T,) or self.test_loss.shape != (T,):
            raise MupsimError(
                f"steps {self.steps.shape}, train_loss {self.train_loss.shape} and "
                f"test_loss {self.test_loss.shape} are not one length-T vector each"
            )
        for k, a in self.matrix.items():
            if a.shape != (len(self.matrix_names), T):
                raise MupsimError(
                    f"matrix metric {k!r} has shape {a.shape}, not ({len(self.matrix_names)}, {T})"
                )
        A = len(self.activation_names)
        if (
            self.activation_rms.ndim != 2
            or self.activation_rms.shape[0] != A
            or (A and self.activation_rms.shape[1] != T)
        ):
            raise MupsimError(f"activation_rms has shape {self.activation_rms.shape}, not ({A}, {T})")
        for k, a in self.spectra.items():
            if a.ndim != 1:
                raise MupsimError(f"spectrum {k!r} has shape {a.shape}, not a vector")

    @staticmethod
    def exists(path_stem) -> bool:
        """True if both files of a saved result exist (does not check consistency).

        Args:
            path_stem: the path without suffix.

        Returns:
            Whether ``<stem>.json`` and ``<stem>.npz`` are both regular files.
        """
        stem = _stem(path_stem)
        return stem.with_name(stem.name + ".json").is_file() and stem.with_name(stem.name + ".npz").is_file()

    # ------------------------------------------------------------------ constructors
    @classmethod
    def error(cls, config: dict, message: str, provenance: dict | None = None) -> Result:
        """A record of a run that raised: status "error", empty arrays.

        Args:
            config: the run's config dict.
            message: the error, stored in ``provenance["error"]``.
            provenance: other provenance keys.

        Returns:
            Result: the record.

        Examples:
            >>> from mupsim.sim import Result, SimConfig
            >>> e = Result.error(SimConfig().to_dict(), "out of memory")
            >>> e.status, e.provenance["error"], e.steps.size
            ('error', 'out of memory', 0)
        """
        prov = dict(provenance or {})
        prov["error"] = message
        return cls(
            config=dict(config),
            provenance=prov,
            status="error",
            diverged_step=None,
            steps=np.zeros(0, np.int64),
            train_loss=np.zeros(0),
            test_loss=np.zeros(0),
            matrix_names=[],
            matrix={},
            activation_names=[],
            activation_rms=np.zeros((0, 0)),
            spectra={},
        )


# ---------------------------------------------------------------------- provenance
def provenance(
    config=None, *, settings: dict | None = None, wall_time_s: float | None = None, **extra: Any
) -> dict:
    """Provenance dict for a run.

    Args:
        config: a SimConfig or dict (its ``seed`` is recorded), or None.
        settings: the calculator's ``Settings.to_dict()``.
        wall_time_s: the run's wall time in seconds.
        **extra: further keys, recorded as given.

    Returns:
        Keys mupsim_version, numpy_version, numba_version, python_version, platform, created
        (UTC ISO-8601), git_commit (None unless ``git rev-parse HEAD`` works in the package
        directory), seed, wall_time_s, settings, plus any ``extra`` keys.

    Examples:
        >>> from mupsim.sim import SimConfig, provenance
        >>> p = provenance(SimConfig(seed=3), wall_time_s=1.5, backend="numba")
        >>> p["seed"], p["wall_time_s"], p["backend"]
        (3, 1.5, 'numba')
    """
    seed = None
    if config is not None:
        seed = config.get("seed") if isinstance(config, dict) else getattr(config, "seed", None)
    d = {
        "mupsim_version": _mupsim_version(),
        "numpy_version": np.__version__,
        "numba_version": _numba_version(),
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "seed": seed,
        "wall_time_s": None if wall_time_s is None else float(wall_time_s),
        "settings": settings,
    }
    d.update(extra)
    return d


@functools.lru_cache(maxsize=1)
def _mupsim_version() -> str:
    try:
        from importlib.metadata import version

        return version("mupsim")
    except Exception:  # noqa: BLE001
        try:
            import mupsim

            return str(getattr(mupsim, "__version__", "unknown"))
        except Exception:  # noqa: BLE001
            return "unknown"


@functools.lru_cache(maxsize=1)
def _numba_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("numba")
    except Exception:  # noqa: BLE001
        return None


@functools.lru_cache(maxsize=1)
def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except Exception:  # noqa: BLE001
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and len(sha) >= 7 else None


# ---------------------------------------------------------------------- helpers
def _stem(path_stem) -> Path:
    p = Path(path_stem)
    if p.suffix in (".npz", ".json"):
        p = p.with_suffix("")
    return p


def content_hash(meta: dict, arrays) -> str:
    """SHA-256 (hex) of a stored result.

    Hashes the canonical JSON of ``meta`` without ``HASH_FIELD``, then each array in name order
    (name, dtype, shape, C-order bytes).

    Args:
        meta: the ``.json`` content.
        arrays: name → array, the ``.npz`` content.

    Returns:
        64 hex digits.

    Examples:
        >>> import numpy as np
        >>> from mupsim.sim.result import content_hash
        >>> h = content_hash({"status": "ok"}, {"steps": np.arange(3)})
        >>> len(h), h == content_hash({"status": "ok", "content_sha256": "x"}, {"steps": np.arange(3)})
        (64, True)
    """
    h = hashlib.sha256()
    body = {k: v for k, v in meta.items() if k != HASH_FIELD}
    h.update(json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8"))
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(json.dumps([name, a.dtype.str, list(a.shape)]).encode("utf-8"))
        h.update(a.tobytes())
    return h.hexdigest()


def _expect(meta: dict, field_: str, kind: type) -> None:
    v = meta[field_]
    if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
        raise MupsimError(f"'{field_}' is {type(v).__name__}, not {kind.__name__}")


def _names(meta: dict, field_: str) -> list:
    v = meta[field_]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise MupsimError(f"'{field_}' is not a list of names")
    return v


def _umask() -> int:
    """This process's umask (read without changing it where /proc allows)."""
    with (
        contextlib.suppress(OSError, ValueError),
        open("/proc/self/status", encoding="ascii", errors="replace") as f,
    ):
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    old = os.umask(0o022)
    os.umask(old)
    return old


def _new_file_mode(path: Path) -> int:
    """Mode for a file written at ``path``: the replaced file's, else ``0o666 & ~umask``."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _write_temp(path: Path, writer: Callable[[io.BufferedWriter], Any]) -> str:
    """Write a temp file beside ``path`` (``.<name>.<random>.tmp``) with the mode ``path``
    will have (:func:`_new_file_mode`), fsync it and return its name; on failure remove it and
    re-raise."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            with contextlib.suppress(OSError):
                os.fchmod(f.fileno(), _new_file_mode(path))
            writer(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def _atomic_write(path, writer: Callable[[io.BufferedWriter], Any], what: str = "output file") -> None:
    """Write ``path`` via a temp file in the same directory, fsync, then os.replace.

    Symlinks are followed (the link stays, its target is replaced). MupsimError, before
    anything is written, if the target exists and is not a regular file (``what`` names it)."""
    from mupsim.sim.files import output_target

    path = output_target(path, what)
    tmp = _write_temp(path, writer)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make renames in ``folder`` durable (best effort)."""
    with contextlib.suppress(OSError):
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (tuple, set)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def _canon(d):
    """Canonical JSON text (tuples -> lists, numpy scalars -> Python, NaN == NaN) for comparing."""
    return json.dumps(d, sort_keys=True, default=_json_default)


def _same_array(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()

"""The running interpreter's standard-library sources as a text corpus, offline.

Source: every ``.py`` file under ``sysconfig.get_paths()["stdlib"]`` except those in directories
named ``test``, ``tests``, ``idlelib``, ``site-packages``, ``__pycache__`` (about 13 MB of
Python for CPython 3.12). The text is CPython's, distributed under the Python Software Foundation
License Version 2 (https://docs.python.org/3/license.html); it is read from the local
installation, never downloaded, and only derived statistics (losses) are stored by mupsim.

Conventions:

* the file list is the sorted list of POSIX paths relative to the stdlib root; its
  :func:`fingerprint` is the SHA-1 of "path size" lines (so another Python version, or an
  edited file, is another corpus);
* the split is by file: a file is held out when the first 8 hex digits of
  SHA-1("held-out:" + relative path), read as a fraction of 2^32, lie below ``held_out``;
  deterministic, independent of the file order and of which other files exist;
* byte-level tokens are the raw bytes (V = 256), files joined by a newline; BPE tokens come
  from a byte-level BPE (``tokenizers``) trained on the *training* files only, cached as
  ``<cache>/bpe-<fingerprint>-<vocab>.json`` (the token arrays beside it, ``.npz``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mupsim.errors import MupsimError

EXCLUDED_DIRS = frozenset({"test", "tests", "idlelib", "site-packages", "__pycache__"})
BPE_VOCAB_RANGE = (4096, 8192)
LICENCE = "Python Software Foundation License Version 2 (CPython standard library sources)"


def stdlib_root() -> Path:
    """The running interpreter's standard-library folder."""
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_files(root=None) -> list[str]:
    """Sorted POSIX paths (relative to ``root``, default :func:`stdlib_root`) of the ``.py`` files,
    skipping :data:`EXCLUDED_DIRS` at any depth."""
    root = Path(root) if root is not None else stdlib_root()
    if not root.is_dir():
        raise MupsimError(f"corpus root {str(root)!r} is not a folder; allowed: a folder of .py files")
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in EXCLUDED_DIRS]
        rel = Path(dirpath).relative_to(root)
        out += [(rel / f).as_posix() for f in filenames if f.endswith(".py")]
    if not out:
        raise MupsimError(f"corpus root {str(root)!r} holds no .py file")
    return sorted(out)


def fingerprint(files, root=None) -> str:
    """16 hex digits of SHA-1 over "relative-path size" lines: names the corpus."""
    root = Path(root) if root is not None else stdlib_root()
    h = hashlib.sha1()
    for f in files:
        h.update(f"{f} {(root / f).stat().st_size}\n".encode())
    return h.hexdigest()[:16]


def is_held_out(relpath: str, held_out: float) -> bool:
    """Whether the file goes to the held-out split (deterministic hash of its relative path)."""
    v = int(hashlib.sha1(("held-out:" + relpath).encode()).hexdigest()[:8], 16) / 2**32
    return v < held_out


def split(files, held_out: float = 0.1) -> tuple[list[str], list[str]]:
    """(train files, held-out files), each in the order given."""
    if not 0 < held_out < 1:
        raise MupsimError(f"held_out must be a fraction in (0, 1), got {held_out!r}")
    tr = [f for f in files if not is_held_out(f, held_out)]
    ho = [f for f in files if is_held_out(f, held_out)]
    if not tr or not ho:
        raise MupsimError(
            f"the split of {len(files)} files at held_out={held_out} leaves one side empty; "
            "give more files or another fraction"
        )
    return tr, ho


def read_bytes(files, root=None) -> bytes:
    """The files' bytes joined by one newline each."""
    root = Path(root) if root is not None else stdlib_root()
    return b"\n".join((root / f).read_bytes() for f in files)


def byte_tokens(data: bytes) -> np.ndarray:
    """Byte-level tokens (uint8, V = 256)."""
    return np.frombuffer(data, dtype=np.uint8).copy()


def byte_decode(tokens) -> bytes:
    return np.asarray(tokens, dtype=np.uint8).tobytes()


@dataclass
class LMData:
    """Token streams for a causal LM: ``train``/``held_out`` 1-D integer arrays of ids < ``vocab_size``;
    training batches are ``batch_size`` windows of ``context`` + 1 tokens; the held-out loss is the
    mean over ``n_eval`` windows evenly spaced over ``held_out``."""

    train: np.ndarray
    held_out: np.ndarray
    vocab_size: int
    context: int = 128
    batch_size: int = 16
    n_eval: int = 64
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        for name in ("context", "batch_size", "n_eval", "vocab_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise MupsimError(f"LMData.{name} must be a positive integer, got {v!r}")
        for name in ("train", "held_out"):
            a = np.asarray(getattr(self, name))
            if a.ndim != 1 or a.size < self.context + 2:
                raise MupsimError(
                    f"LMData.{name} must be a 1-D token array longer than context + 1 "
                    f"({self.context + 1}); got shape {a.shape}"
                )

    def fingerprint(self) -> dict:
        """What identifies this data in a run's config (the stored-result key)."""
        return {
            "corpus": self.info.get("fingerprint"),
            "tokenizer": self.info.get("tokenizer"),
            "vocab_size": int(self.vocab_size),
            "context": int(self.context),
            "batch_size": int(self.batch_size),
            "n_eval": int(self.n_eval),
            "n_train": int(self.train.size),
            "n_held_out": int(self.held_out.size),
        }


def _cache_dir(cache_dir) -> Path:
    return (
        Path(cache_dir if cache_dir is not None else os.environ.get("MUPSIM_CACHE", ".cache")) / "mupsim-lm"
    )


def train_bpe(texts, vocab_size: int, path=None):
    """A byte-level BPE ``tokenizers.Tokenizer`` trained on ``texts`` (an iterable of str), saved
    to ``path`` (JSON, atomically) when given."""
    try:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    except ImportError:
        raise MupsimError(
            "the BPE tokenizer needs the 'tokenizers' package (pip install tokenizers)"
        ) from None
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=int(vocab_size),
        show_progress=False,
        special_tokens=[],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer=trainer)
    if path is not None:
        _write(Path(path), tok.to_str().encode())
    return tok


def _write(path: Path, data: bytes) -> None:
    from mupsim.sim.result import _atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path.resolve(), lambda f: f.write(data))


def load_bpe(files, vocab_size: int, root=None, cache_dir=None):
    """The BPE tokenizer for ``files`` (trained on them once, then read from the cache)."""
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 257:
        raise MupsimError(f"BPE vocab_size must be an integer > 256, got {vocab_size!r}")
    from tokenizers import Tokenizer

    path = _cache_dir(cache_dir) / f"bpe-{fingerprint(files, root)}-{int(vocab_size)}.json"
    if path.is_file():
        return Tokenizer.from_file(str(path))
    root = Path(root) if root is not None else stdlib_root()
    texts = ((root / f).read_bytes().decode("utf-8", errors="replace") for f in files)
    return train_bpe(texts, vocab_size, path)


def bpe_tokens(tok, files, root=None) -> np.ndarray:
    """Token ids (int32) of the files joined by newlines (each file encoded on its own)."""
    root = Path(root) if root is not None else stdlib_root()
    nl = tok.encode("\n").ids
    out = []
    for i, f in enumerate(files):
        if i:
            out.append(nl)
        out.append(tok.encode((root / f).read_bytes().decode("utf-8", errors="replace")).ids)
    return np.fromiter((t for ids in out for t in ids), dtype=np.int32)


def load_corpus(
    tokenizer: str = "byte",
    vocab_size: int = 4096,
    *,
    held_out: float = 0.1,
    max_files=None,
    root=None,
    cache_dir=None,
    context: int = 128,
    batch_size: int = 16,
    n_eval: int = 64,
) -> LMData:
    """The stdlib corpus as :class:`LMData`. ``tokenizer``: "byte" (V = 256) or "bpe"
    (``vocab_size`` in :data:`BPE_VOCAB_RANGE`; the tokenizer is trained on the training files and
    cached with the token arrays). ``max_files``: keep every k-th file of the sorted list so that at
    most this many remain (a smaller corpus for quick runs; the split is still by file hash)."""
    from mupsim.errors import choice

    tokenizer = choice("tokenizer", tokenizer, ("byte", "bpe"))
    files = stdlib_files(root)
    if max_files is not None:
        if isinstance(max_files, bool) or not isinstance(max_files, (int, np.integer)) or max_files < 2:
            raise MupsimError(f"max_files must be an integer >= 2, got {max_files!r}")
        files = files[:: max(1, -(-len(files) // int(max_files)))]
    tr, ho = split(files, held_out)
    fp = fingerprint(files, root)
    info = {
        "fingerprint": fp,
        "tokenizer": tokenizer,
        "n_files": len(files),
        "n_train_files": len(tr),
        "n_held_out_files": len(ho),
        "held_out_fraction": held_out,
        "licence": LICENCE,
        "python": sysconfig.get_python_version(),
    }
    if tokenizer == "byte":
        return LMData(
            byte_tokens(read_bytes(tr, root)),
            byte_tokens(read_bytes(ho, root)),
            256,
            context,
            batch_size,
            n_eval,
            info,
        )
    lo, hi = BPE_VOCAB_RANGE
    if (
        isinstance(vocab_size, bool)
        or not isinstance(vocab_size, (int, np.integer))
        or not lo <= vocab_size <= hi
    ):
        raise MupsimError(f"BPE vocab_size must be an integer in [{lo}, {hi}], got {vocab_size!r}")
    cache = _cache_dir(cache_dir) / f"tokens-{fp}-{int(vocab_size)}-{held_out:g}.npz"
    tok = load_bpe(tr, vocab_size, root, cache_dir)
    if cache.is_file():
        with np.load(cache) as z:
            a, b = z["train"], z["held_out"]
    else:
        a, b = bpe_tokens(tok, tr, root), bpe_tokens(tok, ho, root)
        import io

        buf = io.BytesIO()
        np.savez(buf, train=a, held_out=b)
        _write(cache, buf.getvalue())
    info["vocab_size_requested"] = int(vocab_size)
    return LMData(a, b, int(tok.get_vocab_size()), context, batch_size, n_eval, info)


def stdlib_bytes() -> LMData:
    """Entry point (``mupsim.lm.corpus:stdlib_bytes``): byte-level stdlib corpus, context 128, batch 16."""
    return load_corpus("byte")


def stdlib_bpe() -> LMData:
    """Entry point (``mupsim.lm.corpus:stdlib_bpe``): stdlib corpus with a 4,096-token BPE."""
    return load_corpus("bpe", 4096)


def describe(data: LMData) -> str:
    return json.dumps(data.fingerprint() | {k: v for k, v in data.info.items() if k != "fingerprint"})

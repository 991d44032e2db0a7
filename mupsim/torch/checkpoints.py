"""Lazy checkpoint readers: one tensor at a time, as float32 NumPy arrays.

* ``.safetensors`` is read without torch (and without the ``safetensors`` package): the file is
  an unsigned little-endian u64 header length N, N bytes of JSON ``{name: {"dtype", "shape",
  "data_offsets": [begin, end]}, "__metadata__": {...}}``, then the raw little-endian data; each
  tensor is a ``numpy.memmap`` of its byte range. bfloat16 is widened to float32 by shifting its
  16 bits into the high half of a uint32 (exact).
* ``.pt`` / ``.pth`` / ``.bin`` (``torch.save`` of a state_dict, or of a dict holding one under
  ``state_dict``/``model``) needs torch and is opened with ``mmap=True, weights_only=True``.

Nothing reads a whole checkpoint into memory: :meth:`Checkpoint.get` converts one tensor, so
the peak is about one tensor in float32 plus the pages the OS maps.
"""

from __future__ import annotations

import json
import math
import os
import struct

import numpy as np

from mupsim.errors import MupsimError

_ST_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "BF16": np.uint16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}
FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")
MAX_HEADER = 100 * 2**20


def bf16_to_float32(raw: np.ndarray) -> np.ndarray:
    """bfloat16 bits (uint16) → float32, exactly (one 4-byte temporary per element, shifted in place)."""
    a = raw.astype(np.uint32)
    a <<= 16
    return a.view(np.float32)


def float32_to_bf16(x: np.ndarray) -> np.ndarray:
    """float32 → bfloat16 bits (uint16), round to nearest even (for writing test files)."""
    b = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    b = b + 0x7FFF + ((b >> 16) & 1)
    return (b >> 16).astype(np.uint16)


class Checkpoint:
    """Names, shapes and lazily converted tensors of one checkpoint file."""

    def __init__(self, path):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise MupsimError(f"checkpoint {self.path!r} does not exist or is not a file")
        if self.path.endswith(".safetensors"):
            self._open_safetensors()
        elif self.path.endswith((".pt", ".pth", ".bin", ".ckpt")):
            self._open_torch()
        else:
            raise MupsimError(
                f"unknown checkpoint format {self.path!r}; allowed: .safetensors, .pt, .pth, .bin, .ckpt"
            )

    # -- safetensors -------------------------------------------------------------------------
    def _open_safetensors(self):
        size = os.path.getsize(self.path)
        with open(self.path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise MupsimError(
                    f"{self.path!r} is not a safetensors file (shorter than its 8-byte header length)"
                )
            (n,) = struct.unpack("<Q", head)
            if n > min(MAX_HEADER, size - 8):
                raise MupsimError(
                    f"{self.path!r} is not a safetensors file (header length {n} exceeds the file)"
                )
            try:
                header = json.loads(f.read(n))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise MupsimError(f"{self.path!r}: safetensors header is not valid JSON ({exc})") from None
            except RecursionError:
                raise MupsimError(
                    f"{self.path!r}: safetensors header is nested too deeply to be a tensor table"
                ) from None
        if not isinstance(header, dict):
            raise MupsimError(
                f"{self.path!r}: safetensors header is a JSON {type(header).__name__}, not an object "
                "of tensor entries"
            )
        self.metadata = header.pop("__metadata__", {}) or {}
        self._offsets = {}
        base = 8 + n
        self._entries = {}
        for name, e in header.items():
            try:
                dtype, shape, (b, end) = e["dtype"], tuple(e["shape"]), e["data_offsets"]
                if (
                    not isinstance(dtype, str)
                    or not all(isinstance(x, int) and not isinstance(x, bool) for x in (b, end, *shape))
                    or not 0 <= b <= end
                    or any(d < 0 for d in shape)
                ):
                    raise ValueError
            except (KeyError, TypeError, ValueError):
                raise MupsimError(
                    f"{self.path!r}: malformed safetensors entry for {name!r} (needs a dtype string, "
                    "a shape of non-negative integers and integer data_offsets 0 <= begin <= end)"
                ) from None
            if dtype not in _ST_DTYPES:
                self._entries[name] = (dtype, shape, None, None)
                continue
            nbytes = math.prod(shape) * np.dtype(_ST_DTYPES[dtype]).itemsize  # Python ints: no overflow
            if end - b != nbytes or base + end > size:
                raise MupsimError(
                    f"{self.path!r}: tensor {name!r} ({dtype}, shape {shape}) does not fit its byte "
                    f"range {b}..{end} (file truncated?)"
                )
            self._entries[name] = (dtype, shape, base + b, nbytes)
            self._offsets[name] = (b, end)
        self.names = list(self._entries)
        self.format = "safetensors"

    def _get_safetensors(self, name):
        dtype, shape, off, nbytes = self._entries[name]
        if off is None or dtype not in FLOAT_DTYPES:
            return None
        if nbytes == 0:
            return np.zeros(shape, np.float32)
        raw = np.memmap(
            self.path, dtype=np.dtype(_ST_DTYPES[dtype]).newbyteorder("<"), mode="r", offset=off, shape=shape
        )
        out = bf16_to_float32(raw) if dtype == "BF16" else raw.astype(np.float32)
        del raw
        return out

    # -- torch.save ------------------------------------------------------------------------------
    def _open_torch(self):
        try:
            import torch
        except ImportError:
            raise MupsimError(
                f"reading {self.path!r} needs torch (pip install 'mupsim[torch]'); .safetensors "
                "files are read without it"
            ) from None
        try:
            try:
                obj = torch.load(self.path, map_location="cpu", mmap=True, weights_only=True)
            except RuntimeError:  # legacy (non-zip) format cannot be memory-mapped
                obj = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - report any unpickling problem as bad input
            raise MupsimError(
                f"cannot read {self.path!r} as a torch checkpoint ({type(exc).__name__}): it must be "
                "a state_dict of tensors saved with torch.save (read with weights_only=True), or "
                "a .safetensors file"
            ) from None
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(obj, dict) and isinstance(obj.get(key), dict):
                obj = obj[key]
                break
        if not isinstance(obj, dict):
            raise MupsimError(f"{self.path!r} holds a {type(obj).__name__}, not a state_dict")
        flat = {}

        def walk(prefix, d):
            for k, v in d.items():
                if isinstance(v, dict):
                    walk(f"{prefix}{k}.", v)
                elif isinstance(v, torch.Tensor):
                    flat[f"{prefix}{k}"] = v

        walk("", obj)
        if not flat:
            raise MupsimError(f"{self.path!r} contains no tensors")
        self._tensors = flat
        self._entries = {
            k: (str(v.dtype).removeprefix("torch."), tuple(v.shape), None, None) for k, v in flat.items()
        }
        self.names = list(flat)
        self.metadata = {}
        self.format = "torch"

    def _get_torch(self, name):
        import torch

        t = self._tensors[name]
        if not t.is_floating_point():
            return None
        return t.detach().to(torch.float32).numpy()

    def _storage_key(self, name):
        if self.format == "safetensors":
            return self._offsets.get(name)
        t = self._tensors[name]
        if t.numel() == 0:
            return None
        return (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.stride()), tuple(t.shape))

    # -- common ----------------------------------------------------------------------------------
    def shape(self, name) -> tuple:
        return self._entries[name][1]

    def dtype(self, name) -> str:
        return self._entries[name][0]

    def is_float(self, name) -> bool:
        """Whether :meth:`get` converts ``name`` (a real floating-point dtype it can read)."""
        if self.format == "safetensors":
            dtype, _, off, _ = self._entries[name]
            return off is not None and dtype in FLOAT_DTYPES
        return self._tensors[name].is_floating_point()

    def aliases(self) -> dict:
        """{name: first name} for every tensor that shares its data with an earlier one (tied weights
        saved once by torch.save, or two safetensors entries with the same byte range)."""
        seen, out = {}, {}
        for n in self.names:
            k = self._storage_key(n)
            if k is None or (self.format == "safetensors" and k[0] == k[1]):
                continue
            if k in seen:
                out[n] = seen[k]
            else:
                seen[k] = n
        return out

    def get(self, name) -> np.ndarray | None:
        """The tensor ``name`` as a float32 array (None for non-float tensors)."""
        if name not in self._entries:
            raise MupsimError(f"{self.path!r} has no tensor {name!r}")
        return self._get_safetensors(name) if self.format == "safetensors" else self._get_torch(name)


def write_safetensors(path, tensors: dict, dtype: str = "F32", metadata: dict | None = None) -> None:
    """Write {name: array} as a .safetensors file (F32, F16 or BF16), one tensor at a time.

    A value may be an array or a pair (shape, factory) where ``factory()`` returns the array only
    when it is written (so a multi-GB file is produced one tensor at a time: the benchmark).
    """
    if dtype not in ("F32", "F16", "BF16"):
        raise MupsimError(f"write_safetensors dtype must be F32, F16 or BF16, got {dtype!r}")
    item = 4 if dtype == "F32" else 2
    header, off = {}, 0
    for name, arr in tensors.items():
        shape = list(arr[0]) if isinstance(arr, tuple) else list(np.shape(arr))
        nb = math.prod(shape) * item
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + nb]}
        off += nb
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)

    def _write(f):
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for name, arr in tensors.items():
            a = np.asarray(arr[1]() if isinstance(arr, tuple) else arr, dtype=np.float32)
            if list(a.shape) != header[name]["shape"]:
                raise MupsimError(
                    f"tensor {name!r}: factory returned shape {a.shape}, expected {header[name]['shape']}"
                )
            if dtype == "BF16":
                f.write(float32_to_bf16(a).astype("<u2").tobytes())
            elif dtype == "F16":
                f.write(a.astype("<f2").tobytes())
            else:
                f.write(a.astype("<f4").tobytes())

    from mupsim.sim.result import _atomic_write  # a device, FIFO or folder at path is refused

    _atomic_write(path, _write, "safetensors file")

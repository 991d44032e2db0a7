"""Per-result claim files: sweeps sharing one result folder never compute the same config twice.

A sweep *claims* key ``K`` before running it by taking an exclusive ``flock`` on
``<out>/.K.claim`` (created if missing; its text names the holder: pid, host, time). The lock,
not the file, is the claim: the kernel drops it when the holder exits in any way (SIGKILL
included), so a dead claimer never blocks anyone and no staleness guess is needed. The holder
saves the result, then removes the file, then lets go of the lock; whoever takes the lock next
checks that the file it locked is still the one at the path (else retries) and then finds the
result already stored. Locks work across processes on one machine and, on filesystems that
support them (e.g. NFS with lockd or v4), across machines.

Without ``fcntl`` (Windows), or on a filesystem without locks, claims always succeed and
concurrent sweeps on one folder are not coordinated (a single sweep works as before).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
import socket
import stat
from pathlib import Path

from mupsim.errors import MupsimError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None


_NO_LOCKS = {
    getattr(errno, n) for n in ("ENOLCK", "EOPNOTSUPP", "ENOTSUP", "ENOSYS", "EINVAL") if hasattr(errno, n)
}


def claim_path(out: Path, key: str) -> Path:
    """The claim file of result ``key`` in folder ``out``."""
    return Path(out) / f".{key}.claim"


class Claims:
    """The claims this process holds in one result folder."""

    def __init__(self, out) -> None:
        self.out = Path(out)
        self._held: dict[str, int] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._held

    def take(self, key: str) -> bool:
        """Claim ``key``; False if another process holds it. MupsimError if the claim file's
        path cannot be used (a folder, a symlink, no permission)."""
        if key in self._held:
            return True
        if fcntl is None:
            self._held[key] = -1
            return True
        path = claim_path(self.out, key)
        while True:
            try:
                fd = os.open(
                    path,
                    os.O_RDWR
                    | os.O_CREAT
                    | getattr(os, "O_NOFOLLOW", 0)
                    | getattr(os, "O_CLOEXEC", 0)
                    | getattr(os, "O_NONBLOCK", 0),
                    0o644,
                )
            except OSError as e:
                reason = "it is a symlink" if e.errno == errno.ELOOP else (e.strerror or str(e))
                raise MupsimError(
                    f"cannot use the claim file {path}: {reason}; allowed: a "
                    f"regular file (remove what is there)"
                ) from None
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                os.close(fd)
                from mupsim.sim.files import file_kind

                raise MupsimError(
                    f"cannot use the claim file {path}: it is {file_kind(mode)}; "
                    f"allowed: a regular file (remove what is there)"
                )
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno in _NO_LOCKS:  # this filesystem has no locks: run uncoordinated
                    break
                os.close(fd)
                if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    return False
                raise MupsimError(f"cannot lock the claim file {path}: {e.strerror or e}") from None
            if _same_file(fd, path):
                break
            os.close(fd)  # the holder removed it after we opened it: take the new one
        with contextlib.suppress(OSError):
            note = json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "since": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                }
            ).encode("utf-8")
            os.ftruncate(fd, 0)
            os.pwrite(fd, note, 0)
        self._held[key] = fd
        return True

    def release(self, key: str) -> None:
        """Remove the claim file of ``key`` and drop its lock (no-op if not held)."""
        fd = self._held.pop(key, None)
        if fd is None:
            return
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.unlink(claim_path(self.out, key))
            os.close(fd)

    def release_all(self) -> None:
        for key in list(self._held):
            self.release(key)


def holder(out, key: str) -> str:
    """Who holds the claim on ``key`` (as written in its file), for messages."""
    from mupsim.sim.files import open_regular

    with (
        contextlib.suppress(OSError, ValueError, TypeError, KeyError, MupsimError),
        open_regular(claim_path(out, key), "claim file") as f,
    ):
        d = json.loads(f.read(4096))
        return f"pid {int(d['pid'])} on {d['host']}"
    return "another process"


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    fst = os.fstat(fd)
    return (st.st_ino, st.st_dev) == (fst.st_ino, fst.st_dev)

"""Single-writer locks for folders that one process writes at a time (a run folder, a store being packed).

Two trainings writing the same run folder, or two ``mmfusion prepare`` packing the same store,
interleave checkpoints and shards into a state neither would write. :class:`FolderLock` puts a
lock file ``<folder>/.mmfusion.lock`` holding the holder's PID, host name, purpose and start
time; a second writer gets :class:`~mmfusion.errors.LockError` at once, naming the holder.

Liveness: the lock file is also ``flock``-ed (POSIX), so the kernel releases it when the holder
dies however it dies; a lock file left by a dead PID on the same host is taken over. A lock
naming another host is never taken over (its PID cannot be checked from here): the error says
to delete the file once that process is known to be gone. Where ``fcntl`` is missing
(Windows), the PID check alone decides.

Use one lock per folder and process; under ``accelerate launch`` only the main process locks.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from .errors import LockError

try:
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows
    _fcntl = None

LOCK_NAME = ".mmfusion.lock"


def pid_alive(pid: int) -> bool:
    """True when a process with ``pid`` exists on this host (signal 0 probes without sending)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:
        return False
    return True


def read_holder(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The holder recorded in a lock file (pid, host, purpose, since), or None if absent/unreadable."""
    try:
        info = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return info if isinstance(info, dict) else None


class FolderLock:
    """Exclusive writer lock on ``folder`` (created if needed); a context manager.

    Args:
        folder: the folder written (run folder, store folder).
        purpose: what the holder does, shown to a second writer ("training", "packing a store").

    Raises (on :meth:`acquire` / ``with``):
        LockError: another live process (or one on another host) holds the lock.
    """

    def __init__(self, folder: str | os.PathLike[str], purpose: str = "writing") -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.purpose = purpose
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _refuse(self, holder: dict[str, Any] | None) -> LockError:
        if holder is None:
            who = "another process (lock file unreadable)"
        else:
            who = (f"process {holder.get('pid')} on host {holder.get('host')} "
                   f"({holder.get('purpose', 'writing')} since {holder.get('since', '?')})")
        hint = ""
        if holder is not None and holder.get("host") != socket.gethostname():
            hint = f"; if that process is gone, delete {self.path}"
        return LockError(f"{self.folder} is being written by {who}: wait for it to finish or use another "
                         f"folder{hint}")

    def acquire(self) -> FolderLock:
        if self._fd is not None:
            raise LockError(f"{self.path}: already held by this lock object")
        self.folder.mkdir(parents=True, exist_ok=True)
        host, pid = socket.gethostname(), os.getpid()
        for _ in range(10):  # retries only when the lock file is replaced while we look at it
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if _fcntl is not None:
                    try:
                        _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
                    except BlockingIOError:
                        raise self._refuse(read_holder(self.path)) from None
                    # the holder may have unlinked the file between our open and flock
                    if os.fstat(fd).st_ino != os.stat(self.path).st_ino:
                        os.close(fd)
                        continue
                holder = read_holder(self.path)
                if holder is not None and (holder.get("host"), holder.get("pid")) != (host, pid):
                    holder_pid = holder.get("pid")
                    if holder.get("host") != host:  # its PID cannot be checked from here
                        raise self._refuse(holder)
                    if _fcntl is None and isinstance(holder_pid, int) and pid_alive(holder_pid):
                        raise self._refuse(holder)
                    # same host, and the flock was free (or the PID is dead): a stale lock, taken over
                info = {"pid": pid, "host": host, "purpose": self.purpose,
                        "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps(info).encode(), 0)
                os.fsync(fd)
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
            return self
        raise LockError(f"{self.path}: lock file keeps changing; another writer is starting")

    def release(self) -> None:
        """Remove the lock file and unlock (idempotent)."""
        if self._fd is None:
            return
        try:
            holder = read_holder(self.path)
            if holder is not None and holder.get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def __del__(self) -> None:  # a forgotten lock must not outlive its object in a long-lived process
        if getattr(self, "_fd", None) is not None:
            self.release()


def folder_lock(folder: str | os.PathLike[str], purpose: str = "writing") -> FolderLock:
    """``with folder_lock(run_dir, "training"): ...`` -- see :class:`FolderLock`."""
    return FolderLock(folder, purpose)

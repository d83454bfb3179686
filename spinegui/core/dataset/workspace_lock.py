"""One writer per workspace: an OS file lock on ``<workspace>/workspace.lock``.

An OS lock (flock on POSIX, msvcrt on Windows) dies with its process, so a crashed or killed app
never leaves a stale lock behind, unlike a pid file. The holder writes who it is (pid, what, since
when) after the first byte of the file, so that whoever is refused can say who has the workspace;
byte 0 is the one locked on Windows, where locked bytes cannot be read.

    with lock_workspace(ws_path, "spinegui cache"):   # WorkspaceBusy (an InputError) when held
        ...write the workspace...
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

from spinegui.core.errors import InputError

LOCK_FILE = "workspace.lock"

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EDEADLK):
                return False
            raise
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class WorkspaceBusy(InputError):
    """Another process (or another window of this one) holds the workspace's write lock."""

    def __init__(self, path: Path, holder: str):
        self.holder = holder
        super().__init__(path, f"the workspace is in use by {holder}; close it first, or use another workspace")


class WorkspaceLock:
    """A taken lock; release() (or leaving the `with`) frees it. `held` is False where the file
    system offers no locks (nothing can be enforced there; the workspace is used as before)."""

    def __init__(self, path: Path, fd: int | None):
        self.path, self._fd = path, fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # before unlocking: never erase a later holder's note
        except OSError:
            pass
        try:
            _unlock(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def __enter__(self) -> WorkspaceLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self) -> None:  # a lock dropped without release() must not outlive its owner
        try:
            self.release()
        except Exception:
            pass


def lock_workspace(ws_path: str | Path, what: str) -> WorkspaceLock:
    """Take the write lock of an existing workspace folder, or raise WorkspaceBusy naming the holder.
    `what` says who takes it ("a spinegui app window", "spinegui cache") for those refused."""
    path = Path(ws_path) / LOCK_FILE
    fd = _open(path)
    if fd is None:
        return WorkspaceLock(path, None)
    try:
        locked = _try_lock(fd)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EBADF):
            return WorkspaceLock(path, None)  # a file system without locks: nothing can be enforced
        raise InputError(path, f"cannot lock the workspace: {exc.strerror or exc}") from None
    if not locked:
        holder = _describe(_read_note(fd))
        os.close(fd)
        raise WorkspaceBusy(Path(ws_path), holder)
    note = {"pid": os.getpid(), "what": what, "host": socket.gethostname(),
            "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, b" " + json.dumps(note).encode("utf-8") + b"\n")
    except OSError:
        pass  # a read-only file still locks; the refused only learn less about the holder
    return WorkspaceLock(path, fd)


def _open(path: Path) -> int | None:
    flags = getattr(os, "O_BINARY", 0) | getattr(os, "O_NOINHERIT", 0)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | flags, 0o666)
    except FileNotFoundError:
        raise InputError(path.parent, "no such workspace folder") from None
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise InputError(path, f"cannot lock the workspace: {exc.strerror or exc}") from None
    try:  # a read-only workspace: a lock on a file opened for reading still excludes others
        return os.open(path, os.O_RDONLY | flags)
    except OSError:
        return None  # no lock file and none can be made: nothing can be written here anyway


def _read_note(fd: int) -> dict:
    try:
        os.lseek(fd, 1, os.SEEK_SET)
        raw = os.read(fd, 4096)
        note = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return note if isinstance(note, dict) else {}


def _describe(note: dict) -> str:
    what = note.get("what") if isinstance(note.get("what"), str) else "another spinegui"
    details = []
    if isinstance(note.get("pid"), int):
        details.append(f"pid {note['pid']}")
    host = note.get("host")
    if isinstance(host, str) and host and host != socket.gethostname():
        details.append(f"on {host}")
    if isinstance(note.get("since"), str):
        details.append(f"since {note['since']}")
    text = what + (f" ({', '.join(details)})" if details else "")
    return " ".join(text.split())[:300]

"""One writer per study: the lock a search holds on its study folder while it runs.

Two searches writing one study would each propose, train and store trials under the same
numbers, and rewrite each other's rows. A search therefore holds ``<study>/search.lock`` for
as long as it runs. The lock is an ``flock`` on that file: the kernel drops it when the process
ends, however it ends (``kill -9`` included), so a lock left by a dead search is never in the
way. The file also holds the owner's pid, host and start time, which is what the second
search's one-line error names. Reading commands (``trials``, ``export``) never take it.

Where ``flock`` is not supported (some network file systems), the file is created with
``O_EXCL`` instead, and a file whose pid is no longer alive on this host is taken over as
stale.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .layout import LOCK_NAME, StudyLayout

try:
    import fcntl
except ImportError:  # Windows: only the O_EXCL file below
    fcntl = None  # type: ignore[assignment]

# Locks held by this process, by path: Study.run() and the CLI may both ask for one study.
_held: dict[str, "StudyLock"] = {}


class StudyLock:
    """``with StudyLock(folder): ...`` holds the study for writing; re-entrant in a process."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.path = StudyLayout(directory).lock
        self._fd: int | None = None
        self._exclusive_file = False
        self._depth = 0

    # ------------------------------------------------------------------ taking it
    def acquire(self) -> "StudyLock":
        key = os.path.abspath(self.path)
        held = _held.get(key)
        if held is not None:
            held._depth += 1
            return held
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            if exc.errno == errno.EROFS:
                raise UsageError(
                    f"{self.directory} is on read-only storage; nascompile trials and export "
                    "can read it, but a search cannot write to it"
                ) from None
            raise UsageError(
                f"cannot lock {self.directory} for searching: {exc.strerror} ({self.path})"
            ) from None
        try:
            if fcntl is None:
                raise OSError(errno.ENOTSUP, "no flock")
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_owner(self.path)
            os.close(fd)
            raise UsageError(_busy_message(self.directory, owner)) from None
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.ENOTSUP, errno.ENOLCK, errno.EINVAL):
                raise
            self._acquire_exclusive_file()
        else:
            self._fd = fd
            _write_owner(fd)
        self._depth = 1
        _held[key] = self
        return self

    def _acquire_exclusive_file(self) -> None:
        """Fallback without ``flock``: a lock file created with ``O_EXCL``; stale if its pid
        is dead on this host."""
        excl = self.path.with_name(LOCK_NAME + ".excl")
        for _ in range(2):
            try:
                fd = os.open(excl, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                owner = _read_owner(excl)
                if owner and _is_stale(owner):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(excl)
                    continue
                raise UsageError(_busy_message(self.directory, owner)) from None
            _write_owner(fd)
            os.close(fd)
            self._exclusive_file = True
            return
        raise UsageError(_busy_message(self.directory, _read_owner(excl)))

    def release(self) -> None:
        key = os.path.abspath(self.path)
        held = _held.get(key)
        if held is None:
            return
        held._depth -= 1
        if held._depth > 0:
            return
        del _held[key]
        if held._exclusive_file:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(held.path.with_name(LOCK_NAME + ".excl"))
        if held._fd is not None:
            # The file stays (unlinking it would let a third process lock a new inode while
            # a second still waits on the old one); closing drops the flock.
            os.close(held._fd)
            held._fd = None

    def __enter__(self) -> "StudyLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def check_not_running(directory: str | os.PathLike) -> None:
    """Raise the "being searched" error if another process holds ``directory``'s lock
    (before ``--fresh`` moves a study aside, say). Takes and drops the lock at once."""
    if not StudyLayout(directory).lock.is_file():
        return  # never searched (or not a study): nobody holds it, and we add no file
    StudyLock(directory).acquire().release()


def _write_owner(fd: int) -> None:
    owner = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    data = json.dumps(owner).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _read_owner(path: Path) -> dict[str, Any] | None:
    try:
        owner = json.loads(path.read_text(encoding="utf-8") or "null")
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def _is_stale(owner: dict[str, Any]) -> bool:
    if owner.get("host") != socket.gethostname():
        return False  # another machine's process: we cannot tell, so it is not stale
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def _busy_message(directory: Path, owner: dict[str, Any] | None) -> str:
    if owner is None:
        who = "another process"
    else:
        who = f"process {owner.get('pid')} on {owner.get('host')} (since {owner.get('started')})"
    return (
        f"{directory} is being searched by {who}; wait for it to finish or stop it "
        "(nascompile trials and export can read the study meanwhile)"
    )

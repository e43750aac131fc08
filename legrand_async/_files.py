"""Crash-safe private files (tokens, credentials): bounded reads, atomic writes, no leftovers."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
import time
from pathlib import Path

__all__ = ["read_private", "write_private"]

#: A temporary file this old is a leftover whoever wrote it (no write takes an hour).
_STALE_AFTER = 3600.0
_writing: set[str] = set()  # temporary files this process is writing now
_writing_lock = threading.Lock()


def read_private(path: Path, limit: int) -> tuple[bytes, int]:
    """``(content, st_mode)`` of the regular file ``path``, reading at most ``limit`` bytes.

    FileNotFoundError when it is missing; another OSError when it cannot be read; ValueError
    (naming the path, never the content) when it is a directory, a device or a FIFO, or larger
    than ``limit``: such a file is refused without being read.
    """
    # O_NONBLOCK: a FIFO in place of the file must not hang the open.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        info = os.fstat(fd)  # before fdopen, which refuses a directory without naming it
        if stat.S_ISDIR(info.st_mode):
            raise ValueError(f"{path} is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path} is not a regular file")
        if info.st_size > limit:
            raise ValueError(f"{path} is larger than {limit} bytes")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as file:
        content = file.read(limit + 1)
    if len(content) > limit:  # it grew meanwhile
        raise ValueError(f"{path} is larger than {limit} bytes")
    return content, info.st_mode


def write_private(path: Path, data: bytes, *, clean: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically, readable by its owner only (mode 0600).

    A temporary file in the same directory is written, flushed and fsynced, then renamed over
    ``path`` and the directory fsynced: a crash at any instant leaves the old or the new file.
    With ``clean``, temporary files an interrupted write left behind (its process is gone, or
    it is an hour old) are removed first, which also gives their space back on a full disk: a
    store asks for it on its first write only (a write of this process leaves none behind).
    """
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}."
    if clean:
        _remove_leftovers(directory, prefix)
    # mkstemp creates the file with mode 0600 whatever the umask; the pid tells its writer.
    with _writing_lock:  # created and registered at once: no other save removes it
        fd, temp = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}.", suffix=".tmp", dir=directory)
        temp = os.path.abspath(temp)
        _writing.add(temp)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    finally:
        with _writing_lock:
            _writing.discard(temp)
    _fsync_directory(directory)


def _remove_leftovers(directory: Path, prefix: str) -> None:
    """Remove ``<prefix><pid>.<random>.tmp`` files no live write owns."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    now = time.time()
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        pid_text, _, rest = name[len(prefix) : -len(".tmp")].partition(".")
        with contextlib.suppress(OSError):
            if pid_text.isdigit() and rest and now - entry.stat().st_mtime < _STALE_AFTER:
                pid = int(pid_text)
                with _writing_lock:
                    ours = os.path.abspath(entry.path) in _writing
                if ours or (pid != os.getpid() and _alive(pid)):
                    continue  # a write in progress, here or in another process
            os.unlink(entry.path)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (assumed so where that cannot be asked)."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, owned by someone else
    return True


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (not possible on every platform)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

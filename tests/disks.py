"""Real full and read-only disks for the store tests: a small tmpfs, a read-only bind mount.

Mounting needs root (CAP_SYS_ADMIN) and the mount command: where the machine does not allow
it, the test is skipped, never failed.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import pytest

__all__ = ["fill", "mount", "read_only_view", "tmpfs"]


def mount(*args: str) -> bool:
    """``mount *args``; whether it worked (False where it cannot be run)."""
    command = shutil.which("mount")
    if os.name != "posix" or os.geteuid() != 0 or command is None:
        return False
    return subprocess.run([command, *args], capture_output=True, check=False).returncode == 0


def _umount(target: Path) -> None:
    command = shutil.which("umount")
    if command is not None:
        subprocess.run([command, "-l", str(target)], capture_output=True, check=False)


@contextmanager
def tmpfs(point: Path, options: str = "size=256k,mode=0700") -> Iterator[Path]:
    """A tmpfs mounted on ``point`` (created) while inside; the test is skipped if it cannot."""
    point.mkdir()
    if not mount("-t", "tmpfs", "-o", options, "tmpfs", str(point)):
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        yield point
    finally:
        _umount(point)


@contextmanager
def read_only_view(source: Path, view: Path) -> Iterator[Path]:
    """``view`` (created): a read-only bind mount of the directory ``source`` while inside
    (``mount("-o", "remount,bind,rw", str(view))`` makes it writable again)."""
    view.mkdir()
    if not mount("--bind", str(source), str(view)):
        pytest.skip("cannot bind-mount here (needs root and CAP_SYS_ADMIN)")
    try:
        if not mount("-o", "remount,bind,ro", str(view)):
            pytest.skip("cannot remount read-only here")
        yield view
    finally:
        _umount(view)


def _write_until_full(file: BinaryIO, size: int) -> None:
    while True:
        file.write(b"\0" * size)


def fill(directory: Path) -> Path:
    """Fill the file system of ``directory`` to the last byte; the filler file."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as file:
        for size in (4096, 1):
            with pytest.raises(OSError, match="No space left") as info:
                _write_until_full(file, size)
            assert info.value.errno == errno.ENOSPC
    return filler

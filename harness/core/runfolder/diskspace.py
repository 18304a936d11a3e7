"""Disk space of a run folder: how a full disk is recognised, what is free, and the reserve file.

A run that fills its disk must still end with a manifest that says so, the emulator's ledger and a
report (docs/run-folder.md "A full disk"). The reserve is a file of real blocks held while the run plays;
deleting it once the disk is full gives the closing writes room, whoever filled the disk.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

MB = 1 << 20
RESERVE_NAME = ".disk-reserve"


def is_disk_full(exc: BaseException) -> bool:
    """An error from a write that found no space (or no quota) left."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on the filesystem of `path` (of its nearest existing
    parent when it does not exist yet)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def start_problem(path: Path, min_free_mb: float) -> str | None:
    """Why a run must not start writing under `path` (too little free space), or None."""
    free = free_bytes(path)
    if free >= min_free_mb * MB:
        return None
    return (
        f"not enough free disk space for the run folder: {free / MB:.1f} MB free on the filesystem of "
        f"{path}, at least {min_free_mb:g} MB needed (--min-free-mb; 0 turns the check off)"
    )


class DiskReserve:
    """`size` bytes held in RESERVE_NAME inside `folder` until release()."""

    def __init__(self, folder: Path, size: int) -> None:
        self.path = Path(folder) / RESERVE_NAME
        self.size = size

    def hold(self) -> None:
        """Allocate the reserve (real blocks, not a sparse file). Raises OSError, e.g. on a full disk."""
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fd, 0, self.size)
            else:  # pragma: no cover - macOS: written zeros are real blocks too
                for offset in range(0, self.size, MB):
                    os.write(fd, bytes(min(MB, self.size - offset)))
        except OSError:
            self.path.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)

    def release(self) -> bool:
        """Delete the reserve; True if it was held."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True

"""A real full disk for tests: a small tmpfs mounted for the test (root only, else the test is skipped)."""

from __future__ import annotations

import contextlib
import errno
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

CHUNK = 64 * 1024


@contextlib.contextmanager
def small_disk(size_mb: float) -> Iterator[Path]:
    """A fresh directory with a tmpfs of `size_mb` mounted on it; unmounted and removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="harness-small-disk-"))
    size = f"size={int(size_mb * 1024)}k"
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", size, "tmpfs", str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a small tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "--lazy", str(folder)], check=True)  # a file still open somewhere
        folder.rmdir()


def fill(folder: Path, name: str = "filler") -> Path:
    """Write `folder/name` until its filesystem has no byte left; returns the file."""
    filler = folder / name
    with filler.open("ab", buffering=0) as out:
        for _ in range(1 << 20):  # bounded: 64 GB
            try:
                out.write(bytes(CHUNK))
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                return filler
    raise AssertionError(f"{folder} did not fill up")

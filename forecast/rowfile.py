"""Files of float32 rows, written and read around the page cache where possible.

A large run writes every path's metrics once and reads them back once for the
summaries: gigabytes that no later step rereads. On the 2-core machines this
project is measured on, the kernel spends about 3.1 s of CPU per GB written
through the page cache and 2.4 s per GB read back. With ``O_DIRECT`` it spends
0.35 s and 0.08 s (``dd`` with 5.5 GB, see ``benchmarks/README.md``), so the
cores stay free for sampling and sorting.

``O_DIRECT`` needs buffers, file offsets and lengths aligned to the device's
block size, so each row is padded to a multiple of :data:`ALIGN` bytes (see
:func:`row_stride`) and buffers come from :func:`aligned_empty`. Where the
system lacks or refuses ``O_DIRECT`` (macOS has no such flag, and some file
systems reject it), the same layout is written and read through the page cache.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np

ALIGN = 4096
"""Alignment of buffers, offsets and lengths in bytes: a multiple of common device blocks."""

DTYPE = np.dtype(np.float32)


def row_stride(paths: int) -> int:
    """Float32 values per stored row of ``paths`` paths, padded to :data:`ALIGN` bytes."""
    per_align = ALIGN // DTYPE.itemsize
    return -(-paths // per_align) * per_align


def aligned_empty(rows: int, stride: int) -> np.ndarray:
    """Return an uninitialised float32 ``(rows, stride)`` array starting on :data:`ALIGN` bytes."""
    raw = np.empty(rows * stride * DTYPE.itemsize + ALIGN, dtype=np.uint8)
    start = -raw.ctypes.data % ALIGN
    return raw[start : start + rows * stride * DTYPE.itemsize].view(DTYPE).reshape(rows, stride)


def _open(path: Path, flags: int, direct: bool) -> int:
    if direct and hasattr(os, "O_DIRECT"):
        try:
            return os.open(path, flags | os.O_DIRECT, 0o644)
        except OSError as error:
            if error.errno != errno.EINVAL:
                raise
    return os.open(path, flags, 0o644)


class RowWriter:
    """Append aligned float32 blocks to one file, directly to the device when allowed."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.direct = True
        self.size = self.path.stat().st_size if self.path.exists() else 0
        self._fd: int | None = None

    def write(self, block: np.ndarray) -> None:
        """Append ``block``, an array from :func:`aligned_empty`."""
        if self._fd is None:
            self._fd = _open(self.path, os.O_WRONLY | os.O_CREAT, self.direct)
        view = memoryview(block).cast("B")
        written = 0
        while written < len(view):
            try:
                count = os.pwrite(self._fd, view[written:], self.size + written)
            except OSError as error:
                # Some file systems accept O_DIRECT when opening but not when writing.
                if error.errno != errno.EINVAL or not self.direct:
                    raise
                self.close()
                self.direct = False
                self._fd = _open(self.path, os.O_WRONLY | os.O_CREAT, False)
                continue
            written += count
        self.size += written

    def close(self) -> None:
        """Close the file (written data stays)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class RowReader:
    """Read aligned ranges of a row file, directly from the device when allowed."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd = _open(self.path, os.O_RDONLY, True)
        self._direct = True

    def read_into(self, buffer: np.ndarray, offset: int) -> None:
        """Fill ``buffer`` (from :func:`aligned_empty`, possibly fewer rows) from ``offset``."""
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view):
            try:
                count = os.preadv(self._fd, [view[done:]], offset + done)
            except OSError as error:
                if error.errno != errno.EINVAL or not self._direct:
                    raise
                os.close(self._fd)
                self._fd = _open(self.path, os.O_RDONLY, False)
                self._direct = False
                continue
            if count == 0:
                raise OSError(f"{self.path} ends before byte {offset + len(view)}")
            done += count

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> RowReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

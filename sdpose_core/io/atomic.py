"""Atomic file writes: readers (and a run killed mid-write) see the old file or the new one, never half."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Iterator

import torch


@contextmanager
def _replaced_on_success(path: Path) -> Iterator[Path]:
    """A temp file beside ``path`` to write; fsynced and moved onto ``path`` if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a temp file in the same folder, fsync it, then ``os.replace`` it into place."""
    path = Path(path)
    with _replaced_on_success(path) as tmp:
        tmp.write_bytes(data)
    return path


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` into a temp file beside ``path``, then moved into place (large objects are
    streamed to disk, not serialised in memory first)."""
    path = Path(path)
    with _replaced_on_success(path) as tmp:
        torch.save(obj, tmp)
    return path

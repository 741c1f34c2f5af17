"""Secrets the platform generates once and keeps in private (0600) files in the data directory:
the shared login password, the admins' password, cookie and encryption keys."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def write_private_file(path: Path, data: bytes) -> None:
    """Atomically write `data` to `path` with mode 0600 (never through a symlink)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def kept_secret(path: Path, generate: Callable[[], str], min_length: int = 1) -> str:
    """The secret stored at `path`; generated and stored on first use, or when the stored one
    is shorter than `min_length`."""
    if path.exists() and len(value := path.read_text().strip()) >= min_length:
        return value
    path.parent.mkdir(parents=True, exist_ok=True)
    value = generate()
    write_private_file(path, (value + "\n").encode())
    return value

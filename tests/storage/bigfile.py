"""A large test file made quickly: sparse, with random blocks spread through it (so its MD5
depends on every part), and the peak memory of a process while something runs."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

BLOCK = 1 << 20


def make_big_file(path: Path, size: int, every: int = 64 * BLOCK) -> str:
    """A file of `size` bytes, a random MiB every `every` bytes; its MD5."""
    with open(path, "wb") as f:
        f.truncate(size)
        for offset in range(0, size - BLOCK, every):
            f.seek(offset)
            f.write(os.urandom(BLOCK))
    return md5_of(path)


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(8 * BLOCK):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def peak_rss(proc: psutil.Process, every: float = 0.05) -> Iterator[dict[str, int]]:
    """{"before", "peak"}: resident memory of `proc` before and at most while the block runs."""
    found = {"before": proc.memory_info().rss, "peak": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                found["peak"] = max(found["peak"], proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(every)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield found
    finally:
        stop.set()
        sampler.join()

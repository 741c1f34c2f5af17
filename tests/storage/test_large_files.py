"""A file over 1 GB up and down with `vcp`, checked by MD5, while the storage service's memory
stays flat (it streams: one chunk at a time, whatever the size)."""

from __future__ import annotations

import pytest

from tests.storage.bigfile import make_big_file, md5_of, peak_rss
from tests.storage.conftest import VosPlatform

pytestmark = pytest.mark.integration
SIZE = 1100 * 1024 * 1024
FLAT = 64 * 1024 * 1024
"""How much the service's resident memory may grow during a transfer of SIZE bytes."""


def test_a_gigabyte_round_trip_with_flat_memory(vos_platform: VosPlatform) -> None:
    p = vos_platform
    source, back = p.work / "big.bin", p.work / "big-back.bin"
    digest = make_big_file(source, SIZE)
    service = p.service()
    try:
        with peak_rss(service) as up:
            sent = p.vos("alice", "vcp", "big.bin", "arcade:home/alice/big.bin", timeout=600)
        assert sent.returncode == 0, sent.stderr
        stored = p.home("alice") / "big.bin"
        assert stored.stat().st_size == SIZE and md5_of(stored) == digest
        assert stored.stat().st_uid == p.home("alice").stat().st_uid != 0
        with peak_rss(service) as down:
            got = p.vos("alice", "vcp", "arcade:home/alice/big.bin", "big-back.bin", timeout=600)
        assert got.returncode == 0, got.stderr
        assert md5_of(back) == digest
    finally:
        source.unlink(missing_ok=True)
        back.unlink(missing_ok=True)
        (p.home("alice") / "big.bin").unlink(missing_ok=True)
    for what, rss in (("upload", up), ("download", down)):
        grew = rss["peak"] - rss["before"]
        assert grew < FLAT, f"the service grew by {grew / 2**20:.0f} MiB during the {what}"

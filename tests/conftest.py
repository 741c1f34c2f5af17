from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hub import RunningHub, running_hub


def shared_tmp() -> Path:
    """A temporary directory that unprivileged session uids can enter (pytest's is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="arcade-test-", dir="/tmp"))
    path.chmod(0o711)
    return path


@pytest.fixture(scope="module")
def hub() -> Iterator[RunningHub]:
    tmp = shared_tmp()
    datasets = tmp / "data" / "datasets"
    for d in ("alma-2019", "public-sky", "secret"):
        (datasets / d).mkdir(parents=True)
    (datasets / "public-sky" / "catalog.csv").write_text("ra,dec\n1,2\n")
    for p in [tmp / "data", datasets, *datasets.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    try:
        with running_hub(tmp) as h:
            yield h
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

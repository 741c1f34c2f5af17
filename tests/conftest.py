from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.hub import RunningHub, running_hub, shared_tmp


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

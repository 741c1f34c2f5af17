"""The Batch page's limits as a browser meets them, in Debian Chromium: a parameter file too
large for a request is answered with a page saying the limit, not a broken connection."""

from __future__ import annotations

from pathlib import Path

import pytest

from arcade_hub.service.limits import BODY_LIMIT, PARAM_FILE_LIMIT
from tests.e2e.browser import logged_in_page
from tests.hub import RunningHub
from tests.service.conftest import Api

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("megabytes", [2, 30])
async def test_a_too_large_parameter_file_gets_a_page_saying_the_limit(
    hub: RunningHub, tmp_path: Path, megabytes: int
) -> None:
    api = Api(hub, "alice")
    before = api.request("GET", "session").json()
    big = tmp_path / "targets.txt"
    big.write_bytes(b"m31 1.5\n" * (megabytes * 2**20 // 8))
    async with logged_in_page(hub, "alice") as page:
        await page.goto(f"{hub.url}/services/arcade/jobs/new")
        await page.fill("#name", "too-big")
        await page.fill("#cmd", "echo")
        await page.set_input_files("input[name=params_file]", str(big))
        async with page.expect_navigation() as navigation:
            await page.click("#submit")
        response = await navigation.value
        assert response is not None and response.status == 413
        message = await page.inner_text("#message")
    assert f"the limit is {BODY_LIMIT:,} bytes" in message, message
    assert f"a parameter file may have up to {PARAM_FILE_LIMIT:,} bytes" in message
    assert api.request("GET", "session").json() == before

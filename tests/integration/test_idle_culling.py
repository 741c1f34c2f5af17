"""Idle sessions are culled by jupyterhub-idle-culler, configured from the platform document."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hub import (
    RunningHub,
    hub_with_document,
    processes_mentioning,
    wait_for,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def culling_hub() -> Iterator[RunningHub]:
    sessions = {"idle_timeout_minutes": 0.1, "idle_check_seconds": 2}
    with hub_with_document({"sessions": sessions}) as hub:
        yield hub


def test_an_idle_session_is_stopped_and_removed(culling_hub: RunningHub) -> None:
    hub = culling_hub
    hub.api("POST", "/users/idler")
    r = hub.api("POST", "/users/idler/servers/nap", json={"cores": 0.5, "ram": 1})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready("idler", "nap")
    home = str(hub.data_dir / "home" / "idler")
    assert processes_mentioning(home)
    # 6 s of idleness, checked every 2 s: the session goes, and with it its slot.
    wait_for(lambda: hub.server("idler", "nap") is None, 60, "the idle session to be culled")
    wait_for(lambda: not processes_mentioning(home), 15, "the culled session's processes to stop")

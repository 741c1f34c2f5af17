"""Group policy through the real hub: REST spawns beyond a group's limits are refused with the
rule named; within them they start. The sessions API's statistics report each caller's limits."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import shared_tmp
from tests.hub import PLATFORM, RunningHub, running_hub

pytestmark = pytest.mark.integration

GROUPS = {
    "default": {
        "kinds": ["notebook"],
        "max_cores": 1,
        "max_ram": 2,
        "max_total_cores": 2,
        "max_total_ram": 4,
        "max_sessions": 1,
        "max_jobs": 1,
    },
    "survey-team": {
        "kinds": ["notebook", "desktop"],
        "max_cores": 2,
        "max_ram": "8G",  # above the platform's 4 GiB: the platform's limit counts
        "max_total_cores": 3,
        "max_total_ram": 6,
        "max_sessions": 2,
        "max_jobs": 5,
    },
}


@pytest.fixture(scope="module")
def group_hub() -> Iterator[RunningHub]:
    tmp = shared_tmp()
    doc = yaml.safe_load(PLATFORM.read_text())
    doc["groups"] = GROUPS
    config = tmp / "platform.yaml"
    config.write_text(yaml.safe_dump(doc))
    (tmp / "data").mkdir()
    (tmp / "data").chmod(0o755)
    try:
        with running_hub(tmp, config=config) as h:
            yield h
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_server(hub: RunningHub, user: str, name: str) -> None:
    """Refused spawns leave a stopped named server, which counts toward the hub's own limit."""
    r = hub.api("DELETE", f"/users/{user}/servers/{name}", json={"remove": True})
    assert r.status_code in (202, 204, 404), r.text


def test_rest_spawn_follows_the_group_policy(group_hub: RunningHub) -> None:
    hub = group_hub
    hub.api("POST", "/users/bob")
    r = hub.api("POST", "/users/bob/servers/big", json={"cores": 2})
    assert r.status_code == 400, r.text
    assert (
        "cores: 2 is above the maximum of 1 core per session for your groups "
        "(group policy: default)" in r.json()["message"]
    )
    r = hub.api("POST", "/users/bob/servers/desk", json={"image": "desktop"})
    assert r.status_code == 403, r.text
    assert "Linux desktop is for members of survey-team" in r.json()["message"]
    remove_server(hub, "bob", "big")
    remove_server(hub, "bob", "desk")

    r = hub.api("POST", "/users/bob/servers/ok", json={"image": "notebook", "cores": 1})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready("bob", "ok")
    try:
        r = hub.api("POST", "/users/bob/servers/two", json={"cores": 1})
        assert r.status_code == 400, r.text
        assert (
            "you already have 1 session running and your groups allow 1 at once "
            "(group policy: default)" in r.json()["message"]
        )
    finally:
        hub.stop_server("bob", "ok")

    # carol is in survey-team (auth.groups in the document): two cores are within her limit
    hub.api("POST", "/users/carol")
    r = hub.api("POST", "/users/carol/servers/wide", json={"cores": 2})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready("carol", "wide")
    hub.stop_server("carol", "wide")


def stats(hub: RunningHub, token: str) -> dict[str, Any]:
    r = httpx.get(
        f"{hub.url}/services/arcade/skaha/v1/session",
        params={"view": "stats"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_stats_report_the_callers_limits(
    group_hub: RunningHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hub = group_hub
    bob, carol = hub.user_token("bob"), hub.user_token("carol")

    mine = stats(hub, bob)
    # the released `canfar` client passes it on unchanged
    if importlib.util.find_spec("canfar") is not None:
        from canfar.sessions import Session

        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.setenv("CANFAR_URL", f"{hub.url}/services/arcade/skaha/v1")
        monkeypatch.setenv("CANFAR_TOKEN", bob)
        with Session(errors="raise") as session:
            assert session.stats()["limits"] == mine["limits"]
    # skaha's fields: the largest session this caller may start
    assert mine["cores"]["maxCores"] == {"cores": 1, "withRam": "2G"}
    assert mine["ram"]["maxRAM"] == {"ram": "2G", "withCores": 1}
    limits = mine["limits"]
    assert limits["user"] == "bob" and limits["groups"] == []
    assert limits["perSession"] == {"cores": 1, "ram": "2G", "gpus": 0}
    assert limits["total"] == {"cores": 2, "ram": "4G", "sessions": 1, "jobs": 1}
    assert limits["source"]["perSession.cores"] == "group policy: default"
    assert limits["source"]["perSession.gpus"] == "platform limit"
    assert limits["inUse"] == {"cores": 0, "ram": "0G", "sessions": 0, "jobs": 0}

    r = hub.api("POST", "/users/carol/servers/stats", json={"cores": 2, "ram": 1})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready("carol", "stats")
    try:
        theirs = stats(hub, carol)
        assert theirs["cores"]["maxCores"] == {"cores": 2, "withRam": "4G"}
        assert theirs["ram"]["maxRAM"] == {"ram": "4G", "withCores": 2}
        limits = theirs["limits"]
        assert limits["groups"] == ["survey-team"]
        assert limits["perSession"] == {"cores": 2, "ram": "4G", "gpus": 0}
        assert limits["total"] == {"cores": 3, "ram": "6G", "sessions": 2, "jobs": 5}
        assert limits["source"]["perSession.cores"] == "group policy: survey-team"
        assert limits["source"]["perSession.ram"] == "platform limit"
        assert limits["inUse"] == {"cores": 2, "ram": "1G", "sessions": 1, "jobs": 0}
        # the platform's load is everyone's: carol's session counts for bob too
        assert (
            stats(hub, bob)["cores"]["requestedCPUCores"]
            == theirs["cores"]["requestedCPUCores"]
            >= 2
        )
        assert stats(hub, bob)["limits"]["inUse"]["cores"] == 0
    finally:
        hub.stop_server("carol", "stats")

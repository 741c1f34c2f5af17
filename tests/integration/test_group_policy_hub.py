"""Group policy through the real hub: REST spawns beyond a group's limits are refused with the
rule named; within them they start."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
import yaml

from tests.conftest import shared_tmp
from tests.hub import PLATFORM, RunningHub, running_hub

pytestmark = pytest.mark.integration

GROUPS = {
    "default": {"kinds": ["notebook"], "max_cores": 1, "max_sessions": 1},
    "survey-team": {"kinds": ["notebook", "desktop"], "max_cores": 2, "max_sessions": 2},
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
        "cores: 2 is above the maximum of 1 cores per session for your groups "
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

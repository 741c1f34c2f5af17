"""Desktop apps launched through the arcade service on Kubernetes: `POST
{prefix}api/v1/users/{user}/sessions/{server}/apps` (what `arcade-launch` in a desktop calls)
makes an app pod with the service's one Kubernetes client, next to the desktop's X cookie
Secret and NetworkPolicy; everything goes with the desktop.

The desktop pod is started by the real ArcadeKubeSpawner against the fake API (the fake plays
the kubelet), so this stays on the fake: a real cluster would need real desktop images."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arcade_hub.kube.restricted import violations
from arcade_hub.spawners.kube import ArcadeKubeSpawner

from .conftest import NAMESPACE, Cluster, build_spawner, launch_spec, platform
from .fake_api import FakeKubeAPI
from .service import (
    FakeHub,
    Running,
    blocking_owner_deletion,
    kubeconfig_for,
    not_allowed,
    running_service,
    service_document,
)

APPS = "api/v1/users/{user}/sessions/{server}/apps"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    monkeypatch.setenv("JUPYTERHUB_SERVICE_NAME", "arcade")
    hub = FakeHub().start()
    yield hub
    hub.stop()


async def start_desktop(api: FakeKubeAPI, hub: FakeHub, server: str = "desk",
                        entry: str = "desktop") -> ArcadeKubeSpawner:
    """A desktop session of alice, as the hub has it: the spawner's pod Running, and the
    hub's server model carrying the spawner state (pod name, namespace, launch spec)."""
    config = platform()
    spec = launch_spec(config, entry, server_name=server, session_id=f"s-{server}",
                       dataset="alma-2019")
    spawner = build_spawner(Cluster(api.url, NAMESPACE, api), config, spec)
    start = asyncio.ensure_future(spawner.start())
    await api.wait_for(lambda: api.get("pods", NAMESPACE, spawner.pod_name) is not None)
    await api.mark_running(NAMESPACE, spawner.pod_name)
    await start
    hub.set_server("alice", server, {"ready": True, "url": f"/user/alice/{server}/",
                                     "state": spawner.get_state()})
    return spawner


def owners(obj: dict[str, Any]) -> list[str]:
    return [ref["uid"] for ref in obj["metadata"].get("ownerReferences", [])]


async def launch(svc: Running, token: str, app: str, user: str = "alice",
                 server: str = "desk") -> Any:
    async with svc.client(token) as api:
        return await api.post(APPS.format(user=user, server=server), json={"app": app})


async def test_app_pod_secret_and_policy_through_the_service(
    fake_api: FakeKubeAPI, hub: FakeHub, tmp_path: Path
) -> None:
    alice = hub.add_user("alice", groups=("astro",))
    cluster = Cluster(fake_api.url, NAMESPACE, fake_api)
    desktop = await start_desktop(fake_api, hub)
    async with running_service(tmp_path, hub, service_document(cluster),
                               kubeconfig_for(cluster, tmp_path)) as svc:
        async with svc.client(alice) as api:
            listed = await api.get(APPS.format(user="alice", server="desk"))
        assert listed.status_code == 200
        assert [a["name"] for a in listed.json()["apps"]] == ["casa-6-7"]  # images, all

        r = await launch(svc, alice, "casa-6-7")
        assert r.status_code == 201, r.text
        launched = r.json()
        assert launched["app"] == "casa-6-7" and launched["display"] == "10.0.0.7:0"
        desk = fake_api.get("pods", NAMESPACE, desktop.pod_name)
        app = fake_api.get("pods", NAMESPACE, launched["pod"])
        assert desk is not None and app is not None
        assert fake_api.rejected == []  # created objects validated strictly
        assert violations(app, "restricted") == []
        (secret,) = fake_api.list("secrets", NAMESPACE)
        (policy,) = fake_api.list("networkpolicies", NAMESPACE)
        uid = desk["metadata"]["uid"]
        assert owners(app) == owners(secret) == owners(policy) == [uid]
        # blocking the owner's deletion needs `update` on pods/finalizers, which the hub's
        # RBAC lacks (clusters that enforce owner-reference permissions would refuse these)
        assert blocking_owner_deletion([app, secret, policy]) == []
        volume = next(v for v in app["spec"]["volumes"] if "secret" in v)
        assert volume["secret"]["secretName"] == secret["metadata"]["name"]
        allowed = policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
        assert allowed.items() <= app["metadata"]["labels"].items()
        env = {e["name"]: e["value"] for e in app["spec"]["containers"][0]["env"]}
        assert env["DISPLAY"] == "10.0.0.7:0" and env["ARCADE_SESSION_ID"] == "s-desk"

        # what the desktop's menu runs: `arcade-launch` with the session's environment
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "arcade_hub.launch_cli", "casa-6-7",
            env={**os.environ, "ARCADE_API_URL": f"{svc.url}api/v1", "JUPYTERHUB_USER": "alice",
                 "JUPYTERHUB_SERVER_NAME": "desk", "JUPYTERHUB_API_TOKEN": alice},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        said = (await cli.communicate())[0].decode()
        assert cli.returncode == 0, said
        assert said.startswith("Launched CASA 6.7 on display 10.0.0.7:0 (pod arcade-app-"), said
        await fake_api.remove("pods", NAMESPACE, said.rsplit("pod ", 1)[1].rstrip(")\n"))

        # the NetworkPolicy removed behind the service's back is made again
        await fake_api.remove("networkpolicies", NAMESPACE, policy["metadata"]["name"])
        r = await launch(svc, alice, "casa-6-7")
        assert r.status_code == 201, r.text
        (again,) = fake_api.list("networkpolicies", NAMESPACE)
        assert owners(again) == [uid] and again["spec"] == policy["spec"]
        assert len(fake_api.list("pods", NAMESPACE)) == 3

        # one client for the service's life, shared with the job runner
        kube = svc.service.backend.kube  # type: ignore[attr-defined]
        assert kube is not None and svc.service.sessions.runner.kube is kube  # type: ignore[attr-defined]

    await desktop.stop()  # the desktop goes: its apps, Secret and policy with it
    assert fake_api.list("pods") == []
    assert fake_api.list("secrets") == fake_api.list("networkpolicies") == []
    # the hub and its service only made calls the hub's RBAC allows
    assert not_allowed(fake_api) == []


async def test_app_launch_errors_are_clear_and_leak_nothing(
    fake_api: FakeKubeAPI, hub: FakeHub, tmp_path: Path
) -> None:
    alice = hub.add_user("alice", groups=("astro",))
    bob = hub.add_user("bob")
    cluster = Cluster(fake_api.url, NAMESPACE, fake_api)
    desktop = await start_desktop(fake_api, hub)
    notebook = await start_desktop(fake_api, hub, "lab", "notebook")
    async with running_service(tmp_path, hub, service_document(cluster),
                               kubeconfig_for(cluster, tmp_path)) as svc:
        pods = {p["metadata"]["name"] for p in fake_api.list("pods")}

        r = await launch(svc, bob, "casa-6-7")
        assert r.status_code == 403 and "alice" in r.json()["message"]
        r = await launch(svc, alice, "nothing")
        assert r.status_code == 404 and "casa-6-7" in r.json()["message"]
        r = await launch(svc, alice, "notebook")
        assert r.status_code == 400 and "not a desktop app" in r.json()["message"]
        r = await launch(svc, alice, "casa-6-7", server="lab")
        assert r.status_code == 409 and "not a desktop session" in r.json()["message"]
        r = await launch(svc, alice, "casa-6-7", server="gone")
        assert r.status_code == 404

        fake_api.fail("create", "pods", 500)
        r = await launch(svc, alice, "casa-6-7")
        assert r.status_code == 502
        assert "Kubernetes answered 500: injected failure" in r.json()["message"]

        fake_api.fail("create", "pods", 403)
        r = await launch(svc, alice, "casa-6-7")
        assert r.status_code == 502 and "hub-rbac.yaml" in r.json()["message"]

        (secret,) = fake_api.list("secrets", NAMESPACE)
        await fake_api.remove("secrets", NAMESPACE, secret["metadata"]["name"])
        r = await launch(svc, alice, "casa-6-7")
        assert r.status_code == 409 and "stop the session and start it again" in \
            r.json()["message"]

        # the desktop pod is gone while the hub still lists the session
        await fake_api.remove("pods", NAMESPACE, desktop.pod_name)
        r = await launch(svc, alice, "casa-6-7")
        assert r.status_code == 409 and "not running" in r.json()["message"]

        assert {p["metadata"]["name"] for p in fake_api.list("pods")} == \
            pods - {desktop.pod_name}  # no app pod was left anywhere
    await desktop.stop()
    await notebook.stop()
    assert fake_api.list("pods") == []

"""Desktop-app pods against the fake API: a desktop spawn makes the X Secret and NetworkPolicy,
`launch_app` makes app pods owned by the desktop pod, and they all go with the desktop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from arcade_hub.backend import AppNotRunnable
from arcade_hub.config import PlatformConfig
from arcade_hub.kube.apps import KubeDesktopSession, app_pods_selector, launch_app
from arcade_hub.kube.restricted import violations
from arcade_hub.spawners.kube import ArcadeKubeSpawner

from .conftest import NAMESPACE, PLATFORM, Cluster, build_spawner, launch_spec, platform
from .fake_api import FakeKubeAPI


async def running_desktop(
    api: FakeKubeAPI, config: PlatformConfig, **traits: Any
) -> ArcadeKubeSpawner:
    spawner = build_spawner(Cluster(api.url, NAMESPACE, api), config,
                            launch_spec(config, "desktop", dataset="alma-2019"), **traits)
    start = asyncio.ensure_future(spawner.start())
    await api.wait_for(lambda: api.get("pods", NAMESPACE, spawner.pod_name) is not None)
    await api.mark_running(NAMESPACE, spawner.pod_name)
    await start
    return spawner


def session_of(spawner: ArcadeKubeSpawner, config: PlatformConfig) -> KubeDesktopSession:
    assert spawner.launch_spec is not None
    return KubeDesktopSession.from_state(spawner.launch_spec, config, spawner.get_state())


def owner_uids(obj: dict[str, Any]) -> list[str]:
    return [ref["uid"] for ref in obj["metadata"].get("ownerReferences", [])]


async def test_desktop_spawn_creates_cookie_secret_and_policy(fake_api: FakeKubeAPI) -> None:
    config = platform()
    spawner = await running_desktop(fake_api, config)
    pod = fake_api.get("pods", NAMESPACE, spawner.pod_name)
    assert pod is not None
    uid = pod["metadata"]["uid"]
    (secret,) = fake_api.list("secrets", NAMESPACE)
    (policy,) = fake_api.list("networkpolicies", NAMESPACE)
    assert owner_uids(secret) == owner_uids(policy) == [uid]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["x11-cookie"]["secret"]["secretName"] == secret["metadata"]["name"]
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    assert fake_api.rejected == []
    await spawner.stop()
    assert fake_api.list("secrets") == fake_api.list("networkpolicies") == []


async def test_notebook_spawn_makes_no_extra_objects(fake_api: FakeKubeAPI) -> None:
    config = platform()
    spawner = build_spawner(Cluster(fake_api.url, NAMESPACE, fake_api), config,
                            launch_spec(config))
    start = asyncio.ensure_future(spawner.start())
    await fake_api.wait_for(lambda: fake_api.get("pods", NAMESPACE, spawner.pod_name)
                            is not None)
    await fake_api.mark_running(NAMESPACE, spawner.pod_name)
    await start
    assert fake_api.list("secrets") == fake_api.list("networkpolicies") == []
    await spawner.stop()


async def test_operator_hook_still_runs(fake_api: FakeKubeAPI) -> None:
    seen: list[str] = []

    async def hook(spawner: Any, pod: dict[str, Any]) -> None:
        seen.append(pod["metadata"]["name"])

    spawner = await running_desktop(fake_api, platform(), after_pod_created_hook=hook)
    assert seen == [spawner.pod_name]
    assert len(fake_api.list("secrets")) == 1
    await spawner.stop()


async def test_stale_secret_of_the_session_is_replaced(fake_api: FakeKubeAPI) -> None:
    config = platform()
    spec = launch_spec(config, "desktop")
    await fake_api.put("secrets", NAMESPACE, {
        "metadata": {"name": "arcade-x11-s-7f3a9c"}, "data": {"cookie": "c3RhbGU="}})
    spawner = build_spawner(Cluster(fake_api.url, NAMESPACE, fake_api), config, spec)
    start = asyncio.ensure_future(spawner.start())
    await fake_api.wait_for(lambda: fake_api.get("pods", NAMESPACE, spawner.pod_name)
                            is not None)
    await fake_api.mark_running(NAMESPACE, spawner.pod_name)
    await start
    (secret,) = fake_api.list("secrets")
    assert secret["data"]["cookie"] != "c3RhbGU=" and owner_uids(secret)
    await spawner.stop()


async def test_launch_app_creates_owned_restricted_pod(fake_api: FakeKubeAPI) -> None:
    config = platform()
    spawner = await running_desktop(fake_api, config)
    session = session_of(spawner, config)
    result = await launch_app(session, config.entry("casa-6-7"), spawner.api)
    assert result["display"] == "10.0.0.7:0" and result["app"] == "casa-6-7"
    app = fake_api.get("pods", NAMESPACE, result["pod"])
    assert app is not None
    desktop = fake_api.get("pods", NAMESPACE, spawner.pod_name)
    assert desktop is not None
    assert app["metadata"]["ownerReferences"][0] | {"uid": "x"} == {
        "apiVersion": "v1", "kind": "Pod", "name": spawner.pod_name, "uid": "x",
        "controller": False}  # no blockOwnerDeletion: the hub may not update pods/finalizers
    assert owner_uids(app) == [desktop["metadata"]["uid"]]
    assert violations(app) == []
    assert fake_api.rejected == []  # the fake validates every create strictly
    # same home and dataset as the desktop
    def mounts(pod: dict[str, Any]) -> dict[str, Any]:
        return {m["mountPath"]: m for m in pod["spec"]["containers"][0]["volumeMounts"]}
    for path in ("/home/alice", "/arcade/datasets/alma-2019"):
        assert mounts(app)[path] == mounts(desktop)[path]
    # the app's cookie is the desktop's: the same Secret
    (secret,) = fake_api.list("secrets")
    app_secret = next(v for v in app["spec"]["volumes"] if "secret" in v)
    assert app_secret["secret"]["secretName"] == secret["metadata"]["name"]
    # the desktop's policy admits exactly these pods
    (policy,) = fake_api.list("networkpolicies")
    allowed = policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    assert allowed.items() <= app["metadata"]["labels"].items()
    selector = dict(t.split("=") for t in app_pods_selector(session).split(","))
    assert selector.items() <= app["metadata"]["labels"].items()


async def test_an_app_on_a_desktop_image_starts_its_own_x_program(fake_api: FakeKubeAPI) -> None:
    """The default catalogue's `xterm` app uses the desktop image, whose own command is
    `jupyterhub-singleuser`: its pod starts the entry's `local.cmd` (as app containers on one
    machine do), through the image's entrypoint; an app image without one keeps its CMD."""
    doc = {**PLATFORM, "catalogue": [*PLATFORM["catalogue"], {
        "name": "xterm", "title": "Terminal", "kind": "desktop-app",
        "image": "registry.example.org/arcade/desktop:2026.11", "local": {"cmd": ["xterm"]}}]}
    config = PlatformConfig.model_validate(doc)
    spawner = await running_desktop(fake_api, config)
    session = session_of(spawner, config)
    started = {}
    for app in ("xterm", "casa-6-7"):
        pod = fake_api.get("pods", NAMESPACE, (await launch_app(
            session, config.entry(app), spawner.api))["pod"])
        assert pod is not None
        (container,) = pod["spec"]["containers"]
        assert "command" not in container  # the image's entrypoint (tini) stays
        started[app] = container.get("args")
    assert started == {"xterm": ["xterm"], "casa-6-7": None}
    assert fake_api.rejected == []
    xterm_session = launch_spec(config, "xterm")  # a desktop-app session's app container
    pieces = spawner.render(xterm_session.model_copy(update={"desktop": "desktop"}))
    (app,) = [c for c in pieces.extra_containers if c["name"] == "app"]
    assert app["args"] == ["xterm"] and "command" not in app


async def test_apps_go_when_the_desktop_goes(fake_api: FakeKubeAPI) -> None:
    config = platform()
    spawner = await running_desktop(fake_api, config)
    session = session_of(spawner, config)
    for _ in range(2):
        await launch_app(session, config.entry("casa-6-7"), spawner.api)
    assert len(fake_api.list("pods")) == 3
    await spawner.stop()
    assert fake_api.list("pods") == []
    assert fake_api.list("secrets") == fake_api.list("networkpolicies") == []


async def test_launch_refused_when_desktop_is_not_running(fake_api: FakeKubeAPI) -> None:
    config = platform()
    spawner = build_spawner(Cluster(fake_api.url, NAMESPACE, fake_api), config,
                            launch_spec(config, "desktop"))
    start = asyncio.ensure_future(spawner.start())
    await fake_api.wait_for(lambda: fake_api.get("pods", NAMESPACE, spawner.pod_name)
                            is not None)
    session = session_of(spawner, config)
    with pytest.raises(AppNotRunnable, match="not running yet") as info:
        await launch_app(session, config.entry("casa-6-7"), spawner.api)
    assert info.value.status == 409
    await fake_api.mark_running(NAMESPACE, spawner.pod_name)
    await start
    await spawner.stop()
    with pytest.raises(AppNotRunnable, match="not running"):
        await launch_app(session, config.entry("casa-6-7"), spawner.api)
    assert fake_api.counts[("create", "pods")] == 1


async def test_launch_refuses_non_apps_and_non_desktops(fake_api: FakeKubeAPI) -> None:
    config = platform()
    spawner = await running_desktop(fake_api, config)
    session = session_of(spawner, config)
    with pytest.raises(AppNotRunnable, match="not a desktop app") as info:
        await launch_app(session, config.entry("notebook"), spawner.api)
    assert info.value.status == 400
    notebook = KubeDesktopSession(launch_spec(config), config, NAMESPACE, spawner.pod_name)
    with pytest.raises(AppNotRunnable, match="not a desktop session"):
        await launch_app(notebook, config.entry("casa-6-7"), spawner.api)
    with pytest.raises(AppNotRunnable, match="no pod"):
        KubeDesktopSession.from_state(launch_spec(config, "desktop"), config, {})
    await spawner.stop()


async def test_launch_with_nfs_dataset_meets_baseline(fake_api: FakeKubeAPI) -> None:
    """Under `baseline` a dataset may be an NFS export: the app pod mounts it read-only and
    meets baseline (not restricted)."""
    config = platform(datasets={"alma-2019": {"type": "nfs", "server": "nfs", "path": "/a"}},
                      security={"pod_security": "baseline"})
    spawner = await running_desktop(fake_api, config)
    result = await launch_app(session_of(spawner, config), config.entry("casa-6-7"),
                              spawner.api)
    app = fake_api.get("pods", NAMESPACE, result["pod"])
    assert app is not None
    nfs = next(v for v in app["spec"]["volumes"] if "nfs" in v)
    assert nfs["nfs"]["readOnly"] is True
    assert violations(app, "baseline") == [] and violations(app, "restricted") != []
    await spawner.stop()


async def test_options_from_the_rest_api_become_a_desktop_spec(
    fake_api: FakeKubeAPI, tmp_path: Path
) -> None:
    """The shared mixin path (form and REST): platform document from `platform_config_file`,
    options parsed into the spec, the spec kept in the hub's state for the arcade service."""
    document = tmp_path / "platform.yaml"
    document.write_text(yaml.safe_dump(PLATFORM))
    config = platform()
    spawner = build_spawner(Cluster(fake_api.url, NAMESPACE, fake_api), config,
                            launch_spec(config), platform_config_file=str(document))
    spawner.platform_config = None
    spawner.launch_spec = None
    await spawner.plan_launch({"image": "desktop", "cores": 2, "dataset": "alma-2019"})
    spec = spawner.launch_spec
    assert spec is not None and spec.kind == "desktop" and spec.dataset == "alma-2019"
    assert "desktop" in (await spawner.options_form(spawner)).lower()
    state = spawner.get_state()
    again = build_spawner(Cluster(fake_api.url, NAMESPACE, fake_api), config,
                          launch_spec(config), platform_config_file=str(document))
    again.load_state(state)
    assert again.launch_spec == spec


async def cancelled_as_the_hub_does(spawner: ArcadeKubeSpawner, start: asyncio.Future[Any]) -> None:
    """JupyterHub's DELETE of a starting session: cancel the start (which gives up at once),
    then stop the server if `poll()` says it runs."""
    start.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(start, 0.5)
    if await spawner.poll() is None:
        await spawner.stop()


@pytest.mark.parametrize("in_flight", ["pods", "secrets"])
async def test_a_desktop_cancelled_while_it_starts_leaves_nothing_and_starts_again(
    fake_api: FakeKubeAPI, in_flight: str
) -> None:
    """Cancelled while the API server still creates its pod or its X Secret (and answers
    after the hub has looked for the pod): the pod, Secret and NetworkPolicy that land
    anyway are removed, the pod once; the same session then starts again."""
    config = platform()
    spawner = build_spawner(Cluster(fake_api.url, NAMESPACE, fake_api), config,
                            launch_spec(config, "desktop"))
    fake_api.slow("create", in_flight, 1.0)
    start = asyncio.ensure_future(spawner.start())
    await fake_api.wait_for(lambda: fake_api.counts[("create", in_flight)] == 1)
    await cancelled_as_the_hub_does(spawner, start)
    # once the API server has created what it was asked to, nothing is left
    await fake_api.wait_for(lambda: any(
        event == "ADDED" and resource == in_flight for _, event, resource, _ in fake_api.history))
    assert fake_api.list("pods") == fake_api.list("secrets") == []
    assert fake_api.list("networkpolicies") == []
    assert [d for d in fake_api.deletions if d[0] == "pods"] == [
        ("pods", spawner.pod_name, "Background")]

    start = asyncio.ensure_future(spawner.start())
    await fake_api.wait_for(lambda: fake_api.get("pods", NAMESPACE, spawner.pod_name) is not None)
    await fake_api.mark_running(NAMESPACE, spawner.pod_name)
    await start
    assert await spawner.poll() is None
    assert len(fake_api.list("secrets")) == len(fake_api.list("networkpolicies")) == 1
    await spawner.stop()
    assert fake_api.list("pods") == fake_api.list("secrets") == []

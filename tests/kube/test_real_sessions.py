"""Sessions through a real JupyterHub on the real cluster, with the real images: what the fake
API cannot show. The hub (with ArcadeKubeSpawner), its proxy and the arcade service run on
this machine (`real_hub.py`); notebooks, desktops and desktop apps run as pods.

- a notebook and a desktop reach ready, and answer through the proxy;
- the desktop is Arcade's (its server extension comes with the image), its menu lists the
  apps the API offers, and an app pod draws on it through the X relay with the session's
  cookie, while a pod with another cookie is refused;
- a hub restart finds the running pods again and loses nothing;
- when the desktop stops, Kubernetes removes its app pods, cookie Secret and NetworkPolicy
  (owner references).

Skipped or failed as `real_cluster.py` says when there is no real cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from arcade_hub.config import PlatformConfig
from arcade_hub.desktop.xauth import new_cookie
from arcade_hub.hub_config import PACKAGE_DIR, SERVICE
from arcade_hub.kube.builders import x11_secret_name
from arcade_hub.kube.objects import Owner, build_app_pod, build_x11_secret
from arcade_hub.launch.spec import LaunchSpec
from arcade_hub.service.hub_client import spec_of
from tests.hub import shared_tmp, wait_for

from .real_cluster import Kube, RealCluster, real_cluster
from .real_hub import HubPorts, document, kube_hub, pod_network_address

USER = "kube-alice"
LAB, DESK = "lab", "desk"
APPS = "services/arcade/api/v1/users/{user}/sessions/{server}/apps"


@dataclass
class Sessions:
    """The hub and its sessions, shared by this module's tests (spawning costs seconds)."""

    real: RealCluster
    ports: HubPorts
    tmp: Path
    running: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    token: str = ""

    def __post_init__(self) -> None:
        self.hub = self.running.enter_context(
            kube_hub(self.tmp, self.real, self.ports, document(self.real)))

    def restart(self) -> None:
        """Stop the hub (its sessions' pods stay) and start it again."""
        self.running.close()
        self.running = contextlib.ExitStack()
        self.__post_init__()

    def server(self, name: str) -> dict[str, Any]:
        found = self.hub.server(USER, name)
        assert found is not None, f"no server {name}: {self.hub.tail()}"
        return found

    def spec(self, name: str) -> LaunchSpec:
        spec = spec_of(self.server(name))
        assert spec is not None
        return spec

    def pod_name(self, name: str) -> str:
        return str(self.server(name)["state"]["pod_name"])

    def spawn(self, name: str, image: str) -> None:
        if (self.hub.server(USER, name) or {}).get("ready"):
            return
        r = self.hub.api("POST", f"/users/{USER}/servers/{name}",
                         json={"image": image, "cores": 0.5, "ram": 1})
        assert r.status_code in (201, 202), r.text
        self.hub.wait_ready(USER, name, timeout=300)

    def user_api(self) -> httpx.Client:
        return httpx.Client(base_url=self.ports.public_url, timeout=60,
                            headers={"Authorization": f"token {self.token}"})


@pytest.fixture(scope="module")
def sessions() -> Iterator[Sessions]:
    real = real_cluster()
    ports = HubPorts.pick(asyncio.run(pod_network_address(real)))
    tmp = shared_tmp()
    try:
        found = Sessions(real, ports, tmp)
        try:
            found.token = found.hub.user_token(USER)
            yield found
            for name in (LAB, DESK):
                if found.hub.server(USER, name) is not None:
                    found.hub.stop_server(USER, name)
        finally:
            found.running.close()
            asyncio.run(forget_home(real))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def forget_home(real: RealCluster) -> None:
    async with Kube(real) as kube:
        await kube.wait_gone("pods", "component=singleuser-server")
        await kube.core.delete_collection_namespaced_persistent_volume_claim(
            real.namespace, label_selector="component=singleuser-storage")


def proxied_api(s: Sessions, name: str) -> httpx.Response:
    """The session's Jupyter server API, through the hub's proxy, with the user's token."""
    with s.user_api() as client:
        return client.get(f"/user/{USER}/{name}/api/status")


async def desktop_handshake(s: Sessions, name: str) -> bytes:
    return await vnc_greeting(s.ports, s.token, USER, name)


async def vnc_greeting(ports: HubPorts, token: str, user: str, name: str) -> bytes:
    """Open the desktop's websocket (as noVNC does) and read the VNC server's greeting."""
    url = f"ws://{ports.host}:{ports.public}/user/{user}/{name}/desktop-websockify/"
    conn = await websocket_connect(HTTPRequest(
        url, headers={"Authorization": f"token {token}"}, request_timeout=120))
    try:
        greeting = await asyncio.wait_for(conn.read_message(), 120)
        assert isinstance(greeting, bytes), greeting
        return greeting
    finally:
        conn.close()


async def desktop_info(kube: Kube, pod: str) -> dict[str, Any]:
    """The desktop's `desktop.json` (in the session directory it shares with the relay),
    which the desktop publishes a moment after its VNC server greets the first viewer."""
    info: dict[str, Any] = {}

    async def published() -> bool:
        status, out = await kube.exec(pod, "cat /arcade/session/desktop.json", "notebook")
        if status == 0:
            info.update(json.loads(out))
        return status == 0

    await eventually_true(published, f"{pod} to publish desktop.json", 60)
    return info


async def windows(kube: Kube, pod: str) -> str:
    """The desktop's window tree, asked from inside the desktop pod as the session's user."""
    info = await desktop_info(kube, pod)
    status, out = await kube.exec(
        pod, f"DISPLAY={info['display']} XAUTHORITY={info['xauthority']} xwininfo -root -tree",
        "notebook")
    assert status == 0, out
    return out


async def eventually_true(check: Any, what: str, timeout: float = 120) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(1)  # asking X for its windows: nothing to wait on


# --- notebook -------------------------------------------------------------------------------

async def test_notebook_is_ready_through_the_proxy(sessions: Sessions) -> None:
    sessions.spawn(LAB, "notebook")
    r = proxied_api(sessions, LAB)
    assert r.status_code == 200, r.text
    assert "started" in r.json()
    async with Kube(sessions.real) as kube:
        pod = await kube.pod(sessions.pod_name(LAB))
        assert pod is not None and pod.status.phase == "Running"
        labels = pod.metadata.labels
        assert labels["arcade-hub.org/kind"] == "notebook"
        status, out = await kube.exec(pod.metadata.name, 'id -u; id -g; echo "$ARCADE_API_URL"; '
                                      'echo "$JUPYTERHUB_API_URL"', "notebook")
    assert status == 0, out
    uid, gid, api_url, hub_api = out.split()
    assert (uid, gid) == ("1000", "100")
    assert api_url == sessions.ports.arcade_api_url
    assert hub_api.startswith(f"http://{sessions.ports.host}:{sessions.ports.hub}/")


def test_the_hubs_pages_are_arcades(sessions: Sessions) -> None:
    """The hub runs with the page settings of its Helm values (Arcade's templates and logo
    from the package, where the hub image links it): its login page carries Arcade's brand
    and logo, and a login lands on the arcade service's Sessions page."""
    with httpx.Client(base_url=sessions.hub.url, timeout=60) as anonymous:
        login = anonymous.get("/hub/login")
        assert login.status_code == 200 and 'id="arcade-brand"' in login.text, login.text[:500]
        logo = anonymous.get("/hub/logo")
        assert logo.content == (PACKAGE_DIR / "static" / "logo.svg").read_bytes()
    browser = sessions.hub.login(USER)
    try:
        landed = browser.get("/hub/")
    finally:
        browser.close()
    assert landed.status_code == 200, landed.text[:500]
    assert landed.url.path == f"/services/{SERVICE}/jobs", landed.url
    assert 'id="arcade-brand"' in landed.text


# --- desktop and its apps -------------------------------------------------------------------

async def test_desktop_is_arcades_and_lists_the_apps(sessions: Sessions) -> None:
    """Ready, answering at /desktop/, and the VNC server behind /desktop-websockify/ is
    Arcade's desktop (published in desktop.json for the relay), with the API's apps in its
    menu: the image's own config enabled the server extension."""
    sessions.spawn(DESK, "desktop")
    with sessions.user_api() as client:
        page = client.get(f"/user/{USER}/{DESK}/desktop/")
    assert page.status_code == 200 and "vnc" in page.text.lower(), page.text[:300]
    greeting = await desktop_handshake(sessions, DESK)
    assert greeting.startswith(b"RFB 003.")
    async with Kube(sessions.real) as kube:
        pod = sessions.pod_name(DESK)
        info = await desktop_info(kube, pod)
        assert info["x_socket"].startswith("/tmp/.X11-unix/X")
        status, menu = await kube.exec(pod, "cat /arcade/session/openbox-menu.xml", "notebook")
        assert status == 0, menu
        logs = await kube.logs(pod, "notebook")
        if "arcade-launch console" not in menu:  # the desktop's own log, the API's list now
            why = [line for line in logs.splitlines() if "arcade-desktop" in line]
            why.append((await kube.exec(pod, "arcade-launch --list --json; echo rc=$?",
                                        "notebook"))[1])
            raise AssertionError(f"no apps in the desktop's menu: {menu}\n{why}")
        assert "Couldn't exec" not in logs


async def test_an_app_pod_draws_on_the_desktop_through_the_relay(sessions: Sessions) -> None:
    """`arcade-launch xterm` as the desktop's own menu runs it: the service starts an app pod
    owned by the desktop pod, and its window appears on the desktop."""
    sessions.spawn(DESK, "desktop")
    await desktop_handshake(sessions, DESK)  # the desktop starts with its first viewer
    async with Kube(sessions.real) as kube:
        desk = sessions.pod_name(DESK)
        status, out = await kube.exec(desk, "arcade-launch xterm", "notebook")
        assert status == 0 and "Launched Terminal (xterm)" in out, out
        apps = (await kube.core.list_namespaced_pod(
            kube.namespace, label_selector="arcade-hub.org/role=desktop-app")).items
        assert apps, "no app pod"
        app = await kube.wait_pod(apps[-1].metadata.name)
        desktop = await kube.pod(desk)
        assert desktop is not None
        assert [r.uid for r in app.metadata.owner_references] == [desktop.metadata.uid]

        async def xterm_shown() -> bool:
            return '"xterm"' in await windows(kube, desk)

        await eventually_true(xterm_shown, "the xterm window on the desktop")
        relay = await kube.logs(desk, "x11-relay")
        assert f"X client ('{app.status.pod_ip}'" in relay, relay


async def test_a_pod_with_another_cookie_is_refused(sessions: Sessions) -> None:
    """An X client presenting any cookie but the session's own gets the relay's refusal."""
    sessions.spawn(DESK, "desktop")
    await desktop_handshake(sessions, DESK)
    spec = sessions.spec(DESK)
    config = PlatformConfig.model_validate(document(sessions.real))
    kube_settings = config.backend.kubernetes
    async with Kube(sessions.real) as kube:
        desktop = await kube.pod(sessions.pod_name(DESK))
        assert desktop is not None
        owner = Owner(desktop.metadata.name, desktop.metadata.uid)
        intruder = spec.model_copy(update={"session_id": f"{spec.session_id}-x"})
        secret = build_x11_secret(intruder, new_cookie(), owner)
        await kube.core.create_namespaced_secret(kube.namespace, secret)
        pod = build_app_pod(spec, config.entry("xterm"), kube_settings, config.storage,
                            name=f"arcade-intruder-{spec.session_id}", owner=owner,
                            desktop_ip=desktop.status.pod_ip)
        for volume in pod["spec"]["volumes"]:
            if "secret" in volume:
                volume["secret"]["secretName"] = x11_secret_name(intruder.session_id)
        pod["spec"]["containers"][0]["args"] = ["xdpyinfo"]
        await kube.core.create_namespaced_pod(kube.namespace, pod)
        done = await kube.wait_pod(pod["metadata"]["name"], ("Succeeded", "Failed"))
        assert done.status.phase == "Failed"
        out = await kube.logs(pod["metadata"]["name"])
        assert "Authorization required" in out, out
        assert "unable to open display" in out, out


# --- the hub restarts; the desktop stops ----------------------------------------------------

async def test_a_hub_restart_loses_nothing(sessions: Sessions) -> None:
    """The hub stops and starts again while the sessions run: same pods, both ready and
    reachable through the new proxy, and an app still opens on the desktop."""
    sessions.spawn(LAB, "notebook")
    sessions.spawn(DESK, "desktop")

    async def pod_uids() -> dict[str, str]:
        async with Kube(sessions.real) as kube:
            return {n: (await kube.pod(sessions.pod_name(n))).metadata.uid for n in (LAB, DESK)}

    before = await pod_uids()
    sessions.restart()
    for name in (LAB, DESK):
        wait_for(lambda n=name: (sessions.hub.server(USER, n) or {}).get("ready"), 60,
                 f"{name} ready after the restart")
    assert await pod_uids() == before, "the restart replaced pods"
    assert proxied_api(sessions, LAB).status_code == 200
    await desktop_handshake(sessions, DESK)
    with sessions.user_api() as client:
        r = client.post(APPS.format(user=USER, server=DESK), json={"app": "xterm"})
    assert r.status_code == 201, r.text
    async with Kube(sessions.real) as kube:
        await kube.wait_pod(r.json()["pod"])


async def test_stopping_the_desktop_removes_its_apps_secret_and_policy(
    sessions: Sessions
) -> None:
    """Owner references, collected by the real garbage collector: the desktop pod goes, and
    its app pods, X cookie Secret and NetworkPolicy go with it."""
    sessions.spawn(DESK, "desktop")
    await desktop_handshake(sessions, DESK)
    with sessions.user_api() as client:
        r = client.post(APPS.format(user=USER, server=DESK), json={"app": "xterm"})
    assert r.status_code == 201, r.text
    session = f"arcade-hub.org/session={sessions.spec(DESK).session_id}"
    async with Kube(sessions.real) as kube:
        await kube.wait_pod(r.json()["pod"])
        for kind in ("secrets", "networkpolicies"):
            listed = await {"secrets": kube.core.list_namespaced_secret,
                            "networkpolicies": kube.net.list_namespaced_network_policy}[kind](
                kube.namespace, label_selector=session)
            assert len(listed.items) == 1, kind
        sessions.hub.stop_server(USER, DESK)
        for kind in ("pods", "secrets", "networkpolicies"):
            await kube.wait_gone(kind, session)

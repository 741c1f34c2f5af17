"""The hub image in the real cluster, as zero-to-jupyterhub runs it: the chart (4.4.0, as
released) rendered with what `arcade-hub render-values` writes, and its hub Deployment,
ServiceAccount, RBAC (the chart's Role and helm-values/manifests/hub-rbac.yaml), ConfigMap,
Secret, Services and database claim applied to the cluster. The hub pod loads the chart's own
jupyterhub_config.py with the rendered values, spawns sessions with ArcadeKubeSpawner under
its ServiceAccount, and runs the arcade service beside it with the same credentials.

What this cluster (v1.20.2, no kube-proxy, no DNS, no registry; ../shared/kube-cluster) makes
the test change, and nothing else (`in_this_cluster`, `values_here`):

- the hub pod uses the host's network (`hostNetwork`): pods cannot reach the API server here
  (no Service routing), so the hub and the arcade service are told the API server's address
  (`KUBERNETES_SERVICE_HOST`/`_PORT`, which kube-proxy would route on a real cluster);
- names of Services do not resolve: the hub binds and is reached at this machine's address
  on the pod network, and the proxy and the arcade service by loopback from the hub pod;
- the proxy is configurable-http-proxy on this machine, started by the test with the chart's
  arguments and token: the chart's proxy image cannot be pulled here;
- the user scheduler is off (its image cannot be pulled either): sessions use the default
  scheduler;
- the chart starts the idle culler with the hub's API at `localhost:8081`, which in a z2jh hub
  pod is the hub itself; this hub, on the host's network, binds another port on the pod
  network, so the test forwards this machine's loopback port 8081 to it (`loopback_relay`).

The sessions' own objects are what a z2jh install makes: ArcadeKubeSpawner builds them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

import arcade_hub
from arcade_hub import contract
from arcade_hub import render_values as render
from arcade_hub.hub_config import SERVICE, free_port, proxy_command
from tests.hub import wait_for

from .kubectl import kubectl, package_dir
from .real_cluster import RealCluster, real_cluster
from .real_hub import ADMIN, ADMIN_SCOPES, document, pod_network_address
from .relay import loopback_relay
from .z2jh_release import ROOT, Manifest, Release, example_values

NAMESPACE = "arcade-hub-pod"
"""Its own namespace: the chart's objects (`hub`, `proxy-public`, ...) and the sessions."""
USER = "pod-alice"
APPLIED = {"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Secret",
           "PersistentVolumeClaim", "Service", "PriorityClass"}
"""The chart's objects applied as rendered, with the hub Deployment (`in_this_cluster`). Not
applied: the proxy and user-scheduler Deployments and the image pullers (their images cannot
be pulled here), PodDisruptionBudgets (policy/v1 is 1.21+) and NetworkPolicies (this
cluster's CNI enforces none; `test_z2jh_chart.py` evaluates them)."""
T = TypeVar("T")


@dataclass(frozen=True)
class Addresses:
    """Where the hub's parts listen: the hub on the pod network (sessions reach its API), the
    proxy's public side too (sessions reach the arcade service through it), the proxy's API
    and the arcade service on loopback (the hub pod shares this machine's network)."""

    host: str
    hub: int
    public: int
    proxy_api: int
    service: int
    api_server: str
    """The API server as `host:port` (the kubeconfig's)."""

    @property
    def hub_url(self) -> str:
        return f"http://{self.host}:{self.hub}"

    @property
    def public_url(self) -> str:
        return f"http://{self.host}:{self.public}"


def hub_image() -> str:
    """The hub image imported into the cluster (scripts/test-cluster.sh exports it)."""
    image = os.environ.get("ARCADE_TEST_HUB_IMAGE")
    if not image:
        pytest.fail("ARCADE_TEST_KUBECONFIG is set but ARCADE_TEST_HUB_IMAGE is not: name the "
                    "hub image (images/hub) imported into the cluster", pytrace=False)
    return image


def values_here(real: RealCluster, at: Addresses, image: str, admin_token: str,
                proxy_token: str) -> Manifest:
    """`render-values` with the example values as base, then what this cluster needs (the
    module's docstring) and the test's own admin service."""
    # the storage service is a Deployment of its own (test_storage_real.py)
    platform = {**document(real, NAMESPACE), "vospace": {"enabled": False}}
    values = render.render_values(platform, example_values())
    api_host, _, api_port = at.api_server.rpartition(":")
    repository, _, tag = image.rpartition(":")
    arcade = values["hub"]["services"][SERVICE]
    arcade["url"] = f"http://127.0.0.1:{at.service}"
    arcade["environment"] |= {contract.SERVICE_BIND: "127.0.0.1",
                              "KUBERNETES_SERVICE_HOST": api_host,
                              "KUBERNETES_SERVICE_PORT": api_port}
    here: Manifest = {
        "hub": {
            "image": {"name": repository, "tag": tag, "pullPolicy": "Never"},
            "config": {
                "JupyterHub": {"hub_bind_url": at.hub_url, "hub_connect_url": at.hub_url},
                "ConfigurableHTTPProxy": {"api_url": f"http://127.0.0.1:{at.proxy_api}",
                                          "auth_token": proxy_token},
                "ArcadeKubeSpawner": {
                    "arcade_api_url": f"{at.public_url}/services/{SERVICE}/api/v1"},
            },
            "services": {ADMIN: {"apiToken": admin_token}},
            "loadRoles": {ADMIN: {"scopes": ADMIN_SCOPES, "services": [ADMIN]}},
        },
        "proxy": {"service": {"type": "ClusterIP"}},
        "scheduling": {"userScheduler": {"enabled": False}},
        "prePuller": {"hook": {"enabled": False}, "continuous": {"enabled": False}},
    }
    merged: Manifest = render.deep_merge(values, here)
    return merged


def in_this_cluster(release: Release, at: Addresses, package_at: str) -> list[Manifest]:
    """The chart's objects this test applies, the hub Deployment changed as the module's
    docstring says; this checkout's `arcade_hub` mounted over the image's (the image may
    predate the checkout)."""
    api_host, _, api_port = at.api_server.rpartition(":")
    deployment = release.get("Deployment", "hub")
    pod = deployment["spec"]["template"]["spec"]
    (hub,) = pod["containers"]
    pod["hostNetwork"] = True
    pod["dnsPolicy"] = "ClusterFirstWithHostNet"
    hub["ports"] = [{"name": "http", "containerPort": at.hub}]
    for probe in ("livenessProbe", "readinessProbe"):
        if probe in hub:
            hub[probe]["httpGet"]["host"] = at.host
    hub["env"] = [*hub.get("env", []),
                  {"name": "KUBERNETES_SERVICE_HOST", "value": api_host},
                  {"name": "KUBERNETES_SERVICE_PORT", "value": api_port}]
    pod["volumes"].append({"name": "checkout", "hostPath": {
        "path": str(Path(arcade_hub.__file__).parent), "type": "Directory"}})
    hub["volumeMounts"].append({"name": "checkout", "mountPath": package_at,
                                "readOnly": True})
    rbac = [o for o in yaml.safe_load_all(
        (ROOT / "helm-values" / "manifests" / "hub-rbac.yaml").read_text()) if o]
    chosen = [o for o in release.objects if o["kind"] in APPLIED]
    return [*chosen, *rbac, deployment]


def secret_value(release: Release, key: str) -> str:
    data = release.get("Secret", "hub")["data"]
    return base64.b64decode(data[key]).decode()


@contextlib.contextmanager
def host_proxy(at: Addresses, token: str, log: Path) -> Iterator[None]:
    """configurable-http-proxy in the chart's proxy pod's place, with its arguments."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [proxy_command(), f"--ip={at.host}", f"--port={at.public}", "--api-ip=127.0.0.1",
             f"--api-port={at.proxy_api}", f"--default-target={at.hub_url}",
             f"--error-target={at.hub_url}/hub/error", "--log-level=warn"],
            env={"PATH": "/usr/local/bin:/usr/bin:/bin", "CONFIGPROXY_AUTH_TOKEN": token},
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


CULLER_PORT = 8081
"""Where the chart's idle culler calls the hub: `localhost:8081`, in the hub pod."""


def delete_release() -> None:
    """The namespace and all in it (the hub, its sessions and their home claims), waiting
    until it is gone (a namespace being deleted refuses new objects), and the chart's
    PriorityClasses (of the cluster, not the namespace)."""
    kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--timeout=300s",
            timeout=320)
    kubectl("delete", "priorityclass", "-l", "release=arcade,app=jupyterhub",
            "--ignore-not-found")


def hub_log() -> str:
    """The hub's log, and the namespace's events (why a pod was not made or not started)."""
    done = kubectl("logs", "-n", NAMESPACE, "deployment/hub", "--tail=80", check=False)
    events = kubectl("get", "events", "-n", NAMESPACE, check=False).stdout
    return f"{done.stdout or done.stderr}\nevents:\n{events[-3000:]}"


def wait_hub_ready() -> None:
    done = kubectl("rollout", "status", "-n", NAMESPACE, "deployment/hub", "--timeout=300s",
                   check=False, timeout=320)
    assert done.returncode == 0, f"the hub pod is not ready: {done.stderr}\n{hub_log()}"


def eventually(check: Callable[[], T | None], what: str, timeout: float = 300) -> T:
    try:
        found: T = wait_for(check, timeout, what)
    except AssertionError as e:
        raise AssertionError(f"{e}\nthe hub's log:\n{hub_log()}") from None
    return found


@dataclass
class HubInCluster:
    at: Addresses
    admin_token: str
    user_token: str = ""

    def api(self, method: str, path: str, token: str | None = None,
            **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"token {token or self.admin_token}"}
        return httpx.request(method, f"{self.at.public_url}{path}", headers=headers,
                             timeout=60, **kwargs)

    def server(self, name: str) -> dict[str, Any] | None:
        r = self.api("GET", f"/hub/api/users/{USER}")
        assert r.status_code == 200, r.text
        found: dict[str, Any] | None = r.json()["servers"].get(name)
        return found

    def ready(self, name: str) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            server = self.server(name)
            if server is not None and server.get("pending") is None and not server["ready"]:
                raise AssertionError(f"{name} stopped while starting:\n{hub_log()}")
            return server if server and server["ready"] else None

        return eventually(check, f"{USER}'s {name} to be ready")

    def sessions(self) -> dict[str, str]:
        """id -> status, as the arcade service in the hub pod lists them (skaha API)."""
        r = self.api("GET", f"/services/{SERVICE}/skaha/v1/session", self.user_token)
        assert r.status_code == 200, f"{r.status_code} {r.text}\n{hub_log()}"
        return {s["id"]: s["status"] for s in r.json()}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubInCluster]:
    real = real_cluster()
    image = hub_image()
    host = asyncio.run(pod_network_address(real))
    server = yaml.safe_load(Path(real.kubeconfig).read_text())["clusters"][0]["cluster"]
    at = Addresses(host, free_port(), free_port(), free_port(), free_port(),
                   urlsplit(server["server"]).netloc)
    admin_token, proxy_token = secrets.token_hex(16), secrets.token_hex(16)
    release = Release(values_here(real, at, image, admin_token, proxy_token), NAMESPACE)
    assert secret_value(release, "hub.config.ConfigurableHTTPProxy.auth_token") == proxy_token
    delete_release()  # an interrupted run's
    kubectl("create", "namespace", NAMESPACE)
    log = tmp_path_factory.mktemp("hub-pod") / "proxy.log"
    try:
        objects = in_this_cluster(release, at, package_dir(NAMESPACE, image))
        kubectl("apply", "-n", NAMESPACE, "-f", "-",
                stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
        with host_proxy(at, proxy_token, log), loopback_relay(
                CULLER_PORT, host, at.hub, "the chart's idle culler calls the hub at "
                f"localhost:{CULLER_PORT}, which the test forwards to the hub pod"):
            wait_hub_ready()
            found = HubInCluster(at, admin_token)
            assert found.api("POST", f"/hub/api/users/{USER}").status_code in (201, 409)
            r = found.api("POST", f"/hub/api/users/{USER}/tokens", json={"note": "test"})
            assert r.status_code == 201, r.text
            found.user_token = r.json()["token"]
            # the hub is ready (its health check) before its routes are in the proxy
            eventually(lambda: found.api("GET", f"/services/{SERVICE}/skaha/v1/session",
                                         found.user_token).status_code == 200 or None,
                       "the arcade service to answer through the proxy", 120)
            yield found
    finally:
        delete_release()


def pod_of(hub: HubInCluster, name: str) -> Manifest:
    server = hub.server(name)
    assert server is not None
    pod: Manifest = json.loads(kubectl("get", "pod", "-n", NAMESPACE, "-o", "json",
                                       server["state"]["pod_name"]).stdout)
    return pod


def test_the_hub_pod_runs_the_charts_config_with_arcades_pages(hub: HubInCluster) -> None:
    """The chart's config loaded the rendered values: Arcade's pages (templates from the
    package the image links), and a login lands on the Sessions page of the arcade service
    that runs beside the hub in its pod."""
    login = httpx.get(f"{hub.at.public_url}/hub/login", timeout=60)
    assert login.status_code == 200 and 'id="arcade-brand"' in login.text, login.text[:500]
    with httpx.Client(base_url=hub.at.public_url, timeout=60, follow_redirects=True) as browser:
        browser.get("/hub/login")
        landed = browser.post("/hub/login", data={
            "username": USER, "password": "x", "_xsrf": browser.cookies["_xsrf"]})
    assert landed.status_code == 200, landed.text[:500]
    assert landed.url.path == f"/services/{SERVICE}/jobs", landed.url


def test_a_notebook_spawned_by_the_hub_pod_answers_through_the_proxy(
        hub: HubInCluster) -> None:
    r = hub.api("POST", f"/hub/api/users/{USER}/servers/lab",
                json={"image": "notebook", "cores": 0.5, "ram": 1})
    assert r.status_code in (201, 202), r.text
    hub.ready("lab")
    pod = pod_of(hub, "lab")
    assert pod["metadata"]["namespace"] == NAMESPACE
    assert pod["metadata"]["labels"]["arcade-hub.org/kind"] == "notebook"
    assert pod["metadata"]["labels"]["hub.jupyter.org/network-access-hub"] == "true"
    (notebook,) = [c for c in pod["spec"]["containers"] if c["name"] == "notebook"]
    env = {e["name"]: e.get("value") for e in notebook["env"]}
    assert env["JUPYTERHUB_API_URL"] == f"{hub.at.hub_url}/hub/api"
    assert env[contract.API_URL] == f"{hub.at.public_url}/services/{SERVICE}/api/v1"
    r = hub.api("GET", f"/user/{USER}/lab/api/status", hub.user_token)
    assert r.status_code == 200 and "started" in r.json(), r.text
    # the arcade service, with the hub pod's ServiceAccount, sees it running
    assert hub.sessions().get("lab") == "Running"


def test_the_arcade_service_in_the_hub_pod_starts_and_stops_sessions(
        hub: HubInCluster) -> None:
    """The skaha API (the `canfar` client's) of the service in the hub pod: a session
    started through it runs as a pod of the namespace, and stops."""
    r = hub.api("POST", f"/services/{SERVICE}/skaha/v1/session", hub.user_token,
                data={"name": "canfar", "image": "notebook", "cores": "0.5", "ram": "1"})
    assert r.status_code == 200, f"{r.status_code} {r.text}\n{hub_log()}"
    started = r.text.strip()
    eventually(lambda: hub.sessions().get(started) == "Running" or None,
               f"session {started} to run")
    pod = pod_of(hub, started)
    assert pod["status"]["phase"] == "Running"
    r = hub.api("DELETE", f"/services/{SERVICE}/skaha/v1/session/{started}", hub.user_token)
    assert r.status_code == 200, r.text
    eventually(lambda: started not in hub.sessions() or None, f"session {started} to stop")
    gone = kubectl("get", "pod", "-n", NAMESPACE, pod["metadata"]["name"], check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_the_charts_idle_culler_checks_the_sessions(hub: HubInCluster) -> None:
    """The chart's culler, on with `render-values`' `cull` (from the document's `sessions`),
    runs in the hub image with the chart's flags and is let read the sessions' activity; the
    running session is not culled (idle for less than `sessions.idle_timeout_minutes`)."""
    hub.ready("lab")

    def culler_checked() -> str | None:
        log = kubectl("logs", "-n", NAMESPACE, "deployment/hub", check=False).stdout
        seen = [line for line in log.splitlines() if "(jupyterhub-idle-culler@" in line]
        return "\n".join(seen) if any(" 200 GET /hub/api/users" in s for s in seen) else None

    seen = eventually(culler_checked, "the idle culler to read the sessions from the hub",
                      180)
    assert " 403 " not in seen and " 401 " not in seen, seen
    log = kubectl("logs", "-n", NAMESPACE, "deployment/hub", check=False).stdout
    assert "Service jupyterhub-idle-culler exited" not in log, hub_log()
    assert hub.server("lab") is not None and hub.sessions().get("lab") == "Running"


def test_a_new_hub_pod_finds_the_running_session(hub: HubInCluster) -> None:
    """z2jh keeps sessions when the hub pod goes (its database on a claim, no cleanup of
    servers): the Deployment's new hub pod finds the same pod and routes to it."""
    hub.ready("lab")
    before = pod_of(hub, "lab")["metadata"]["uid"]
    old = kubectl("get", "pod", "-n", NAMESPACE, "-l", "component=hub", "-o",
                  "jsonpath={.items[0].metadata.name}").stdout
    kubectl("delete", "pod", "-n", NAMESPACE, old, "--timeout=120s", timeout=140)
    wait_hub_ready()
    new = kubectl("get", "pod", "-n", NAMESPACE, "-l", "component=hub", "-o",
                  "jsonpath={.items[0].metadata.name}").stdout
    assert new and new != old
    hub.ready("lab")
    assert pod_of(hub, "lab")["metadata"]["uid"] == before
    r = eventually(lambda: ((r := hub.api("GET", f"/user/{USER}/lab/api/status",
                                         hub.user_token)).status_code == 200 and r) or None,
                   "the session to answer through the proxy again", 60)
    assert "started" in r.json()


def test_stopping_through_the_hub_pod_removes_the_session_pod(hub: HubInCluster) -> None:
    hub.ready("lab")
    name = pod_of(hub, "lab")["metadata"]["name"]
    r = hub.api("DELETE", f"/hub/api/users/{USER}/servers/lab")
    assert r.status_code in (202, 204), r.text
    eventually(lambda: kubectl("get", "pod", "-n", NAMESPACE, name,
                               check=False).returncode != 0 or None,
               "the session's pod to go", 120)
    # the hub ends the stop when its pod watch has seen the pod go: "Terminating" until then
    eventually(lambda: "lab" not in hub.sessions() or None,
               "the session to leave the user's list", 60)

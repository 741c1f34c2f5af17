"""The arcade service as it runs on Kubernetes, for tests: the real `Service` (its tornado app,
sessions, job runner and Kubernetes client) against the fake Kubernetes API (or a real
cluster), with a small fake of the hub's REST API in place of JupyterHub.

The fake hub serves from a thread of its own: the service's HubAuth checks tokens with
blocking calls from a worker thread while the test's event loop waits.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

import httpx
import yaml
from jupyterhub.services.auth import HubOAuth

from arcade_hub.hub_config import free_port
from arcade_hub.service.app import Service
from arcade_hub.service.settings import ServiceSettings

from .conftest import PLATFORM, Cluster
from .fake_api import FakeKubeAPI, kubelet_expand

T = TypeVar("T")
SERVICE = "arcade"
PREFIX = "/services/arcade/"


@dataclass
class FakeHub:
    """Users, their tokens and named servers; answers the calls the service makes."""

    service_token: str = field(default_factory=lambda: secrets.token_hex(16))
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def add_user(self, name: str, *, admin: bool = False, groups: tuple[str, ...] = ()) -> str:
        """Make a user; their API token."""
        self.users[name] = {"kind": "user", "name": name, "admin": admin,
                            "groups": list(groups), "servers": {}}
        token = secrets.token_hex(16)
        self.tokens[token] = name
        return token

    def set_server(self, user: str, name: str, model: dict[str, Any]) -> None:
        self.users[user]["servers"][name] = {"name": name, **model}

    @property
    def api_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hub/api"

    def start(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                hub._answer(self, "GET")

            def do_DELETE(self) -> None:
                hub._answer(self, "DELETE")

            def do_POST(self) -> None:
                hub._answer(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)

    def _answer(self, request: BaseHTTPRequestHandler, method: str) -> None:
        status, body = self._route(request, method)
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def _route(self, request: BaseHTTPRequestHandler, method: str) -> tuple[int, Any]:
        path = urlparse(request.path).path
        token = re.sub(r"^(token|bearer)\s+", "", request.headers.get("Authorization", ""),
                       flags=re.IGNORECASE)
        if path == "/hub/api/user" and method == "GET":
            name = self.tokens.get(token)
            if name is None:
                return 403, {"status": 403, "message": "invalid token"}
            return 200, {**self.users[name], "scopes": [f"access:services!service={SERVICE}"]}
        if token != self.service_token:
            return 403, {"status": 403, "message": "not the service's token"}
        if path == "/hub/api/users" and method == "GET":
            return 200, list(self.users.values())
        match = re.fullmatch(r"/hub/api/users/([^/]+)(?:/servers/([^/]*))?", path)
        if match is None or unquote(match[1]) not in self.users:
            return 404, {"status": 404, "message": "not found"}
        user = self.users[unquote(match[1])]
        if match[2] is None and method == "GET":
            return 200, user
        if match[2] is not None and method == "DELETE":
            user["servers"].pop(unquote(match[2]), None)
            return 204, {}
        return 400, {"status": 400, "message": "not something this fake hub does"}


def service_document(cluster: Cluster, **kube: Any) -> dict[str, Any]:
    """The platform document of the service tests: the test platform on the fake API; on a
    real cluster a real image and storage the cluster can provide (as the lifecycle tests)."""
    doc: dict[str, Any] = json.loads(json.dumps(PLATFORM))
    settings = {**doc["backend"]["kubernetes"], "namespace": cluster.namespace}
    if cluster.real is not None:
        images = cluster.real.images
        doc["catalogue"] = [{**e, "image": images.get(e["kind"], images["notebook"])}
                            for e in doc["catalogue"]]
        doc["datasets"] = []
        settings = {"namespace": cluster.namespace, "home": {
            "mode": "claim-per-user", "access_modes": ["ReadWriteOnce"], "capacity": "1Gi"},
            "projects": {"enabled": False}}
    doc["backend"] = {"kind": "kubernetes", "kubernetes": {**settings, **kube}}
    return doc


def kubeconfig_for(cluster: Cluster, tmp: Path) -> str:
    """A kubeconfig naming the fake API (context namespace: the test's), or the real one."""
    if cluster.real is not None:
        return cluster.real.kubeconfig
    path = tmp / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
        f"clusters: [{{name: fake, cluster: {{server: '{cluster.fake.url}'}}}}]\n"
        "users: [{name: fake, user: {token: fake}}]\n"
        f"contexts: [{{name: fake, context: {{cluster: fake, user: fake, "
        f"namespace: {cluster.namespace}}}}}]\n"
    )
    return str(path)


@dataclass
class Running:
    """A started service and how to call it."""

    service: Service
    hub: FakeHub
    url: str

    def client(self, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=30,
                                 headers={"Authorization": f"token {token}"})


@asynccontextmanager
async def running_service(
    tmp: Path, hub: FakeHub, document: dict[str, Any], kubeconfig: str
) -> AsyncIterator[Running]:
    """Start the service as `python -m arcade_hub.service` would (same `Service.start`),
    stop it at the end (closing its Kubernetes client). Call again with the same `tmp` for
    a restart: the data directory (job store) stays."""
    config = tmp / "platform.yaml"
    config.write_text(yaml.safe_dump(document))
    port = free_port()
    settings = ServiceSettings(
        name=SERVICE, prefix=PREFIX, port=port, hub_api_url=hub.api_url,
        api_token=hub.service_token, config_file=str(config), data_dir=tmp / "data",
    )
    service = await Service.start(settings, kubeconfig=kubeconfig)
    try:
        yield Running(service, hub, f"http://127.0.0.1:{port}{PREFIX}")
    finally:
        await service.stop()
        # HubOAuth is a singleton with a worker thread: a test's service takes both along
        pool = service.app.settings["hub_auth"]._trait_values.get("_pool")
        if pool is not None:
            pool.shutdown(wait=True)
        HubOAuth.clear_instance()


async def eventually(check: Callable[[], Awaitable[T | None]], what: str,
                     timeout: float = 15) -> T:
    """Ask `check` until it answers something truthy (the service's view of Kubernetes
    follows a watch, so it changes a moment after the API does)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.05)  # polling an HTTP API: there is nothing to wait on


def field(pod: dict[str, Any], path: str) -> str:
    """A downward-API `fieldRef` of `pod`: its name or one of its annotations."""
    if path == "metadata.name":
        return str(pod["metadata"]["name"])
    key = re.fullmatch(r"metadata\.annotations\['(.+)'\]", path)
    assert key is not None, path
    return str(pod["metadata"]["annotations"][key[1]])


def container_env(pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet makes it: values expanded in order."""
    env = {"PATH": os.environ["PATH"]}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = kubelet_expand(item["value"], env)
        else:
            env[item["name"]] = field(pod, item["valueFrom"]["fieldRef"]["fieldPath"])
    return env


async def kubelet(fake: FakeKubeAPI, namespace: str, pod_name: str, workdir: Path) -> int:
    """Play the kubelet for a pod of the fake: mark it running, run its container here (with
    its environment, JOB_COMPLETION_INDEX from its annotation), keep the output as the pod's
    log and end the pod with the exit code. The image's entrypoint is taken to pass its
    arguments on (as tini in Arcade's images): `command` (if any), then `args`, run here."""
    pod = fake.get("pods", namespace, pod_name)
    assert pod is not None
    (container,) = pod["spec"]["containers"]
    env = container_env(pod, container)
    await fake.mark_running(namespace, pod_name)
    command = [kubelet_expand(c, env)
               for c in [*container.get("command", []), *container.get("args", [])]]
    assert command, "the fake kubelet has no image whose CMD it could run"
    proc = await asyncio.create_subprocess_exec(
        *command, env=env, cwd=workdir, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    await fake.write_log(namespace, pod_name, out.decode())
    await fake.mark_terminated(namespace, pod_name, proc.returncode)
    return proc.returncode


Z2JH_HUB_ROLE = [
    {"apiGroups": [""], "resources": ["pods", "persistentvolumeclaims", "secrets", "services"],
     "verbs": ["get", "watch", "list", "create", "delete"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "watch", "list"]},
]
"""The rules of z2jh's hub Role (chart 4.x, templates/hub/rbac.yaml), which the values
cannot extend."""
GROUPS = {"networkpolicies": "networking.k8s.io", "jobs": "batch"}


def hub_rules() -> list[dict[str, Any]]:
    """What the hub's ServiceAccount may do: z2jh's Role and helm-values/manifests/hub-rbac.yaml."""
    path = Path(__file__).resolve().parents[2] / "helm-values" / "manifests" / "hub-rbac.yaml"
    rules = list(Z2JH_HUB_ROLE)
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc["kind"] == "Role":
            rules += doc["rules"]
    return rules


def not_allowed(fake: FakeKubeAPI) -> list[tuple[str, str]]:
    """The (verb, resource) calls the fake answered that the hub's RBAC would refuse."""
    rules = hub_rules()
    refused = []
    for verb, resource in sorted(fake.counts):
        if verb == "log":
            verb, resource = "get", "pods/log"
        group = GROUPS.get(resource, "")
        if not any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
                   for r in rules):
            refused.append((verb, resource))
    return refused


def blocking_owner_deletion(objects: list[dict[str, Any]]) -> list[str]:
    """Objects whose owner references set `blockOwnerDeletion`, where the hub's RBAC does not
    grant `update` on `pods/finalizers` (what OwnerReferencesPermissionEnforcement asks)."""
    granted = any("pods/finalizers" in r["resources"] and "update" in r["verbs"]
                  for r in hub_rules())
    return [] if granted else [
        f"{o.get('kind', '?')} {o['metadata']['name']}" for o in objects
        if any(ref.get("blockOwnerDeletion") for ref in o["metadata"].get("ownerReferences", []))]

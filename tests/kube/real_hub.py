"""A real JupyterHub outside the real cluster, spawning with ArcadeKubeSpawner.

The hub, its proxy and the arcade service run on this machine; sessions run as pods. Pods
reach this machine at the pod bridge's gateway (`real_cluster.host_address`), so the hub's API
and the proxy bind there: a session's `JUPYTERHUB_API_URL` is the hub's API at that address,
and its `ARCADE_API_URL` goes through the proxy to the arcade service, as sessions reach it on
zero-to-jupyterhub (`http://proxy-public/services/arcade/api/v1`). The hub keeps its servers
when it stops (`cleanup_servers = False`, as z2jh sets it), so a restart finds the pods.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from arcade_hub.config import PlatformConfig
from arcade_hub.hub_config import (
    PACKAGE_DIR,
    SERVICE,
    SESSION_TOKEN_SCOPES,
    free_port,
    proxy_command,
)
from arcade_hub.render_values import HUB_PACKAGE, page_values
from tests.hub import (
    RunningHub,
    processes_mentioning,
    stop_process,
    wait_for,
    wait_for_none,
)

from .real_cluster import RealCluster, host_address

ADMIN = "arcade-test-admin"
ADMIN_SCOPES = ["admin:users", "admin:servers", "admin:server_state", "tokens", "list:users",
                "read:users", "access:servers", "read:hub", "access:services"]


@dataclass(frozen=True)
class HubPorts:
    """Kept across a restart: running sessions know the hub's API address."""

    host: str
    public: int
    hub: int
    proxy_api: int
    service: int

    @classmethod
    def pick(cls, host: str) -> HubPorts:
        return cls(host, free_port(), free_port(), free_port(), free_port())

    @property
    def public_url(self) -> str:
        return f"http://{self.host}:{self.public}"

    @property
    def arcade_api_url(self) -> str:
        return f"{self.public_url}/services/{SERVICE}/api/v1"


async def pod_network_address(real: RealCluster) -> str:
    """This machine's address on the pod network, learnt from a busybox pod's IP (its first
    pod also makes the cluster's pod bridge)."""
    from kubernetes_asyncio.client import CoreV1Api
    from kubernetes_asyncio.config import new_client_from_config

    api = await new_client_from_config(config_file=real.kubeconfig)
    core = CoreV1Api(api)
    name = f"arcade-probe-{os.getpid()}"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": name, "labels": {"app.kubernetes.io/part-of": "arcade-hub"}},
        "spec": {"containers": [{"name": "probe", "image": "localhost/busybox:test",
                                 "imagePullPolicy": "Never",
                                 "command": ["/bin/sh", "-c", "exec sleep 600"]}],
                 "terminationGracePeriodSeconds": 0}}
    try:
        await core.create_namespaced_pod(real.namespace, pod)
        for _ in range(600):
            got = await core.read_namespaced_pod(name, real.namespace)
            if got.status.pod_ip:
                return host_address(got.status.pod_ip)
            await asyncio.sleep(0.1)  # the API offers no cheaper wait for one field
        raise AssertionError(f"pod {name} got no IP in 60 s")
    finally:
        with contextlib.suppress(Exception):
            await core.delete_namespaced_pod(name, real.namespace, grace_period_seconds=0)
        await api.close()


def document(real: RealCluster, namespace: str | None = None) -> dict[str, Any]:
    """The platform of the real-cluster hubs: the built images, small sessions (two cores on
    this node), a home claim per user from the cluster's default StorageClass; sessions in
    `namespace` (default: the tests' namespace)."""
    images = real.images
    return {
        "title": "Arcade on a real cluster",
        "catalogue": [
            {"name": "notebook", "title": "JupyterLab", "kind": "notebook",
             "image": images["notebook"]},
            {"name": "desktop", "title": "Linux desktop", "kind": "desktop",
             "image": images["desktop"]},
            {"name": "xterm", "title": "Terminal (xterm)", "kind": "desktop-app",
             "group": "Tools", "image": images["desktop"], "local": {"cmd": ["xterm"]}},
            # the menu lists it (the desktop's own terminal, `xterm`, is not listed twice)
            {"name": "console", "title": "Console", "kind": "desktop-app",
             "group": "Tools", "image": images["desktop"], "local": {"cmd": ["xterm"]}},
        ],
        "resources": {"cores": {"choices": [0.25, 0.5], "default": 0.5, "min": 0.1, "max": 1},
                      "ram": {"choices": [1, 2], "default": 1, "min": 0.5, "max": 2}},
        "backend": {"kind": "kubernetes", "kubernetes": {
            "namespace": namespace or real.namespace,
            "cpu_guarantee": 0.2,
            "home": {"mode": "claim-per-user", "access_modes": ["ReadWriteOnce"],
                     "capacity": "1Gi"},
            "projects": {"enabled": False},
            "scratch": {"mode": "emptyDir", "size": "1Gi"},
        }},
    }


def plain_spawner(real: RealCluster, image: str) -> dict[str, dict[str, Any]]:
    """A plain KubeSpawner with one image (benchmarks' baseline), sized like the tests'
    Arcade sessions."""
    return {"JupyterHub": {"spawner_class": "kubespawner.KubeSpawner"},
            "KubeSpawner": {"namespace": real.namespace, "image": image,
                            "image_pull_policy": "IfNotPresent", "start_timeout": 300,
                            "cpu_limit": 0.5, "cpu_guarantee": 0.1, "mem_limit": "1G",
                            "mem_guarantee": "1G", "uid": 1000, "gid": 100, "fs_gid": 100}}


def hub_pages(document: dict[str, Any]) -> dict[str, Any]:
    """The hub's pages as `render-values` sets them (`hub.config.JupyterHub`), with the
    package where the hub image links it (`HUB_PACKAGE`) found where it is installed here."""
    pages = json.dumps(page_values(PlatformConfig.model_validate(document)))
    found: dict[str, Any] = json.loads(pages.replace(str(HUB_PACKAGE), str(PACKAGE_DIR)))
    return found


def hub_config(tmp: Path, real: RealCluster, ports: HubPorts, admin_token: str,
               spawner: dict[str, dict[str, Any]] | None = None,
               document: dict[str, Any] | None = None) -> str:
    """The hub's jupyterhub_config.py: values only (what z2jh's values say for its hub, the
    pages of `document` among them); `spawner` replaces ArcadeKubeSpawner's settings (e.g.
    `plain_spawner`)."""
    data = tmp / "data"
    settings: dict[str, dict[str, Any]] = {
        "JupyterHub": {
            "bind_url": ports.public_url,
            "hub_ip": ports.host,
            "hub_port": ports.hub,
            "db_url": f"sqlite:///{data / 'jupyterhub.sqlite'}",
            "cookie_secret_file": str(data / "cookie_secret"),
            "cleanup_servers": False,
            "allow_named_servers": True,
            "named_server_limit_per_user": 0,
            "authenticator_class": "dummy",
            "spawner_class": "arcade_hub.spawners.kube.ArcadeKubeSpawner",
            "services": [
                {"name": SERVICE, "url": f"http://127.0.0.1:{ports.service}",
                 "command": [sys.executable, "-m", "arcade_hub.service"],
                 "environment": {"ARCADE_PLATFORM_CONFIG": str(tmp / "platform.yaml"),
                                 "ARCADE_DATA_DIR": str(data),
                                 "ARCADE_KUBECONFIG": real.kubeconfig},
                 "display": False, "oauth_no_confirm": True},
                {"name": ADMIN, "api_token": admin_token},
            ],
            "load_roles": [
                {"name": "user", "scopes": ["self", f"access:services!service={SERVICE}"]},
                {"name": SERVICE, "services": [SERVICE], "scopes": [
                    "list:users", "read:users", "servers", "admin:server_state"]},
                {"name": ADMIN, "services": [ADMIN], "scopes": ADMIN_SCOPES},
            ],
        },
        "Authenticator": {"allow_all": True},
        "ConfigurableHTTPProxy": {"command": [proxy_command()],
                                  "api_url": f"http://127.0.0.1:{ports.proxy_api}",
                                  "pid_file": str(data / "proxy.pid")},
        "Spawner": {"server_token_scopes": SESSION_TOKEN_SCOPES},
        "ArcadeKubeSpawner": {
            "platform_config_file": str(tmp / "platform.yaml"),
            "data_dir": str(data),
            "namespace": real.namespace,
            "start_timeout": 300,
            "events_enabled": True,
            "arcade_api_url": ports.arcade_api_url,
        },
    }
    if document is not None and spawner is None:
        settings["JupyterHub"].update(hub_pages(document))
    if spawner is not None:  # a plain hub: no Arcade spawner, no arcade service
        del settings["ArcadeKubeSpawner"]
        hub = settings["JupyterHub"]
        hub["services"] = [s for s in hub["services"] if s["name"] != SERVICE]
        hub["load_roles"] = [r for r in hub["load_roles"] if r["name"] != SERVICE]
        for section, values in spawner.items():
            settings.setdefault(section, {}).update(values)
    lines = ["import json", "c = get_config()  # noqa"]
    for section, values in settings.items():
        for key, value in values.items():
            lines.append(f"c.{section}.{key} = json.loads({json.dumps(json.dumps(value))})")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def kube_hub(tmp: Path, real: RealCluster, ports: HubPorts, document: dict[str, Any],
             spawner: dict[str, dict[str, Any]] | None = None) -> Iterator[RunningHub]:
    """Start the hub (again, with the same `tmp` and `ports`: a restart) and stop it at the
    end; the sessions' pods stay."""
    data = tmp / "data"
    data.mkdir(exist_ok=True)
    (tmp / "platform.yaml").write_text(yaml.safe_dump(document))
    token_file = data / "admin-token"
    if not token_file.exists():
        token_file.write_text(secrets.token_hex(16))
    token = token_file.read_text()
    config = tmp / "jupyterhub_config.py"
    config.write_text(hub_config(tmp, real, ports, token, spawner, document))
    log = tmp / "hub.log"
    env = {**os.environ, "KUBECONFIG": real.kubeconfig}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(config)],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp,
                                stdin=subprocess.DEVNULL)
    hub = RunningHub(ports.public_url, token, data, "", proc, log)
    try:
        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"jupyterhub exited with {proc.returncode}:\n{hub.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                return hub.api("GET", "/").status_code == 200
            return False

        wait_for(up, 120, "the hub to answer")
        yield hub
    finally:
        stop_process(proc, 60)
        left = wait_for_none(lambda: processes_mentioning(str(data)), 10)
        assert not left, f"processes left behind: {left}"  # the proxy, the arcade service

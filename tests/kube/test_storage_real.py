"""The storage service on a real cluster (ARCADE_TEST_KUBECONFIG; images as in
../shared/kube-cluster/README.md): the rendered Deployment mounts the claims a session pod
mounts; a file a session writes in its home is listed and fetched with the released `vls` and
`vcp`, and a file sent with `vcp` is in the session's home at once, owned by the session's
uid and gid.

The cluster has no Service routing and the test sends nothing but loopback traffic: `vos`
talks https to a loopback TLS relay (the test CA of tests/storage/tls.py), which passes the
bytes to `kubectl port-forward` on loopback. The hub's API is a small stand-in in a second
container of the service's pod (it knows one user token and the service's own token). The
image may predate this checkout: the service's pod runs this checkout's `arcade_hub`, mounted
from the node (one node: the test's machine) over the image's own."""

from __future__ import annotations

import json
import os
import secrets
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import arcade_hub
from arcade_hub.config import PlatformConfig
from arcade_hub.hub_config import free_port
from arcade_hub.kube.builders import build_pod_pieces
from arcade_hub.kube.objects import pod_manifest, serialize
from arcade_hub.kube.storage_service import STORAGE_PORT, StorageService, build_storage_service
from tests.storage.tls import make_tls

from .conftest import PLATFORM, launch_spec
from .kubectl import kubectl, kubectl_binary, package_dir
from .relay import loopback_relay

KUBECONFIG = os.environ.get("ARCADE_TEST_KUBECONFIG")
IMAGE = os.environ.get("ARCADE_TEST_IMAGE", "")
HUB_IMAGE = os.environ.get("ARCADE_TEST_HUB_IMAGE", "")
"""The hub image (arcade-hub with its `kube` extra), which the storage service runs from."""
BIN = Path(sys.executable).parent
UID, GID = 1000, 100

pytestmark = pytest.mark.skipif(
    not KUBECONFIG or not IMAGE or not HUB_IMAGE,
    reason="real cluster only: set ARCADE_TEST_KUBECONFIG, ARCADE_TEST_IMAGE (the notebook "
    "image) and ARCADE_TEST_HUB_IMAGE (the hub image), imported as in "
    "../shared/kube-cluster/README.md",
)

FAKE_HUB = """
import http.server, json, sys
users = json.loads(sys.argv[1])
service_token = sys.argv[2]
class Hub(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        token = self.headers.get("Authorization", "").split(" ")[-1]
        name = self.path.removeprefix("/hub/api/users/")
        if self.path == "/hub/api/user" and token in users:
            model = dict(users[token], kind="user",
                         scopes=["access:services!service=vospace"])
        elif token == service_token and name in {u["name"] for u in users.values()}:
            model = next(u for u in users.values() if u["name"] == name)
        else:
            self.send_response(403); self.end_headers(); return
        body = json.dumps(model).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", 8081), Hub).serve_forever()
"""


def eventually(check: Callable[[], bool], what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def storage_objects(namespace: str, public_url: str, users: dict[str, Any],
                    service_token: str, package_at: str) -> list[dict[str, Any]]:
    """The rendered objects, with the stand-in hub and this checkout's `arcade_hub` at
    `package_at` (where the image has its own)."""
    service = StorageService(image=HUB_IMAGE, name="vospace",
                             platform_file="/usr/local/etc/arcade/platform.yaml",
                             platform_key="arcade-platform",
                             hub_api_url="http://127.0.0.1:8081/hub/api", public_url=public_url)
    objects = build_storage_service(service, PlatformConfig.model_validate(document())
                                    .backend.kubernetes)
    pod = objects[0]["spec"]["template"]["spec"]
    main = pod["containers"][0]
    pod["volumes"].append({"name": "checkout", "hostPath": {
        "path": str(Path(arcade_hub.__file__).parent), "type": "Directory"}})
    main["volumeMounts"].append({"name": "checkout", "mountPath": package_at,
                                 "readOnly": True})
    pod["containers"].append({  # the hub's API, for this test only
        "name": "hub", "image": HUB_IMAGE, "imagePullPolicy": "IfNotPresent",
        "command": ["python3", "-c", FAKE_HUB, json.dumps(users), service_token],
        "securityContext": main["securityContext"]})
    for obj in objects:
        obj["metadata"]["namespace"] = namespace
    return objects


def document() -> dict[str, Any]:
    doc = json.loads(json.dumps(PLATFORM))
    for entry in doc["catalogue"]:
        entry["image"] = IMAGE
    kube = doc["backend"]["kubernetes"]
    kube["datasets"] = {}
    kube["image_pull_policy"] = "IfNotPresent"
    kube["security"] = {"uid": UID, "gid": GID, "fs_group": GID}
    doc["datasets"] = []
    return doc


def session_pod(namespace: str) -> dict[str, Any]:
    """Alice's notebook session pod as the spawner renders it, running a shell instead of
    the server: it writes a file in its home and stays up."""
    config = PlatformConfig.model_validate(document())
    spec = launch_spec(config, username="alice", groups=("astro",))
    pieces = build_pod_pieces(spec, config.backend.kubernetes, config.storage,
                              entry=config.entry("notebook"))
    pod: dict[str, Any] = serialize(pod_manifest(pieces, name="jupyter-alice"))
    pod["metadata"]["namespace"] = namespace
    main = next(c for c in pod["spec"]["containers"] if c["name"] == "notebook")
    main["command"] = ["sh", "-c",
                       'echo "written in a session" > "$HOME/from-session.txt"; '
                       "exec sleep 3600"]
    main.pop("args", None)
    return pod


def test_vls_and_vcp_reach_a_session_home(tmp_path: Path) -> None:
    namespace = f"arcade-vos-{secrets.token_hex(3)}"
    service_token, user_token = secrets.token_hex(16), secrets.token_hex(16)
    users = {user_token: {"name": "alice", "groups": ["astro"]}}
    tls = make_tls(tmp_path / "tls")
    relay_port, forward_port = free_port(), free_port()
    public_url = f"https://127.0.0.1:{relay_port}/services/vospace"
    claims = [{"apiVersion": "v1", "kind": "PersistentVolumeClaim",
               "metadata": {"name": name, "namespace": namespace},
               "spec": {"accessModes": ["ReadWriteMany"],
                        "resources": {"requests": {"storage": "1Gi"}}}}
              for name in ("arcade-home", "arcade-projects")]
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "hub", "namespace": namespace},
              "stringData": {"arcade-platform": yaml.safe_dump(document()),
                             "hub.services.vospace.apiToken": service_token}}
    kubectl("create", "namespace", namespace)
    forward: subprocess.Popen[str] | None = None
    try:
        kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                                      "items": [*claims, secret]}))
        kubectl("apply", "-f", "-", stdin=json.dumps(session_pod(namespace)))
        kubectl("wait", "-n", namespace, "--for=condition=ready", "--timeout=300s",
                "pod/jupyter-alice", timeout=320)

        def in_session(*command: str) -> str:
            return kubectl("exec", "-n", namespace, "jupyter-alice", "-c", "notebook", "--",
                           *command).stdout

        eventually(lambda: "from-session.txt" in in_session("ls", "/home/alice"),
                   "the session to write its file")
        service = storage_objects(namespace, public_url, users, service_token,
                                  package_dir(namespace, HUB_IMAGE))
        kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                                      "items": service}))
        kubectl("wait", "-n", namespace, "--for=condition=available", "--timeout=300s",
                "deployment/arcade-vospace", timeout=320)
        forward = subprocess.Popen(
            [kubectl_binary(), f"--kubeconfig={KUBECONFIG}", "port-forward", "-n", namespace,
             "--address=127.0.0.1", "deployment/arcade-vospace",
             f"{forward_port}:{STORAGE_PORT}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        eventually(lambda: port_open(forward_port), "kubectl port-forward", 60)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls.cert, tls.key)
        home = tmp_path / "client"
        home.mkdir()
        env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
               "VOSPACE_WEBSERVICE": f"127.0.0.1:{relay_port}",
               "PYTHONPATH": str(tls.trust), "CURL_CA_BUNDLE": str(tls.ca)}

        def vos(*command: str, token: str | None = user_token, ok: bool = True) -> str:
            done = subprocess.run([str(BIN / command[0]), *(["--token", token] if token else []),
                                   *command[1:]], env=env, cwd=tmp_path, capture_output=True,
                                  text=True, timeout=120)
            if not ok:
                assert done.returncode != 0
                return done.stderr
            if done.returncode != 0:
                log = kubectl("logs", "-n", namespace, "deployment/arcade-vospace", "-c",
                              "vospace", check=False).stdout[-4000:]
                raise AssertionError(f"{command}: {done.stderr}\nthe service's log:\n{log}")
            return done.stdout

        with loopback_relay(relay_port, "127.0.0.1", forward_port,
                            "vos talks https to the storage service through it", context):
            assert "from-session.txt" in vos("vls", "arcade:home/alice").split()
            vos("vcp", "arcade:home/alice/from-session.txt", str(tmp_path / "got.txt"))
            assert (tmp_path / "got.txt").read_text() == "written in a session\n"

            (tmp_path / "sent.txt").write_text("sent with vcp\n")
            vos("vcp", str(tmp_path / "sent.txt"), "arcade:home/alice/")
            assert in_session("cat", "/home/alice/sent.txt") == "sent with vcp\n"
            assert in_session("stat", "-c", "%u:%g", "/home/alice/sent.txt").split() == [
                f"{UID}:{GID}"]
            vos("vcp", str(tmp_path / "sent.txt"), "arcade:projects/astro/")
            assert in_session("cat", "/arcade/projects/astro/sent.txt") == "sent with vcp\n"

            # public: anyone fetches it without a token; group sharing needs a gid per group
            vos("vchmod", "o+r", "arcade:home/alice/sent.txt")
            vos("vcp", "arcade:home/alice/sent.txt", str(tmp_path / "public.txt"), token=None)
            assert (tmp_path / "public.txt").read_text() == "sent with vcp\n"
            refused = vos("vchmod", "g+r", "arcade:home/alice/sent.txt", "astro", ok=False)
            assert "there is no group 'astro' on this platform" in refused
    finally:
        if forward is not None:
            forward.terminate()
            forward.wait(10)
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)

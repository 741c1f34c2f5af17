"""Run the pods the Kubernetes builders produce with `podman kube play`, against the built
images, without a cluster; what podman cannot take as Kubernetes writes it is adapted here,
each for a named reason (podman 4.3):

- container `ports` would be published on the host (Kubernetes only declares them): removed;
- annotation values are refused above 63 characters (Kubernetes allows 256 KiB): removed;
- Secret volumes get the Secret's base64 text instead of its bytes (and podman crashes
  without `optional`): the Secret is projected the way the kubelet does it, into a directory
  mounted in its place (items, `defaultMode`, group `fsGroup`).
- command, args and env values are passed as written, without the kubelet's expansion of
  `$(VAR)` and `$$`: they are expanded here as the kubelet does (the builders escape every
  `$` for it).

Every pod of a test joins one network namespace, where a stub Hub API answers
(`StubHub`), as pods of one node reach each other and the hub.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from arcade_hub.images.conformance.podman import Podman
from arcade_hub.images.conformance.runtime import wait_for
from tests.kube.fake_api import kubelet_expand

Manifest = dict[str, Any]
PROCESSES = r"""
for p in /proc/[0-9]*; do
  [ -r "$p/cmdline" ] || continue
  cmd=$(tr '\0' ' ' < "$p/cmdline")
  [ -n "$cmd" ] || continue
  ids=$(awk '/^Uid:/ {u=$2} /^Gid:/ {g=$2} END {print u, g}' "$p/status")
  echo "${p#/proc/} $ids $cmd"
done
"""
"""Every process of the container: `pid uid gid cmdline` (as `ps` would, which images lack)."""


def project_secret(secret: Manifest, volume: Manifest, fs_group: int | None,
                   into: Path) -> None:
    """What the kubelet makes of a Secret volume: its items (or all keys) as files with
    `defaultMode`, group-owned by the pod's fsGroup."""
    source = volume["secret"]
    data = {k: base64.b64decode(v) for k, v in secret.get("data", {}).items()}
    items = source.get("items") or [{"key": k, "path": k} for k in data]
    into.mkdir(parents=True)
    into.chmod(0o755)
    for item in items:
        path = into / item["path"]
        path.write_bytes(data[item["key"]])
        path.chmod(source.get("defaultMode", 0o644))
        if fs_group is not None:
            os.chown(path, 0, fs_group)


def adapt(pod: Manifest, secrets_: dict[str, Manifest], tmp: Path) -> Manifest:
    """The pod as podman 4.3 runs what Kubernetes would (see the module docstring)."""
    pod = yaml.safe_load(yaml.safe_dump(pod))
    meta = pod["metadata"]
    meta["annotations"] = {k: v for k, v in (meta.get("annotations") or {}).items()
                           if len(v) <= 63}
    spec = pod["spec"]
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        container.pop("ports", None)
        env: dict[str, str] = {}
        for item in container.get("env", []):
            if "value" in item:
                item["value"] = env[item["name"]] = kubelet_expand(item["value"], env)
        for key in ("command", "args"):
            if key in container:
                container[key] = [kubelet_expand(a, env) for a in container[key]]
    fs_group = (spec.get("securityContext") or {}).get("fsGroup")
    for volume in spec.get("volumes", []):
        if "secret" in volume:
            into = tmp / f"secret-{meta['name']}-{volume['name']}"
            project_secret(secrets_[volume["secret"]["secretName"]], volume, fs_group, into)
            volume.pop("secret")
            volume["hostPath"] = {"path": str(into), "type": "Directory"}
    return pod


@dataclass
class Played:
    """A pod podman runs: its containers are `<pod>-<container>`."""

    podman: Podman
    name: str
    file: Path

    def container(self, name: str) -> str:
        return f"{self.name}-{name}"

    def exec(self, container: str, script: str) -> tuple[int, str]:
        done = self.podman.call(["exec", self.container(container), "sh", "-c", script],
                                timeout=60)
        return done.returncode, done.stdout + done.stderr

    def logs(self, container: str) -> str:
        """Both streams (Jupyter logs to stderr)."""
        done = self.podman.call(["logs", self.container(container)], timeout=60)
        return done.stdout + done.stderr

    def processes(self, container: str) -> list[tuple[int, int, int, str]]:
        status, out = self.exec(container, PROCESSES)
        assert status == 0, out
        rows = []
        for line in out.splitlines():
            pid, uid, gid, cmd = [*line.split(" ", 3), "", "", ""][:4]
            if not (uid.isdigit() and gid.isdigit()) or "/proc/[0-9]" in cmd:
                continue  # gone meanwhile, or this listing's own shell
            if cmd.startswith(("awk ", "tr ")):
                continue
            rows.append((int(pid), int(uid), int(gid), cmd.strip()))
        return rows

    def exit_code(self, container: str, timeout: float = 120) -> int:
        name = self.container(container)
        assert wait_for(lambda: not self.podman.running(name), timeout), f"{name} still runs"
        return int(self.podman.check(["inspect", "--format", "{{.State.ExitCode}}", name]))

    def pid(self, container: str) -> int:
        return self.podman.container_pid(self.container(container))


@contextlib.contextmanager
def play(podman: Podman, pod: Manifest, netns: str, tmp: Path,
         secrets_: dict[str, Manifest] | None = None) -> Iterator[Played]:
    """`podman kube play` the pod into `netns`; `podman kube down` and its claims' volumes
    removed afterwards."""
    adapted = adapt(pod, secrets_ or {}, tmp)
    file = tmp / f"{pod['metadata']['name']}.yaml"
    file.write_text(yaml.safe_dump(adapted))
    claims = {v["persistentVolumeClaim"]["claimName"] for v in adapted["spec"]["volumes"]
              if "persistentVolumeClaim" in v}
    # podman 4.3 pods cannot join a namespace by path: podman runs in it, the pod on "host"
    done = subprocess.run(
        ["nsenter", f"--net={netns}", *podman._global(), "kube", "play", "--network", "host",
         str(file)], capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        env=dict(podman.env) if podman.env is not None else None)
    try:
        assert done.returncode == 0, f"podman kube play {file.name}: {done.stderr[-2000:]}"
        yield Played(podman, pod["metadata"]["name"], file)
    finally:
        podman.call(["kube", "down", str(file)], timeout=120)
        for claim in claims:
            podman.call(["volume", "rm", "-f", claim], timeout=60)


_GET = """
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], headers={"Authorization": "token " + sys.argv[2]})
try:
    with urllib.request.urlopen(req, timeout=5) as r:
        print(r.status); print(r.read(4000).decode("utf-8", "replace"))
except urllib.error.HTTPError as e:
    print(e.code)
except Exception as e:
    print(0); print(e)
"""


def get(pid: int, url: str, token: str) -> tuple[int, str]:
    """GET `url` from inside the network namespace of `pid` (the pods' shared one)."""
    done = subprocess.run(["nsenter", "-t", str(pid), "-n", sys.executable, "-c", _GET, url,
                           token], capture_output=True, text=True, timeout=30)
    status, _, body = done.stdout.partition("\n")
    return int(status or 0), body


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"

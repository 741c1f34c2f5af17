"""Pure builders: a `LaunchSpec` rendered as the pieces of a Kubernetes pod.

No I/O. `build_pod_pieces` returns plain dicts and numbers shaped like KubeSpawner's traits;
`pod_manifest` assembles them with kubespawner's own `make_pod` (what the spawner does), so
tests can check whole pods without a hub or a cluster.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio.client import ApiClient, V1Pod
from kubespawner.objects import make_pod

from arcade_hub import contract
from arcade_hub.config import CatalogueEntry, Kind, StorageRoots
from arcade_hub.config.kubernetes import KubeBackend, Scheduling, Security
from arcade_hub.kube.names import LABEL_PREFIX, label_value, object_name
from arcade_hub.kube.volumes import (
    ClaimRequest,
    KubeLaunchError,
    Manifest,
    StoragePieces,
    build_storage,
)
from arcade_hub.launch.spec import LaunchSpec
from arcade_hub.launch.storage import session_environment

X11_VOLUME = "x11"
X11_DIR = "/tmp/.X11-unix"
APP_DISPLAY = ":1"
SESSION_VOLUME = "session"
SESSION_DIR = "/arcade/session"
"""Shared by the desktop and its X relay: `desktop.json` and the desktop's own cookie."""
X11_SECRET_VOLUME = "x11-cookie"
X11_SECRET_DIR = "/arcade/x11"
"""The session's X cookie (`cookie`, hex) and a FamilyWild `xauthority` for app pods."""
X_DISPLAY = 0
X_PORT = 6000 + X_DISPLAY
RELAY_COMMAND = ["python3", "-m", "arcade_hub.kube.xrelay"]


@dataclass(frozen=True)
class PosixIds:
    uid: int
    gid: int
    fs_group: int | None


@dataclass(frozen=True)
class PodPieces:
    """Everything KubeSpawner needs to render the session pod, as trait values.

    `cmd`, `environment` and the extra containers' command and env are as the pod carries
    them: every `$` doubled (`literal`), so that the kubelet's `$(VAR)` expansion gives the
    container the values of the launch spec unchanged."""

    image: str
    image_pull_policy: str | None
    image_pull_secrets: list[str]
    cmd: list[str]
    default_url: str
    working_dir: str
    cpu_limit: float
    cpu_guarantee: float
    mem_limit: int
    mem_guarantee: int
    extra_resource_limits: dict[str, str]
    extra_resource_guarantees: dict[str, str]
    node_selector: dict[str, str]
    tolerations: list[Manifest]
    labels: dict[str, str]
    annotations: dict[str, str]
    environment: dict[str, str]
    volumes: list[Manifest]
    volume_mounts: list[Manifest]
    pod_security_context: Manifest
    container_security_context: Manifest
    extra_containers: list[Manifest] = field(default_factory=list)
    extra_pod_config: Manifest = field(default_factory=dict)
    home_claim: ClaimRequest | None = None
    notebook_dir: str = ""
    """The Jupyter server's root directory (JupyterHub's `Spawner.notebook_dir`)."""


def literal(value: str) -> str:
    """`value` as written, for a container's command, args and env values: the kubelet
    expands `$(VAR)` there (and turns `$$` into `$`), so every `$` is doubled. Every pod
    builder (session pods, app pods, Jobs) passes what it puts there through this."""
    return value.replace("$", "$$")


def literal_env(values: dict[str, str]) -> dict[str, str]:
    return {k: literal(v) for k, v in values.items()}


def posix_ids(security: Security, username: str) -> PosixIds:
    """The uid/gid a user's sessions run as."""
    if security.run_as == "fixed":
        uid = security.uid
    else:
        try:
            uid = security.uids[username]
        except KeyError:
            raise KubeLaunchError(
                f"no uid is configured for {username!r} (security.run_as is per-user); "
                "ask the operators to add one"
            ) from None
    return PosixIds(uid=uid, gid=security.gid, fs_group=security.fs_group)


def security_contexts(ids: PosixIds) -> tuple[Manifest, Manifest]:
    """(pod, container) security contexts meeting Pod Security `restricted`."""
    pod: Manifest = {
        "runAsNonRoot": True,
        "runAsUser": ids.uid,
        "runAsGroup": ids.gid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if ids.fs_group is not None:
        pod["fsGroup"] = ids.fs_group
    container: Manifest = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "runAsUser": ids.uid,
        "runAsGroup": ids.gid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    return pod, container


def scheduling(kube: KubeBackend, spec: LaunchSpec) -> tuple[dict[str, str], list[Manifest]]:
    """Node selector and tolerations: defaults, then GPU pool, then the entry's own."""
    parts: list[Scheduling] = [kube.default_scheduling]
    if spec.gpus:
        parts.append(kube.gpu_scheduling)
    if spec.entry and spec.entry in kube.scheduling:
        parts.append(kube.scheduling[spec.entry])
    selector: dict[str, str] = {}
    tolerations: list[Manifest] = []
    for part in parts:
        selector.update(part.node_selector)
        for t in part.tolerations:
            manifest = t.manifest()
            if manifest not in tolerations:
                tolerations.append(manifest)
    return selector, tolerations


def labels_and_annotations(
    kube: KubeBackend, spec: LaunchSpec, entry: CatalogueEntry | None
) -> tuple[dict[str, str], dict[str, str]]:
    labels = {
        **kube.labels,
        "app.kubernetes.io/part-of": "arcade-hub",
        f"{LABEL_PREFIX}kind": spec.kind.value,
        f"{LABEL_PREFIX}entry": label_value(spec.entry or "custom"),
        f"{LABEL_PREFIX}image": label_value(spec.image),
        f"{LABEL_PREFIX}session": label_value(spec.session_id),
    }
    annotations = {
        **kube.annotations,
        f"{LABEL_PREFIX}kind": spec.kind.value,
        f"{LABEL_PREFIX}image": spec.image,
        f"{LABEL_PREFIX}session": spec.session_id,
        f"{LABEL_PREFIX}summary": spec.summary(),
    }
    if spec.dataset:
        labels[f"{LABEL_PREFIX}dataset"] = label_value(spec.dataset)
        annotations[f"{LABEL_PREFIX}dataset"] = spec.dataset
    if entry is not None and entry.versions:
        annotations[f"{LABEL_PREFIX}versions"] = json.dumps(entry.versions, sort_keys=True)
    return labels, annotations


def environment(spec: LaunchSpec, storage: StoragePieces) -> dict[str, str]:
    """The session's own env, then HOME and the ARCADE_* contract (which always wins)."""
    p = storage.paths
    return {
        **spec.env,
        "HOME": p.home,
        **session_environment(
            spec, home=p.home, projects=p.projects, datasets=p.datasets, scratch=p.scratch
        ),
    }


# long: every kind's pod in one place until the builders move to kube/objects (issue 12)
def build_pod_pieces(
    spec: LaunchSpec,
    kube: KubeBackend,
    roots: StorageRoots,
    *,
    entry: CatalogueEntry | None = None,
    desktop: CatalogueEntry | None = None,
) -> PodPieces:
    """Render `spec` (and its catalogue `entry`) for Kubernetes.

    `desktop` is the entry hosting a desktop-app (`spec.desktop`); its image runs the
    session, the app runs beside it in a second container sharing the X socket.
    """
    storage = build_storage(spec, kube, roots)
    ids = posix_ids(kube.security, spec.username)
    pod_sc, container_sc = security_contexts(ids)
    selector, tolerations = scheduling(kube, spec)
    labels, annotations = labels_and_annotations(kube, spec, entry)
    env = environment(spec, storage)

    mem_limit = round(spec.ram_gib * 2**30)
    gpus = {kube.gpu_resource: str(spec.gpus)} if spec.gpus else {}
    image = spec.image
    base_cmd = list(kube.commands.get(spec.kind.value, []))
    cmd = base_cmd
    default_url = ""
    volumes, mounts = list(storage.volumes), list(storage.mounts)
    extra_containers: list[Manifest] = []
    extra_pod_config: Manifest = {}
    x11: DesktopX11 | None = None

    if spec.kind in (Kind.desktop, Kind.desktop_app):
        x11 = desktop_x11(spec, desktop.image if desktop else image, kube, container_sc)
        volumes += x11.volumes
        mounts += x11.mounts
        env = {**env, **x11.env}
    if spec.kind == Kind.desktop:
        default_url = kube.desktop_url
    elif spec.kind == Kind.desktop_app:
        if desktop is None:
            raise KubeLaunchError(f"{spec.title} needs a desktop to open on, and none was given")
        image = desktop.image
        default_url = kube.desktop_url
        annotations[f"{LABEL_PREFIX}desktop"] = desktop.name
        app: Manifest = {
            "name": "app",
            "image": spec.image,
            "env": [{"name": k, "value": literal(v)} for k, v in sorted(env.items())]
            + [{"name": "DISPLAY", "value": APP_DISPLAY}],
            "volumeMounts": list(mounts),
            "workingDir": storage.paths.home,
            "securityContext": container_sc,
            # the session's requests are counted once, on the desktop container; either
            # container may use up to the chosen limits
            "resources": {"limits": {"cpu": spec.cores, "memory": mem_limit},
                          "requests": {"cpu": "10m", "memory": "32Mi"}},
        }
        if spec.cmd or spec.args:
            app["command"] = [literal(c) for c in (*spec.cmd, *spec.args)]
        if kube.image_pull_policy:
            app["imagePullPolicy"] = kube.image_pull_policy
        extra_containers.append(app)
    elif spec.kind == Kind.headless:
        cmd = [*base_cmd, *spec.cmd, *spec.args]
        if not cmd:
            raise KubeLaunchError(f"{spec.title} is a batch image and needs a command to run")
        extra_pod_config = {"restartPolicy": "Never"}
    if x11 is not None:
        extra_containers.append(x11.relay)  # after the app: tools read the app first
    notebook_dir = ""
    if spec.kind != Kind.headless:
        notebook_dir, home_path, home_again = file_browser(storage)
        mounts += home_again
        default_url = default_url or f"/lab/tree/{home_path}"

    return PodPieces(
        image=image,
        image_pull_policy=kube.image_pull_policy,
        image_pull_secrets=list(kube.image_pull_secrets),
        cmd=[literal(c) for c in cmd],
        default_url=default_url,
        working_dir=storage.paths.home,
        cpu_limit=spec.cores,
        cpu_guarantee=round(spec.cores * kube.cpu_guarantee, 3),
        mem_limit=mem_limit,
        mem_guarantee=round(mem_limit * kube.memory_guarantee),
        extra_resource_limits=gpus,
        extra_resource_guarantees=dict(gpus),
        node_selector=selector,
        tolerations=tolerations,
        labels=labels,
        annotations=annotations,
        environment=literal_env(env),
        volumes=volumes,
        volume_mounts=mounts,
        pod_security_context=pod_sc,
        container_security_context=container_sc,
        extra_containers=extra_containers,
        extra_pod_config=extra_pod_config,
        home_claim=storage.home_claim,
        notebook_dir=notebook_dir,
    )


def file_browser(storage: StoragePieces) -> tuple[str, str, list[Manifest]]:
    """What JupyterLab's file browser shows: the Jupyter server's root directory, the home's
    path below it (where JupyterLab opens), and the mounts that put the home there.

    The root is the folder holding the project spaces, datasets and scratch (`/arcade` by
    default), with the home volume mounted a second time as its `home`: all four side by
    side. Where they have no common folder but `/`, or the home already lies in it, the root
    is the common folder of all four and the home is not mounted again."""
    p = storage.paths
    root = posixpath.commonpath([p.projects, p.datasets, p.scratch])
    inside = posixpath.commonpath([root, p.home]) == root
    if root == "/" or inside or posixpath.join(root, "home") in (p.projects, p.datasets,
                                                                  p.scratch):
        root = posixpath.commonpath([root, p.home])
        return root, posixpath.relpath(p.home, root), []
    home = next(m for m in storage.mounts if m["name"] == "home")
    return root, "home", [{**home, "mountPath": posixpath.join(root, "home")}]


def x11_secret_name(session_id: str) -> str:
    """The Secret holding a desktop session's X cookie (known before the pod exists)."""
    return object_name("arcade-x11-", session_id)


@dataclass(frozen=True)
class DesktopX11:
    """What a desktop pod adds so that app pods can draw on it over TCP."""

    volumes: list[Manifest]
    mounts: list[Manifest]
    env: dict[str, str]
    relay: Manifest


def desktop_x11(
    spec: LaunchSpec, image: str, kube: KubeBackend, container_sc: Manifest
) -> DesktopX11:
    """The X socket and session directory shared with the relay sidecar, and the relay."""
    x11 = {"name": X11_VOLUME, "mountPath": X11_DIR}
    session = {"name": SESSION_VOLUME, "mountPath": SESSION_DIR}
    cookie = {"name": X11_SECRET_VOLUME, "mountPath": X11_SECRET_DIR, "readOnly": True}
    relay: Manifest = {
        "name": "x11-relay",
        "image": image,
        "command": [*RELAY_COMMAND, "--session-dir", SESSION_DIR,
                    "--cookie-file", f"{X11_SECRET_DIR}/cookie", "--display", str(X_DISPLAY)],
        "ports": [{"name": "x11", "containerPort": X_PORT, "protocol": "TCP"}],
        "volumeMounts": [x11, session, cookie],
        "securityContext": container_sc,
        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"},
                      "requests": {"cpu": "10m", "memory": "32Mi"}},
    }
    if kube.image_pull_policy:
        relay["imagePullPolicy"] = kube.image_pull_policy
    volumes: list[Manifest] = [
        {"name": X11_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
        {"name": SESSION_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
        {"name": X11_SECRET_VOLUME, "secret": {
            "secretName": x11_secret_name(spec.session_id),
            "items": [{"key": "cookie", "path": "cookie"}],
            "defaultMode": 0o440 if kube.security.fs_group is not None else 0o444,
        }},
    ]
    return DesktopX11(volumes=volumes, mounts=[x11, session],
                      env={contract.SESSION_DIR: SESSION_DIR}, relay=relay)


def pod_manifest(
    pieces: PodPieces, *, name: str, port: int = 8888, env: dict[str, str] | None = None
) -> V1Pod:
    """The whole pod, assembled the way KubeSpawner assembles it (for tests and tools)."""
    pod: V1Pod = make_pod(
        name=name,
        cmd=pieces.cmd or None,
        port=port,
        image=pieces.image,
        image_pull_policy=pieces.image_pull_policy,
        image_pull_secrets=pieces.image_pull_secrets or None,
        node_selector=pieces.node_selector,
        container_security_context=pieces.container_security_context,
        pod_security_context=pieces.pod_security_context,
        env={**pieces.environment, **(env or {})},
        working_dir=pieces.working_dir,
        volumes=pieces.volumes,
        volume_mounts=pieces.volume_mounts,
        labels=pieces.labels,
        annotations=pieces.annotations,
        cpu_limit=pieces.cpu_limit,
        cpu_guarantee=pieces.cpu_guarantee,
        mem_limit=pieces.mem_limit,
        mem_guarantee=pieces.mem_guarantee,
        extra_resource_limits=pieces.extra_resource_limits,
        extra_resource_guarantees=pieces.extra_resource_guarantees,
        extra_pod_config=pieces.extra_pod_config,
        extra_containers=pieces.extra_containers,
        tolerations=pieces.tolerations,
    )
    return pod


_SERIALIZER = ApiClient.__new__(ApiClient)
"""`ApiClient.sanitize_for_serialization` needs no connection: skip `__init__`, which opens an
aiohttp session."""


def serialize(obj: Any) -> Any:
    """A Kubernetes model as the JSON the API server receives."""
    return _SERIALIZER.sanitize_for_serialization(obj)

"""Pure builders: the pieces of Kubernetes objects, each decided in one place.

No I/O. `build_pod_pieces` renders a `LaunchSpec` as the pieces of a session pod, shaped like
KubeSpawner's traits. Resources (`resources`), labels (`object_labels`,
`labels_and_annotations`), identity, scheduling and secret modes (`secret_mode`) are decided
here once for every pod and object; the objects themselves (session pods, app pods, Jobs,
Secrets, NetworkPolicies, claims) are assembled in `arcade_hub.kube.objects`.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field

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
from arcade_hub.sizes import gib_to_bytes

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

PART_OF = {"app.kubernetes.io/part-of": "arcade-hub"}
ROLE = f"{LABEL_PREFIX}role"
USER = f"{LABEL_PREFIX}user"
SESSION = f"{LABEL_PREFIX}session"
JOB = f"{LABEL_PREFIX}job"
APP_ROLE = "desktop-app"
JOB_ROLE = "job"
SESSION_SELECTOR = {"component": "singleuser-server"}
"""KubeSpawner's label on session pods (z2jh's policies select it too)."""
SIDECAR_REQUESTS = {"cpu": "10m", "memory": "32Mi"}
"""What a container beside the session's own asks for: the session's requests are counted
once, on its main container."""


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
    init_containers: list[Manifest] = field(default_factory=list)
    notebook_dir: str = ""
    """The Jupyter server's root directory (JupyterHub's `Spawner.notebook_dir`)."""


def literal(value: str) -> str:
    """`value` as written, for a container's command, args and env values: the kubelet
    expands `$(VAR)` there (and turns `$$` into `$`), so every `$` is doubled. Every pod
    builder (session pods, app pods, Jobs) passes what it puts there through this."""
    return value.replace("$", "$$")


def literal_env(values: dict[str, str]) -> dict[str, str]:
    return {k: literal(v) for k, v in values.items()}


@dataclass(frozen=True)
class Resources:
    """A session's resources, from its spec and the backend's guarantees: CPU in cores,
    memory in bytes (`sizes.gib_to_bytes`, the rule of every backend), GPUs as extended
    resources."""

    cpu_limit: float
    cpu_guarantee: float
    mem_limit: int
    mem_guarantee: int
    extra: dict[str, str]

    def limits(self) -> Manifest:
        """CPU and memory limits as quantities (without GPUs: a device is one container's)."""
        return {"cpu": f"{self.cpu_limit:g}", "memory": str(self.mem_limit)}

    def container(self) -> Manifest:
        """The resources of a container holding the session: limits and requests."""
        return {"limits": {**self.limits(), **self.extra}, "requests": {
            "cpu": f"{self.cpu_guarantee:g}", "memory": str(self.mem_guarantee),
            **self.extra}}


def resources(spec: LaunchSpec, kube: KubeBackend) -> Resources:
    mem_limit = gib_to_bytes(spec.ram_gib)
    return Resources(
        cpu_limit=spec.cores,
        cpu_guarantee=round(spec.cores * kube.cpu_guarantee, 3),
        mem_limit=mem_limit,
        mem_guarantee=round(mem_limit * kube.memory_guarantee),
        extra={kube.gpu_resource: str(spec.gpus)} if spec.gpus else {},
    )


def secret_mode(kube: KubeBackend) -> int:
    """The mode of the X cookie's files in every pod that mounts them: readable by the pod's
    fsGroup when there is one, else by all (the pod's only user)."""
    return 0o440 if kube.security.fs_group is not None else 0o444


def object_labels(*, session: str | None = None, user: str | None = None) -> dict[str, str]:
    """The labels of Arcade's objects that are not pods (Secrets, NetworkPolicies, claims)."""
    labels = dict(PART_OF)
    if session is not None:
        labels[SESSION] = label_value(session)
    if user is not None:
        labels[USER] = label_value(user)
    return labels


def user_selector(username: str) -> dict[str, str]:
    """Labels of a user's app pods, as the desktop's NetworkPolicy selects them."""
    return {ROLE: APP_ROLE, USER: label_value(username)}


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


SCRATCH_OWNER = "scratch-owner"
SCRATCH_OWNER_DIR = "/scratch"


def scratch_owner(kube: KubeBackend, ids: PosixIds, image: str) -> list[Manifest]:
    """With `scratch.mode: hostPath`, the init container that gives the session's scratch
    directory to its uid/gid: the kubelet makes `<host_path>/<session>` as root, mode 0755,
    and fsGroup does not apply to hostPath volumes. It runs as root with only CAP_CHOWN and
    mounts nothing but that one directory (`chown`, not recursive: the mount point itself).
    hostPath volumes need Pod Security `privileged` already. Other modes: none."""
    if kube.scratch.mode != "hostPath":
        return []
    init: Manifest = {
        "name": SCRATCH_OWNER,
        "image": image,
        "command": ["chown", f"{ids.uid}:{ids.gid}", SCRATCH_OWNER_DIR],
        "volumeMounts": [{"name": "scratch", "mountPath": SCRATCH_OWNER_DIR}],
        "securityContext": {"runAsUser": 0, "runAsGroup": 0, "runAsNonRoot": False,
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"], "add": ["CHOWN"]}},
        "resources": {"limits": {"cpu": "100m", "memory": "64Mi"},
                      "requests": {"cpu": "10m", "memory": "32Mi"}},
    }
    if kube.image_pull_policy:
        init["imagePullPolicy"] = kube.image_pull_policy
    return [init]


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
        **PART_OF,
        f"{LABEL_PREFIX}kind": spec.kind.value,
        f"{LABEL_PREFIX}entry": label_value(spec.entry or "custom"),
        f"{LABEL_PREFIX}image": label_value(spec.image),
        SESSION: label_value(spec.session_id),
    }
    annotations = {
        **kube.annotations,
        f"{LABEL_PREFIX}kind": spec.kind.value,
        f"{LABEL_PREFIX}image": spec.image,
        SESSION: spec.session_id,
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
    res = resources(spec, kube)
    kind = kind_parts(spec, kube, storage, container_sc, res, entry=entry, desktop=desktop)
    annotations.update(kind.annotations)
    notebook_dir = ""
    if spec.kind != Kind.headless:
        notebook_dir, home_path, home_again = file_browser(storage)
        kind.mounts += home_again
        kind.default_url = kind.default_url or f"/lab/tree/{home_path}"
    return PodPieces(
        image=kind.image,
        image_pull_policy=kube.image_pull_policy,
        image_pull_secrets=list(kube.image_pull_secrets),
        cmd=[literal(c) for c in kind.cmd],
        default_url=kind.default_url,
        working_dir=storage.paths.home,
        cpu_limit=res.cpu_limit,
        cpu_guarantee=res.cpu_guarantee,
        mem_limit=res.mem_limit,
        mem_guarantee=res.mem_guarantee,
        extra_resource_limits=res.extra,
        extra_resource_guarantees=dict(res.extra),
        node_selector=selector,
        tolerations=tolerations,
        labels=labels,
        annotations=annotations,
        environment=literal_env(kind.env),
        volumes=kind.volumes,
        volume_mounts=kind.mounts,
        pod_security_context=pod_sc,
        container_security_context=container_sc,
        extra_containers=kind.extra_containers,
        extra_pod_config=kind.extra_pod_config,
        home_claim=storage.home_claim,
        init_containers=scratch_owner(kube, ids, kind.image),
        notebook_dir=notebook_dir,
    )


@dataclass
class KindParts:
    """What a session pod's kind decides: the image and command it runs, where the browser
    lands, its volumes, mounts and environment, and the containers beside it."""

    image: str
    cmd: list[str]
    env: dict[str, str]
    volumes: list[Manifest]
    mounts: list[Manifest]
    default_url: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    extra_containers: list[Manifest] = field(default_factory=list)
    extra_pod_config: Manifest = field(default_factory=dict)


def kind_parts(
    spec: LaunchSpec, kube: KubeBackend, storage: StoragePieces, container_sc: Manifest,
    res: Resources, *, entry: CatalogueEntry | None, desktop: CatalogueEntry | None,
) -> KindParts:
    """A desktop gets the X socket and relay; a desktop app runs on its desktop's image with
    the app beside it; a headless session runs its command once."""
    parts = KindParts(image=spec.image, cmd=kube.start_command(spec.kind.value, entry),
                      env=environment(spec, storage), volumes=list(storage.volumes),
                      mounts=list(storage.mounts))
    x11: DesktopX11 | None = None
    if spec.kind in (Kind.desktop, Kind.desktop_app):
        x11 = desktop_x11(spec, desktop.image if desktop else spec.image, kube, container_sc)
        parts.volumes += x11.volumes
        parts.mounts += x11.mounts
        parts.env.update(x11.env)
        parts.default_url = kube.desktop_url
    if spec.kind == Kind.desktop_app:
        if desktop is None:
            raise KubeLaunchError(f"{spec.title} needs a desktop to open on, and none was given")
        parts.image = desktop.image
        parts.annotations[f"{LABEL_PREFIX}desktop"] = desktop.name
        parts.extra_containers.append(app_container(
            spec, entry, kube, parts.env, parts.mounts, storage.paths.home, container_sc, res))
    elif spec.kind == Kind.headless:
        parts.cmd += [*spec.cmd, *spec.args]
        if not parts.cmd:
            raise KubeLaunchError(f"{spec.title} is a batch image and needs a command to run")
        parts.extra_pod_config = {"restartPolicy": "Never"}
    if x11 is not None:
        parts.extra_containers.append(x11.relay)  # after the app: tools read the app first
    return parts


def app_container(
    spec: LaunchSpec, entry: CatalogueEntry | None, kube: KubeBackend, env: dict[str, str],
    mounts: list[Manifest], home: str, container_sc: Manifest, res: Resources,
) -> Manifest:
    """A desktop-app session's app, in a container beside its desktop's, drawing on the
    shared X socket. The session's requests are counted once, on the desktop container;
    either container may use up to the chosen limits."""
    app: Manifest = {
        "name": "app",
        "image": spec.image,
        "env": [*env_list(env), {"name": "DISPLAY", "value": APP_DISPLAY}],
        "volumeMounts": list(mounts),
        "workingDir": home,
        "securityContext": container_sc,
        "resources": {"limits": res.limits(), "requests": dict(SIDECAR_REQUESTS)},
    }
    if spec.cmd or spec.args:
        app["command"] = [literal(c) for c in (*spec.cmd, *spec.args)]
    elif entry is not None and entry.local is not None and entry.local.cmd:
        app["args"] = [literal(c) for c in entry.local.cmd]  # as app pods do
    if kube.image_pull_policy:
        app["imagePullPolicy"] = kube.image_pull_policy
    return app


def env_list(values: dict[str, str]) -> list[Manifest]:
    """A container's `env`, sorted, every value literal for the kubelet."""
    return [{"name": k, "value": literal(v)} for k, v in sorted(values.items())]


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
                      "requests": dict(SIDECAR_REQUESTS)},
    }
    if kube.image_pull_policy:
        relay["imagePullPolicy"] = kube.image_pull_policy
    volumes: list[Manifest] = [
        {"name": X11_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
        {"name": SESSION_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
        {"name": X11_SECRET_VOLUME, "secret": {
            "secretName": x11_secret_name(spec.session_id),
            "items": [{"key": "cookie", "path": "cookie"}],
            "defaultMode": secret_mode(kube),
        }},
    ]
    return DesktopX11(volumes=volumes, mounts=[x11, session],
                      env={contract.SESSION_DIR: SESSION_DIR}, relay=relay)

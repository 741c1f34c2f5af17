"""Pure builders: a launch spec's storage as pod volumes and volume mounts.

- home: one shared claim with a sub-folder per user, or a claim per user; mounted at
  `storage.home_mount` in every container of the user;
- project spaces: read-write, one per group of the user;
- datasets: read-only, volume source per dataset id from `backend.kubernetes.datasets`;
- scratch: per session (emptyDir, a generic ephemeral volume, or a node directory).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arcade_hub.config import StorageRoots
from arcade_hub.config.kubernetes import (
    HostPathSource,
    KubeBackend,
    NfsSource,
    PvcSource,
)
from arcade_hub.kube.names import object_name, path_component
from arcade_hub.launch.spec import LaunchSpec, MountKind
from arcade_hub.launch.storage import TreeRoots

Manifest = dict[str, Any]


class KubeLaunchError(ValueError):
    """The launch cannot be rendered for Kubernetes with this configuration."""


@dataclass(frozen=True)
class ClaimRequest:
    """A claim the spawner must make sure exists before the pod starts (home per user)."""

    name: str
    capacity: str
    storage_class: str | None
    access_modes: tuple[str, ...]


@dataclass(frozen=True)
class ContainerPaths:
    """Where storage appears inside containers (also the ARCADE_* environment)."""

    home: str
    projects: str
    datasets: str
    scratch: str


@dataclass(frozen=True)
class StoragePieces:
    volumes: list[Manifest] = field(default_factory=list)
    mounts: list[Manifest] = field(default_factory=list)
    paths: ContainerPaths = ContainerPaths("", "", "", "")
    home_claim: ClaimRequest | None = None


def container_paths(roots: StorageRoots, username: str) -> ContainerPaths:
    return ContainerPaths(
        home=roots.home_mount.replace("{username}", path_component(username)),
        projects=roots.projects_mount,
        datasets=roots.datasets_mount,
        scratch=roots.scratch_mount,
    )


def claim_sub_path(name: str) -> str:
    """The folder of a user's home or a group's project space inside a shared claim: the
    `subPath` every pod of theirs mounts, and where the storage service finds it."""
    return path_component(name)


def home_claim_name(kube: KubeBackend, username: str) -> str:
    return object_name(kube.home.claim_prefix, username)


def build_storage(spec: LaunchSpec, kube: KubeBackend, roots: StorageRoots) -> StoragePieces:
    """Volumes and mounts for every storage mount of `spec`."""
    paths = container_paths(roots, spec.username)
    volumes: list[Manifest] = []
    mounts: list[Manifest] = []

    home_claim: ClaimRequest | None = None
    if kube.home.mode == "shared-claim":
        volumes.append(_pvc("home", kube.home.claim))
        mounts.append(
            {"name": "home", "mountPath": paths.home, "subPath": claim_sub_path(spec.username)}
        )
    else:
        name = home_claim_name(kube, spec.username)
        home_claim = ClaimRequest(
            name=name,
            capacity=kube.home.capacity,
            storage_class=kube.home.storage_class,
            access_modes=tuple(kube.home.access_modes),
        )
        volumes.append(_pvc("home", name))
        mounts.append({"name": "home", "mountPath": paths.home})

    groups = [m.name for m in spec.mounts_of(MountKind.project)]
    if kube.projects.enabled and groups:
        if kube.projects.mode == "shared-claim":
            volumes.append(_pvc("projects", kube.projects.claim))
        for group in groups:
            folder = claim_sub_path(group)
            mount = {"mountPath": f"{paths.projects}/{folder}"}
            if kube.projects.mode == "shared-claim":
                mount |= {"name": "projects", "subPath": folder}
            else:
                volume_name = object_name("project-", group)
                claim = object_name(kube.projects.claim_prefix, group)
                volumes.append(_pvc(volume_name, claim))
                mount["name"] = volume_name
            mounts.append(mount)

    for m in spec.mounts_of(MountKind.dataset):
        volume, mount = _dataset(kube, m.name, f"{paths.datasets}/{path_component(m.name)}")
        volumes.append(volume)
        mounts.append(mount)

    if spec.mounts_of(MountKind.scratch):
        volumes.append(_scratch(kube, spec.session_id))
        mounts.append({"name": "scratch", "mountPath": paths.scratch})

    return StoragePieces(volumes=volumes, mounts=mounts, paths=paths, home_claim=home_claim)


def _pvc(name: str, claim: str, *, read_only: bool = False) -> Manifest:
    source: Manifest = {"claimName": claim}
    if read_only:
        source["readOnly"] = True
    return {"name": name, "persistentVolumeClaim": source}


def _dataset(kube: KubeBackend, dataset_id: str, mount_path: str) -> tuple[Manifest, Manifest]:
    source = kube.datasets.get(dataset_id)
    if source is None:
        raise KubeLaunchError(
            f"dataset {dataset_id!r} has no volume on this Kubernetes platform "
            f"(operators: add it under backend.kubernetes.datasets)"
        )
    name = object_name("dataset-", dataset_id)
    mount: Manifest = {"name": name, "mountPath": mount_path, "readOnly": True}
    if isinstance(source, PvcSource):
        volume = _pvc(name, source.claim, read_only=True)
        if source.sub_path:
            mount["subPath"] = source.sub_path
    elif isinstance(source, NfsSource):
        volume = {"name": name, "nfs": {"server": source.server, "path": source.path,
                                        "readOnly": True}}
    else:
        assert isinstance(source, HostPathSource)
        volume = {"name": name, "hostPath": {"path": source.path, "type": "Directory"}}
    return volume, mount


def _scratch(kube: KubeBackend, session_id: str) -> Manifest:
    s = kube.scratch
    if s.mode == "emptyDir":
        empty: Manifest = {"sizeLimit": s.size}
        if s.medium:
            empty["medium"] = s.medium
        return {"name": "scratch", "emptyDir": empty}
    if s.mode == "ephemeral":
        claim_spec: Manifest = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": s.size}},
        }
        if s.storage_class:
            claim_spec["storageClassName"] = s.storage_class
        return {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": claim_spec}}}
    path = f"{s.host_path.rstrip('/')}/{path_component(session_id)}"
    return {"name": "scratch", "hostPath": {"path": path, "type": "DirectoryOrCreate"}}


SERVICE_HOMES = "/arcade/storage/home"
"""Where the storage service's pod mounts the shared claim of homes (whole)."""
SERVICE_PROJECTS = "/arcade/storage/projects"
"""Where the storage service's pod mounts the shared claim of project spaces (whole)."""


def storage_service_problem(kube: KubeBackend) -> str | None:
    """Why the storage service cannot serve this platform's claims, or None.

    It mounts the claims once, whole, and runs as the sessions' uid: claims made per user or
    per group, and uids per user, would need a pod per user."""
    problems = []
    if kube.home.mode != "shared-claim":
        problems.append(f"home.mode is {kube.home.mode}")
    if kube.projects.enabled and kube.projects.mode != "shared-claim":
        problems.append(f"projects.mode is {kube.projects.mode}")
    if kube.security.run_as != "fixed":
        problems.append(f"security.run_as is {kube.security.run_as}")
    if not problems:
        return None
    return (
        f"the storage service (vospace) on Kubernetes needs shared claims and one uid for all "
        f"sessions, but {', '.join(problems)}: set `vospace: {{enabled: false}}` or use "
        "`shared-claim` and `run_as: fixed`"
    )


def service_tree_roots() -> TreeRoots:
    """Homes and project spaces as the storage service's pod sees them: the shared claims
    mounted whole, each user's or group's folder named as the sessions' `subPath`."""
    return TreeRoots(
        homes=Path(SERVICE_HOMES), projects=Path(SERVICE_PROJECTS), name=claim_sub_path,
        per_user=False,
    )


def service_storage(kube: KubeBackend) -> tuple[list[Manifest], list[Manifest]]:
    """The storage service pod's volumes and mounts: the sessions' shared claims, whole."""
    problem = storage_service_problem(kube)
    if problem:
        raise KubeLaunchError(problem)
    volumes = [_pvc("home", kube.home.claim)]
    mounts: list[Manifest] = [{"name": "home", "mountPath": SERVICE_HOMES}]
    if kube.projects.enabled:
        volumes.append(_pvc("projects", kube.projects.claim))
        mounts.append({"name": "projects", "mountPath": SERVICE_PROJECTS})
    return volumes, mounts

"""Pure builders: a launch spec's storage as pod volumes and volume mounts.

- home: one shared claim with a sub-folder per user, or a claim per user; mounted at
  `storage.home_mount` in every container of the user;
- project spaces: read-write, one per group of the user;
- datasets: read-only, volume source per dataset id from `backend.kubernetes.datasets`;
- scratch: per session (emptyDir, a generic ephemeral volume, or a node directory).
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
            {"name": "home", "mountPath": paths.home, "subPath": path_component(spec.username)}
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
            folder = path_component(group)
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

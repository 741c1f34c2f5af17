"""Settings of the Kubernetes backend (`backend.kubernetes` in the platform document)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, model_validator

from arcade_hub.config.base import Model

if TYPE_CHECKING:
    from arcade_hub.config.catalogue import CatalogueEntry

KindName = Literal["notebook", "desktop", "desktop-app", "headless"]
PodSecurityLevel = Literal["restricted", "baseline", "privileged"]
AccessMode = Literal["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod"]


class Toleration(Model):
    """A Kubernetes toleration (see the Kubernetes `Toleration` reference)."""

    key: str | None = Field(None, title="Key", description="Taint key; empty with `Exists` "
                            "tolerates everything.")
    operator: Literal["Exists", "Equal"] = Field(
        "Equal", title="Operator", description="`Equal` matches `value`; `Exists` any value."
    )
    value: str | None = Field(None, title="Value", description="Taint value for `Equal`.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        None, title="Effect", description="Taint effect to tolerate; empty means all effects."
    )
    toleration_seconds: int | None = Field(
        None, title="Toleration seconds", description="For `NoExecute`: how long to stay bound."
    )

    def manifest(self) -> dict[str, object]:
        out: dict[str, object] = {"operator": self.operator}
        if self.key is not None:
            out["key"] = self.key
        if self.value is not None:
            out["value"] = self.value
        if self.effect is not None:
            out["effect"] = self.effect
        if self.toleration_seconds is not None:
            out["tolerationSeconds"] = self.toleration_seconds
        return out


class Scheduling(Model):
    """Where pods of a catalogue entry may run."""

    node_selector: dict[str, str] = Field(
        default_factory=dict,
        title="Node selector",
        description="Node labels the pod requires, e.g. `{arcade.io/pool: casa}`.",
    )
    tolerations: list[Toleration] = Field(
        default_factory=list,
        title="Tolerations",
        description="Taints the pod tolerates, e.g. a dedicated GPU pool.",
    )


class PvcSource(Model):
    """Storage from an existing PersistentVolumeClaim (allowed under every Pod Security level)."""

    type: Literal["pvc"] = Field("pvc", title="Type", description="A PersistentVolumeClaim.")
    claim: str = Field(title="Claim name", description="Name of the claim in the namespace.")
    sub_path: str = Field(
        "", title="Sub-path", description="Folder inside the claim to mount (empty: its root)."
    )


class NfsSource(Model):
    """An NFS export mounted directly (needs Pod Security `baseline` or `privileged`)."""

    type: Literal["nfs"] = Field("nfs", title="Type", description="An NFS export.")
    server: str = Field(title="Server", description="NFS server host name or address.")
    path: str = Field(title="Export path", description="Exported path on the server.")


class HostPathSource(Model):
    """A directory on every node (needs Pod Security `privileged`)."""

    type: Literal["hostPath"] = Field("hostPath", title="Type", description="A node directory.")
    path: str = Field(title="Node path", description="Directory on the node.")


VolumeSource = Annotated[PvcSource | NfsSource | HostPathSource, Field(discriminator="type")]


def _read_write_many() -> list[AccessMode]:
    return ["ReadWriteMany"]


class HomeStorage(Model):
    """Where users' homes live. The home is mounted at `storage.home_mount` in every container."""

    mode: Literal["shared-claim", "claim-per-user"] = Field(
        "shared-claim",
        title="Mode",
        description=(
            "`shared-claim`: one ReadWriteMany claim, one sub-folder per user; "
            "`claim-per-user`: a claim per user, created on first launch."
        ),
    )
    claim: str = Field(
        "arcade-home",
        title="Shared claim",
        description="With `shared-claim`: the existing ReadWriteMany claim holding all homes.",
    )
    claim_prefix: str = Field(
        "arcade-home-",
        title="Per-user claim prefix",
        description="With `claim-per-user`: claims are named `<prefix><safe username>`.",
        pattern=r"^[a-z][a-z0-9-]{0,20}$",
    )
    capacity: str = Field(
        "10Gi", title="Capacity", description="With `claim-per-user`: size of a new claim."
    )
    storage_class: str | None = Field(
        None,
        title="Storage class",
        description="With `claim-per-user`: storage class of new claims (default: cluster's).",
    )
    access_modes: list[AccessMode] = Field(
        default_factory=_read_write_many,
        title="Access modes",
        description=(
            "With `claim-per-user`. `ReadWriteMany` lets several sessions of a user share the "
            "home at once; `ReadWriteOnce` only works when they land on one node."
        ),
    )


class ProjectStorage(Model):
    """Group project spaces, mounted read-write at `storage.projects_mount/<group>`."""

    enabled: bool = Field(
        True, title="Mount project spaces", description="Mount a project space per group."
    )
    mode: Literal["shared-claim", "claim-per-group"] = Field(
        "shared-claim",
        title="Mode",
        description=(
            "`shared-claim`: one ReadWriteMany claim, one sub-folder per group; "
            "`claim-per-group`: an existing claim per group named `<prefix><safe group>`."
        ),
    )
    claim: str = Field(
        "arcade-projects",
        title="Shared claim",
        description="With `shared-claim`: the existing claim holding all project spaces.",
    )
    claim_prefix: str = Field(
        "arcade-project-",
        title="Per-group claim prefix",
        description="With `claim-per-group`: claims are named `<prefix><safe group>`.",
        pattern=r"^[a-z][a-z0-9-]{0,20}$",
    )


class ScratchStorage(Model):
    """Per-session scratch space at `storage.scratch_mount`, removed with the pod."""

    mode: Literal["emptyDir", "ephemeral", "hostPath"] = Field(
        "emptyDir",
        title="Mode",
        description=(
            "`emptyDir` (node disk, size-limited); `ephemeral`: a generic ephemeral volume "
            "from `storage_class` (e.g. a node-local provisioner); `hostPath`: a node "
            "directory (Pod Security `privileged` only; not removed automatically; a root "
            "init container with only CAP_CHOWN gives the directory to the session's uid)."
        ),
    )
    size: str = Field(
        "20Gi", title="Size", description="`emptyDir` size limit or `ephemeral` claim size."
    )
    medium: Literal["", "Memory"] = Field(
        "", title="Medium", description="`emptyDir` medium: node disk (empty) or `Memory`."
    )
    storage_class: str | None = Field(
        None, title="Storage class", description="With `ephemeral`: storage class to use."
    )
    host_path: str = Field(
        "/var/lib/arcade/scratch",
        title="Node directory",
        description=(
            "With `hostPath`: scratch is `<node directory>/<session id>`; each instance of a "
            "multi-instance batch job gets `<node directory>/<pod name>`."
        ),
    )


class Security(Model):
    """Identity and hardening of session pods."""

    pod_security: PodSecurityLevel = Field(
        "restricted",
        title="Pod Security level",
        description=(
            "Pod Security Standard every session pod must meet; the spawner refuses pods that "
            "do not. `restricted` forbids NFS and hostPath volumes (wrap them in a "
            "PersistentVolume and use a claim instead)."
        ),
    )
    run_as: Literal["fixed", "per-user"] = Field(
        "fixed",
        title="Run sessions as",
        description=(
            "`fixed`: every session runs as `uid`/`gid`; `per-user`: uids come from `uids` "
            "(users without an entry are refused)."
        ),
    )
    uid: int = Field(1000, ge=1, title="uid", description="uid with `run_as: fixed`.")
    gid: int = Field(100, ge=0, title="gid", description="Primary gid of session processes.")
    fs_group: int | None = Field(
        100,
        ge=0,
        title="fsGroup",
        description="Group that owns volumes which support ownership management (None: unset).",
    )
    uids: dict[str, int] = Field(
        default_factory=dict,
        title="Per-user uids",
        description="Username to uid with `run_as: per-user` (e.g. from the site's LDAP).",
    )

    @model_validator(mode="after")
    def _positive_uids(self) -> Security:
        bad = sorted(u for u, uid in self.uids.items() if uid < 1)
        if bad:
            raise ValueError(f"uids must be positive (root is not allowed): {', '.join(bad)}")
        return self


def _default_commands() -> dict[KindName, list[str]]:
    return {
        "notebook": ["jupyterhub-singleuser"],
        "desktop": ["jupyterhub-singleuser"],
        "desktop-app": ["jupyterhub-singleuser"],
        "headless": [],
    }


class KubeBackend(Model):
    """Settings for `backend.kind: kubernetes`."""

    namespace: str | None = Field(
        None, title="Namespace", description="Namespace for sessions (default: the hub's)."
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        "IfNotPresent",
        title="Image pull policy",
        description="Pull policy of session containers (None: the cluster default).",
    )
    image_pull_secrets: list[str] = Field(
        default_factory=list,
        title="Image pull secrets",
        description="Secrets in the namespace with registry credentials.",
    )
    cpu_guarantee: float = Field(
        0.5,
        gt=0,
        le=1,
        title="CPU guarantee",
        description="CPU request as a fraction of the chosen cores (the limit); 1 = Guaranteed.",
    )
    memory_guarantee: float = Field(
        1.0,
        gt=0,
        le=1,
        title="Memory guarantee",
        description="Memory request as a fraction of the chosen RAM (the limit).",
    )
    gpu_resource: str = Field(
        "nvidia.com/gpu",
        title="GPU resource",
        description="Extended resource name that counts GPUs, e.g. `amd.com/gpu`.",
    )
    scheduling: dict[str, Scheduling] = Field(
        default_factory=dict,
        title="Scheduling per entry",
        description="Catalogue entry name to node selector and tolerations.",
    )
    default_scheduling: Scheduling = Field(
        default_factory=Scheduling,
        title="Scheduling for all",
        description="Node selector and tolerations for every session (entries add to it).",
    )
    gpu_scheduling: Scheduling = Field(
        default_factory=Scheduling,
        title="Scheduling with GPUs",
        description="Added to sessions that ask for GPUs, e.g. a toleration for a GPU pool.",
    )
    commands: dict[KindName, list[str]] = Field(
        default_factory=_default_commands,
        title="Start command per kind",
        description=(
            "Command each kind's container starts with; the session's own `cmd`/`args` "
            "follow. Headless entries run the launch's `cmd` when this is empty; a headless "
            "entry's own `kubernetes.cmd` replaces `headless` for that entry."
        ),
    )
    desktop_url: str = Field(
        "/desktop/",
        title="Desktop URL",
        description="URL path a desktop session opens at (jupyter-remote-desktop-proxy).",
    )
    labels: dict[str, str] = Field(
        default_factory=dict, title="Extra labels", description="Added to every session pod."
    )
    annotations: dict[str, str] = Field(
        default_factory=dict,
        title="Extra annotations",
        description="Added to every session pod.",
    )
    home: HomeStorage = Field(
        default_factory=HomeStorage, title="Homes", description="Where users' homes live."
    )
    projects: ProjectStorage = Field(
        default_factory=ProjectStorage,
        title="Project spaces",
        description="Where group project spaces live.",
    )
    datasets: dict[str, VolumeSource] = Field(
        default_factory=dict,
        title="Dataset volumes",
        description=(
            "Dataset id to its volume (`pvc`, `nfs` or `hostPath`); always mounted read-only. "
            "Datasets without an entry cannot be mounted on Kubernetes."
        ),
    )
    scratch: ScratchStorage = Field(
        default_factory=ScratchStorage,
        title="Scratch",
        description="Per-session scratch space.",
    )
    security: Security = Field(
        default_factory=Security,
        title="Security",
        description="uid/gid of sessions and the Pod Security level they must meet.",
    )

    @model_validator(mode="after")
    def _volumes_meet_pod_security(self) -> KubeBackend:
        level = self.security.pod_security
        problems: list[str] = []
        for dataset_id, source in sorted(self.datasets.items()):
            if isinstance(source, HostPathSource) and level != "privileged":
                problems.append(f"datasets.{dataset_id} is a hostPath volume")
            if isinstance(source, NfsSource) and level == "restricted":
                problems.append(f"datasets.{dataset_id} is an nfs volume")
        if self.scratch.mode == "hostPath" and level != "privileged":
            problems.append("scratch.mode is hostPath")
        if problems:
            raise ValueError(
                f"{'; '.join(problems)}, which Pod Security level {level!r} forbids: "
                "use a PersistentVolume with a claim (`type: pvc`) or lower "
                "security.pod_security"
            )
        return self

    def start_command(self, kind: KindName, entry: CatalogueEntry | None) -> list[str]:
        """What a container of `kind` starts with, before the launch's own `cmd`/`args`:
        `commands[kind]`, except for a headless entry with its own `kubernetes.cmd`."""
        if kind == "headless" and entry is not None and entry.kubernetes is not None:
            return list(entry.kubernetes.cmd)
        return list(self.commands.get(kind, []))

    def headless_command(self, entry: CatalogueEntry | None) -> list[str]:
        """What a batch image's entrypoint starts before the job's own command."""
        return self.start_command("headless", entry)

"""Every Kubernetes object Arcade Hub sends to the API, built in this one module.

- session pods, assembled as KubeSpawner assembles them (kubespawner's `make_pod`);
- desktop-app pods, drawing on a desktop pod through its X relay;
- the desktop's X cookie Secret and the NetworkPolicy of its X port;
- batch work as Indexed Jobs;
- home claims for pods KubeSpawner does not start (kubespawner's `make_pvc`, as KubeSpawner
  makes a session's claim);
- owner references (kubespawner's `make_owner_reference`, without `blockOwnerDeletion`).

kubespawner's `make_secret` does not fit (it reads the files of internal SSL). The pieces come
from `builders` (containers, identity, scheduling, resources, labels) and `volumes` (storage),
the one place for each. No I/O; every function returns the JSON the API server receives.

One exception, on purpose: the storage service's Deployment, Service and NetworkPolicy (not a
launch's objects, but a part of the platform beside the chart) are built in
`arcade_hub.kube.storage_service`, which needs no kubespawner: `arcade-hub render-values`
writes them on an operator's machine without the `kube` extra. Their pieces come from the same
`builders` and `volumes`. (`arcade_hub.kube.jobs.watched` is what the batch runner has seen of
its Jobs and pods, not a builder.)
"""

from __future__ import annotations

import base64
import re
import shlex
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio.client import ApiClient, V1Pod
from kubespawner.objects import make_owner_reference, make_pod, make_pvc

from arcade_hub import contract
from arcade_hub.config import CatalogueEntry, Kind, StorageRoots
from arcade_hub.config.kubernetes import KubeBackend
from arcade_hub.desktop.xauth import xauth_entry
from arcade_hub.kube.builders import (
    JOB,
    JOB_ROLE,
    ROLE,
    SESSION,
    SESSION_SELECTOR,
    USER,
    X11_SECRET_DIR,
    X11_SECRET_VOLUME,
    X_DISPLAY,
    X_PORT,
    PodPieces,
    env_list,
    environment,
    labels_and_annotations,
    literal,
    literal_env,
    object_labels,
    posix_ids,
    resources,
    scheduling,
    scratch_owner,
    secret_mode,
    security_contexts,
    user_selector,
    x11_secret_name,
)
from arcade_hub.kube.names import LABEL_PREFIX, label_value, object_name
from arcade_hub.kube.volumes import ClaimRequest, KubeLaunchError, Manifest, build_storage
from arcade_hub.launch.spec import LaunchSpec

_SERIALIZER = ApiClient.__new__(ApiClient)
"""`ApiClient.sanitize_for_serialization` needs no connection: skip `__init__`, which opens an
aiohttp session."""


def serialize(obj: Any) -> Any:
    """A Kubernetes model as the JSON the API server receives."""
    return _SERIALIZER.sanitize_for_serialization(obj)


@dataclass(frozen=True)
class Owner:
    """The pod that owns app pods, the cookie Secret and the NetworkPolicy (the desktop)."""

    name: str
    uid: str

    def reference(self) -> Manifest:
        """kubespawner's owner reference without `blockOwnerDeletion`: setting it needs
        `update` on `pods/finalizers` where the API server enforces owner-reference
        permissions (OpenShift), which the hub's Role does not grant; the desktop's deletion
        collects its dependents all the same."""
        ref = make_owner_reference(self.name, self.uid)
        ref.block_owner_deletion = None
        reference: Manifest = serialize(ref)
        return reference


# -- session pods ----------------------------------------------------------------------------

def pod_manifest(
    pieces: PodPieces, *, name: str, port: int = 8888, env: dict[str, str] | None = None
) -> V1Pod:
    """The whole session pod, assembled the way KubeSpawner assembles it (for tests and
    tools; the spawner sets the same pieces as its traits)."""
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
        init_containers=pieces.init_containers,
        tolerations=pieces.tolerations,
    )
    return pod


def workload_pod_spec(
    spec: LaunchSpec,
    kube: KubeBackend,
    roots: StorageRoots,
    *,
    args: list[str] | None,
    extra_env: dict[str, str] | None = None,
    extra_volumes: list[Manifest] | None = None,
    extra_mounts: list[Manifest] | None = None,
) -> Manifest:
    """A hardened pod spec with one container running `spec.image` and the user's storage
    (desktop apps, batch Jobs).

    The container starts the image's own entrypoint with `args` (as KubeSpawner starts
    session pods: `args`, never `command`), or the image's `CMD` when `args` is None."""
    storage = build_storage(spec, kube, roots)
    ids = posix_ids(kube.security, spec.username)
    pod_sc, container_sc = security_contexts(ids)
    selector, tolerations = scheduling(kube, spec)
    container: Manifest = {
        "name": "main",
        "image": spec.image,
        "env": env_list({**environment(spec, storage), **(extra_env or {})}),
        "volumeMounts": [*storage.mounts, *(extra_mounts or [])],
        "workingDir": storage.paths.home,
        "securityContext": container_sc,
        "resources": resources(spec, kube).container(),
    }
    if args:
        container["args"] = [literal(a) for a in args]
    if kube.image_pull_policy:
        container["imagePullPolicy"] = kube.image_pull_policy
    pod: Manifest = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": "Never",
        "securityContext": pod_sc,
        "containers": [container],
        "volumes": [*storage.volumes, *(extra_volumes or [])],
    }
    if init := scratch_owner(kube, ids, spec.image):
        pod["initContainers"] = init
    if selector:
        pod["nodeSelector"] = selector
    if tolerations:
        pod["tolerations"] = tolerations
    if kube.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": n} for n in kube.image_pull_secrets]
    return pod


# -- desktop apps ----------------------------------------------------------------------------

def app_spec(desktop: LaunchSpec, entry: CatalogueEntry) -> LaunchSpec:
    """The launch spec of `entry` opened on the `desktop` session: same user, session id,
    resources, storage and datasets; the app's own image, kind and scheduling."""
    if entry.kind != Kind.desktop_app:
        raise KubeLaunchError(f"{entry.title} is a {entry.kind.value}, not a desktop app")
    return desktop.app_on_desktop(entry)  # as the planner plans it


def build_app_pod(
    desktop: LaunchSpec,
    entry: CatalogueEntry,
    kube: KubeBackend,
    roots: StorageRoots,
    *,
    name: str,
    owner: Owner,
    desktop_ip: str,
) -> Manifest:
    """The pod of desktop app `entry`, drawing on the desktop pod `owner` at `desktop_ip`.

    The image's own command runs (the container contract: a desktop-app image starts its X
    client), or the entry's `local.cmd` when it names one, as app containers on one machine
    do (e.g. the `xterm` entry on the desktop image); DISPLAY is the desktop's relay,
    XAUTHORITY the session's cookie from its Secret.
    """
    spec = app_spec(desktop, entry)
    labels, annotations = labels_and_annotations(kube, spec, entry)
    labels.update(user_selector(spec.username))
    annotations[f"{LABEL_PREFIX}desktop-pod"] = owner.name
    secret_volume: Manifest = {"name": X11_SECRET_VOLUME, "secret": {
        "secretName": x11_secret_name(desktop.session_id),
        "items": [{"key": "xauthority", "path": "xauthority"}],
        "defaultMode": secret_mode(kube),
    }}
    pod = workload_pod_spec(
        spec, kube, roots, args=list(entry.local.cmd) if entry.local and entry.local.cmd else None,
        extra_env={"DISPLAY": f"{desktop_ip}:{X_DISPLAY}",
                   "XAUTHORITY": f"{X11_SECRET_DIR}/xauthority", contract.APP: entry.name},
        extra_volumes=[secret_volume],
        extra_mounts=[{"name": X11_SECRET_VOLUME, "mountPath": X11_SECRET_DIR,
                       "readOnly": True}],
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels, "annotations": annotations,
                     "ownerReferences": [owner.reference()]},
        "spec": pod,
    }


def build_x11_secret(desktop: LaunchSpec, cookie: bytes, owner: Owner | None) -> Manifest:
    """The session's X cookie: `cookie` (hex, for the relay) and `xauthority` (for apps)."""
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    meta: Manifest = {"name": x11_secret_name(desktop.session_id), "labels": object_labels(
        session=desktop.session_id, user=desktop.username)}
    if owner is not None:
        meta["ownerReferences"] = [owner.reference()]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": "Opaque",
        "data": {"cookie": b64(cookie.hex().encode()),
                 "xauthority": b64(xauth_entry(X_DISPLAY, cookie))},
    }


def build_x11_network_policy(desktop: LaunchSpec, owner: Owner) -> Manifest:
    """Only the user's app pods may reach the desktop pod's X port."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": x11_secret_name(desktop.session_id),
            "labels": object_labels(session=desktop.session_id),
            "ownerReferences": [owner.reference()],
        },
        "spec": {
            "podSelector": {"matchLabels": {**SESSION_SELECTOR,
                                            SESSION: label_value(desktop.session_id)}},
            "policyTypes": ["Ingress"],
            "ingress": [{
                "from": [{"podSelector": {"matchLabels": user_selector(desktop.username)}}],
                "ports": [{"protocol": "TCP", "port": X_PORT}],
            }],
        },
    }


# -- headless jobs ---------------------------------------------------------------------------

@dataclass(frozen=True)
class JobSettings:
    """How a batch Job retries and how long it is kept (P5 fills these from its config)."""

    backoff_limit: int = 0
    ttl_seconds_after_finished: int = 86400
    active_deadline_seconds: int | None = None
    parallelism: int | None = None
    backoff_limit_per_index: int | None = None
    """Retries per index: instances fail on their own and the others run on (then the Job's
    `backoffLimit` is left to Kubernetes' default, which no longer counts)."""


def build_job(
    spec: LaunchSpec,
    kube: KubeBackend,
    roots: StorageRoots,
    *,
    name: str,
    entry: CatalogueEntry | None = None,
    settings: JobSettings | None = None,
) -> Manifest:
    """An Indexed Job running `spec.replicas` instances of `cmd args` (JOB_COMPLETION_INDEX
    tells an instance which one it is): the image's own entrypoint starts
    `commands.headless cmd args` (or the entry's own `kubernetes.cmd` for `commands.headless`)."""
    if spec.kind != Kind.headless:
        raise KubeLaunchError(f"{spec.title} is a {spec.kind.value}, not a batch image")
    command = [*kube.headless_command(entry), *spec.cmd, *spec.args]
    if not command:
        raise KubeLaunchError(f"{spec.title} is a batch image and needs a command to run")
    s = settings or JobSettings()
    labels, annotations = labels_and_annotations(kube, spec, entry)
    labels[ROLE] = JOB_ROLE
    labels[USER] = label_value(spec.username)
    pod = workload_pod_spec(spec, kube, roots, args=command)
    job: Manifest = {
        "completionMode": "Indexed",
        "completions": spec.replicas,
        "parallelism": s.parallelism or spec.replicas,
        "ttlSecondsAfterFinished": s.ttl_seconds_after_finished,
        "template": {"metadata": {"labels": labels, "annotations": annotations},
                     "spec": pod},
    }
    if s.backoff_limit_per_index is None:
        job["backoffLimit"] = s.backoff_limit
    else:
        job["backoffLimitPerIndex"] = s.backoff_limit_per_index
    if s.active_deadline_seconds is not None:
        job["activeDeadlineSeconds"] = s.active_deadline_seconds
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": job,
    }


def job_name(job_id: str) -> str:
    """The Kubernetes Job of batch job `job_id`."""
    return object_name("arcade-job-", job_id)


INSTANCE_VAR = contract.JOB_INSTANCE_PREFIX
PER_INSTANCE_LIMIT = 256 * 1024
INDEX_SCRIPT = (
    'i=$((JOB_COMPLETION_INDEX + 1)); '
    'eval "instance=\\${' + INSTANCE_VAR + '$i-}"; '
    'if [ -z "$instance" ]; then echo "arcade-job: this job has no instance $i" >&2; exit 127; fi; '
    'n=1; while [ "$n" -le "${REPLICA_COUNT:-0}" ]; do unset "' + INSTANCE_VAR + '$n"; '
    'n=$((n + 1)); done; '
    'eval "$instance"; unset i n instance; exec "$@"'
)
"""Run by `/bin/sh` in every pod of a multi-instance Job: from the pod's completion index
(0-based), export that instance's own variables and append its own arguments, then `exec` the
command. The per-instance shell code is made by `build_batch_job` with every value quoted."""
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_instances(specs: list[LaunchSpec]) -> LaunchSpec:
    """The first instance, once all share what one Job's pod template holds."""
    if not specs:
        raise KubeLaunchError("a job needs at least one instance")
    first = specs[0]

    def shared(s: LaunchSpec) -> tuple[Any, ...]:
        return (s.image, s.kind, s.cmd, s.cores, s.ram_gib, s.gpus, s.dataset, s.username)

    if any(shared(spec) != shared(first) for spec in specs[1:]):
        raise KubeLaunchError("the instances of one Kubernetes Job must share image, "
                              "command, resources and dataset")
    if first.replicas != len(specs):
        raise KubeLaunchError(f"{len(specs)} instance specs for {first.replicas} replicas")
    return first


def build_batch_job(
    specs: list[LaunchSpec],
    kube: KubeBackend,
    roots: StorageRoots,
    *,
    name: str,
    job_id: str,
    entry: CatalogueEntry | None = None,
    settings: JobSettings | None = None,
) -> Manifest:
    """One Indexed Job for the instances of batch job `job_id` (one spec per instance, as
    `arcade_hub.launch.jobs.build_job_specs` makes them; index i runs `specs[i]`).

    Instances differ in a few variables (`REPLICA_ID`, `ARCADE_JOB_PARAM`, `ARCADE_SESSION_ID`)
    and in their arguments (a parameter line each), but a Job has one pod template: with
    several instances the image's entrypoint starts `/bin/sh -c INDEX_SCRIPT`, which picks
    the instance's values by `JOB_COMPLETION_INDEX`. A single instance runs its command
    directly. With `scratch.mode: hostPath` every pod gets a scratch directory of its own,
    named after the pod (`SCRATCH_PER_POD`).
    """
    first = _check_instances(specs)
    job = build_job(first, kube, roots, name=name, entry=entry, settings=settings)
    for meta in (job["metadata"], job["spec"]["template"]["metadata"]):
        meta["labels"][JOB] = label_value(job_id)
        meta["annotations"][JOB] = job_id
        if len(specs) > 1:  # instances have sessions of their own (ARCADE_SESSION_ID)
            meta["labels"].pop(SESSION, None)
            meta["annotations"].pop(SESSION, None)
    if len(specs) == 1:
        return job
    prefix = [*kube.headless_command(entry), *first.cmd]
    if not prefix:
        raise KubeLaunchError(
            f"{first.title} is a batch image and needs a command to run with several instances"
        )
    common, code = _instance_environment(specs, kube, roots)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    container["args"] = [literal(c) for c in ["/bin/sh", "-c", INDEX_SCRIPT, "arcade-job",
                                              *prefix]]
    container["env"] = [{"name": k, "value": v}
                        for k, v in [*sorted(literal_env(common).items()),
                                     *literal_env(code).items()]]
    _scratch_per_pod(job["spec"]["template"]["spec"], kube)
    return job


def _instance_environment(
    specs: list[LaunchSpec], kube: KubeBackend, roots: StorageRoots
) -> tuple[dict[str, str], dict[str, str]]:
    """(the variables every instance shares, `ARCADE_JOB_INSTANCE_<n>`: each instance's own
    variables and arguments as quoted shell code)."""
    envs = [environment(spec, build_storage(spec, kube, roots)) for spec in specs]
    common = {k: v for k, v in envs[0].items() if all(e.get(k) == v for e in envs)}
    own = sorted({k for e in envs for k in e} - set(common))
    bad = [k for k in own if not _NAME.fullmatch(k)]
    if bad:
        raise KubeLaunchError(f"per-instance variables must be shell names: {', '.join(bad)}")
    code: dict[str, str] = {}
    for index, (spec, env) in enumerate(zip(specs, envs, strict=True), start=1):
        lines = ["export " + " ".join(shlex.quote(f"{k}={env[k]}") for k in own if k in env)]
        if spec.args:
            lines.append('set -- "$@" ' + " ".join(shlex.quote(a) for a in spec.args))
        code[f"{INSTANCE_VAR}{index}"] = "\n".join(lines)
    size = sum(len(v.encode()) for v in code.values())
    if size > PER_INSTANCE_LIMIT:
        raise KubeLaunchError(
            f"the instances' own parameters take {size // 1024} KiB, more than the "
            f"{PER_INSTANCE_LIMIT // 1024} KiB one Kubernetes Job can carry: use fewer or "
            "shorter parameter lines, or read them from a file in your home"
        )
    return common, code


POD_NAME_VAR = contract.POD_NAME
SCRATCH_PER_POD = f"$({POD_NAME_VAR})"
"""The `subPathExpr` of a multi-instance Job's hostPath scratch: the pod's name (the kubelet
expands it), so each instance writes to `<host_path>/<pod name>`."""


def _scratch_per_pod(pod: Manifest, kube: KubeBackend) -> None:
    """The pod template's hostPath scratch (`<host_path>/<session id>` of the first instance)
    becomes `<host_path>/<pod name>`: a directory per pod, made by the kubelet. Other scratch
    modes are per pod already."""
    if kube.scratch.mode != "hostPath":
        return
    for volume in pod["volumes"]:
        if volume["name"] == "scratch":
            volume["hostPath"] = {"path": kube.scratch.host_path.rstrip("/") or "/",
                                  "type": "DirectoryOrCreate"}
    for container in [*pod.get("initContainers", []), *pod["containers"]]:  # + scratch-owner
        for mount in container["volumeMounts"]:
            if mount["name"] == "scratch":
                mount["subPathExpr"] = SCRATCH_PER_POD
                container.setdefault("env", []).append({"name": POD_NAME_VAR, "valueFrom": {
                    "fieldRef": {"fieldPath": "metadata.name"}}})


# -- claims ----------------------------------------------------------------------------------

def build_home_claim(claim: ClaimRequest, username: str) -> Manifest:
    """The claim of a user's home (`home.mode: claim-per-user`), for pods the spawner does
    not start (batch Jobs): the claim KubeSpawner makes for sessions (`make_pvc`), with
    Arcade's labels."""
    pvc = make_pvc(claim.name, claim.storage_class, list(claim.access_modes), None,
                   claim.capacity, labels=object_labels(user=username))
    manifest: Manifest = serialize(pvc)
    return manifest

"""Pure builders for pods that KubeSpawner does not start: desktop-app pods, the desktop's X
cookie Secret and NetworkPolicy, and indexed Jobs for headless batch work (P5).

They reuse the session builders (storage, identity, scheduling, labels, ARCADE_* environment),
so every pod of a user mounts the same home and datasets and meets the same Pod Security level.
No I/O; every function returns the JSON the API server receives.
"""

from __future__ import annotations

import base64
import re
import shlex
from dataclasses import dataclass

from arcade_hub import contract
from arcade_hub.config import CatalogueEntry, Kind, StorageRoots
from arcade_hub.config.kubernetes import KubeBackend
from arcade_hub.desktop.xauth import xauth_entry
from arcade_hub.kube.builders import (
    X11_SECRET_DIR,
    X11_SECRET_VOLUME,
    X_DISPLAY,
    X_PORT,
    environment,
    labels_and_annotations,
    literal,
    posix_ids,
    scheduling,
    scratch_owner,
    security_contexts,
    x11_secret_name,
)
from arcade_hub.kube.names import LABEL_PREFIX, label_value, object_name
from arcade_hub.kube.volumes import ClaimRequest, KubeLaunchError, Manifest, build_storage
from arcade_hub.launch.spec import LaunchSpec

ROLE = f"{LABEL_PREFIX}role"
USER = f"{LABEL_PREFIX}user"
SESSION = f"{LABEL_PREFIX}session"
JOB = f"{LABEL_PREFIX}job"
APP_ROLE = "desktop-app"
JOB_ROLE = "job"
SESSION_SELECTOR = {"component": "singleuser-server"}
"""KubeSpawner's label on session pods (z2jh's policies select it too)."""


@dataclass(frozen=True)
class Owner:
    """The pod that owns app pods, the cookie Secret and the NetworkPolicy (the desktop)."""

    name: str
    uid: str

    def reference(self) -> Manifest:
        """No `blockOwnerDeletion`: setting it needs `update` on `pods/finalizers` where the
        API server enforces owner-reference permissions (OpenShift), which the hub's Role does
        not grant; the desktop's deletion collects its dependents all the same."""
        return {"apiVersion": "v1", "kind": "Pod", "name": self.name, "uid": self.uid,
                "controller": False}


def _resources(spec: LaunchSpec, kube: KubeBackend) -> Manifest:
    mem = round(spec.ram_gib * 2**30)
    limits: Manifest = {"cpu": f"{spec.cores:g}", "memory": str(mem)}
    requests: Manifest = {"cpu": f"{round(spec.cores * kube.cpu_guarantee, 3):g}",
                          "memory": str(round(mem * kube.memory_guarantee))}
    if spec.gpus:
        limits[kube.gpu_resource] = requests[kube.gpu_resource] = str(spec.gpus)
    return {"limits": limits, "requests": requests}


def _env(values: dict[str, str]) -> list[Manifest]:
    return [{"name": k, "value": literal(v)} for k, v in sorted(values.items())]


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
    """A hardened pod spec with one container running `spec.image` and the user's storage.

    The container starts the image's own entrypoint with `args` (as KubeSpawner starts
    session pods: `args`, never `command`), or the image's `CMD` when `args` is None."""
    storage = build_storage(spec, kube, roots)
    ids = posix_ids(kube.security, spec.username)
    pod_sc, container_sc = security_contexts(ids)
    selector, tolerations = scheduling(kube, spec)
    container: Manifest = {
        "name": "main",
        "image": spec.image,
        "env": _env({**environment(spec, storage), **(extra_env or {})}),
        "volumeMounts": [*storage.mounts, *(extra_mounts or [])],
        "workingDir": storage.paths.home,
        "securityContext": container_sc,
        "resources": _resources(spec, kube),
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
    return desktop.model_copy(update={
        "kind": Kind.desktop_app, "entry": entry.name, "title": entry.title,
        "image": entry.image, "desktop": desktop.entry, "cmd": (), "args": (),
    })


def user_selector(username: str) -> dict[str, str]:
    """Labels of a user's app pods, as the desktop's NetworkPolicy selects them."""
    return {ROLE: APP_ROLE, USER: label_value(username)}


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
        "defaultMode": 0o440 if kube.security.fs_group is not None else 0o444,
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

    meta: Manifest = {"name": x11_secret_name(desktop.session_id), "labels": {
        "app.kubernetes.io/part-of": "arcade-hub", SESSION: label_value(desktop.session_id),
        USER: label_value(desktop.username)}}
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
            "labels": {"app.kubernetes.io/part-of": "arcade-hub",
                       SESSION: label_value(desktop.session_id)},
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
    `commands.headless cmd args`."""
    if spec.kind != Kind.headless:
        raise KubeLaunchError(f"{spec.title} is a {spec.kind.value}, not a batch image")
    command = [*kube.commands.get("headless", []), *spec.cmd, *spec.args]
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


# long: the Job manifest in one place until the builders move to kube/objects (issue 12)
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
    if not specs:
        raise KubeLaunchError("a job needs at least one instance")
    first = specs[0]
    for spec in specs[1:]:
        same = (spec.image, spec.kind, spec.cmd, spec.cores, spec.ram_gib, spec.gpus,
                spec.dataset, spec.username)
        if same != (first.image, first.kind, first.cmd, first.cores, first.ram_gib,
                    first.gpus, first.dataset, first.username):
            raise KubeLaunchError("the instances of one Kubernetes Job must share image, "
                                  "command, resources and dataset")
    if first.replicas != len(specs):
        raise KubeLaunchError(f"{len(specs)} instance specs for {first.replicas} replicas")
    job = build_job(first, kube, roots, name=name, entry=entry, settings=settings)
    for meta in (job["metadata"], job["spec"]["template"]["metadata"]):
        meta["labels"][JOB] = label_value(job_id)
        meta["annotations"][JOB] = job_id
        if len(specs) > 1:  # instances have sessions of their own (ARCADE_SESSION_ID)
            meta["labels"].pop(SESSION, None)
            meta["annotations"].pop(SESSION, None)
    if len(specs) == 1:
        return job

    (container,) = job["spec"]["template"]["spec"]["containers"]
    envs = []
    for spec in specs:
        storage = build_storage(spec, kube, roots)
        envs.append(environment(spec, storage))
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
    prefix = [*kube.commands.get("headless", []), *first.cmd]
    if not prefix:
        raise KubeLaunchError(
            f"{first.title} is a batch image and needs a command to run with several instances"
        )
    container["args"] = [literal(c) for c in ["/bin/sh", "-c", INDEX_SCRIPT, "arcade-job",
                                              *prefix]]
    container["env"] = [*_env(common),
                        *({"name": k, "value": literal(v)} for k, v in code.items())]
    _scratch_per_pod(job["spec"]["template"]["spec"], kube)
    return job


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


def build_home_claim(claim: ClaimRequest, username: str) -> Manifest:
    """The claim of a user's home (`home.mode: claim-per-user`), for pods the spawner does
    not start (batch Jobs): KubeSpawner makes the same claim for sessions."""
    spec: Manifest = {
        "accessModes": list(claim.access_modes),
        "resources": {"requests": {"storage": claim.capacity}},
    }
    if claim.storage_class:
        spec["storageClassName"] = claim.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": claim.name, "labels": {
            "app.kubernetes.io/part-of": "arcade-hub", USER: label_value(username)}},
        "spec": spec,
    }

"""Turn a job request into one LaunchSpec per instance, under the platform's policy.

Interactive launches go through `arcade_hub.policy.build_spec`, which refuses batch images as
sessions; jobs take this separate path, which refuses everything but batch images and applies
the same resource, dataset and storage rules.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from arcade_hub import shellwords
from arcade_hub.config.models import CatalogueEntry, Kind, PlatformConfig
from arcade_hub.group_policy import Usage, check_totals, entry_refusal
from arcade_hub.jobs.base import BackendKind
from arcade_hub.options import LaunchRefused, LaunchRequest
from arcade_hub.policy import (
    Site,
    UserContext,
    _mounts,
    allowed_datasets,
    casa_mismatch,
    dataset_allowed,
    dataset_refusal,
    session_resources,
)
from arcade_hub.spec import LaunchSpec
from arcade_hub.storage import expand

RESERVED_ENV = ("ARCADE_", "JUPYTERHUB_")


@dataclass(frozen=True)
class JobRequest:
    name: str
    launch: LaunchRequest
    cmd: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    replicas: int | None = None
    params: tuple[str, ...] = ()


def headless_entries(config: PlatformConfig) -> list[CatalogueEntry]:
    return [e for e in config.catalogue if e.kind == Kind.headless]


def command_prefix(
    entry: CatalogueEntry, config: PlatformConfig, backend: BackendKind
) -> list[str]:
    """What an instance of batch image `entry` runs before the job's own `cmd args`.

    - `local` (the embedded backend runs no image): the entry's `local.cmd`;
    - `kubernetes`: the image's own entrypoint starts `backend.kubernetes.commands.headless`
      (the same for every batch image; the pod builders add it, so specs do not carry it).
    """
    if backend == "kubernetes":
        return list(config.backend.kubernetes.commands.get("headless", []))
    return list(entry.local.cmd or []) if entry.local else []


def missing_command(entry: CatalogueEntry, backend: BackendKind) -> str:
    """Why a job of `entry` without `cmd` cannot run, for the 400."""
    if backend == "kubernetes":
        return (
            f"{entry.title} has no command of its own: give one with `cmd` (on Kubernetes a "
            "batch image's entrypoint starts `backend.kubernetes.commands.headless` followed "
            "by `cmd`, and this platform configures no such command)"
        )
    return (
        f"{entry.title} has no command of its own: give one with `cmd` (its catalogue entry "
        "has no `local.cmd`)"
    )


def instance_ids(job_id: str, replicas: int) -> list[str]:
    """A single instance carries the job's id; several are `<job id>-<replica>`."""
    if replicas == 1:
        return [job_id]
    return [f"{job_id}-{n}" for n in range(1, replicas + 1)]


def build_job_specs(
    request: JobRequest,
    config: PlatformConfig,
    user: UserContext,
    site: Site,
    job_id: str,
    usage: Usage | None = None,
    backend: BackendKind | None = None,
) -> list[LaunchSpec]:
    """Check the request against the platform; return one frozen spec per instance.

    `usage` is what the user already runs, for the group policy's totals and concurrency
    (every instance of the job counts); None checks neither. `backend` is where the job
    runs (the runner's; default `backend.kind`): it decides what comes before `cmd`
    (`command_prefix`) and so whether a job needs a `cmd` of its own."""
    backend = backend or config.backend.kind
    errors: dict[str, str] = {}
    status = 400
    entry = _headless_entry(request.launch.image, config, site, errors)
    if entry is not None:
        refusal = entry_refusal(config, user.groups, entry)
        if refusal:
            errors["image"] = f"you may not run {entry.title}: {refusal}"
            entry, status = None, 403
    cores, ram, gpus = session_resources(request.launch, config, user, errors)
    replicas = _replicas(request, config, errors)
    if usage is not None:
        for key, message in check_totals(
            config, user.groups, usage, cores=cores * replicas, ram_gib=ram * replicas, what="job"
        ).items():
            errors.setdefault(key, message)
    dataset, dataset_status = _dataset(request.launch.dataset, config, user, site, errors)
    if dataset is not None and entry is not None:
        mismatch = casa_mismatch(config.dataset(dataset), entry, config)
        if mismatch:
            errors["dataset"] = mismatch
    status = max(status, dataset_status)
    # the embedded backend's prefix goes into the spec; Kubernetes' is the pod builders'
    prefix = command_prefix(entry, config, backend) if entry is not None else []
    base_cmd = prefix if backend == "local" else []
    if entry is not None and not prefix and not request.cmd:
        errors["cmd"] = missing_command(entry, backend)
    for key in request.env:
        if key.startswith(RESERVED_ENV):
            errors["env"] = f"{key} is set by the platform and cannot be overridden"
    if errors:
        raise LaunchRefused(errors, status=status if len(errors) == 1 else 400)
    assert entry is not None

    specs = []
    for replica, instance_id in enumerate(instance_ids(job_id, replicas), start=1):
        session_id = secrets.token_hex(6)
        env = dict(request.env)
        if replicas > 1 or "REPLICA_ID" not in env:
            env.update(REPLICA_ID=str(replica), REPLICA_COUNT=str(replicas))
        env["ARCADE_JOB_ID"] = job_id
        args = list(request.args)
        if request.params:
            line = request.params[replica - 1]
            env["ARCADE_JOB_PARAM"] = line
            args += shellwords.split(line)
        specs.append(
            LaunchSpec(
                username=user.name,
                server_name=instance_id,
                session_id=session_id,
                kind=Kind.headless,
                entry=entry.name,
                title=entry.title,
                image=entry.image,
                cores=cores,
                ram_gib=ram,
                gpus=int(gpus),
                dataset=dataset,
                mounts=_mounts(
                    config, site, user, session_id, config.dataset(dataset) if dataset else None
                ),
                allowed_datasets=allowed_datasets(config, user),
                env=env,
                cmd=(*base_cmd, *request.cmd),
                args=tuple(args),
                replicas=replicas,
            )
        )
    return specs


def _headless_entry(
    image: str | None, config: PlatformConfig, site: Site, errors: dict[str, str]
) -> CatalogueEntry | None:
    batch = headless_entries(config)
    names = ", ".join(e.name for e in batch) or "none on this platform"
    if image is None:
        if not batch:
            errors["image"] = "this platform offers no batch images"
            return None
        entry = batch[0]
    else:
        try:
            entry = config.entry(image)
        except KeyError:
            errors["image"] = f"{image!r} is not a batch image in the catalogue (choose: {names})"
            return None
    if entry.kind != Kind.headless:
        errors["image"] = (
            f"{entry.title} ({entry.name}) is a {entry.kind.value} image: start it as a "
            f"session, or choose a batch image ({names})"
        )
        return None
    reason = site.availability.unavailable_reason(entry)
    if reason:
        errors["image"] = f"{entry.title} is not available here: {reason}"
        return None
    return entry


def _replicas(request: JobRequest, config: PlatformConfig, errors: dict[str, str]) -> int:
    limit = config.jobs.max_replicas
    replicas = request.replicas
    if request.params:
        if replicas is not None and replicas != len(request.params):
            errors["replicas"] = (
                f"{replicas} instances asked for, but {len(request.params)} parameter lines "
                "given: one instance runs per line"
            )
        replicas = len(request.params)
    replicas = 1 if replicas is None else replicas
    if replicas < 1:
        errors["replicas"] = f"{replicas} is below the minimum of 1 instance"
    elif replicas > limit:
        errors["replicas"] = f"{replicas} is above the maximum of {limit} instances per job"
    return replicas


def _dataset(
    requested: str | None,
    config: PlatformConfig,
    user: UserContext,
    site: Site,
    errors: dict[str, str],
) -> tuple[str | None, int]:
    if not requested:
        return None, 400
    try:
        dataset = config.dataset(requested)
    except KeyError:
        errors["dataset"] = f"unknown dataset {requested!r}"
        return None, 400
    if not dataset_allowed(dataset, user, config):
        errors["dataset"] = dataset_refusal(dataset, config)
        return None, 403
    if site.datasets_on_host and not expand(dataset.path, site.data_dir).is_dir():
        errors["dataset"] = f"dataset {dataset.id!r} is not available right now"
        return None, 400
    return dataset.id, 400

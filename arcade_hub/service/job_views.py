"""How jobs show in the sessions API and the job list: an instance, a job of several (its
instances within), and a held job (a UWS job not run yet: a headless job `Pending`, saying
what it waits for). RAM is GB as a number in text, as for sessions."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from arcade_hub.backend import InUse, RunsAs
from arcade_hub.config import Kind
from arcade_hub.jobs.model import Instance, JobRecord, Status, overall
from arcade_hub.launch.request import LaunchRequest
from arcade_hub.launch.spec import LaunchSpec
from arcade_hub.service.session_views import Event, iso, runtime_fields, text_number
from arcade_hub.service.skaha_models import NONE, InstanceView, JobView

HELD = "held: starts when it is run (UWS PHASE=RUN)"


def job_spec(instance: Instance) -> LaunchSpec:
    return LaunchSpec.model_validate_json(instance.spec)


def held_view(record: JobRecord) -> dict[str, Any]:
    """What was asked (the platform's defaults are decided when it runs)."""
    request = LaunchRequest.model_validate_json(record.request)
    return InstanceView(
        id=record.job_id,
        userid=record.owner,
        image=request.image or NONE,
        type=Kind.headless.value,
        status=Status.pending.value,
        name=record.name,
        startTime=None,
        expiryTime=None,
        requestedRAM=text_number(request.ram_gib) if request.ram_gib else NONE,
        requestedCPUCores=text_number(request.cores) if request.cores else NONE,
        requestedGPUCores=str(request.gpus) if request.gpus is not None else NONE,
        catalogueEntry=None,
        jobId=record.job_id,
        replicaId=None,
        replicaCount=request.instances or len(request.params) or 1,
        command=[*request.cmd, *request.args],
        createdTime=iso(record.created),
        finishTime=None,
        exitCode=None,
        message=HELD,
        log=None,
    ).model_dump()


def instance_view(
    instance: Instance, runs: RunsAs | None = None, used: InUse | None = None
) -> InstanceView:
    """An instance; with who it runs as and what it uses now where they are given."""
    spec = job_spec(instance)
    return InstanceView(
        id=instance.id,
        userid=instance.owner,
        image=spec.image,
        type=Kind.headless.value,
        status=instance.status.value,
        name=instance.name,
        startTime=iso(instance.started or instance.created),
        expiryTime=iso(instance.expires),
        requestedRAM=text_number(spec.ram_gib),
        requestedCPUCores=text_number(spec.cores),
        requestedGPUCores=str(spec.gpus),
        catalogueEntry=spec.entry,
        **runtime_fields(runs, used),
        jobId=instance.job_id,
        replicaId=instance.replica,
        replicaCount=instance.replicas,
        command=instance.command,
        createdTime=iso(instance.created),
        finishTime=iso(instance.finished),
        exitCode=instance.exit_code,
        message=instance.message,
        log=instance.log,
    )


def job_view(
    instances: list[Instance] | JobRecord, views: list[InstanceView] | None = None
) -> dict[str, Any]:
    """A job as `GET /session/{id}` answers: one instance's view, or the job's over them
    (`views`: the instances' own, measured; the job's `*InUse` are not summed)."""
    if isinstance(instances, JobRecord):
        return held_view(instances)
    views = views or [instance_view(i) for i in instances]
    if len(instances) == 1:
        return views[0].model_dump()
    started = [i.started for i in instances if i.started]
    finished = [i.finished for i in instances if i.finished]
    done = all(i.status.final for i in instances)
    return JobView(**{
        **views[0].model_dump(),
        "id": instances[0].job_id,
        "name": instances[0].name.rsplit("-", 1)[0],
        "status": overall(i.status for i in instances).value,
        "startTime": iso(min(started) if started else instances[0].created),
        "finishTime": iso(max(finished)) if done and finished else None,
        "replicaId": None,
        "cpuCoresInUse": NONE,
        "ramInUse": NONE,
        "exitCode": None,
        "message": "",
        "log": None,
        "instances": views,
    }).model_dump()


def job_events(
    found: list[Instance] | JobRecord, describe: Callable[[Instance], str]
) -> list[Event]:
    """What happened to a job's instances (`describe`: the runner's word on a started one),
    or that a held job waits to be run."""
    if isinstance(found, JobRecord):
        return [("Normal", "Pending", f"{found.job_id}: {HELD}", iso(found.created))]
    rows: list[Event] = []
    for i in found:
        rows.append(("Normal", "Queued", f"{i.id}: queued", iso(i.created)))
        if i.started:
            rows.append(("Normal", "Started", f"{i.id}: {describe(i)}", iso(i.started)))
        if i.finished:
            kind = "Normal" if i.status == Status.succeeded else "Warning"
            rows.append((kind, i.status.value, f"{i.id}: {i.message}", iso(i.finished)))
        elif i.status == Status.terminating:
            rows.append(("Normal", "Terminating", f"{i.id}: stopping", iso(time.time())))
    return rows

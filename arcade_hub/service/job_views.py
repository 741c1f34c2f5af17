"""How jobs show in the sessions API and the job list: an instance, a job of several (its
instances within), and a held job (a UWS job not run yet: a headless job `Pending`, saying
what it waits for); times as the APIs write them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from arcade_hub.config import Kind
from arcade_hub.jobs.model import Instance, JobRecord, Status, overall
from arcade_hub.launch.request import LaunchRequest
from arcade_hub.launch.spec import LaunchSpec
from arcade_hub.service.skaha_models import NONE, InstanceView, JobView

HELD = "held: starts when it is run (UWS PHASE=RUN)"


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def number(value: float) -> str:
    return f"{value:g}"


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
        requestedRAM=f"{number(request.ram_gib)}G" if request.ram_gib else NONE,
        requestedCPUCores=number(request.cores) if request.cores else NONE,
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


def instance_view(instance: Instance) -> InstanceView:
    spec = LaunchSpec.model_validate_json(instance.spec)
    return InstanceView(
        id=instance.id,
        userid=instance.owner,
        image=spec.image,
        type=Kind.headless.value,
        status=instance.status.value,
        name=instance.name,
        startTime=iso(instance.started or instance.created),
        expiryTime=iso(instance.expires),
        requestedRAM=f"{number(spec.ram_gib)}G",
        requestedCPUCores=number(spec.cores),
        requestedGPUCores=str(spec.gpus),
        catalogueEntry=spec.entry,
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


def job_view(instances: list[Instance] | JobRecord) -> dict[str, Any]:
    """A job as `GET /session/{id}` answers: one instance's view, or the job's over them."""
    if isinstance(instances, JobRecord):
        return held_view(instances)
    if len(instances) == 1:
        return instance_view(instances[0]).model_dump()
    views = [instance_view(i) for i in instances]
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
        "exitCode": None,
        "message": "",
        "log": None,
        "instances": views,
    }).model_dump()

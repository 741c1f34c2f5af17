"""Times as the APIs write them, and how a held job (a UWS job not run yet) shows in the
sessions API and the job list: a headless job `Pending`, saying what it waits for."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from arcade_hub.config import Kind
from arcade_hub.jobs.model import JobRecord, Status
from arcade_hub.launch.request import LaunchRequest
from arcade_hub.service.skaha_models import NONE, InstanceView

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

"""The rows of the Sessions page: the sessions API's views, with what a person reading the list
needs besides (the software's title, the dataset, a job's instances under it with their
parameter lines), in a stable order.

Rows are made from the same views the API answers with, so the page and `GET /session` list
the same sessions and jobs with the same status.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from arcade_hub import contract
from arcade_hub.config import PlatformConfig
from arcade_hub.jobs.model import Status, overall
from arcade_hub.launch.spec import LaunchSpec
from arcade_hub.service.skaha_models import NONE


@dataclass(frozen=True)
class Row:
    """One session, job instance or job (whose `instances` are rows too)."""

    id: str
    owner: str
    name: str
    kind: str
    software: str
    image: str
    dataset: str
    cores: str
    ram: str
    status: str
    started: str | None
    expires: str | None = None
    finished: str | None = None
    exit_code: int | None = None
    open_url: str | None = None
    logs: bool = False
    param: str = ""
    note: str = ""
    """What a pending row waits for (a held UWS job: to be run)."""
    instances: tuple[Row, ...] = field(default=())

    @property
    def live(self) -> bool:
        """Still pending or running: it may be renewed or terminated, and it expires."""
        return not Status(self.status).final

    @property
    def counts(self) -> str:
        """A job's instances by status, e.g. "2 Succeeded, 1 Running"."""
        found: dict[str, int] = {}
        for i in self.instances:
            found[i.status] = found.get(i.status, 0) + 1
        return ", ".join(f"{n} {status}" for status, n in found.items())


def session_row(view: dict[str, Any], spec: LaunchSpec | None, config: PlatformConfig) -> Row:
    """The row of an interactive session (`view`: its `SessionView`)."""
    url = view.get("connectURL")
    return _row(view, spec, config, open_url=url if url and url != NONE else None)


def instance_row(view: dict[str, Any], spec: LaunchSpec, config: PlatformConfig) -> Row:
    """The row of one instance of a job (`view`: its `InstanceView`)."""
    return _row(
        view, spec, config, finished=view.get("finishTime"), exit_code=view.get("exitCode"),
        logs=True, param=spec.env.get(contract.JOB_PARAM, ""),
    )  # fmt: skip


def held_row(view: dict[str, Any], config: PlatformConfig) -> Row:
    """The row of a held job (`view`: its `held_view`): what was asked, waiting to be run."""
    return replace(_row(view, None, config, note=view.get("message") or ""),
                   software=view["image"])  # fmt: skip


def _row(
    view: dict[str, Any], spec: LaunchSpec | None, config: PlatformConfig, **more: Any
) -> Row:
    return Row(
        id=view["id"],
        owner=view["userid"],
        name=view["name"],
        kind=view["type"],
        software=spec.title if spec else "JupyterLab",
        image=view["image"],
        dataset=_dataset_title(spec, config),
        cores=view["requestedCPUCores"],
        ram=view["requestedRAM"],
        status=view["status"],
        started=view.get("startTime"),
        expires=view.get("expiryTime"),
        **more,
    )


def job_rows(instances: list[Row], job_ids: list[str]) -> list[Row]:
    """Instances (in the order of `job_ids`, one per instance) as rows: a job of one instance
    is that instance's row, a job of several is a row over its instances."""
    jobs: dict[str, list[Row]] = {}
    for job_id, row in zip(job_ids, instances, strict=True):
        jobs.setdefault(job_id, []).append(row)
    rows: list[Row] = []
    for job_id, members in jobs.items():
        if len(members) == 1:
            rows.append(members[0])
            continue
        first = members[0]
        started = [m.started for m in members if m.started]
        finished = [m.finished for m in members if m.finished]
        status = overall(Status(m.status) for m in members).value
        rows.append(Row(
            id=job_id, owner=first.owner, name=first.name.rsplit("-", 1)[0], kind=first.kind,
            software=first.software, image=first.image, dataset=first.dataset,
            cores=first.cores, ram=first.ram, status=status,
            started=min(started) if started else None, expires=first.expires,
            finished=max(finished) if finished and Status(status).final else None,
            logs=True, instances=tuple(members),
        ))  # fmt: skip
    return rows


def ordered(rows: list[Row]) -> list[Row]:
    """Newest first, then by owner and id: the same order at every refresh."""
    by_id = sorted(rows, key=lambda r: (r.owner, r.id))
    return sorted(by_id, key=lambda r: r.started or "", reverse=True)


def shown_time(iso: str | None) -> str:
    """An ISO time as the page shows it: `2026-12-05 14:03 UTC`."""
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return iso


def _dataset_title(spec: LaunchSpec | None, config: PlatformConfig) -> str:
    if spec is None or not spec.dataset:
        return ""
    try:
        return config.dataset(spec.dataset).title
    except KeyError:  # no longer offered: its id is still what was mounted
        return spec.dataset

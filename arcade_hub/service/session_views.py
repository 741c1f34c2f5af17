"""What the sessions API writes for sessions and jobs alike: times, numbers as text, who a
session runs as and what it uses now (skaha's `runAs*` and `*InUse` fields), and skaha's
event table. Jobs' own views are in `arcade_hub.service.job_views`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from arcade_hub.backend import InUse, RunsAs


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def text_number(value: float) -> str:
    """A number as skaha's text fields carry it (`"1"`, `"0.5"`): RAM in GB, cores."""
    return f"{value:g}"


def runtime_fields(runs: RunsAs | None, used: InUse | None) -> dict[str, Any]:
    """skaha's fields for who a session runs as and what it uses now, where known."""
    found: dict[str, Any] = {}
    if runs is not None:
        found.update(runAsUID=str(runs.uid), runAsGID=str(runs.gid),
                     supplementalGroups=list(runs.groups))  # fmt: skip
    if used is not None and used.cores is not None:
        found["cpuCoresInUse"] = text_number(round(used.cores, 3))
    if used is not None and used.ram_gib is not None:
        found["ramInUse"] = text_number(round(used.ram_gib, 3))
    return found


Event = tuple[str, str, str, str | None]
"""An event's type (Normal, Warning), reason, message and time."""
EVENT_COLUMNS = ("TYPE", "REASON", "MESSAGE", "FIRST-SEEN", "LAST-SEEN")


def event_table(events: list[Event]) -> str:
    """Events as kubectl prints them (skaha passes its table on): a header, then one line per
    event, columns apart by two spaces or more; a message's own runs of spaces are one."""
    rows = [EVENT_COLUMNS] + [
        (kind, reason, " ".join(message.split()) or "-", at or "-", at or "-")
        for kind, reason, message, at in events
    ]
    widths = [max(len(row[c]) for row in rows) for c in range(len(EVENT_COLUMNS))]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        + "\n"
        for row in rows
    )

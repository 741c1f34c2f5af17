"""Parse a UWS job creation (pure): the job's own parameters become a skaha create with
`type=headless` (so `parse_create` and the planner decide on them exactly as for `POST
/session` and the Batch page), and UWS's control parameters are read here.

Parameter names are case-insensitive (UWS 1.1 / DALI): `PHASE=RUN`, `RUNID`, `DESTRUCTION`
(an ISO 8601 time) and `EXECUTIONDURATION` (seconds) are UWS's; the job's are `image` (a
catalogue name or image reference), `cmd`, `args`, `env` (repeated `KEY=VALUE`), `cores`,
`ram`, `gpus`, `dataset`, `instances` (or `replicas`), `param` (repeated) or `params`, and
`name` (default `uws`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime

from arcade_hub.launch.request import LaunchRefused
from arcade_hub.service import limits
from arcade_hub.service.limits import shown
from arcade_hub.service.skaha_params import KNOWN, Params

CONTROL = ("phase", "runid", "destruction", "executionduration")
RENAMED = {"instances": "replicas"}
DEFAULT_NAME = "uws"
ACCEPTED = sorted({*CONTROL, *KNOWN, *RENAMED} - {"type", "replicas"})


@dataclass(frozen=True)
class Control:
    """What UWS asks of a new job besides what it runs."""

    run: bool = False
    run_id: str = ""
    destruction: float | None = None
    duration: float | None = None


def split_create(params: Params) -> tuple[Params, Control]:
    """(the skaha create parameters of the job, UWS's control parameters); raises
    LaunchRefused (400) naming the parameter."""
    job: Params = {}
    control: dict[str, str] = {}
    for key, values in params.items():
        name = key.lower()
        if name == "type" or name == "replicas" or name not in {*CONTROL, *KNOWN, *RENAMED}:
            raise LaunchRefused({shown(key): (
                f"unknown parameter {shown(key)}; accepted: {', '.join(ACCEPTED)}"
            )})  # fmt: skip
        if name in CONTROL:
            if len(values) != 1:
                raise LaunchRefused({name: f"give one {name.upper()}, not {len(values)}"})
            control[name] = values[0]
        else:
            job.setdefault(RENAMED.get(name, name), []).extend(values)
    job.setdefault("name", [DEFAULT_NAME])
    job["type"] = ["headless"]
    return job, read_control(control)


def read_control(values: dict[str, str]) -> Control:
    phase = values.get("phase")
    if phase is not None and phase.strip().upper() != "RUN":
        raise LaunchRefused({"phase": (
            f"PHASE={shown(phase)} cannot be given to a new job; give PHASE=RUN to start it "
            "at once, or nothing to hold it until you run it"
        )})  # fmt: skip
    run_id = values.get("runid", "")
    if problem := limits.too_long("runid", run_id):
        raise LaunchRefused({"runid": problem})
    destruction = values.get("destruction")
    duration = values.get("executionduration")
    return Control(
        run=phase is not None,
        run_id=run_id,
        destruction=parse_destruction(destruction) if destruction is not None else None,
        duration=parse_duration(duration) if duration is not None else None,
    )


def iso_time(value: str) -> float | None:
    """An ISO 8601 time with its zone (`2030-01-01T00:00:00Z`), or None."""
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.timestamp() if when.tzinfo is not None else None


NOT_A_TIME = "is not an ISO 8601 time with a zone, e.g. 2030-01-31T12:00:00Z"


def parse_destruction(value: str) -> float:
    """An ISO 8601 time with its zone, not in the past."""
    if problem := limits.too_long("destruction", value):
        raise LaunchRefused({"destruction": problem})
    stamp = iso_time(value)
    if stamp is None:
        raise LaunchRefused({"destruction": f"{shown(value)} {NOT_A_TIME}"})
    if stamp < time.time():
        raise LaunchRefused({"destruction": f"{shown(value)} is in the past"})
    return stamp


def parse_duration(value: str) -> float | None:
    """Whole seconds, 0 (or nothing) for the platform's lifetime (UWS: 0 is "unlimited",
    which the platform caps anyway)."""
    if problem := limits.too_long("executionduration", value):
        raise LaunchRefused({"executionduration": problem})
    try:
        seconds = int(value.strip())
    except ValueError:
        seconds = -1
    if seconds < 0 or not math.isfinite(seconds):
        raise LaunchRefused({"executionduration": (
            f"{shown(value)} is not a whole number of seconds (0: the platform's lifetime)"
        )})  # fmt: skip
    return float(seconds) or None

"""What an Indexed Job and its pods say about each instance, in skaha's status words.

Pure: takes the Job and pod objects as the API returns them (dicts), no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from arcade_hub.jobs.model import Status

Obj = dict[str, Any]
INDEX_KEY = "batch.kubernetes.io/job-completion-index"
"""The annotation (and, from Kubernetes 1.28, label) with a pod's completion index."""
MAIN = "main"
WAITING_TROUBLE = frozenset({
    "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError",
    "CreateContainerError", "RunContainerError", "CrashLoopBackOff",
})


@dataclass(frozen=True)
class IndexState:
    status: Status
    message: str = ""
    exit_code: int | None = None
    started: float | None = None
    finished: float | None = None
    pod: str | None = None
    deadline_exceeded: bool = False
    """The Job was stopped at its `activeDeadlineSeconds` (the instance's lifetime)."""


def timestamp(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def parse_indexes(text: str | None) -> set[int]:
    """`"0,2-4"` (a Job's completedIndexes / failedIndexes) as {0, 2, 3, 4}."""
    found: set[int] = set()
    for part in filter(None, (text or "").split(",")):
        low, _, high = part.partition("-")
        found.update(range(int(low), int(high or low) + 1))
    return found


def pod_index(pod: Obj) -> int | None:
    meta = pod.get("metadata") or {}
    raw = (meta.get("annotations") or {}).get(INDEX_KEY) or (meta.get("labels") or {}).get(
        INDEX_KEY
    )
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def condition(job: Obj, kind: str) -> Obj | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind and c.get("status") == "True":
            return c
    return None


def _container(pod: Obj) -> Obj:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    for s in statuses:
        if s.get("name") == MAIN:
            return s
    return statuses[0] if statuses else {}


def _exit_message(code: int | None, reason: str | None) -> str:
    if reason == "OOMKilled":
        return f"killed: out of memory (exit code {code})"
    if code is None:
        return f"failed ({reason})" if reason else "failed"
    if code > 128:
        return f"exit code {code} (killed by signal {code - 128})"
    return f"exit code {code}"


def pod_state(pod: Obj) -> IndexState:
    """The instance as one pod shows it."""
    name = (pod.get("metadata") or {}).get("name")
    status = pod.get("status") or {}
    phase = status.get("phase")
    state = _container(pod).get("state") or {}
    started = timestamp((state.get("running") or state.get("terminated") or {}).get("startedAt"))
    started = started or timestamp(status.get("startTime"))
    terminated = state.get("terminated") or {}
    if phase == "Succeeded":
        return IndexState(Status.succeeded, "exit code 0", 0, started,
                          timestamp(terminated.get("finishedAt")), name)
    if phase == "Failed":
        code = terminated.get("exitCode")
        reason = terminated.get("reason") or status.get("reason")
        if reason == "DeadlineExceeded":
            return IndexState(Status.failed, "stopped at its deadline", code, started,
                              timestamp(terminated.get("finishedAt")), name, True)
        message = _exit_message(code, reason)
        if code is None and status.get("message"):
            message = f"{message}: {status['message']}"
        return IndexState(Status.failed, message, code, started,
                          timestamp(terminated.get("finishedAt")), name)
    if phase == "Running":
        return IndexState(Status.running, "", None, started, None, name)
    waiting = state.get("waiting") or {}
    message = ""
    if waiting.get("reason") in WAITING_TROUBLE:
        message = f"{waiting['reason']}: {waiting.get('message', '')}".rstrip(": ")
    else:
        for c in status.get("conditions") or []:
            if c.get("type") == "PodScheduled" and c.get("status") == "False":
                message = f"not scheduled yet: {c.get('message') or c.get('reason', '')}"
    return IndexState(Status.pending, message, pod=name)


def newest(pods: list[Obj]) -> Obj | None:
    def created(pod: Obj) -> str:
        return str((pod.get("metadata") or {}).get("creationTimestamp") or "")

    return max(pods, key=created) if pods else None


def index_state(job: Obj, index: int, pods: list[Obj]) -> IndexState:
    """Instance `index` (0-based) of `job`, from the job's status and the index's pods."""
    status = job.get("status") or {}
    pod = newest(pods)
    state = pod_state(pod) if pod is not None else None
    failed = condition(job, "Failed")
    expired = failed is not None and failed.get("reason") == "DeadlineExceeded"
    if state is not None and state.status.final:
        if expired and state.status == Status.failed and pod is not None \
                and (pod.get("metadata") or {}).get("deletionTimestamp"):
            # killed by the Job controller at the deadline
            return IndexState(Status.failed, "stopped at its deadline", state.exit_code,
                              state.started, state.finished, state.pod, True)
        return state
    finished = timestamp(status.get("completionTime"))
    if index in parse_indexes(status.get("completedIndexes")):
        return IndexState(Status.succeeded, "exit code 0", 0,
                          state.started if state else None, finished)
    if index in parse_indexes(status.get("failedIndexes")):
        return IndexState(Status.failed, "failed", None, state.started if state else None,
                          finished)
    if failed is not None:
        at = timestamp(failed.get("lastTransitionTime"))
        if expired:
            return IndexState(Status.failed, "stopped at its deadline", None,
                              state.started if state else None, at, deadline_exceeded=True)
        why = ": ".join(filter(None, (failed.get("reason"), failed.get("message"))))
        return IndexState(Status.failed, f"the job failed ({why})" if why else "the job failed",
                          None, state.started if state else None, at)
    if condition(job, "Complete") is not None:
        return IndexState(Status.succeeded, "exit code 0", 0,
                          state.started if state else None, finished)
    if state is not None:
        return state
    return IndexState(Status.pending)

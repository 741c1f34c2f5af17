"""What an Indexed Job and its pods say about each instance (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from arcade_hub.jobs.model import Status
from arcade_hub.kube.job_status import index_state, parse_indexes, pod_state

Obj = dict[str, Any]


def pod(phase: str, state: Obj | None = None, index: int = 0, created: str = "2026-11-22T10:00:00Z",
        **status: Any) -> Obj:
    statuses = [{"name": "main", "state": state}] if state is not None else []
    return {"metadata": {"name": f"p{index}-{created[-3:-1]}", "creationTimestamp": created,
                         "annotations": {"batch.kubernetes.io/job-completion-index": str(index)}},
            "status": {"phase": phase, "containerStatuses": statuses, **status}}


def job(**status: Any) -> Obj:
    return {"metadata": {"name": "arcade-job-x"}, "spec": {}, "status": status}


def test_parse_indexes() -> None:
    assert parse_indexes("0,2-4,7") == {0, 2, 3, 4, 7}
    assert parse_indexes("") == parse_indexes(None) == set()


@pytest.mark.parametrize(("state", "status", "code", "message"), [
    ({"terminated": {"exitCode": 0, "reason": "Completed"}}, "Succeeded", 0, "exit code 0"),
    ({"terminated": {"exitCode": 2, "reason": "Error"}}, "Failed", 2, "exit code 2"),
    ({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}, "Failed", 137,
     "killed: out of memory (exit code 137)"),
    ({"terminated": {"exitCode": 143, "reason": "Error"}}, "Failed", 143,
     "exit code 143 (killed by signal 15)"),
])
def test_ended_pods(state: Obj, status: str, code: int, message: str) -> None:
    phase = "Succeeded" if status == "Succeeded" else "Failed"
    got = pod_state(pod(phase, state))
    assert (got.status.value, got.exit_code, got.message) == (status, code, message)


def test_waiting_pods_say_why() -> None:
    pulling = pod_state(pod("Pending", {"waiting": {"reason": "ImagePullBackOff",
                                                    "message": "Back-off pulling image"}}))
    assert pulling.status == Status.pending
    assert pulling.message == "ImagePullBackOff: Back-off pulling image"
    creating = pod_state(pod("Pending", {"waiting": {"reason": "ContainerCreating"}}))
    assert creating.message == ""
    unscheduled = pod_state(pod("Pending", None, conditions=[{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 Insufficient cpu."}]))
    assert unscheduled.message == "not scheduled yet: 0/3 nodes are available: 3 Insufficient cpu."
    evicted = pod_state(pod("Failed", None, reason="Evicted", message="low on memory"))
    assert evicted.status == Status.failed and evicted.message == "failed (Evicted): low on memory"


def test_running_pod_has_its_start() -> None:
    got = pod_state(pod("Running", {"running": {"startedAt": "2026-11-22T10:00:05Z"}}))
    assert got.status == Status.running and got.started is not None


def test_index_from_the_job_when_its_pod_is_gone() -> None:
    done = job(completedIndexes="0-1", failedIndexes="2",
               completionTime="2026-11-22T11:00:00Z")
    assert index_state(done, 1, []).status == Status.succeeded
    assert index_state(done, 2, []).status == Status.failed
    assert index_state(job(), 0, []).status == Status.pending
    expired = job(conditions=[{"type": "Failed", "status": "True",
                               "reason": "DeadlineExceeded"}])
    state = index_state(expired, 0, [pod("Running", {"running": {}})])
    assert state.status == Status.failed and state.deadline_exceeded
    broken = job(conditions=[{"type": "Failed", "status": "True", "reason": "PodFailurePolicy",
                              "message": "container main exited with 42"}])
    assert index_state(broken, 0, []).message == \
        "the job failed (PodFailurePolicy: container main exited with 42)"


def test_newest_pod_of_an_index_counts() -> None:
    old = pod("Failed", {"terminated": {"exitCode": 1}}, created="2026-11-22T10:00:00Z")
    new = pod("Running", {"running": {}}, created="2026-11-22T10:05:00Z")
    assert index_state(job(), 0, [old, new]).status == Status.running


def test_pods_killed_at_the_deadline_are_told_apart() -> None:
    expired = job(conditions=[{"type": "Failed", "status": "True",
                               "reason": "DeadlineExceeded"}])
    killed = pod("Failed", {"terminated": {"exitCode": 137, "reason": "Error"}})
    killed["metadata"]["deletionTimestamp"] = "2026-11-22T11:00:00Z"
    state = index_state(expired, 0, [killed])
    assert state.deadline_exceeded and state.exit_code == 137
    own = pod("Failed", {"terminated": {"exitCode": 3, "reason": "Error"}})
    state = index_state(expired, 0, [own])  # it failed by itself before
    assert not state.deadline_exceeded and state.message == "exit code 3"

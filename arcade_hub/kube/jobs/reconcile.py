"""Keeping the job store's records in line with their Kubernetes Jobs and pods.

The store stays the record users see; the Jobs and pods (as `JobObjects` last saw them) are the
truth it follows: Pending / Running / Succeeded / Failed, exit codes, why a pod cannot start.
Once both are listed (after a restart too) every live record is reconciled: finished instances
get their final state, Jobs deleted meanwhile show as failed, and Jobs no record knows (orphans)
are removed. `Terminating` records are forgotten once their pods (or their Job) are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from arcade_hub.config import PlatformConfig
from arcade_hub.jobs.model import Instance, Status
from arcade_hub.jobs.store import JobStore
from arcade_hub.kube.client import API_ERRORS
from arcade_hub.kube.informer import Obj
from arcade_hub.kube.job_status import IndexState, index_state, newest, pod_state, timestamp
from arcade_hub.kube.jobs.logs import PodLogs
from arcade_hub.kube.jobs.watched import JobObjects
from arcade_hub.kube.objects import job_name

log = logging.getLogger("arcade_hub.jobs")

DELETED_OUTSIDE = "its Kubernetes Job was deleted outside Arcade Hub"
GENERIC = ("failed", "exit code 0")
"""Messages from the Job's status alone, which the pod's own end says better."""
_FINAL = (Status.succeeded, Status.failed, Status.error)


class Reconciler:
    """Updates the records of a job from its Job and pods, one job at a time."""

    def __init__(
        self,
        store: JobStore,
        platform: Callable[[], PlatformConfig],
        objects: JobObjects,
        logs: PodLogs,
    ) -> None:
        self.store = store
        self.platform = platform
        self.objects = objects
        self.logs = logs
        self.caught_up = asyncio.Event()
        """Set once Jobs and pods are listed and the store has been reconciled with them."""
        self._locks: dict[str, asyncio.Lock] = {}
        self._swept = False

    def lock(self, job_id: str) -> asyncio.Lock:
        """Held while the job's records or its Job are being brought in line."""
        return self._locks.setdefault(job_id, asyncio.Lock())

    async def live_jobs(self) -> list[str]:
        """The ids of the jobs with instances not ended yet."""
        ids = [i.job_id for i in await self.store.with_status(Status.pending, Status.running,
                                                              Status.terminating)]
        return list(dict.fromkeys(ids))

    async def catch_up(self) -> None:
        """Once Jobs and pods are both listed: remove orphans (the first time), reconcile every
        live job."""
        if not self.objects.listed():
            return
        if not self._swept:
            self._swept = True
            await self.remove_orphans()
        for job_id in await self.live_jobs():
            await self.reconcile(job_id)
        self.caught_up.set()

    async def follow(self, job_id: str) -> None:
        """Reconcile a job whose Job or pod changed (once both are listed)."""
        if job_id and self.objects.listed():
            await self.reconcile(job_id)

    async def remove_orphans(self, min_age: float = 0) -> None:
        """Jobs of ours that no record knows (a crash between creating one and recording it,
        a create that timed out but happened, a store that was reset) are removed; at most
        `min_age` seconds old ones are left (a submit may be recording them)."""
        now = time.time()
        for job_id, job in list(self.objects.jobs.objects.items()):
            meta = job["metadata"]
            created = timestamp(meta.get("creationTimestamp")) or now
            if (await self.store.job(job_id) or meta.get("deletionTimestamp")
                    or now - created < min_age):
                continue
            log.warning("Removing Kubernetes Job %s: no job of the store knows it",
                        job_name(job_id))
            with contextlib.suppress(*API_ERRORS):
                await self.objects.delete_job(self.objects.namespace(), job_id)

    async def reconcile(self, job_id: str) -> None:
        async with self.lock(job_id):
            await self._reconcile_locked(job_id)
        if not await self.store.job(job_id):
            self._locks.pop(job_id, None)

    async def _reconcile_locked(self, job_id: str) -> None:
        records = await self.store.job(job_id)
        if not records:
            return
        job = self.objects.jobs.objects.get(job_id)
        if job is None:
            try:
                job = await self.objects.read_job(job_id)
            except API_ERRORS:
                return  # the API did not answer: next time
        if job is None:
            await self._job_gone(records)
            return
        terminating = [r for r in records if r.status == Status.terminating]
        if terminating and len(terminating) == len(records) and not job["metadata"].get(
                "deletionTimestamp"):
            # deleting was asked for, but the Job is still there (e.g. a restart in between)
            with contextlib.suppress(*API_ERRORS):
                await self.objects.delete_job(self.objects.namespace(), job_id)
        pods = self.objects.pods_of(job_id)
        now = time.time()
        for record in records:
            index = record.replica - 1
            if record.status == Status.terminating:
                live = [p for p in pods.get(index, []) if not _pod_ended(p)]
                if not live:
                    await self.forget([record])
                elif len(terminating) < len(records):
                    with contextlib.suppress(*API_ERRORS):
                        await self.objects.delete_pods(self.objects.namespace(), job_id,
                                                       index)
                continue
            if record.status.final:
                await self._refine(record, pods.get(index, []))
                continue
            await self._update(record, index_state(job, index, pods.get(index, [])), now)

    async def _job_gone(self, records: list[Instance]) -> None:
        now = time.time()
        for record in records:
            if record.status == Status.terminating:
                await self.forget([record])
            elif not record.status.final:
                record.status = Status.failed
                record.message = DELETED_OUTSIDE
                record.finished = now
                await self.store.update(record)
                log.info("Job instance %s: %s", record.id, DELETED_OUTSIDE)

    async def _update(self, record: Instance, state: IndexState, now: float) -> None:
        before = (record.status, record.message, record.exit_code, record.started,
                  record.finished)
        if state.status in (Status.running, *_FINAL) and record.started is None:
            record.started = state.started or now
        record.status = state.status
        record.message = state.message
        if state.deadline_exceeded:
            hours = self.platform().jobs.max_runtime_hours
            record.message = f"stopped after its lifetime of {hours:g} h"
        if state.status.final:
            record.exit_code = state.exit_code
            record.finished = state.finished or now
        after = (record.status, record.message, record.exit_code, record.started,
                 record.finished)
        if after != before:
            await self.store.update(record)
            if state.status != before[0]:
                log.info("Job instance %s: %s %s", record.id, state.status.value, state.message)

    async def _refine(self, record: Instance, pods: list[Obj]) -> None:
        """The Job's status may tell an index ended before the watch shows its pod's end:
        the pod's exit code follows."""
        pod = newest(pods)
        if pod is None or record.exit_code is not None:
            return
        state = pod_state(pod)
        if state.status != record.status or state.exit_code is None:
            return
        record.exit_code = state.exit_code
        if record.message in GENERIC:
            record.message = state.message
        await self.store.update(record)

    async def forget(self, records: list[Instance]) -> None:
        """Remove the records from the store, and their kept logs."""
        if not records:
            return
        await self.store.remove([r.id for r in records])
        await self.logs.remove(records)


def _pod_ended(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")

"""Batch jobs on Kubernetes: each job is one Indexed Job (an index per instance).

The job store stays the record users see (statuses, times, exit codes), as on the embedded
backend; the Kubernetes API is the truth it follows:

- `submit` builds the Job with the pure builder (`build_batch_job`), checks its pods against
  the configured Pod Security level, creates it, and only then records the instances (a Job
  without records, left by a crash in between, is removed at the next start);
- two watches (Jobs and pods carrying `arcade-hub.org/role=job`, `kube_objects`) keep a cache
  from which every change is reconciled into the store (`kube_reconcile`);
- a job's lifetime is the Job's `activeDeadlineSeconds`: renewing patches it, the periodic
  reaper brings it in line with the store (and so stops expired jobs: the Job controller ends
  them, even while this service is down);
- delete marks instances `Terminating` and deletes the Job with `propagationPolicy:
  Foreground` (its pods go first); the records go once the Job is gone;
- logs are the pods' logs, their ends kept for once Kubernetes removed the pod (`kube_logs`);
- after a restart the store and the API (listed by label) are reconciled: finished instances
  get their final state, Jobs deleted meanwhile show as failed, orphans are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from kubernetes_asyncio.client.rest import ApiException

from arcade_hub.config import CatalogueEntry, PlatformConfig
from arcade_hub.jobs.base import (
    ABORTED,
    JobIdTaken,
    ResultFile,
    ResultUnavailable,
    job_lifetime,
    new_instances,
)
from arcade_hub.jobs.model import Instance, Status
from arcade_hub.jobs.store import JobStore
from arcade_hub.kube.client import API_ERRORS, KubeClient, api_error, timed
from arcade_hub.kube.informer import Obj
from arcade_hub.kube.job_status import condition, timestamp
from arcade_hub.kube.jobs.logs import PodLogs
from arcade_hub.kube.jobs.reconcile import Reconciler
from arcade_hub.kube.jobs.watched import JobObjects, backend_error, job_id_of
from arcade_hub.kube.objects import JobSettings, build_batch_job, build_home_claim, job_name
from arcade_hub.kube.restricted import PodSecurityViolation, check
from arcade_hub.kube.volumes import ClaimRequest, KubeLaunchError, build_storage
from arcade_hub.launch.request import LaunchRefused
from arcade_hub.launch.spec import LaunchSpec

log = logging.getLogger("arcade_hub.jobs")

SYNC_WAIT = 10.0
"""How long `recover` waits for the first listing before serving anyway."""
ORPHAN_AGE = 300.0
"""A Job of ours that no record knows is removed once it is this old (seconds): a create
that timed out may still have happened."""


class KubeJobRunner:
    """The Kubernetes backend's `arcade_hub.jobs.base.Runner`."""

    def __init__(
        self,
        store: JobStore,
        platform: Callable[[], PlatformConfig],
        data_dir: Path,
        kube: KubeClient,
    ) -> None:
        self.store = store
        self.platform = platform
        self.data_dir = data_dir
        self.kube = kube
        self.objects = JobObjects(kube, lambda: self.namespace)
        self.logs = PodLogs(store, self.objects, data_dir)
        self.reconciler = Reconciler(store, platform, self.objects, self.logs)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def namespace(self) -> str:
        return self.platform().backend.kubernetes.namespace or self.kube.namespace

    # --- submitting, deleting, renewing --------------------------------------------------

    async def submit(self, owner: str, name: str, job_id: str, specs: list[LaunchSpec]) -> None:
        config = self.platform()
        kube = config.backend.kubernetes
        lifetime = job_lifetime(config.jobs.max_runtime_hours, await self.store.get_job(job_id))
        first = specs[0]
        manifest: Any
        try:
            manifest = build_batch_job(
                specs, kube, config.storage, name=job_name(job_id), job_id=job_id,
                entry=_entry(config, first.entry),
                settings=JobSettings(backoff_limit_per_index=0,
                                     active_deadline_seconds=math.ceil(lifetime)),
            )
            check({"spec": manifest["spec"]["template"]["spec"]}, kube.security.pod_security)
            claim = build_storage(first, kube, config.storage).home_claim
        except (KubeLaunchError, PodSecurityViolation) as e:
            raise LaunchRefused({"": f"{first.title} cannot run on this platform: {e}"}) from None
        namespace = self.namespace
        if claim is not None:
            await self._ensure_claim(namespace, claim, owner)
        try:
            created = await timed(self.objects.batch.create_namespaced_job(namespace, manifest))
        except ApiException as e:
            if e.status == 409:
                raise JobIdTaken(f"a Kubernetes Job named {job_name(job_id)} already exists "
                                 f"in {namespace}") from None
            raise backend_error(e, "create the job") from None
        except API_ERRORS as e:
            raise backend_error(e, "create the job") from None
        self.objects.remember(job_id, created)
        instances = new_instances(
            owner, name, job_id, specs,
            lambda _, index: f"pod log of Job {job_name(job_id)}, index {index - 1}",
            expires=time.time() + lifetime,
            command_prefix=kube.commands.get("headless", []),
        )
        try:
            await self.store.add(instances)
        except Exception:
            with contextlib.suppress(*API_ERRORS):
                await self.objects.delete_job(namespace, job_id)
            raise
        log.info("Job %s of %s: Kubernetes Job %s/%s with %d instance(s)", job_id, owner,
                 namespace, job_name(job_id), len(instances))

    async def _ensure_claim(self, namespace: str, claim: ClaimRequest, owner: str) -> None:
        manifest: Any = build_home_claim(claim, owner)
        create = self.objects.core.create_namespaced_persistent_volume_claim
        try:
            await timed(create(namespace, manifest))
        except ApiException as e:
            if e.status != 409:  # it exists: the usual case
                raise backend_error(e, "create the claim of your home") from None
        except API_ERRORS as e:
            raise backend_error(e, "create the claim of your home") from None

    async def delete(self, instances: list[Instance]) -> None:
        """Stop what runs and forget the records: the whole Job when no instance of it stays,
        else the pods of the chosen instances."""
        for job_id in dict.fromkeys(i.job_id for i in instances):
            # under the job's lock: a reconcile running meanwhile would write back the
            # statuses it read before these (an instance stopped here shown Running again)
            async with self.reconciler.lock(job_id):
                await self._delete(job_id, instances)

    async def _delete(self, job_id: str, instances: list[Instance]) -> None:
        namespace = self.namespace
        chosen = {i.id: i for i in instances if i.job_id == job_id}
        records = await self.store.job(job_id)
        rest = [r for r in records if r.id not in chosen]
        mine = [r for r in records if r.id in chosen]
        live = [r for r in mine if not r.status.final]
        before = {r.id: r.status for r in live}
        for r in live:
            r.status = Status.terminating
            await self.store.update(r)
        try:
            if not rest:
                try:
                    await self.objects.delete_job(namespace, job_id)
                except ApiException as e:
                    if e.status != 404:
                        raise
                    live = []  # already gone: nothing to wait for
            else:
                for r in live:
                    await self.objects.delete_pods(namespace, job_id, r.replica - 1)
        except API_ERRORS as e:
            for r in live:
                r.status = before[r.id]
                await self.store.update(r)
            raise backend_error(e, "delete the job") from None
        await self.reconciler.forget([r for r in mine if r not in live])
        if live:
            self._spawn(self.reconciler.reconcile(job_id))

    async def renew(self, instances: list[Instance], expires: float | None = None) -> None:
        if expires is None:
            expires = time.time() + self.platform().jobs.max_runtime_hours * 3600
        for instance in instances:
            if not instance.status.final:
                instance.expires = expires
                await self.store.update(instance)
        for job_id in {i.job_id for i in instances}:
            self._spawn(self._sync_deadline(job_id))

    async def abort(self, instances: list[Instance]) -> None:
        """End the records that have not ended as aborted, then delete the Job (its pods
        go with it); the records stay. When the Job cannot be deleted, nothing changes."""
        namespace = self.namespace
        now = time.time()
        for job_id in dict.fromkeys(i.job_id for i in instances):
            live = [r for r in await self.store.job(job_id)
                    if r.id in {i.id for i in instances} and not r.status.final
                    and r.status != Status.terminating]
            before = {r.id: (r.status, r.message, r.finished) for r in live}
            for r in live:
                r.status, r.message, r.finished = Status.failed, ABORTED, now
                await self.store.update(r)
            try:
                await self.objects.delete_job(namespace, job_id)
            except ApiException as e:
                if e.status != 404:
                    await self._restore(live, before)
                    raise backend_error(e, "abort the job") from None
            except API_ERRORS as e:
                await self._restore(live, before)
                raise backend_error(e, "abort the job") from None

    async def _restore(self, records: list[Instance],
                       before: dict[str, tuple[Status, str, float | None]]) -> None:
        for r in records:
            r.status, r.message, r.finished = before[r.id]
            await self.store.update(r)

    async def result_files(self, instances: list[Instance]) -> list[ResultFile]:
        return []  # the homes are volumes the service does not mount

    async def read_result(self, instances: list[Instance], name: str) -> bytes:
        raise ResultUnavailable(
            f"no result file {name}: on Kubernetes the files a job writes stay in your home", 404
        )

    async def reap_expired(self) -> None:
        """Bring every live Job's deadline in line with the store (expired ones are then
        stopped by the Job controller), reconcile everything once more, remove orphans."""
        if not self.objects.listed():
            return
        for job_id in await self.reconciler.live_jobs():
            await self.reconciler.reconcile(job_id)
            await self._sync_deadline(job_id)
        await self.reconciler.remove_orphans(ORPHAN_AGE)

    async def _sync_deadline(self, job_id: str) -> None:
        async with self.reconciler.lock(job_id):
            await self._sync_deadline_locked(job_id)

    async def _sync_deadline_locked(self, job_id: str) -> None:
        job = self.objects.jobs.objects.get(job_id)
        records = [r for r in await self.store.job(job_id) if r.status in (Status.pending,
                                                                           Status.running)]
        expiries = [r.expires for r in records if r.expires is not None]
        if job is None or not expiries or _ended(job):
            return
        start = timestamp((job.get("status") or {}).get("startTime")) or timestamp(
            job["metadata"].get("creationTimestamp")) or time.time()
        want = max(1, math.ceil(max(expiries) - start))
        if (job.get("spec") or {}).get("activeDeadlineSeconds") == want:
            return
        try:
            patched = await timed(self.objects.batch.patch_namespaced_job(
                job_name(job_id), self.namespace, {"spec": {"activeDeadlineSeconds": want}}))
        except ApiException as e:
            if e.status != 404:
                log.warning("Could not set the deadline of Job %s: %s", job_name(job_id),
                            api_error(e, "patch the job")[1])
            return
        except API_ERRORS as e:
            log.warning("Could not set the deadline of Job %s: %s", job_name(job_id), e)
            return
        self.objects.remember(job_id, patched)
        log.info("Job %s: deadline %d s from its start", job_name(job_id), want)

    # --- logs ------------------------------------------------------------------------------

    async def read_log(self, instance: Instance) -> str:
        return await self.logs.read(instance)

    def describe(self, instance: Instance) -> str:
        pod = self.objects.newest_pod(instance)
        if pod is not None:
            return f"pod {pod['metadata']['name']}"
        return f"Job {job_name(instance.job_id)}, index {instance.replica - 1}"

    # --- lifecycle ----------------------------------------------------------------------

    async def recover(self) -> None:
        """Watch the API; once listed, reconcile the store and remove orphaned Jobs."""
        self._spawn(self.objects.jobs.run(self._jobs_listed, self._job_changed))
        self._spawn(self.objects.pods.run(self._pods_listed, self._pod_changed))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ready(), SYNC_WAIT)
        if not self.objects.listed():
            log.warning("Kubernetes Jobs not listed after %g s; job statuses follow once they "
                        "are", SYNC_WAIT)

    async def ready(self) -> None:
        """Wait until Jobs and pods have been listed and the store reconciled with them."""
        await self.reconciler.caught_up.wait()

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Job task failed", exc_info=task.exception())

    # --- following the watches -------------------------------------------------------------

    async def _jobs_listed(self, _: list[Obj]) -> None:
        await self.reconciler.catch_up()

    async def _pods_listed(self, pods: list[Obj]) -> None:
        for pod in pods:
            self._pod_seen(pod)
        await self.reconciler.catch_up()

    async def _job_changed(self, _: str, job: Obj) -> None:
        await self.reconciler.follow(job_id_of(job))

    async def _pod_changed(self, change: str, pod: Obj) -> None:
        if change == "DELETED":
            self.logs.pod_gone(pod)
        else:
            self._pod_seen(pod)
        await self.reconciler.follow(job_id_of(pod))

    def _pod_seen(self, pod: Obj) -> None:
        if self.logs.to_keep(pod):
            self._spawn(self.logs.keep(pod))


def _entry(config: PlatformConfig, name: str | None) -> CatalogueEntry | None:
    if name is None:
        return None
    try:
        return config.entry(name)
    except KeyError:
        return None


def _ended(job: Obj) -> bool:
    return bool(condition(job, "Complete") or condition(job, "Failed")
                or job["metadata"].get("deletionTimestamp"))

"""Batch jobs on Kubernetes: each job is one Indexed Job (an index per instance).

The job store stays the record users see (statuses, times, exit codes), as on the embedded
backend; the Kubernetes API is the truth it follows:

- `submit` builds the Job with the pure builder (`build_batch_job`), checks its pods against
  the configured Pod Security level, creates it, and only then records the instances (a Job
  without records, left by a crash in between, is removed at the next start);
- two watches (Jobs and pods carrying `arcade-hub.org/role=job`) keep a cache from which every
  change is reconciled into the store: Pending / Running / Succeeded / Failed, exit codes,
  why a pod cannot start (image pull errors, scheduling);
- a job's lifetime is the Job's `activeDeadlineSeconds`: renewing patches it, the periodic
  reaper brings it in line with the store (and so stops expired jobs: the Job controller ends
  them, even while this service is down);
- delete marks instances `Terminating` and deletes the Job with `propagationPolicy:
  Foreground` (its pods go first); the records go once the Job is gone;
- logs are the pods' logs; the end of each instance's log is also kept (a bounded tail, in the
  service's data directory) so it can still be read once Kubernetes removed the pod;
- after a restart the store and the API (listed by label) are reconciled: finished instances
  get their final state, Jobs deleted meanwhile show as failed, orphans are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from kubernetes_asyncio.client import BatchV1Api, CoreV1Api
from kubernetes_asyncio.client.rest import ApiException

from arcade_hub.config.models import CatalogueEntry, PlatformConfig
from arcade_hub.jobs.base import BackendKind, JobBackendError, JobIdTaken, new_instances
from arcade_hub.jobs.model import Instance, Status
from arcade_hub.jobs.store import JobStore
from arcade_hub.kube.client import API_ERRORS, KubeClient, api_error
from arcade_hub.kube.job_status import (
    IndexState,
    condition,
    index_state,
    newest,
    pod_index,
    pod_state,
    timestamp,
)
from arcade_hub.kube.restricted import PodSecurityViolation, check
from arcade_hub.kube.spawner import KubeAvailability
from arcade_hub.kube.volumes import ClaimRequest, KubeLaunchError, build_storage
from arcade_hub.kube.workloads import (
    JOB,
    JOB_ROLE,
    ROLE,
    JobSettings,
    build_batch_job,
    build_home_claim,
    job_name,
)
from arcade_hub.options import LaunchRefused
from arcade_hub.policy import Site
from arcade_hub.spec import LaunchSpec

log = logging.getLogger("arcade_hub.jobs")
T = TypeVar("T")

Obj = dict[str, Any]
SELECTOR = f"{ROLE}={JOB_ROLE}"
WATCH_SECONDS = 300
REQUEST_TIMEOUT = 30.0
LIST_TIMEOUT = 120.0
SYNC_WAIT = 10.0
ORPHAN_AGE = 300.0
"""A Job of ours that no record knows is removed once it is this old (seconds): a create
that timed out may still have happened."""
"""How long `recover` waits for the first listing before serving anyway."""
KEPT_LOG_BYTES = 256 * 1024
READ_LOG_BYTES = 16 * 1024 * 1024
DELETED_OUTSIDE = "its Kubernetes Job was deleted outside Arcade Hub"
GENERIC = ("failed", "exit code 0")
"""Messages from the Job's status alone, which the pod's own end says better."""


class _Expired(Exception):
    """The watch's resource version is too old (410): list again."""


class KubeJobRunner:
    """The Kubernetes backend's `arcade_hub.jobs.base.Runner`."""

    backend: BackendKind = "kubernetes"

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
        self.batch = BatchV1Api(kube.api)
        self.core = CoreV1Api(kube.api)
        self._jobs: dict[str, Obj] = {}
        """Job id (the `arcade-hub.org/job` annotation) to its Job, as last seen."""
        self._pods: dict[str, Obj] = {}
        """Pod name to pod, for pods of batch jobs."""
        self._synced = {"jobs": asyncio.Event(), "pods": asyncio.Event()}
        self._caught_up = asyncio.Event()
        """Set once both are listed and the store has been reconciled with them."""
        self._locks: dict[str, asyncio.Lock] = {}
        self._kept: set[str] = set()
        """Pods whose final log has been kept."""
        self._swept = False
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def namespace(self) -> str:
        return self.platform().backend.kubernetes.namespace or self.kube.namespace

    def site(self) -> Site:
        return Site(data_dir=self.data_dir, availability=KubeAvailability(),
                    datasets_on_host=False)

    # --- submitting, deleting, renewing --------------------------------------------------

    async def submit(self, owner: str, name: str, job_id: str, specs: list[LaunchSpec]) -> None:
        config = self.platform()
        kube = config.backend.kubernetes
        lifetime = config.jobs.max_runtime_hours * 3600
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
            created = await _timed(self.batch.create_namespaced_job(namespace, manifest))
        except ApiException as e:
            if e.status == 409:
                raise JobIdTaken(f"a Kubernetes Job named {job_name(job_id)} already exists "
                                 f"in {namespace}") from None
            raise _backend_error(e, "create the job") from None
        except API_ERRORS as e:
            raise _backend_error(e, "create the job") from None
        self._jobs[job_id] = self.kube.api.sanitize_for_serialization(created)
        instances = new_instances(
            owner, name, job_id, specs,
            lambda _, index: f"pod log of Job {job_name(job_id)}, index {index - 1}",
            expires=time.time() + lifetime,
            command_prefix=kube.commands.get("headless", []),
        )
        try:
            self.store.add(instances)
        except Exception:
            with contextlib.suppress(*API_ERRORS):
                await self._delete_job(namespace, job_id)
            raise
        log.info("Job %s of %s: Kubernetes Job %s/%s with %d instance(s)", job_id, owner,
                 namespace, job_name(job_id), len(instances))

    async def _ensure_claim(self, namespace: str, claim: ClaimRequest, owner: str) -> None:
        manifest: Any = build_home_claim(claim, owner)
        try:
            await _timed(self.core.create_namespaced_persistent_volume_claim(namespace, manifest))
        except ApiException as e:
            if e.status != 409:  # it exists: the usual case
                raise _backend_error(e, "create the claim of your home") from None
        except API_ERRORS as e:
            raise _backend_error(e, "create the claim of your home") from None

    async def delete(self, instances: list[Instance]) -> None:
        """Stop what runs and forget the records: the whole Job when no instance of it stays,
        else the pods of the chosen instances."""
        namespace = self.namespace
        for job_id in dict.fromkeys(i.job_id for i in instances):
            chosen = {i.id: i for i in instances if i.job_id == job_id}
            records = self.store.job(job_id)
            rest = [r for r in records if r.id not in chosen]
            mine = [r for r in records if r.id in chosen]
            live = [r for r in mine if not r.status.final]
            before = {r.id: r.status for r in live}
            for r in live:
                r.status = Status.terminating
                self.store.update(r)
            try:
                if not rest:
                    try:
                        await self._delete_job(namespace, job_id)
                    except ApiException as e:
                        if e.status != 404:
                            raise
                        live = []  # already gone: nothing to wait for
                else:
                    for r in live:
                        await self._delete_pods(namespace, job_id, r.replica - 1)
            except API_ERRORS as e:
                for r in live:
                    r.status = before[r.id]
                    self.store.update(r)
                raise _backend_error(e, "delete the job") from None
            self._forget([r for r in mine if r not in live])
            if live:
                self._spawn(self._reconcile(job_id))

    async def _delete_job(self, namespace: str, job_id: str) -> None:
        await _timed(self.batch.delete_namespaced_job(
            job_name(job_id), namespace, propagation_policy="Foreground"))
        log.info("Deleting Kubernetes Job %s/%s", namespace, job_name(job_id))

    async def _delete_pods(self, namespace: str, job_id: str, index: int) -> None:
        for pod in self._pods_of(job_id).get(index, []):
            if pod["metadata"].get("deletionTimestamp"):
                continue
            try:
                await _timed(self.core.delete_namespaced_pod(
                    pod["metadata"]["name"], namespace, propagation_policy="Background"))
            except ApiException as e:
                if e.status != 404:
                    raise

    def renew(self, instances: list[Instance]) -> None:
        expires = time.time() + self.platform().jobs.max_runtime_hours * 3600
        for instance in instances:
            if not instance.status.final:
                instance.expires = expires
                self.store.update(instance)
        for job_id in {i.job_id for i in instances}:
            self._spawn(self._sync_deadline(job_id))

    async def reap_expired(self) -> None:
        """Bring every live Job's deadline in line with the store (expired ones are then
        stopped by the Job controller), reconcile everything once more, remove orphans."""
        if not self._ready():
            return
        for job_id in self._live_jobs():
            await self._reconcile(job_id)
            await self._sync_deadline(job_id)
        await self._remove_orphans(ORPHAN_AGE)

    async def _sync_deadline(self, job_id: str) -> None:
        async with self._lock(job_id):
            await self._sync_deadline_locked(job_id)

    async def _sync_deadline_locked(self, job_id: str) -> None:
        job = self._jobs.get(job_id)
        records = [r for r in self.store.job(job_id) if r.status in (Status.pending,
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
            patched = await _timed(self.batch.patch_namespaced_job(
                job_name(job_id), self.namespace, {"spec": {"activeDeadlineSeconds": want}}))
        except ApiException as e:
            if e.status != 404:
                log.warning("Could not set the deadline of Job %s: %s", job_name(job_id),
                            api_error(e, "patch the job")[1])
            return
        except API_ERRORS as e:
            log.warning("Could not set the deadline of Job %s: %s", job_name(job_id), e)
            return
        self._jobs[job_id] = self.kube.api.sanitize_for_serialization(patched)
        log.info("Job %s: deadline %d s from its start", job_name(job_id), want)

    # --- logs ------------------------------------------------------------------------------

    async def read_log(self, instance: Instance) -> str:
        pod = newest(self._pods_of(instance.job_id).get(instance.replica - 1, []))
        if pod is None:
            return self._kept_or_gone(instance)
        try:
            text: str = await _timed(self.core.read_namespaced_pod_log(
                pod["metadata"]["name"], self.namespace, container="main",
                limit_bytes=READ_LOG_BYTES))
        except ApiException as e:
            if e.status == 404:
                return self._kept_or_gone(instance)
            if e.status == 400:  # waiting to start: no log yet
                return ""
            raise _backend_error(e, "read the log") from None
        except API_ERRORS as e:
            raise _backend_error(e, "read the log") from None
        return text

    def _kept_log(self, instance: Instance) -> str:
        """The end of the instance's log kept in the data directory ("" when none is)."""
        try:
            return self._log_file(instance).read_text(errors="replace")
        except OSError:
            return ""

    def _kept_or_gone(self, instance: Instance) -> str:
        kept = self._kept_log(instance)
        if kept or not instance.status.final:
            return kept
        return "(the pod of this instance is gone, and with it its log)\n"

    def _log_file(self, instance: Instance) -> Path:
        return self.data_dir / "jobs" / "logs" / instance.job_id / f"{instance.id}.log"

    async def _keep_log(self, pod: Obj) -> None:
        """Keep the end of an ended pod's log, for when Kubernetes removes the pod."""
        meta = pod["metadata"]
        job_id = (meta.get("annotations") or {}).get(JOB)
        index = pod_index(pod)
        if job_id is None or index is None:
            return
        record = next((r for r in self.store.job(job_id) if r.replica == index + 1), None)
        if record is None or self._log_file(record).exists():
            return
        try:
            text: str = await _timed(self.core.read_namespaced_pod_log(
                meta["name"], self.namespace, container="main", limit_bytes=READ_LOG_BYTES))
        except API_ERRORS:
            return  # the pod is gone already, or never started
        data = text.encode()[-KEPT_LOG_BYTES:]
        path = self._log_file(record)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def describe(self, instance: Instance) -> str:
        pod = newest(self._pods_of(instance.job_id).get(instance.replica - 1, []))
        if pod is not None:
            return f"pod {pod['metadata']['name']}"
        return f"Job {job_name(instance.job_id)}, index {instance.replica - 1}"

    # --- lifecycle ----------------------------------------------------------------------

    async def recover(self) -> None:
        """Watch the API; once listed, reconcile the store and remove orphaned Jobs."""
        for kind in self._synced:
            self._spawn(self._informer(kind))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ready(), SYNC_WAIT)
        if not self._ready():
            log.warning("Kubernetes Jobs not listed after %g s; job statuses follow once they "
                        "are", SYNC_WAIT)

    async def ready(self) -> None:
        """Wait until Jobs and pods have been listed and the store reconciled with them."""
        await self._caught_up.wait()

    def _ready(self) -> bool:
        return all(e.is_set() for e in self._synced.values())

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

    # --- watching -------------------------------------------------------------------------

    async def _informer(self, kind: str) -> None:
        backoff = 1.0
        while True:
            try:
                version = await self._list(kind)
                backoff = 1.0
                while True:
                    version = await self._watch(kind, version)
            except asyncio.CancelledError:
                raise
            except _Expired:
                continue
            except Exception as e:  # keep watching whatever happens; say why
                log.warning("Watching %s failed (retrying in %g s): %s", kind, backoff,
                            api_error(e, f"watch {kind}")[1])
                await asyncio.sleep(backoff)  # back off before asking the API again
                backoff = min(backoff * 2, 30.0)

    def _call(self, kind: str) -> Any:
        if kind == "jobs":
            return self.batch.list_namespaced_job
        return self.core.list_namespaced_pod

    async def _list(self, kind: str) -> str:
        async def listed() -> Obj:
            response = await self._call(kind)(self.namespace, label_selector=SELECTOR,
                                              _preload_content=False)
            return await _json(response)

        data = await _timed(listed(), LIST_TIMEOUT)
        items: list[Obj] = data.get("items") or []
        if kind == "jobs":
            self._jobs = {_job_id(o): o for o in items if _job_id(o)}
        else:
            self._pods = {o["metadata"]["name"]: o for o in items}
            for pod in items:
                self._pod_changed(pod)
        self._synced[kind].set()
        if self._ready():
            if not self._swept:
                self._swept = True
                await self._remove_orphans()
            for job_id in self._live_jobs():
                await self._reconcile(job_id)
            self._caught_up.set()
        return str(data["metadata"]["resourceVersion"])

    async def _watch(self, kind: str, version: str) -> str:
        response = await self._call(kind)(
            self.namespace, label_selector=SELECTOR, watch=True, resource_version=version,
            timeout_seconds=WATCH_SECONDS, allow_watch_bookmarks=True, _preload_content=False,
            _request_timeout=aiohttp.ClientTimeout(sock_connect=30, sock_read=WATCH_SECONDS + 30),
        )
        try:
            if not 200 <= response.status < 300:
                await _json(response)  # raises with the API's message
            async for line in response.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                obj: Obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    if obj.get("code") == 410:
                        raise _Expired
                    raise ApiException(status=obj.get("code", 500), reason=obj.get("message"))
                version = str(obj["metadata"]["resourceVersion"])
                if event["type"] != "BOOKMARK":
                    await self._apply(kind, event["type"], obj)
        finally:
            response.release()
        return version

    async def _apply(self, kind: str, change: str, obj: Obj) -> None:
        if kind == "jobs":
            job_id = _job_id(obj)
            if not job_id:
                return
            if change == "DELETED":
                self._jobs.pop(job_id, None)
            else:
                self._jobs[job_id] = obj
        else:
            job_id = str((obj["metadata"].get("annotations") or {}).get(JOB) or "")
            if change == "DELETED":
                self._pods.pop(obj["metadata"]["name"], None)
                self._kept.discard(obj["metadata"]["name"])
            else:
                self._pods[obj["metadata"]["name"]] = obj
                self._pod_changed(obj)
        if job_id and self._ready():
            await self._reconcile(job_id)

    def _pod_changed(self, pod: Obj) -> None:
        name = pod["metadata"]["name"]
        phase = (pod.get("status") or {}).get("phase")
        ending = phase in ("Succeeded", "Failed") or pod["metadata"].get("deletionTimestamp")
        if ending and name not in self._kept and phase != "Pending":
            self._kept.add(name)
            self._spawn(self._keep_log(pod))

    # --- reconciling ----------------------------------------------------------------------

    def _pods_of(self, job_id: str) -> dict[int, list[Obj]]:
        found: dict[int, list[Obj]] = {}
        for pod in self._pods.values():
            if (pod["metadata"].get("annotations") or {}).get(JOB) != job_id:
                continue
            index = pod_index(pod)
            if index is not None:
                found.setdefault(index, []).append(pod)
        return found

    def _live_jobs(self) -> list[str]:
        ids = [i.job_id for i in self.store.with_status(Status.pending, Status.running,
                                                        Status.terminating)]
        return list(dict.fromkeys(ids))

    async def _remove_orphans(self, min_age: float = 0) -> None:
        """Jobs of ours that no record knows (a crash between creating one and recording it,
        a create that timed out but happened, a store that was reset) are removed; at most
        `min_age` seconds old ones are left (a submit may be recording them)."""
        now = time.time()
        for job_id, job in list(self._jobs.items()):
            meta = job["metadata"]
            created = timestamp(meta.get("creationTimestamp")) or now
            if self.store.job(job_id) or meta.get("deletionTimestamp") or now - created < min_age:
                continue
            log.warning("Removing Kubernetes Job %s: no job of the store knows it",
                        job_name(job_id))
            with contextlib.suppress(*API_ERRORS):
                await self._delete_job(self.namespace, job_id)

    def _lock(self, job_id: str) -> asyncio.Lock:
        return self._locks.setdefault(job_id, asyncio.Lock())

    async def _reconcile(self, job_id: str) -> None:
        async with self._lock(job_id):
            await self._reconcile_locked(job_id)
        if not self.store.job(job_id):
            self._locks.pop(job_id, None)

    async def _reconcile_locked(self, job_id: str) -> None:
        records = self.store.job(job_id)
        if not records:
            return
        job = self._jobs.get(job_id)
        if job is None:
            try:
                job = await self._read_job(job_id)
            except API_ERRORS:
                return  # the API did not answer: next time
        if job is None:
            self._job_gone(records)
            return
        terminating = [r for r in records if r.status == Status.terminating]
        if terminating and len(terminating) == len(records) and not job["metadata"].get(
                "deletionTimestamp"):
            # deleting was asked for, but the Job is still there (e.g. a restart in between)
            with contextlib.suppress(*API_ERRORS):
                await self._delete_job(self.namespace, job_id)
        pods = self._pods_of(job_id)
        now = time.time()
        for record in records:
            index = record.replica - 1
            if record.status == Status.terminating:
                live = [p for p in pods.get(index, []) if not _pod_ended(p)]
                if not live:
                    self._forget([record])
                elif len(terminating) < len(records):
                    with contextlib.suppress(*API_ERRORS):
                        await self._delete_pods(self.namespace, job_id, index)
                continue
            if record.status.final:
                self._refine(record, pods.get(index, []))
                continue
            self._update(record, index_state(job, index, pods.get(index, [])), now)

    async def _read_job(self, job_id: str) -> Obj | None:
        """The Job from the API (a watch may not have shown it yet); None when it is gone."""
        try:
            found = await _timed(self.batch.read_namespaced_job(job_name(job_id),
                                                                self.namespace))
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        job: Obj = self.kube.api.sanitize_for_serialization(found)
        if _job_id(job) != job_id:
            return None
        self._jobs[job_id] = job
        return job

    def _job_gone(self, records: list[Instance]) -> None:
        now = time.time()
        for record in records:
            if record.status == Status.terminating:
                self._forget([record])
            elif not record.status.final:
                record.status = Status.failed
                record.message = DELETED_OUTSIDE
                record.finished = now
                self.store.update(record)
                log.info("Job instance %s: %s", record.id, DELETED_OUTSIDE)

    def _update(self, record: Instance, state: IndexState, now: float) -> None:
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
            self.store.update(record)
            if state.status != before[0]:
                log.info("Job instance %s: %s %s", record.id, state.status.value, state.message)

    def _refine(self, record: Instance, pods: list[Obj]) -> None:
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
        self.store.update(record)

    def _forget(self, records: list[Instance]) -> None:
        if not records:
            return
        self.store.remove([r.id for r in records])
        for record in records:
            with contextlib.suppress(OSError):
                self._log_file(record).unlink()
        for job_id in {r.job_id for r in records}:
            if not self.store.job(job_id):
                with contextlib.suppress(OSError):
                    (self.data_dir / "jobs" / "logs" / job_id).rmdir()


_FINAL = (Status.succeeded, Status.failed, Status.error)


def _entry(config: PlatformConfig, name: str | None) -> CatalogueEntry | None:
    if name is None:
        return None
    try:
        return config.entry(name)
    except KeyError:
        return None


def _job_id(job: Obj) -> str:
    return str((job.get("metadata", {}).get("annotations") or {}).get(JOB) or "")


def _ended(job: Obj) -> bool:
    return bool(condition(job, "Complete") or condition(job, "Failed")
                or job["metadata"].get("deletionTimestamp"))


def _pod_ended(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _backend_error(e: Exception, doing: str) -> JobBackendError:
    status, message = api_error(e, doing)
    return JobBackendError(message, status)


async def _timed(call: Awaitable[T], seconds: float | None = None) -> T:
    """A call to the API that gives up (TimeoutError) rather than hang a request."""
    return await asyncio.wait_for(call, seconds or REQUEST_TIMEOUT)


async def _json(response: Any) -> Obj:
    """The body of a raw (`_preload_content=False`) response; ApiException when it failed."""
    body = await response.read()
    if not 200 <= response.status < 300:
        error = ApiException(status=response.status, reason=response.reason)
        error.body = body.decode(errors="replace")
        raise error
    data: Obj = json.loads(body)
    return data

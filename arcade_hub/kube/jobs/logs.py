"""The logs of batch job instances on Kubernetes: their pods' logs.

The end of each instance's log is also kept (a bounded tail, in the service's data directory,
`jobs/logs/<job id>/<instance id>.log`) once its pod ends, so it can still be read once
Kubernetes removed the pod.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from kubernetes_asyncio.client.rest import ApiException

from arcade_hub.jobs.model import Instance
from arcade_hub.jobs.store import JobStore
from arcade_hub.kube.client import API_ERRORS, timed
from arcade_hub.kube.informer import Obj
from arcade_hub.kube.job_status import pod_index
from arcade_hub.kube.jobs.watched import JobObjects, backend_error, job_id_of

KEPT_LOG_BYTES = 256 * 1024
READ_LOG_BYTES = 16 * 1024 * 1024


class PodLogs:
    """Reads instances' logs from their pods, and keeps the end of each."""

    def __init__(self, store: JobStore, objects: JobObjects, data_dir: Path) -> None:
        self.store = store
        self.objects = objects
        self.data_dir = data_dir
        self._kept: set[str] = set()
        """Pods whose final log has been kept."""

    async def read(self, instance: Instance) -> str:
        """The instance's log: its pod's, else the end kept of it."""
        pod = self.objects.newest_pod(instance)
        if pod is None:
            return self._kept_or_gone(instance)
        try:
            text = await self._pod_log(pod["metadata"]["name"])
        except ApiException as e:
            if e.status == 404:
                return self._kept_or_gone(instance)
            if e.status == 400:  # waiting to start: no log yet
                return ""
            raise backend_error(e, "read the log") from None
        except API_ERRORS as e:
            raise backend_error(e, "read the log") from None
        return text

    async def _pod_log(self, name: str) -> str:
        text: str = await timed(self.objects.core.read_namespaced_pod_log(
            name, self.objects.namespace(), container="main", limit_bytes=READ_LOG_BYTES))
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
        return self._job_dir(instance.job_id) / f"{instance.id}.log"

    def _job_dir(self, job_id: str) -> Path:
        return self.data_dir / "jobs" / "logs" / job_id

    def to_keep(self, pod: Obj) -> bool:
        """Whether the pod has ended (or is being deleted) and its log is not kept yet; from
        then on it counts as kept."""
        name = pod["metadata"]["name"]
        phase = (pod.get("status") or {}).get("phase")
        ending = phase in ("Succeeded", "Failed") or pod["metadata"].get("deletionTimestamp")
        if ending and name not in self._kept and phase != "Pending":
            self._kept.add(name)
            return True
        return False

    def pod_gone(self, pod: Obj) -> None:
        self._kept.discard(pod["metadata"]["name"])

    async def keep(self, pod: Obj) -> None:
        """Keep the end of an ended pod's log, for when Kubernetes removes the pod."""
        job_id = job_id_of(pod)
        index = pod_index(pod)
        if not job_id or index is None:
            return
        record = next((r for r in await self.store.job(job_id) if r.replica == index + 1), None)
        if record is None or self._log_file(record).exists():
            return
        try:
            text = await self._pod_log(pod["metadata"]["name"])
        except API_ERRORS:
            return  # the pod is gone already, or never started
        data = text.encode()[-KEPT_LOG_BYTES:]
        path = self._log_file(record)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    async def remove(self, records: list[Instance]) -> None:
        """Remove the kept logs of forgotten records (and their job's folder once empty)."""
        for record in records:
            with contextlib.suppress(OSError):
                self._log_file(record).unlink()
        for job_id in {r.job_id for r in records}:
            if not await self.store.job(job_id):
                with contextlib.suppress(OSError):
                    self._job_dir(job_id).rmdir()

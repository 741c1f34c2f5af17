"""The Kubernetes objects of batch jobs: each job's Indexed Job and its pods, in one namespace.

Two informers (`arcade_hub.kube.informer`) keep them, Jobs by job id (the `arcade-hub.org/job`
annotation) and pods by name; `read_job` asks the API for a Job the watch has not shown yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kubernetes_asyncio.client import BatchV1Api, CoreV1Api
from kubernetes_asyncio.client.rest import ApiException

from arcade_hub.jobs.base import JobBackendError
from arcade_hub.jobs.model import Instance
from arcade_hub.kube.builders import JOB, JOB_ROLE, ROLE
from arcade_hub.kube.client import KubeClient, api_error, timed
from arcade_hub.kube.informer import Informer, Obj
from arcade_hub.kube.job_status import newest, pod_index
from arcade_hub.kube.objects import job_name

log = logging.getLogger("arcade_hub.jobs")

SELECTOR = f"{ROLE}={JOB_ROLE}"


def job_id_of(obj: Obj) -> str:
    """The job id a Job or pod belongs to ("" when it carries none)."""
    return str((obj.get("metadata", {}).get("annotations") or {}).get(JOB) or "")


def backend_error(e: Exception, doing: str) -> JobBackendError:
    status, message = api_error(e, doing)
    return JobBackendError(message, status)


class JobObjects:
    """The Jobs and pods of batch jobs, as last seen, and the calls that read and delete them."""

    def __init__(self, kube: KubeClient, namespace: Callable[[], str]) -> None:
        self.kube = kube
        self.namespace = namespace
        self.batch = BatchV1Api(kube.api)
        self.core = CoreV1Api(kube.api)
        self.jobs = Informer("jobs", self.batch.list_namespaced_job, namespace, SELECTOR,
                             key=job_id_of)
        self.pods = Informer("pods", self.core.list_namespaced_pod, namespace, SELECTOR)

    def listed(self) -> bool:
        """Whether both Jobs and pods have been listed."""
        return self.jobs.synced.is_set() and self.pods.synced.is_set()

    def remember(self, job_id: str, job: Any) -> Obj:
        """Keep a Job the API answered with (a model) as its JSON, until the watch shows it."""
        found: Obj = self.kube.api.sanitize_for_serialization(job)
        self.jobs.objects[job_id] = found
        return found

    def pods_of(self, job_id: str) -> dict[int, list[Obj]]:
        """The pods of a job by completion index."""
        found: dict[int, list[Obj]] = {}
        for pod in self.pods.objects.values():
            if job_id_of(pod) != job_id:
                continue
            index = pod_index(pod)
            if index is not None:
                found.setdefault(index, []).append(pod)
        return found

    def newest_pod(self, instance: Instance) -> Obj | None:
        """The instance's pod (the newest, should its index have had several)."""
        return newest(self.pods_of(instance.job_id).get(instance.replica - 1, []))

    async def read_job(self, job_id: str) -> Obj | None:
        """The Job from the API (a watch may not have shown it yet); None when it is gone."""
        try:
            found = await timed(self.batch.read_namespaced_job(job_name(job_id),
                                                               self.namespace()))
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        job: Obj = self.kube.api.sanitize_for_serialization(found)
        if job_id_of(job) != job_id:
            return None
        self.jobs.objects[job_id] = job
        return job

    async def delete_job(self, namespace: str, job_id: str) -> None:
        """Delete the job's Job, its pods first."""
        await timed(self.batch.delete_namespaced_job(
            job_name(job_id), namespace, propagation_policy="Foreground"))
        log.info("Deleting Kubernetes Job %s/%s", namespace, job_name(job_id))

    async def delete_pods(self, namespace: str, job_id: str, index: int) -> None:
        """Delete the pods of one index of the job (the Job stays)."""
        for pod in self.pods_of(job_id).get(index, []):
            if pod["metadata"].get("deletionTimestamp"):
                continue
            try:
                await timed(self.core.delete_namespaced_pod(
                    pod["metadata"]["name"], namespace, propagation_policy="Background"))
            except ApiException as e:
                if e.status != 404:
                    raise

"""UWS on Kubernetes: the arcade service's UWS layer on the Kubernetes backend (the fake API,
which checks every object strictly): a held job is one Indexed Job once it runs, with the
execution duration it asked for as its deadline; ABORT deletes the Job and keeps the records;
its results are the pods' logs. Every document is valid UWS 1.1 and read with pyvo."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from arcade_hub.kube.workloads import job_name
from tests.ivoa import uws_job

from .conftest import NAMESPACE, Cluster
from .fake_api import FakeKubeAPI
from .service import FakeHub, eventually, kubeconfig_for, kubelet, not_allowed, running_service
from .service import service_document as document
from .test_service_jobs import hub  # noqa: F401 - the fake hub fixture


@asynccontextmanager
async def uws_job_of(
    fake_api: FakeKubeAPI, hub: FakeHub, tmp_path: Path, **params: str  # noqa: F811
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """The service on the fake API, alice's client, and the id of the UWS job she creates."""
    cluster = Cluster(fake_api.url, NAMESPACE, fake_api)
    token = hub.add_user("alice")
    async with running_service(tmp_path, hub, document(cluster),
                               kubeconfig_for(cluster, tmp_path)) as svc, \
            svc.client(token) as api:
        r = await api.post("uws/jobs", data={"image": "batch", "cmd": "echo", **params})
        assert r.status_code == 303, r.text
        yield api, r.headers["Location"].rsplit("/", 1)[1]


async def job_doc(api: httpx.AsyncClient, job_id: str) -> object:
    r = await api.get(f"uws/jobs/{job_id}")
    assert r.status_code == 200, r.text
    return uws_job(r.content)


async def test_a_uws_job_runs_as_an_indexed_job_and_aborts(
    fake_api: FakeKubeAPI, hub: FakeHub, tmp_path: Path  # noqa: F811
) -> None:
    async with uws_job_of(fake_api, hub, tmp_path, args="hi",
                          EXECUTIONDURATION="600") as (api, job_id):  # fmt: skip
        assert fake_api.list("jobs") == []  # held: nothing in the cluster yet
        assert (await job_doc(api, job_id)).phase == "PENDING"  # type: ignore[attr-defined]
        assert (await api.post(f"uws/jobs/{job_id}/phase", data={"PHASE": "RUN"})
                ).status_code == 303  # fmt: skip
        manifest = fake_api.get("jobs", NAMESPACE, job_name(job_id))
        assert manifest is not None and fake_api.rejected == []
        assert manifest["spec"]["activeDeadlineSeconds"] == 600
        (pod,) = await fake_api.run_job(NAMESPACE, job_name(job_id))
        await fake_api.mark_running(NAMESPACE, pod)

        async def executing() -> bool:
            return (await job_doc(api, job_id)).phase == "EXECUTING"  # type: ignore[attr-defined]

        await eventually(executing, "the job to execute", 15)
        assert (await api.get(f"uws/jobs/{job_id}/executionduration")).text == "600"
        assert (await api.post(f"uws/jobs/{job_id}/phase", data={"PHASE": "ABORT"})
                ).status_code == 303  # fmt: skip
        aborted = await job_doc(api, job_id)
        assert aborted.phase == "ABORTED"  # type: ignore[attr-defined]

        async def job_gone() -> bool:
            return fake_api.get("jobs", NAMESPACE, job_name(job_id)) is None

        await eventually(job_gone, "the Kubernetes Job to be deleted", 15)
        skaha = (await api.get(f"skaha/v1/session/{job_id}")).json()
        assert (skaha["status"], skaha["message"]) == ("Failed", "aborted")
        assert (await job_doc(api, job_id)).phase == "ABORTED"  # type: ignore[attr-defined]
        assert (await api.delete(f"uws/jobs/{job_id}")).status_code == 303
        assert (await api.get(f"uws/jobs/{job_id}")).status_code == 404
        assert not_allowed(fake_api) == [] and fake_api.rejected == []


async def test_results_are_the_pods_logs(
    fake_api: FakeKubeAPI, hub: FakeHub, tmp_path: Path  # noqa: F811
) -> None:
    async with uws_job_of(fake_api, hub, tmp_path, args="hello", PHASE="RUN") as (api, job_id):
        (pod,) = await fake_api.run_job(NAMESPACE, job_name(job_id))
        assert await kubelet(fake_api, NAMESPACE, pod, tmp_path) == 0

        async def completed() -> object | None:
            job = await job_doc(api, job_id)
            return job if job.phase == "COMPLETED" else None  # type: ignore[attr-defined]

        done = await eventually(completed, "the job to complete", 30)
        assert [r.id_ for r in done.results] == ["log"]  # type: ignore[attr-defined]
        log = await api.get(f"uws/jobs/{job_id}/results/log")
        assert log.status_code == 200 and log.text == "hello\n"

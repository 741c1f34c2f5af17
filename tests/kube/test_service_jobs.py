"""Batch jobs through the arcade service on Kubernetes: the skaha API of the real service
submits Indexed Jobs (checked strictly by the fake API), follows their pods, reads their logs,
deletes them, and picks up where it was after a restart. The lifecycle tests also run against
a real cluster with ARCADE_TEST_KUBECONFIG (see conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes_asyncio.client import BatchV1Api, CoreV1Api
from kubernetes_asyncio.client.rest import ApiException
from markupsafe import escape

from arcade_hub.kube import client as kube_client
from arcade_hub.kube.builders import literal
from arcade_hub.kube.client import connect
from arcade_hub.kube.jobs import runner as kube_runner
from arcade_hub.kube.jobs.reconcile import DELETED_OUTSIDE
from arcade_hub.kube.jobs.runner import KubeJobRunner
from arcade_hub.kube.objects import INDEX_SCRIPT, job_name
from arcade_hub.kube.restricted import violations
from arcade_hub.service import pages, skaha
from arcade_hub.service import sessions as sessions_module

from .conftest import NAMESPACE, Cluster
from .fake_api import FakeKubeAPI
from .service import (
    PREFIX,
    FakeHub,
    Running,
    eventually,
    kubeconfig_for,
    kubelet,
    not_allowed,
    running_service,
    service_document,
)

FINAL = ("Succeeded", "Failed", "Error")
SCRIPT = 'echo "instance $REPLICA_ID of $REPLICA_COUNT: $0"; exit "$1"'
"""The job's own command: prints its parameter line's first word, exits with the second."""


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    monkeypatch.setenv("JUPYTERHUB_SERVICE_NAME", "arcade")  # HubAuth's access scope
    hub = FakeHub().start()
    yield hub
    hub.stop()


def fake_cluster(api: FakeKubeAPI) -> Cluster:
    return Cluster(api.url, NAMESPACE, api)


def runner(svc: Running) -> KubeJobRunner:
    found = svc.service.sessions.runner
    assert isinstance(found, KubeJobRunner)
    return found


async def submit(api: httpx.AsyncClient, **params: Any) -> httpx.Response:
    query = {"name": "reduce", "image": "batch", "type": "headless", **params}
    return await api.post("skaha/v1/session", params=query)


async def view(api: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    r = await api.get(f"skaha/v1/session/{job_id}")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def statuses(job: dict[str, Any]) -> list[str]:
    return [i["status"] for i in job.get("instances", [job])]


async def wait_statuses(api: httpx.AsyncClient, job_id: str, want: list[str] | str,
                        timeout: float = 15) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        job = await view(api, job_id)
        got = statuses(job)
        ok = got == want if isinstance(want, list) else all(s in want for s in got)
        return job if ok else None

    return await eventually(check, f"job {job_id} to be {want}", timeout)


async def wait_gone(api: httpx.AsyncClient, job_id: str, timeout: float = 30) -> None:
    async def gone() -> bool:
        return (await api.get(f"skaha/v1/session/{job_id}")).status_code == 404

    await eventually(gone, f"job {job_id} to be gone", timeout)


async def real_cleanup(cluster: Cluster, svc: Running, user: str) -> None:
    """On a real cluster: wait for the Job to go and remove the home claim made for it."""
    if cluster.fake is not None:
        return
    kube = svc.service.backend.kube  # type: ignore[attr-defined]
    assert kube is not None
    batch, core = BatchV1Api(kube.api), CoreV1Api(kube.api)

    async def no_jobs() -> bool:
        jobs = await batch.list_namespaced_job(cluster.namespace,
                                               label_selector=f"arcade-hub.org/user={user}")
        return not jobs.items

    await eventually(no_jobs, "the Jobs to be deleted", 120)
    claims = await core.list_namespaced_persistent_volume_claim(
        cluster.namespace, label_selector=f"arcade-hub.org/user={user}")
    for claim in claims.items:
        await core.delete_namespaced_persistent_volume_claim(claim.metadata.name,
                                                             cluster.namespace)


# --- the lifecycle, on the fake and on a real cluster ------------------------------------

async def test_instances_run_as_one_indexed_job(
    cluster: Cluster, hub: FakeHub, tmp_path: Path
) -> None:
    if cluster.real is not None:  # older API servers drop completionMode without a word
        cluster.real.require("Indexed Jobs (one completion index per instance)", (1, 21))
    user = f"jobs-{int(time.time())}" if cluster.fake is None else "alice"
    token = hub.add_user(user, groups=("astro",))
    doc = service_document(cluster)
    async with running_service(tmp_path, hub, doc, kubeconfig_for(cluster, tmp_path)) as svc, \
            svc.client(token) as api:
        r = await submit(api, cmd="sh", args=f"-c '{SCRIPT}'", params="alpha 0\nbeta 0\ngamma 3")
        assert r.status_code == 200, r.text
        job_id = r.text.strip()
        name = job_name(job_id)
        job = await view(api, job_id)
        assert job["type"] == "headless" and job["replicaCount"] == 3
        assert [i["id"] for i in job["instances"]] == [f"{job_id}-{n}" for n in (1, 2, 3)]
        if cluster.fake is not None:
            assert statuses(job) == ["Pending"] * 3
            fake = cluster.fake
            manifest = fake.get("jobs", NAMESPACE, name)
            assert manifest is not None and fake.rejected == []  # validated strictly
            spec = manifest["spec"]
            assert spec["completionMode"] == "Indexed"
            assert spec["completions"] == spec["parallelism"] == 3
            assert spec["backoffLimitPerIndex"] == 0 and "backoffLimit" not in spec
            assert spec["activeDeadlineSeconds"] == 24 * 3600
            assert violations({"spec": spec["template"]["spec"]}, "restricted") == []
            labels = manifest["metadata"]["labels"]
            assert labels["arcade-hub.org/role"] == "job"
            assert labels["arcade-hub.org/user"] == "alice"
            assert labels["arcade-hub.org/job"] == job_id
            (container,) = spec["template"]["spec"]["containers"]
            # the image's own entrypoint starts the per-index script
            assert "command" not in container
            assert container["args"][:4] == ["/bin/sh", "-c", literal(INDEX_SCRIPT),
                                             "arcade-job"]
            pods = await fake.run_job(NAMESPACE, name)
            for pod in pods:
                await fake.mark_running(NAMESPACE, pod)
            running = await wait_statuses(api, job_id, ["Running"] * 3)
            # who each instance runs as is the pod's security context (`canfar info`'s
            # UID, GID and Groups); what it uses is not measured on Kubernetes
            pod_context = spec["template"]["spec"]["securityContext"]
            for instance in running["instances"]:
                assert (instance["runAsUID"], instance["runAsGID"]) == (
                    str(pod_context["runAsUser"]), str(pod_context["runAsGroup"]))
                assert instance["supplementalGroups"] == [pod_context["fsGroup"]]
                assert instance["cpuCoresInUse"] == instance["ramInUse"] == "<none>"
            events = (await api.get(f"skaha/v1/session/{job_id}",
                                    params={"view": "events"})).text
            assert f"pod {pods[0]}" in events
            codes = [await kubelet(fake, NAMESPACE, pod, tmp_path) for pod in pods]
            assert codes == [0, 0, 3]
        async def finished() -> dict[str, Any] | None:
            job = await view(api, job_id)
            ended = all(i["status"] in FINAL and i["exitCode"] is not None
                        for i in job["instances"])
            return job if ended else None

        done = await eventually(finished, "the instances to end", 30 if cluster.fake else 300)
        assert statuses(done) == ["Succeeded", "Succeeded", "Failed"], done
        assert done["status"] == "Failed"
        assert [i["exitCode"] for i in done["instances"]] == [0, 0, 3]
        assert done["instances"][2]["message"] == "exit code 3"
        assert done["finishTime"] is not None

        logs = (await api.get(f"skaha/v1/session/{job_id}", params={"view": "logs"})).text
        for n, word in ((1, "alpha"), (2, "beta"), (3, "gamma")):
            assert f"==> {job_id}-{n} <==\ninstance {n} of 3: {word}\n" in logs, logs
        one = (await api.get(f"skaha/v1/session/{job_id}-2", params={"view": "logs"})).text
        assert one == "instance 2 of 3: beta\n"
        page = await api.get(f"jobs/{job_id}/logs")  # the job list's log link
        assert page.status_code == 200 and page.text == logs

        r = await api.delete(f"skaha/v1/session/{job_id}")
        assert r.status_code == 200, r.text
        await wait_gone(api, job_id)
        if cluster.fake is not None:
            assert ("jobs", name, "Foreground") in cluster.fake.deletions
            assert cluster.fake.list("jobs") == [] and cluster.fake.list("pods") == []
            assert cluster.fake.rejected == []
            # every call the service made is one the hub's RBAC (z2jh + hub-rbac.yaml) allows
            assert not_allowed(cluster.fake) == []
            assert ("patch", "jobs") not in cluster.fake.counts  # (the lifetime test patches)
        await real_cleanup(cluster, svc, user)
    assert not list((tmp_path / "data" / "jobs" / "logs").glob("*/*"))  # kept logs go too


async def test_lifetime_is_the_jobs_deadline(cluster: Cluster, hub: FakeHub,
                                             tmp_path: Path) -> None:
    """Renewing moves the Job's activeDeadlineSeconds; past its lifetime the reaper brings
    the deadline to now and the Job controller stops it: Failed, with the reason."""
    if cluster.real is not None:  # the runner knows a pod's instance by its completion index
        cluster.real.require("Indexed Jobs (the job-completion-index of each pod)", (1, 21))
    user = f"expiry-{int(time.time())}" if cluster.fake is None else "alice"
    token = hub.add_user(user)
    doc = service_document(cluster)
    async with running_service(tmp_path, hub, doc, kubeconfig_for(cluster, tmp_path)) as svc, \
            svc.client(token) as api:
        submitted = time.time()
        r = await submit(api, cmd="sh", args="-c 'echo started; exec sleep 600'")
        assert r.status_code == 200, r.text
        job_id = r.text.strip()
        name = job_name(job_id)
        store = svc.service.sessions.store
        fake = cluster.fake
        if fake is not None:
            (pod,) = await fake.run_job(NAMESPACE, name)
            await fake.mark_running(NAMESPACE, pod)
            await fake.write_log(NAMESPACE, pod, "started\n")
        await wait_statuses(api, job_id, ["Running"], timeout=30 if fake else 300)

        kube = svc.service.backend.kube  # type: ignore[attr-defined]
        assert kube is not None
        batch = BatchV1Api(kube.api)

        async def deadline() -> int:
            job = await batch.read_namespaced_job(name, cluster.namespace)
            return int(job.spec.active_deadline_seconds)

        # an hour went by: renewing gives a whole lifetime from now, and the Job's deadline
        # follows (counted from the Job's start, so about a lifetime plus that hour)
        (record,) = await store.job(job_id)
        assert record.expires is not None
        record.expires -= 3600
        await store.update(record)
        with_hour_gone = record.expires
        r = await api.post(f"skaha/v1/session/{job_id}", params={"action": "renew"})
        assert r.status_code == 200, r.text
        (renewed,) = await store.job(job_id)
        assert renewed.expires is not None and renewed.expires > with_hour_gone + 3000
        if fake is not None:
            def patched() -> bool:
                job = fake.get("jobs", NAMESPACE, name)
                return job is not None and job["spec"]["activeDeadlineSeconds"] != 24 * 3600

            await fake.wait_for(patched)
            assert fake.rejected == []  # the patched Job is still valid
        slack = time.time() - submitted + 60  # the Job started after the submit
        assert 24 * 3600 - 60 < await deadline() <= 24 * 3600 + slack

        # its lifetime ran out (as if a day had passed): the reaper ends it
        (record,) = await store.job(job_id)
        record.expires = time.time() - 5
        await store.update(record)
        await svc.service.sessions.reap_expired()
        assert await deadline() <= time.time() - submitted + 60  # now, from the Job's start
        if fake is not None:  # what the Job controller does then
            (stopping,) = await fake.expire_job(NAMESPACE, name)
            # while the pod terminates (its grace period), the service keeps its log
            await fake.wait_for(lambda: fake.log_reads(NAMESPACE, stopping) > 0)
        done = await wait_statuses(api, job_id, ["Failed"], timeout=30 if fake else 300)
        assert done["message"] == "stopped after its lifetime of 24 h", done
        if fake is not None:
            await fake.finish_deletion(NAMESPACE, stopping)

            async def pod_gone() -> bool:
                return "pod " not in (await api.get(f"skaha/v1/session/{job_id}",
                                                    params={"view": "events"})).text

            await eventually(pod_gone, "the service to see the pod go")
        logs = (await api.get(f"skaha/v1/session/{job_id}", params={"view": "logs"})).text
        assert "started" in logs  # kept by the service: the pod is gone
        assert (await api.delete(f"skaha/v1/session/{job_id}")).status_code == 200
        await wait_gone(api, job_id)
        if fake is not None:
            assert fake.list("jobs") == [] and fake.list("pods") == []
            assert fake.counts[("patch", "jobs")] >= 2 and not_allowed(fake) == []
        await real_cleanup(cluster, svc, user)


# --- the fake only: restarts, failures of the API, partial deletes ------------------------

async def test_restart_picks_up_where_it_was(fake_api: FakeKubeAPI, hub: FakeHub,
                                            tmp_path: Path) -> None:
    cluster = fake_cluster(fake_api)
    token = hub.add_user("alice")
    doc = service_document(cluster)
    kubeconfig = kubeconfig_for(cluster, tmp_path)
    async with running_service(tmp_path, hub, doc, kubeconfig) as svc, svc.client(token) as api:
        first = (await submit(api, cmd="sh", args=f"-c '{SCRIPT}'", replicas=2)).text.strip()
        second = (await submit(api, cmd="true")).text.strip()
        pods = await fake_api.run_job(NAMESPACE, job_name(first))
        for pod in pods:
            await fake_api.mark_running(NAMESPACE, pod)
        await wait_statuses(api, first, ["Running", "Running"])
    # while the service is down: instance 1 ends, the second job is deleted by someone,
    # and a Job nobody recorded appears (as if a submit crashed before recording it)
    await fake_api.write_log(NAMESPACE, pods[0], "one done\n")
    await fake_api.mark_terminated(NAMESPACE, pods[0], 0)
    await fake_api.remove("jobs", NAMESPACE, job_name(second))
    orphan = await fake_api.put("jobs", NAMESPACE, {"metadata": {
        "name": job_name("orphan01"), "labels": {"arcade-hub.org/role": "job"},
        "annotations": {"arcade-hub.org/job": "orphan01"}}, "spec": {}})

    async with running_service(tmp_path, hub, doc, kubeconfig) as svc, svc.client(token) as api:
        job = await wait_statuses(api, first, ["Succeeded", "Running"])
        assert job["instances"][0]["exitCode"] == 0
        gone = await view(api, second)
        assert gone["status"] == "Failed" and gone["message"] == DELETED_OUTSIDE
        assert fake_api.get("jobs", NAMESPACE, orphan["metadata"]["name"]) is None
        logs = (await api.get(f"skaha/v1/session/{first}-1", params={"view": "logs"})).text
        assert logs == "one done\n"
        await fake_api.mark_terminated(NAMESPACE, pods[1], 1)
        job = await wait_statuses(api, first, ["Succeeded", "Failed"])
        assert job["status"] == "Failed"

        async def exit_code() -> int | None:  # the pod's status may come after the Job's
            return (await view(api, first))["instances"][1]["exitCode"]

        assert await eventually(exit_code, "the instance's exit code") == 1
        for some in (first, second):
            assert (await api.delete(f"skaha/v1/session/{some}")).status_code == 200
            await wait_gone(api, some)
    assert fake_api.list("jobs") == [] and fake_api.list("pods") == []


async def test_kubernetes_errors_are_clear_and_leak_nothing(
    fake_api: FakeKubeAPI, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = fake_cluster(fake_api)
    token = hub.add_user("alice")
    async with running_service(tmp_path, hub, service_document(cluster),
                               kubeconfig_for(cluster, tmp_path)) as svc, \
            svc.client(token) as api:
        store = svc.service.sessions.store
        # 500 when creating: a 502 saying so, no Job, no record
        fake_api.fail("create", "jobs", 500)
        r = await submit(api, cmd="true")
        assert r.status_code == 502
        assert "Kubernetes answered 500: injected failure for create jobs" in r.json()["message"]
        assert fake_api.list("jobs") == [] and await store.all() == []

        # no RBAC for Jobs: the operators are told what to apply
        fake_api.fail("create", "jobs", 403)
        r = await submit(api, cmd="true")
        assert r.status_code == 502 and "hub-rbac.yaml" in r.json()["message"]

        # 409: a leftover Job already has the id: another id is used
        ids = iter(["taken001", "fresh001"])
        monkeypatch.setattr(sessions_module, "new_id", lambda: next(ids))
        await fake_api.put("jobs", NAMESPACE, {"metadata": {"name": job_name("taken001")},
                                               "spec": {}})
        r = await submit(api, cmd="true")
        assert r.status_code == 200 and r.text.strip() == "fresh001"
        assert fake_api.get("jobs", NAMESPACE, job_name("taken001")) is not None  # untouched
        fake_api.fail("create", "jobs", 409, times=None)
        monkeypatch.setattr(sessions_module, "new_id", iter(["a0000001", "a0000002",
                                                             "a0000003"]).__next__)
        r = await submit(api, cmd="true")
        assert r.status_code == 409 and "no free job id after 3 tries" in r.json()["message"]
        fake_api.faults.clear()
        await fake_api.remove("jobs", NAMESPACE, job_name("taken001"))

        # the API does not answer in time: a 503; the Job made after all is removed later
        timeout, age = kube_client.REQUEST_TIMEOUT, kube_runner.ORPHAN_AGE
        monkeypatch.setattr(kube_client, "REQUEST_TIMEOUT", 0.3)
        fake_api.slow("create", "jobs", 1.0)
        monkeypatch.setattr(sessions_module, "new_id", lambda: "late0001")
        r = await submit(api, cmd="true")
        assert r.status_code == 503 and "did not answer in time" in r.json()["message"]
        await fake_api.wait_for(lambda: fake_api.get("jobs", NAMESPACE, job_name("late0001"))
                                is not None)
        assert await store.job("late0001") == []
        monkeypatch.setattr(kube_runner, "ORPHAN_AGE", 0.0)
        await svc.service.sessions.reap_expired()
        assert fake_api.get("jobs", NAMESPACE, job_name("late0001")) is None
        monkeypatch.setattr(kube_client, "REQUEST_TIMEOUT", timeout)
        monkeypatch.setattr(kube_runner, "ORPHAN_AGE", age)

        # 500 when deleting: a 502, the job keeps its state, and deleting again works
        job_id = "fresh001"
        (pod,) = await fake_api.run_job(NAMESPACE, job_name(job_id))
        await fake_api.mark_running(NAMESPACE, pod)
        await wait_statuses(api, job_id, ["Running"])
        fake_api.fail("delete", "jobs", 500)
        r = await api.delete(f"skaha/v1/session/{job_id}")
        assert r.status_code == 502 and "could not delete the job" in r.json()["message"]
        assert (await view(api, job_id))["status"] == "Running"
        assert fake_api.get("jobs", NAMESPACE, job_name(job_id)) is not None

        # logs when the API fails: a 502 saying why
        fake_api.fail("log", "pods", 500)
        r = await api.get(f"skaha/v1/session/{job_id}", params={"view": "logs"})
        assert r.status_code == 502 and "could not read the log" in r.json()["message"]

        # the Job deleted behind the service's back (404): the job says so, then goes
        await fake_api.remove("jobs", NAMESPACE, job_name(job_id))
        job = await wait_statuses(api, job_id, ["Failed"])
        assert job["message"] == DELETED_OUTSIDE
        assert (await api.delete(f"skaha/v1/session/{job_id}")).status_code == 200
        await wait_gone(api, job_id)
        assert fake_api.list("jobs") == [] and fake_api.list("pods") == []
        assert await store.all() == []


async def test_bad_requests_get_a_clear_4xx(fake_api: FakeKubeAPI, hub: FakeHub,
                                           tmp_path: Path) -> None:
    cluster = fake_cluster(fake_api)
    token = hub.add_user("alice")
    doc = service_document(cluster, security={"run_as": "per-user", "uids": {"bob": 2000}})
    async with running_service(tmp_path, hub, doc, kubeconfig_for(cluster, tmp_path)) as svc, \
            svc.client(token) as api:
        r = await submit(api, cmd="true")
        assert r.status_code == 400
        assert "no uid is configured for 'alice'" in r.json()["message"]
        assert fake_api.counts[("create", "jobs")] == 0
    doc = service_document(cluster)
    async with running_service(tmp_path, hub, doc, kubeconfig_for(cluster, tmp_path)) as svc, \
            svc.client(token) as api:
        long_lines = "\n".join("x" * 9000 for _ in range(40))
        r = await api.post("skaha/v1/session", data={
            "name": "big", "image": "batch", "type": "headless", "cmd": "echo",
            "params": long_lines})
        assert r.status_code == 400 and "KiB" in r.json()["message"]
        r = await submit(api, cmd="true", replicas=0)
        assert r.status_code == 400
        assert fake_api.counts[("create", "jobs")] == 0
        assert await svc.service.sessions.store.all() == []


async def test_deleting_one_instance_stops_only_its_pod(fake_api: FakeKubeAPI, hub: FakeHub,
                                                       tmp_path: Path) -> None:
    cluster = fake_cluster(fake_api)
    token = hub.add_user("alice")
    async with running_service(tmp_path, hub, service_document(cluster),
                               kubeconfig_for(cluster, tmp_path)) as svc, \
            svc.client(token) as api:
        job_id = (await submit(api, cmd="sleep", args="600", replicas=3)).text.strip()
        pods = await fake_api.run_job(NAMESPACE, job_name(job_id))
        for pod in pods:
            await fake_api.mark_running(NAMESPACE, pod)
        await wait_statuses(api, job_id, ["Running"] * 3)
        assert (await api.delete(f"skaha/v1/session/{job_id}-2")).status_code == 200
        await wait_gone(api, f"{job_id}-2")
        assert fake_api.get("pods", NAMESPACE, pods[1]) is None
        assert ("pods", pods[1], "Background") in fake_api.deletions
        assert fake_api.get("jobs", NAMESPACE, job_name(job_id)) is not None
        job = await view(api, job_id)
        assert [i["id"] for i in job["instances"]] == [f"{job_id}-1", f"{job_id}-3"]
        assert statuses(job) == ["Running", "Running"]
        # the last instances go with the Job
        for n in (1, 3):
            assert (await api.delete(f"skaha/v1/session/{job_id}-{n}")).status_code == 200
        await wait_gone(api, job_id)
        assert fake_api.list("jobs") == [] and fake_api.list("pods") == []


async def test_instance_that_cannot_start_says_why(fake_api: FakeKubeAPI, hub: FakeHub,
                                                  tmp_path: Path) -> None:
    cluster = fake_cluster(fake_api)
    token = hub.add_user("alice")
    async with running_service(tmp_path, hub, service_document(cluster),
                               kubeconfig_for(cluster, tmp_path)) as svc, \
            svc.client(token) as api:
        job_id = (await submit(api, cmd="true")).text.strip()
        (pod,) = await fake_api.run_job(NAMESPACE, job_name(job_id))
        await fake_api.mark_waiting(NAMESPACE, pod, "ImagePullBackOff",
                                    'Back-off pulling image "registry.example.org/x"')

        async def explained() -> dict[str, Any] | None:
            job = await view(api, job_id)
            return job if job["message"].startswith("ImagePullBackOff") else None

        job = await eventually(explained, "the pull error to show")
        assert job["status"] == "Pending"
        r = await api.get(f"skaha/v1/session/{job_id}", params={"view": "logs"})
        assert r.status_code == 200 and r.text == ""
        assert (await api.delete(f"skaha/v1/session/{job_id}")).status_code == 200
        await wait_gone(api, job_id)


async def test_runner_shares_the_service_client(fake_api: FakeKubeAPI, hub: FakeHub,
                                               tmp_path: Path) -> None:
    cluster = fake_cluster(fake_api)
    async with running_service(tmp_path, hub, service_document(cluster),
                               kubeconfig_for(cluster, tmp_path)) as svc:
        kube = svc.service.backend.kube  # type: ignore[attr-defined]
        assert kube is not None and kube.namespace == NAMESPACE
        assert runner(svc).kube is kube and svc.service.sessions.backend is svc.service.backend
        session = kube.api.rest_client.pool_manager
    assert session.closed  # closed with the service


async def test_fake_treats_jobs_like_a_real_server(fake_api: FakeKubeAPI,
                                                   tmp_path: Path) -> None:
    """The fake's Jobs have teeth: invalid ones are refused, deleting without a
    propagationPolicy orphans the pods (batch/v1's default), and the RBAC check notices calls
    the hub may not make."""
    kube = await connect(kubeconfig_for(fake_cluster(fake_api), tmp_path), environ={})
    try:
        batch = BatchV1Api(kube.api)
        bad: Any = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "bad"},
                    "spec": {"completionMode": "Indexed", "backoffLimitPerIndx": 0,
                             "template": {"spec": {"containers": [{"name": "main"}]}}}}
        with pytest.raises(ApiException) as info:
            await batch.create_namespaced_job(NAMESPACE, bad)
        assert info.value.status == 422 and fake_api.list("jobs") == []
        good: Any = {**bad, "metadata": {"name": "good"}, "spec": {
            "completions": 1, "template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "main", "image": "x"}]}}}}
        await batch.create_namespaced_job(NAMESPACE, good)
        (pod,) = await fake_api.run_job(NAMESPACE, "good")
        await batch.delete_namespaced_job("good", NAMESPACE)
        assert fake_api.get("pods", NAMESPACE, pod) is not None  # orphaned
        assert ("jobs", "good", "Orphan") in fake_api.deletions
    finally:
        await kube.close()
    fake_api.counts[("create", "configmaps")] += 1
    assert not_allowed(fake_api) == [("create", "configmaps")]


# --- the service's views of Kubernetes jobs ------------------------------------------------

def routed(svc: Running, path: str) -> type:
    """The handler class the service's app routes `path` (under its prefix) to."""
    for rule in svc.service.app.wildcard_router.rules:
        if rule.matcher.match(type("Request", (), {"path": PREFIX + path})()) is not None:
            target: type = rule.target
            return target
    raise AssertionError(f"nothing routes {path}")


async def test_logs_of_a_running_instance_come_from_its_pod(fake_api: FakeKubeAPI, hub: FakeHub,
                                                          tmp_path: Path) -> None:
    """`?view=logs` and the job list's log link are skaha's and the job list's own handlers,
    and both read the pod's log from Kubernetes while the instance runs (nothing has been
    kept yet: a copy is only kept once the pod ends)."""
    cluster = fake_cluster(fake_api)
    token = hub.add_user("alice")
    async with running_service(tmp_path, hub, service_document(cluster),
                               kubeconfig_for(cluster, tmp_path)) as svc, \
            svc.client(token) as api:
        assert routed(svc, "skaha/v1/session/abc") is skaha.SessionHandler
        assert routed(svc, "jobs/abc/logs") is pages.JobLogPage
        job_id = (await submit(api, cmd="sh", args="-c 'echo step 1; sleep 600'")).text.strip()
        (pod,) = await fake_api.run_job(NAMESPACE, job_name(job_id))
        await fake_api.mark_running(NAMESPACE, pod)
        await fake_api.write_log(NAMESPACE, pod, "step 1\n")
        await wait_statuses(api, job_id, ["Running"])
        r = await api.get(f"skaha/v1/session/{job_id}", params={"view": "logs"})
        assert r.status_code == 200 and r.text == "step 1\n"
        page = await api.get(f"jobs/{job_id}/logs")
        assert page.status_code == 200 and page.text == "step 1\n"
        assert page.headers["Content-Type"].startswith("text/plain")
        assert fake_api.log_reads(NAMESPACE, pod) == 2
        # the API failing: both say so (502), neither answers an empty log
        for path, params in ((f"skaha/v1/session/{job_id}", {"view": "logs"}),
                             (f"jobs/{job_id}/logs", {})):
            fake_api.fail("log", "pods", 500)
            r = await api.get(path, params=params)
            assert r.status_code == 502 and "could not read the log" in r.text, (path, r.text)
        assert not list((tmp_path / "data" / "jobs" / "logs").glob("*/*"))  # nothing kept
        assert (await api.delete(f"skaha/v1/session/{job_id}")).status_code == 200
        await wait_gone(api, job_id)


async def test_image_list_shows_the_catalogue_kubernetes_runs(
    fake_api: FakeKubeAPI, hub: FakeHub, tmp_path: Path
) -> None:
    """On Kubernetes every catalogue entry is an image the cluster pulls: `GET image` lists
    them all (none of them has a `local` block, which only the embedded backend needs)."""
    cluster = fake_cluster(fake_api)
    token = hub.add_user("alice")
    doc = service_document(cluster)
    async with running_service(tmp_path, hub, doc, kubeconfig_for(cluster, tmp_path)) as svc, \
            svc.client(token) as api:
        r = await api.get("skaha/v1/image")
        assert r.status_code == 200, r.text
        listed = {i["name"]: i for i in r.json()}
        assert set(listed) == {e["name"] for e in doc["catalogue"]}
        assert listed["casa-6-7"] == {
            "id": "registry.example.org/arcade/casa:6.7", "types": ["desktop-app"],
            "digest": "", "name": "casa-6-7", "title": "CASA 6.7", "versions": {"casa": "6.7"}}
        r = await api.get("skaha/v1/image", params={"type": "headless"})
        assert [i["id"] for i in r.json()] == ["registry.example.org/arcade/headless:2026.11"]
        r = await api.get("skaha/v1/image", params={"type": "carta"})
        assert r.status_code == 400 and "unknown type 'carta'" in r.json()["message"]


async def test_job_command_follows_the_kubernetes_rule(fake_api: FakeKubeAPI, hub: FakeHub,
                                                      tmp_path: Path) -> None:
    """On Kubernetes a batch instance runs the image's own entrypoint with
    `commands.headless` and then the job's `cmd args`; the embedded backend's `local.cmd`
    is not put in front, and a job without `cmd` runs when `commands.headless` supplies
    the command."""
    cluster = fake_cluster(fake_api)
    token = hub.add_user("alice")
    doc = service_document(cluster, commands={"headless": ["sh", "-c",
                                                           'echo "headless: $*"', "run"]})
    for entry in doc["catalogue"]:
        if entry["name"] == "batch":  # an embedded-backend prefix that must not be used
            entry["local"] = {"cmd": ["arcade-local-wrapper"]}
    async with running_service(tmp_path, hub, doc, kubeconfig_for(cluster, tmp_path)) as svc, \
            svc.client(token) as api:
        batch_page = await api.get("jobs/new")
        assert batch_page.status_code == 200
        assert str(escape('(runs sh -c echo "headless: $*" run)')) in batch_page.text

        r = await submit(api)  # no cmd: commands.headless is the command
        assert r.status_code == 200, r.text
        bare = r.text.strip()
        r = await submit(api, cmd="a", args="b", params="one\ntwo")
        assert r.status_code == 200, r.text
        two = r.text.strip()
        (container,) = fake_api.get("jobs", NAMESPACE, job_name(bare))["spec"]["template"][
            "spec"]["containers"]
        assert "command" not in container  # the image's entrypoint stays
        assert container["args"] == ["sh", "-c", 'echo "headless: $$*"', "run"]
        assert (await view(api, bare))["command"] == ["sh", "-c", 'echo "headless: $*"', "run"]
        assert [i["command"] for i in (await view(api, two))["instances"]] == [
            ["sh", "-c", 'echo "headless: $*"', "run", "a", "b", "one"],
            ["sh", "-c", 'echo "headless: $*"', "run", "a", "b", "two"]]
        outputs = []
        for job_id in (bare, two):
            for pod in await fake_api.run_job(NAMESPACE, job_name(job_id)):
                assert await kubelet(fake_api, NAMESPACE, pod, tmp_path) == 0
            await wait_statuses(api, job_id, "Succeeded")
            outputs.append((await api.get(f"skaha/v1/session/{job_id}",
                                          params={"view": "logs"})).text)
        assert outputs[0] == "headless: \n"
        assert outputs[1] == (f"==> {two}-1 <==\nheadless: a b one\n"
                              f"==> {two}-2 <==\nheadless: a b two\n")
        for job_id in (bare, two):
            assert (await api.delete(f"skaha/v1/session/{job_id}")).status_code == 200
            await wait_gone(api, job_id)

    # without commands.headless, a job needs its own cmd: a 400 saying where the command
    # comes from on Kubernetes (and nothing is created)
    doc = service_document(cluster)
    async with running_service(tmp_path, hub, doc, kubeconfig_for(cluster, tmp_path)) as svc, \
            svc.client(token) as api:
        r = await submit(api)
        assert r.status_code == 400, r.text
        message = r.json()["message"]
        assert "Batch has no command of its own here: give the command to run" in message
        assert "backend.kubernetes.commands.headless" in message
        assert fake_api.counts[("create", "jobs")] == 2  # the two jobs above only
        assert await svc.service.sessions.store.all() == []


async def test_the_hubs_health_check_is_answered_quietly(
    fake_api: FakeKubeAPI, hub: FakeHub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """On Kubernetes the hub checks the service (`hub.services.arcade.url` of the values) at
    its root every minute, without credentials, as on the embedded platform: a redirect to
    the Sessions page, and no line in the log at the default level (info)."""
    cluster = fake_cluster(fake_api)
    doc = service_document(cluster)
    caplog.set_level("DEBUG", logger="tornado.access")
    async with running_service(tmp_path, hub, doc, kubeconfig_for(cluster, tmp_path)) as svc, \
            httpx.AsyncClient(timeout=30) as client:
        for _ in range(3):
            r = await client.get(svc.url)
            assert r.status_code == 302 and r.headers["location"] == f"{PREFIX}jobs"
    root = [rec for rec in caplog.records
            if rec.name == "tornado.access" and f" {PREFIX} " in rec.getMessage()]
    assert len(root) == 3 and {rec.levelname for rec in root} == {"DEBUG"}

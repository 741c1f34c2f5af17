"""UWS 1.1 on the real platform: pyvo runs a job to COMPLETED and fetches its results; jobs
are the job records the sessions API, the job list and the Batch page show; one user never
sees another's; bad input gets a 4xx that says what to change. Every XML answer is checked
against the UWS schema and read with pyvo (tests/service/uws_api.py)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest
import requests
import yaml
from pyvo.dal.tap import AsyncTAPJob

from tests.hub import (
    PLATFORM,
    RunningHub,
    hub_with_document,
    processes_mentioning,
    wait_for,
    wait_for_none,
)
from tests.service.conftest import FINAL, Api
from tests.service.test_batch_page import submit
from tests.service.test_job_page import page_client, xsrf_of
from tests.service.uws_api import FINAL_PHASES, Uws

pytestmark = pytest.mark.integration

WAIT_FOR_GO = 'while [ ! -e "$HOME/go-$ARCADE_JOB_ID" ]; do sleep 0.05; done; echo done'
"""The job's own loop waits for a file the test creates: the test itself never sleeps."""
WRITES_RESULTS = (
    'out="$HOME/arcade-jobs/$ARCADE_JOB_ID/results"; echo "flux 1.5 Jy" >"$out/flux.txt"; '
    'printf "%s" "$ARCADE_JOB_PARAM" >"$out/param-$REPLICA_ID.txt"; echo fitted $0'
)


@pytest.fixture(scope="module")
def alice(hub: RunningHub) -> Iterator[Uws]:
    yield Uws(hub, "alice")


@pytest.fixture(scope="module")
def bob(hub: RunningHub) -> Iterator[Uws]:
    yield Uws(hub, "bob")


@pytest.fixture(scope="module")
def skaha(hub: RunningHub) -> Iterator[Api]:
    yield Api(hub, "alice")


def go(hub: RunningHub, job_id: str) -> None:
    (hub.data_dir / "home" / "alice" / f"go-{job_id}").touch()


def test_pyvo_runs_a_job_to_completed_and_fetches_its_results(alice: Uws) -> None:
    """Created PENDING with its parameters, run with pyvo, waited on with pyvo (UWS 1.1
    blocking), results fetched: each instance's log and the files of its results folder."""
    r = alice.request("POST", "", data={
        "image": "batch", "cmd": "sh", "args": f"-c '{WRITES_RESULTS}'",
        "param": ["m31 1.5", "m33 2.5"], "runid": "survey-7", "name": "fit",
    })  # fmt: skip
    assert r.status_code == 303, r.text
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {alice.token}"
    job = AsyncTAPJob(r.headers["Location"], session=session, delete=False)
    assert job.phase == "PENDING"
    assert job.owner == "alice" and job.job.runid == "survey-7"
    params = {(p.id_, p.content) for p in job.job.parameters}
    assert {("image", "batch"), ("param", "m31 1.5"), ("param", "m33 2.5")} <= params
    job.run()
    job.wait(phases=["COMPLETED"], timeout=60)
    assert job.phase == "COMPLETED" and job.job.endtime is not None
    results = {r.id_: r.href for r in job.results}
    assert set(results) == {"log-1", "log-2", "files/flux.txt", "files/param-1.txt",
                            "files/param-2.txt"}  # fmt: skip
    fetched = {k: session.get(url, timeout=30) for k, url in results.items()}
    assert all(f.status_code == 200 for f in fetched.values())
    assert fetched["log-1"].text == "fitted m31\n" and fetched["log-2"].text == "fitted m33\n"
    assert fetched["files/flux.txt"].content == b"flux 1.5 Jy\n"
    # never rendered as a page of the service's origin
    assert fetched["files/flux.txt"].headers["Content-Disposition"] == "attachment"
    assert all(f.headers["X-Content-Type-Options"] == "nosniff" for f in fetched.values())
    assert fetched["files/param-2.txt"].content == b"m33 2.5"
    job.delete()
    alice.wait_gone(job.job_id)


def test_a_uws_job_is_the_job_of_the_sessions_api_and_the_job_list(
    alice: Uws, skaha: Api, hub: RunningHub
) -> None:
    held = alice.create(image="batch", cmd="true", name="later")
    listed = skaha.session(held)
    assert listed["status"] == "Pending" and "PHASE=RUN" in listed["message"]
    with closing(page_client(hub, "alice")) as browser:
        page = browser.get("/services/arcade/jobs").text
        assert f'id="row-{held}"' in page and "held: starts when it is run" in page
    assert alice.phase(held, "RUN").status_code == 303
    assert skaha.wait_status(held, FINAL)["status"] == "Succeeded"
    assert alice.job(held).phase == "COMPLETED"

    # and the other way: a job of the sessions API and one of the Batch page, in UWS
    from_skaha = skaha.create(name="skaha-made", image="batch", type="headless", cmd="false")
    skaha.wait_status(from_skaha, FINAL)
    before = {j.jobid for j in alice.jobs()}
    with closing(page_client(hub, "alice")) as browser:
        batch = submit(browser, {"name": "page-made", "image": "batch", "cmd": "true",
                                 "instances": "2"})  # fmt: skip
    assert batch.status_code == 200, batch.text[:300]
    refs = {j.jobid: j for j in alice.jobs()}
    assert {held, from_skaha} <= set(refs)
    page_made = [j for j in refs.values() if j.jobid not in before]
    failed = alice.job(from_skaha)
    assert failed.phase == "ERROR" and failed.errorsummary.message.content == "exit code 1"
    assert alice.request("GET", f"{from_skaha}/error").text.startswith("exit code 1")
    assert page_made, "the Batch page's job is listed"
    for job_id in (held, from_skaha, *[j.jobid for j in page_made]):
        assert alice.request("DELETE", job_id).status_code == 303
        skaha.wait_gone(job_id)


def test_abort_stops_what_runs_and_keeps_the_job(alice: Uws, skaha: Api, hub: RunningHub) -> None:
    job = alice.create(image="batch", cmd="sh", args=f"-c '{WAIT_FOR_GO}'", PHASE="RUN")
    alice.wait_phase(job, ("EXECUTING",))
    assert alice.phase(job, "ABORT").status_code == 303
    aborted = alice.job(job)
    assert aborted.phase == "ABORTED" and aborted.errorsummary is not None
    assert not wait_for_none(lambda: processes_mentioning(f"go-{job}"), 10)
    assert skaha.session(job)["status"] == "Failed" and skaha.session(job)["message"] == "aborted"
    assert job in {j.jobid for j in alice.jobs(PHASE="ABORTED")}
    r = alice.phase(job, "RUN")
    assert r.status_code == 409 and "only a PENDING job runs" in r.text
    assert alice.request("POST", job, data={"ACTION": "DELETE"}).status_code == 303
    alice.wait_gone(job)


def test_wait_blocks_until_the_phase_changes(alice: Uws, hub: RunningHub) -> None:
    job = alice.create(image="batch", cmd="sh", args=f"-c '{WAIT_FOR_GO}'", phase="run")
    alice.wait_phase(job, ("EXECUTING",))
    answer: dict[str, Any] = {}

    def blocked() -> None:
        start = time.monotonic()
        answer["job"] = alice.job(job, WAIT=50, PHASE="EXECUTING")
        answer["took"] = time.monotonic() - start

    waiter = threading.Thread(target=blocked)
    waiter.start()
    wait_for(lambda: not answer, 5, "the WAIT request to be made")
    go(hub, job)
    waiter.join(60)
    assert answer["job"].phase == "COMPLETED" and answer["took"] < 30
    # not active, or already past the phase given: at once
    start = time.monotonic()
    assert alice.job(job, WAIT=50).phase == "COMPLETED"
    assert alice.job(job, WAIT=-1, PHASE="QUEUED").phase == "COMPLETED"
    assert time.monotonic() - start < 5
    alice.request("DELETE", job)


def test_one_user_never_sees_anothers_jobs(alice: Uws, bob: Uws, hub: RunningHub) -> None:
    job = alice.create(image="batch", cmd="true", PHASE="RUN")
    alice.wait_phase(job, FINAL_PHASES)
    assert job not in {j.jobid for j in bob.jobs()}
    for method, path, data in [
        ("GET", job, None), ("GET", f"{job}/phase", None), ("GET", f"{job}/results", None),
        ("GET", f"{job}/results/log", None), ("GET", f"{job}/parameters", None),
        ("GET", f"{job}/owner", None), ("GET", f"{job}/error", None),
        ("POST", f"{job}/phase", {"PHASE": "ABORT"}), ("DELETE", job, None),
        ("POST", job, {"ACTION": "DELETE"}),
        ("POST", f"{job}/destruction", {"DESTRUCTION": "2099-01-01T00:00:00Z"}),
        ("GET", f"{job}?owner=alice", None),
    ]:  # fmt: skip
        r = bob.request(method, path, data=data)
        assert r.status_code == 404 and r.text == f"no session '{job}'\n", (method, path, r.text)
    r = bob.request("GET", "", params={"view": "all"})
    assert r.status_code == 403 and "admins only" in r.text
    assert alice.job(job).phase == "COMPLETED"  # untouched
    alice.request("DELETE", job)


def test_admins_see_everyones_jobs_as_in_the_job_list() -> None:
    auth = yaml.safe_load(PLATFORM.read_text())["auth"] | {"admin_users": ["boss"]}
    with hub_with_document({"auth": auth}) as hub:
        alice, boss = Uws(hub, "alice"), Uws(hub, "boss")
        job = alice.create(image="batch", cmd="true")
        assert job not in {j.jobid for j in boss.jobs()}  # without view=all: the admin's own
        assert {j.jobid: j.ownerid for j in boss.jobs(view="all")}[job] == "alice"
        assert boss.job(job).ownerid == "alice"
        assert boss.phase(job, "RUN").status_code == 303  # runs as alice, under her policy
        assert alice.wait_phase(job, FINAL_PHASES).phase == "COMPLETED"
        assert boss.request("DELETE", job).status_code == 303
        alice.wait_gone(job)


def test_changes_with_the_login_cookie_need_the_xsrf_token(alice: Uws, hub: RunningHub) -> None:
    """UWS from a browser logged in to the service: every change needs the page's XSRF
    token, as everywhere in the service; reading does not."""
    job = alice.create(image="batch", cmd="true")
    service = "/services/arcade/uws/jobs"
    with closing(page_client(hub, "alice")) as browser:
        token = xsrf_of(browser.get("/services/arcade/jobs").text)
        for method, path, data in [
            ("POST", "", {"image": "batch", "cmd": "id", "PHASE": "RUN"}),
            ("POST", f"/{job}/phase", {"PHASE": "RUN"}), ("DELETE", f"/{job}", None),
            ("POST", f"/{job}", {"ACTION": "DELETE"}),
            ("POST", f"/{job}/destruction", {"DESTRUCTION": "2099-01-01T00:00:00Z"}),
            ("POST", f"/{job}/phase", {"PHASE": "RUN", "_xsrf": "2|0|forged|1"}),
        ]:  # fmt: skip
            r = browser.request(method, service + path, data=data, follow_redirects=False)
            assert r.status_code == 403 and "XSRF token" in r.text, (method, path, r.text)
        assert browser.get(f"{service}/{job}/phase").text == "PENDING"
        r = browser.post(f"{service}/{job}/phase", data={"PHASE": "RUN", "_xsrf": token},
                         follow_redirects=False)  # fmt: skip
        assert r.status_code == 303, r.text
    assert alice.wait_phase(job, FINAL_PHASES).phase == "COMPLETED"
    assert len([j for j in alice.jobs() if j.jobid == job]) == 1
    alice.request("DELETE", job)


def test_no_token_gets_401_with_the_ivoa_challenges(alice: Uws) -> None:
    r = alice.client.get(alice.jobs_url, headers={"Authorization": ""})
    assert r.status_code == 401
    # two challenges (the hub's proxy sends them as one header, comma-separated: RFC 9110)
    challenges = ", ".join(r.headers.get_list("WWW-Authenticate"))
    assert challenges == (
        'Bearer realm="arcade", '
        'ivoa_bearer standard_id="ivo://ivoa.net/sso#tls-with-password", '
        f'access_url="{alice.service}/token"'
    )
    skaha = alice.client.get(f"{alice.service}/skaha/v1/session", headers={"Authorization": ""})
    assert skaha.status_code == 401
    assert ", ".join(skaha.headers.get_list("WWW-Authenticate")) == challenges


def test_the_challenges_token_url_gives_a_token_for_the_service(
    alice: Uws, hub: RunningHub
) -> None:
    token_url = f"{alice.service}/token"
    r = requests.post(token_url, data={"username": "alice", "password": hub.password},
                      timeout=30)  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.headers["X-VO-Authenticated"] == "alice"
    token = r.headers["X-VO-Bearer"]
    assert Uws(hub, "alice", token).jobs() is not None
    # limited to this service: it starts nothing through the hub's API
    scopes = hub.api("GET", "/user", headers={"Authorization": f"token {token}"}).json()
    assert "access:services!service=arcade" in scopes["scopes"], scopes
    started = hub.api("POST", "/users/alice/servers/viatoken",
                      headers={"Authorization": f"token {token}"})  # fmt: skip
    assert started.status_code == 403
    wrong = requests.post(token_url, data={"username": "alice", "password": "nope"}, timeout=30)
    assert wrong.status_code == 401 and "X-VO-Bearer" not in wrong.headers
    assert "invalid username or password" in wrong.text
    empty = requests.post(token_url, data={"username": "alice"}, timeout=30)
    assert empty.status_code == 400 and "username and password" in empty.text
    assert hub.password not in hub.log.read_text(errors="replace")


@pytest.mark.parametrize(
    ("path", "standard"),
    [("uws", "ivo://ivoa.net/std/UWS#rest-1.1"),
     ("skaha/v1", "vos://cadc.nrc.ca~vospace/CADC/std/Proc#sessions-1.0")],
)  # fmt: skip
def test_vosi_capabilities_and_availability(alice: Uws, path: str, standard: str) -> None:
    """Anonymous, valid VOSI, naming the standard and the authentication accepted."""
    from tests.ivoa import validate

    anonymous = requests.Session()
    caps = anonymous.get(f"{alice.service}/{path}/capabilities", timeout=30)
    assert caps.status_code == 200 and validate(caps.content) == "capabilities"
    assert f'standardID="{standard}"' in caps.text
    assert 'securityMethod standardID="ivo://ivoa.net/sso#token"' in caps.text
    assert f">{alice.service}/{path}/availability<" in caps.text
    available = anonymous.get(f"{alice.service}/{path}/availability", timeout=30)
    assert available.status_code == 200 and validate(available.content) == "availability"
    assert "<available>true</available>" in available.text
    assert anonymous.head(f"{alice.service}/{path}/capabilities", timeout=30).status_code == 200


BAD_CREATES = [
    ({"image": "batch", "cmd": "true", "colour": "red"}, 400, "unknown parameter 'colour'"),
    ({"image": "batch", "cmd": "true", "TYPE": "notebook"}, 400, "unknown parameter 'TYPE'"),
    ({"image": "notebook", "cmd": "true"}, 400, "is a notebook image, not headless"),
    ({"cmd": "true"}, 400, "give an image"),
    ({"image": "batch", "cmd": "true", "PHASE": "ABORT"}, 400, "PHASE='ABORT' cannot be given"),
    ({"image": "batch", "cmd": "true", "cores": "1000"}, 400, "cores"),
    ({"image": "batch", "cmd": "true", "instances": "0"}, 400, "instances: 0 is below"),
    ({"image": "batch", "cmd": "x" * 40_000}, 400, "cmd is 40,000 characters long"),
    ({"image": "batch", "cmd": "true", "DESTRUCTION": "soon"}, 400, "ISO 8601"),
    ({"image": "batch", "cmd": "true", "DESTRUCTION": "2001-01-01T00:00:00Z"}, 400, "past"),
    ({"image": "batch", "cmd": "true", "EXECUTIONDURATION": "-5"}, 400, "whole number"),
    ({"image": "batch", "cmd": "true", "RUNID": "r" * 300}, 400, "runid is 300"),
    ({"image": "batch", "cmd": "echo 'open"}, 400, "cannot split"),
    ({"image": "batch", "cmd": "true", "env": "NOT A VAR"}, 400, "KEY=VALUE"),
    ({"image": "batch", "cmd": "true", "dataset": "nosuch"}, 400, "unknown dataset 'nosuch'"),
]


@pytest.mark.parametrize(("params", "status", "words"), BAD_CREATES)
def test_bad_creates_say_what_to_change(
    alice: Uws, params: dict[str, str], status: int, words: str
) -> None:
    before = {j.jobid for j in alice.jobs()}
    r = alice.request("POST", "", data=params)
    assert r.status_code == status and words in r.text, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    assert {j.jobid for j in alice.jobs()} == before


def test_bad_requests_on_jobs_say_what_to_change(alice: Uws) -> None:
    job = alice.create(image="batch", cmd="true")
    for method, path, data, status, words in [
        ("GET", "?PHASE=DONE", None, 400, "unknown PHASE 'DONE'"),
        ("GET", "?LAST=0", None, 400, "LAST='0'"),
        ("GET", "?AFTER=yesterday", None, 400, "AFTER='yesterday'"),
        ("GET", "?view=everything", None, 400, "unknown view"),
        ("GET", f"{job}?WAIT=forever", None, 400, "WAIT='forever'"),
        ("GET", f"{job}?WAIT=5&PHASE=NOPE", None, 400, "unknown PHASE"),
        ("POST", f"{job}/phase", {"PHASE": "SUSPEND"}, 400, "one of: RUN, ABORT"),
        ("POST", f"{job}/phase", None, 400, "unknown PHASE ''"),
        ("POST", job, {"ACTION": "RUN"}, 400, "ACTION=DELETE"),
        ("POST", f"{job}/executionduration", {"EXECUTIONDURATION": "1e9"}, 400, "whole"),
        ("POST", f"{job}/destruction", {"DESTRUCTION": "tomorrow"}, 400, "ISO 8601"),
        ("POST", f"{job}/destruction", None, 400, "give DESTRUCTION"),
        ("GET", f"{job}/error", None, 404, "it has no error"),
        ("GET", f"{job}/results/log", None, 404, "no result 'log'"),
        ("GET", f"{job}/nothing", None, 404, ""),
        ("GET", "nosuchjob", None, 404, "no session 'nosuchjob'"),
        ("PUT", job, None, 405, ""),
    ]:  # fmt: skip
        url = f"{alice.jobs_url}{path}" if path.startswith("?") else path
        r = alice.request(method, url, data=data)
        assert r.status_code == status and words in r.text, (method, path, r.text)
    big = alice.request("POST", "", content=b"x" * 2_000_000,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert big.status_code == 413 and "limit is 1,114,112 bytes" in big.text
    assert alice.phase(job, "RUN").status_code == 303
    again = alice.phase(job, "RUN")
    assert again.status_code == 409 and "only a PENDING job runs" in again.text
    alice.wait_phase(job, FINAL_PHASES)
    assert alice.phase(job, "ABORT").status_code == 409
    alice.request("DELETE", job)


def test_times_owner_quote_and_listing_filters(alice: Uws, skaha: Api) -> None:
    first = alice.create(image="batch", cmd="true", EXECUTIONDURATION="120",
                         DESTRUCTION="2099-01-01T00:00:00Z")  # fmt: skip
    second = alice.create(image="batch", cmd="true", RUNID="two")
    assert alice.request("GET", f"{first}/executionduration").text == "120"
    assert alice.request("GET", f"{second}/executionduration").text == "86400"
    assert alice.request("GET", f"{first}/destruction").text == "2099-01-01T00:00:00Z"
    assert alice.request("GET", f"{second}/destruction").text == ""
    assert alice.request("GET", f"{first}/owner").text == "alice"
    assert alice.request("GET", f"{first}/quote").text == ""
    # more than the platform's lifetime is capped to it
    r = alice.request("POST", f"{second}/executionduration", data={"EXECUTIONDURATION": "1e6"})
    assert r.status_code == 400
    r = alice.request("POST", f"{second}/executionduration",
                      data={"executionduration": "999999"})  # fmt: skip
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/jobs/{second}")
    assert alice.request("GET", f"{second}/executionduration").text == "86400"
    listed = alice.jobs(LAST=1)
    assert [j.jobid for j in listed] == [second] and listed[0].runid == "two"
    assert {first, second} <= {j.jobid for j in alice.jobs(PHASE="PENDING")}
    assert not {first, second} & {j.jobid for j in alice.jobs(PHASE=["COMPLETED", "ERROR"])}
    assert {j.jobid for j in alice.jobs(AFTER="2099-01-01T00:00:00Z")} == set()
    # a running job's execution duration is its instances' lifetime: the sessions API's too
    assert alice.phase(first, "RUN").status_code == 303
    done = skaha.wait_status(first, FINAL)
    assert done["status"] == "Succeeded"
    for job_id in (first, second):
        alice.request("DELETE", job_id)


def test_interactive_sessions_are_read_only_jobs_with_their_connect_url(
    alice: Uws, skaha: Api
) -> None:
    sid = skaha.create(name="lab", image="notebook", type="notebook")
    running = skaha.wait_status(sid, ("Running",))
    job = alice.wait_phase(sid, ("EXECUTING",))
    assert [(r.id_, r.href) for r in job.results] == [("connect", running["connectURL"])]
    assert sid in {j.jobid for j in alice.jobs(PHASE="EXECUTING")}
    for method, path, data in [("DELETE", sid, None), ("POST", f"{sid}/phase", {"PHASE": "ABORT"}),
                               ("POST", sid, {"ACTION": "DELETE"})]:  # fmt: skip
        r = alice.request(method, path, data=data)
        assert r.status_code == 403 and "read-only" in r.text, r.text
    assert skaha.session(sid)["status"] == "Running"
    assert skaha.request("DELETE", f"session/{sid}").status_code == 200
    skaha.wait_gone(sid)


def test_result_files_are_read_safely(alice: Uws, hub: RunningHub) -> None:
    """A symlink in the results folder is not followed, a FIFO is not listed."""
    script = (
        'out="$HOME/arcade-jobs/$ARCADE_JOB_ID/results"; ln -s /etc/shadow "$out/shadow"; '
        'mkfifo "$out/pipe"; echo ok >"$out/ok.txt"'
    )
    job = alice.create(image="batch", cmd="sh", args=f"-c '{script}'", PHASE="RUN")
    done = alice.wait_phase(job, FINAL_PHASES)
    assert done.phase == "COMPLETED"
    assert {r.id_ for r in done.results} == {"log", "files/ok.txt"}
    r = alice.request("GET", f"{job}/results/files/shadow")
    assert r.status_code == 404
    alice.request("DELETE", job)


def test_a_restart_of_the_service_keeps_held_and_aborted_jobs(hub: RunningHub) -> None:
    """Held jobs, their run id and times, and aborted jobs live in the job store: a killed
    service comes back with them, and a held job runs afterwards."""
    from tests.service.test_restart import service_pid

    alice = Uws(hub, "alice")
    held = alice.create(image="batch", cmd="echo", args="after", RUNID="kept",
                        DESTRUCTION="2099-01-01T00:00:00Z")  # fmt: skip
    aborted = alice.create(image="batch", cmd="sh", args=f"-c '{WAIT_FOR_GO}'", PHASE="RUN")
    alice.wait_phase(aborted, ("EXECUTING",))
    assert alice.phase(aborted, "ABORT").status_code == 303
    old = wait_for(lambda: service_pid(hub.data_dir), 10, "the service process")
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: (p := service_pid(hub.data_dir)) and p != old, 90, "a new service")
    wait_for(lambda: _answers(alice), 30, "the restarted service to answer")
    job = alice.job(held)
    assert (job.phase, job.runid) == ("PENDING", "kept")
    assert alice.request("GET", f"{held}/destruction").text == "2099-01-01T00:00:00Z"
    assert alice.job(aborted).phase == "ABORTED"
    assert alice.phase(held, "RUN").status_code == 303
    done = alice.wait_phase(held, FINAL_PHASES)
    assert done.phase == "COMPLETED"
    assert alice.request("GET", f"{held}/results/log").text == "after\n"
    for job_id in (held, aborted):
        alice.request("DELETE", job_id)


def _answers(uws: Uws) -> bool:
    try:
        return uws.client.get(uws.jobs_url).status_code == 200
    except httpx.HTTPError:
        return False

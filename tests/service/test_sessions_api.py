"""The skaha-compatible sessions API against the real platform: the released `canfar`
client, server-side replicas with parameter lines, authorization and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from arcade_hub.service.limits import BODY_LIMIT
from tests.hub import RunningHub, processes_mentioning, wait_for_none
from tests.service.conftest import BATCH_IMAGE, FINAL, NOTEBOOK_IMAGE, Api

pytestmark = pytest.mark.integration
canfar_sessions = pytest.importorskip("canfar.sessions")


@pytest.fixture
def canfar(alice: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """The released client, configured the way its documentation says: two variables."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CANFAR_URL", alice.base)
    monkeypatch.setenv("CANFAR_TOKEN", alice.token)
    with canfar_sessions.Session(errors="raise") as session:
        yield session


def test_canfar_client_runs_a_headless_job_with_replicas(canfar: Any, alice: Api) -> None:
    ids = canfar.create(
        name="sum",
        image=BATCH_IMAGE,
        kind="headless",
        cores=1,
        ram=1,
        cmd="sh",
        args="-c 'echo replica $REPLICA_ID of $REPLICA_COUNT with $GREETING'",
        env={"GREETING": "hello"},
        replicas=3,
    )
    assert len(ids) == 3 and len(set(ids)) == 3
    listed = {s["id"]: s for s in canfar.fetch(kind="headless")}
    assert set(ids) <= set(listed)
    assert {listed[i]["name"] for i in ids} == {"sum-1", "sum-2", "sum-3"}

    for sid in ids:
        alice.wait_status(sid, FINAL)
    infos = canfar.info(ids)
    assert [i["status"] for i in infos] == ["Succeeded"] * 3
    assert all(i["type"] == "headless" and i["image"] == BATCH_IMAGE for i in infos)
    logs = canfar.logs(ids)
    assert sorted(logs[i].strip() for i in ids) == [
        f"replica {n} of 3 with hello" for n in (1, 2, 3)
    ]
    # Logs are kept in the user's home.
    home = alice.hub.data_dir / "home" / "alice"
    assert (home / "arcade-jobs" / ids[0] / f"{ids[0]}.log").read_text().startswith("replica")
    events = canfar.events(ids[0])
    assert "Succeeded" in events[0][ids[0]]
    completed = {s["id"] for s in canfar.fetch(kind="headless", status="Completed")}
    assert set(ids) <= completed  # the client's word for Succeeded

    assert canfar.destroy(ids) == dict.fromkeys(ids, True)
    for sid in ids:
        alice.wait_gone(sid)
    assert (home / "arcade-jobs" / ids[0] / f"{ids[0]}.log").exists()


def test_commands_and_variables_never_reach_the_log(
    canfar: Any, alice: Api, hub: RunningHub
) -> None:
    """The client sends them as query parameters; the service's log has paths only."""
    secret, word = f"s3cret-{os.getpid()}-value", f"distinctive-{os.getpid()}-word"
    (job,) = canfar.create(name="quiet", image=BATCH_IMAGE, kind="headless", cmd="echo",
                           args=word, env={"MY_TOKEN": secret})
    assert alice.wait_status(job, FINAL)["status"] == "Succeeded"
    assert canfar.logs([job])[job].strip() == word
    # Refusals quoting them, an unknown path, a bad method: not in the log either.
    refused = {"name": "quiet", "image": "batch", "cmd": f"echo '{word}", "env": f"X Y={secret}"}
    assert alice.request("POST", "session", params=refused).status_code == 400
    assert alice.request("GET", f"nosuch?cmd={word}").status_code == 404
    assert alice.request("PUT", f"session?cmd={word}&env={secret}").status_code == 405
    canfar.destroy([job])
    alice.wait_gone(job)
    log = hub.log.read_text(errors="replace")
    assert secret not in log and word not in log
    assert "POST /services/arcade/skaha/v1/session (" in log  # requests are, by path


def test_server_side_replicas_one_parameter_line_per_instance(alice: Api) -> None:
    job = alice.create(
        name="params",
        image="batch",
        type="headless",
        cmd="sh -c 'echo $REPLICA_ID/$REPLICA_COUNT: $0 $1 [$ARCADE_JOB_PARAM]'",
        params="m31 1.5\nm33 2.5\n",
    )
    done = alice.wait_status(job, FINAL)
    assert done["status"] == "Succeeded" and done["replicaCount"] == 2
    assert [i["id"] for i in done["instances"]] == [f"{job}-1", f"{job}-2"]
    assert [i["status"] for i in done["instances"]] == ["Succeeded", "Succeeded"]
    logs = alice.request("GET", f"session/{job}", params={"view": "logs"}).text
    assert "1/2: m31 1.5 [m31 1.5]" in logs and "2/2: m33 2.5 [m33 2.5]" in logs
    one = alice.session(f"{job}-2")
    assert one["jobId"] == job and one["replicaId"] == 2 and one["exitCode"] == 0
    assert alice.request("DELETE", f"session/{job}").status_code == 200
    alice.wait_gone(job)


def test_failed_instance_makes_the_job_failed(alice: Api) -> None:
    job = alice.create(
        name="half",
        image="batch",
        type="headless",
        cmd="sh",
        args="-c 'exit $((REPLICA_ID - 1))'",
        replicas=2,
    )
    done = alice.wait_status(job, FINAL)
    assert done["status"] == "Failed"
    assert [(i["status"], i["exitCode"]) for i in done["instances"]] == [
        ("Succeeded", 0),
        ("Failed", 1),
    ]
    alice.request("DELETE", f"session/{job}")


def test_job_instances_run_as_the_user_with_the_platform_environment(alice: Api) -> None:
    job = alice.create(
        name="who",
        image="batch",
        type="headless",
        cmd="sh",
        args="-c 'id -u; echo $HOME $ARCADE_SESSION_ID $ARCADE_CORES'",
    )
    alice.wait_status(job, FINAL)
    uid, env = alice.request("GET", f"session/{job}", params={"view": "logs"}).text.splitlines()
    home = str(alice.hub.data_dir / "home" / "alice")
    assert env.startswith(home + " ") and env.endswith(" 1")
    if os.geteuid() == 0:
        assert int(uid) != 0 and int(uid) == Path(home).stat().st_uid
    alice.request("DELETE", f"session/{job}")


def test_canfar_client_starts_a_notebook_and_its_cli_lists_it(
    canfar: Any, alice: Api, tmp_path: Path
) -> None:
    [sid] = canfar.create(name="nb", image=NOTEBOOK_IMAGE, kind="notebook", cores=1, ram=1)
    session = alice.wait_status(sid, ("Running",))
    assert session["type"] == "notebook" and session["name"] == "nb"
    assert session["connectURL"].endswith(f"/user/alice/{sid}/")
    r = httpx.get(
        session["connectURL"] + "api/status",
        headers={"Authorization": f"token {alice.token}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert canfar.renew(sid) == {sid: True}

    env = {**os.environ, "HOME": str(tmp_path), "CANFAR_URL": alice.base}
    env["CANFAR_TOKEN"] = alice.token
    cli = Path(sys.executable).parent / "canfar"
    ps = subprocess.run(
        [str(cli), "ps", "--output", "json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert ps.returncode == 0, ps.stderr
    listed = json.loads(ps.stdout)
    assert any(s["id"] == sid and s["status"] == "Running" for s in listed)

    assert canfar.destroy(sid) == {sid: True}
    alice.wait_gone(sid)
    assert not wait_for_none(lambda: processes_mentioning(f"JUPYTERHUB_SERVER_NAME={sid}"), 10)


def test_images_context_and_openapi(alice: Api) -> None:
    images = alice.request("GET", "image", params={"type": "headless"}).json()
    assert [i["id"] for i in images] == [BATCH_IMAGE]
    # the embedded backend lists what this machine can run: entries with a `local` block
    # whose programs are installed (not CASA 4.7, which needs its image, nor an entry
    # whose tool is missing); the Kubernetes backend lists every image (tests/kube)
    listed = {i["name"] for i in alice.request("GET", "image").json()}
    assert {"notebook", "batch"} <= listed
    assert not listed & {"casa-4.7", "missing-tool"}
    context = alice.request("GET", "context").json()
    assert context["cores"]["options"] == [1, 2] and context["memoryGB"]["defaultLimit"] == 4
    doc = alice.request("GET", "openapi.json").json()
    assert {"/session", "/session/{sessionID}", "/image", "/context"} <= set(doc["paths"])
    # what the API answers is what its document (made from the models) says it answers
    job = alice.create(name="doc", image="batch", type="headless", cmd="true", replicas=2)
    alice.wait_status(job, FINAL)
    answers = [
        ("/session", "get", alice.request("GET", "session").json()),
        ("/session", "get", alice.request("GET", "session", params={"view": "stats"}).json()),
        ("/session/{sessionID}", "get", alice.session(job)),
        ("/image", "get", images),
        ("/context", "get", context),
    ]
    for path, method, body in answers:
        conforms(doc, doc["paths"][path][method]["responses"]["200"], body)
    alice.request("DELETE", f"session/{job}")


def conforms(doc: dict, response: dict, body: object) -> None:
    import jsonschema

    schema = json.loads(json.dumps(response["content"]["application/json"]["schema"]).replace(
        "#/components/schemas/", "#/$defs/"))  # fmt: skip
    defs = json.loads(json.dumps(doc["components"]["schemas"]).replace(
        "#/components/schemas/", "#/$defs/"))  # fmt: skip
    jsonschema.validate(body, {**schema, "$defs": defs})


def test_other_users_cannot_see_or_touch_a_job(alice: Api, bob: Api) -> None:
    job = alice.create(name="mine", image="batch", type="headless", cmd="echo", args="secret")
    alice.wait_status(job, FINAL)
    for method, params in (
        ("GET", {}),
        ("GET", {"view": "logs"}),
        ("GET", {"view": "events"}),
        ("POST", {"action": "renew"}),
        ("DELETE", {}),
    ):
        r = bob.request(method, f"session/{job}", params=params)
        assert r.status_code == 404, (method, params, r.text)
        assert "secret" not in r.text
    assert job not in {s["id"] for s in bob.request("GET", "session").json()}
    assert bob.request("GET", "session", params={"view": "all"}).status_code == 403
    assert alice.session(job)["status"] == "Succeeded"
    alice.request("DELETE", f"session/{job}")


def test_tokens_without_access_to_the_service_are_refused(hub: RunningHub, alice: Api) -> None:
    r = hub.api("POST", "/users/alice/tokens", json={"scopes": ["read:users:name!user"]})
    assert r.status_code == 201, r.text
    narrow = r.json()["token"]
    for headers in ({"Authorization": f"Bearer {narrow}"}, {}):
        got = httpx.get(f"{alice.base}/session", headers=headers, timeout=30)
        assert got.status_code in (401, 403), got.text
        assert "token" in got.json()["message"]


BAD: list[tuple[dict[str, Any], int, str]] = [
    ({"image": "batch", "type": "headless", "cmd": "true"}, 400, "give the session a name"),
    ({"name": "x", "image": "batch", "type": "carta"}, 400, "unknown session type 'carta'"),
    ({"name": "x", "image": "batch", "cmd": "true", "replicas": -1}, 400, "below the minimum"),
    ({"name": "x", "image": "batch", "cmd": "true", "replicas": 0}, 400, "below the minimum"),
    ({"name": "x", "image": "batch", "cmd": "true", "replicas": 5000}, 400, "maximum of 64"),
    ({"name": "x", "image": "batch", "cmd": "true", "replicas": "many"}, 400, "whole number"),
    ({"name": "x", "image": "batch", "cmd": "true", "env": "NOEQUALS"}, 400, "KEY=VALUE"),
    ({"name": "x", "image": "batch", "cmd": "true", "env": "1X=2"}, 400, "KEY=VALUE"),
    ({"name": "x", "image": "batch", "cmd": "true", "env": "ARCADE_HOME=/"}, 400, "set by the"),
    ({"name": "x", "image": "nope", "type": "headless"}, 400, "not a batch image"),
    ({"name": "x", "image": "nope"}, 400, "'nope' is not in the catalogue"),
    ({"name": "x", "image": "notebook", "type": "headless"}, 400, "is a notebook image"),
    ({"name": "x", "image": "notebook", "cmd": "ls"}, 400, "headless sessions only"),
    ({"name": "x", "image": "notebook", "replicas": 2}, 400, "one instance"),
    ({"name": "x", "image": "notebook", "cores": 64}, 400, "above the maximum of 2 cores"),
    ({"name": "x", "image": "batch", "cmd": "true", "cores": 64}, 400, "maximum of 2 cores"),
    ({"name": "x", "image": "batch", "cmd": "true", "ram": "lots"}, 400, "ram"),
    ({"name": "x", "image": "batch"}, 400, "give the command to run"),
    ({"name": "x", "image": "batch", "cmd": "sh", "args": "'unclosed"}, 400, "cannot split"),
    ({"name": "bad name!", "image": "batch", "cmd": "true"}, 400, "not a valid name"),
    ({"name": "x", "image": "batch", "cmd": "true", "colour": "red"}, 400, "unknown parameter"),
    ({"name": "x", "image": "batch", "cmd": "t", "dataset": "secret-survey"}, 403, "members of"),
    ({"name": "x", "image": "batch", "cmd": "t", "params": "a\nb", "replicas": 3}, 400, "2 param"),
    # NUL characters: no program argument, variable or name can carry one
    ({"name": "x", "image": "batch", "cmd": "echo a\0b"}, 400, "cmd contains a NUL character"),
    ({"name": "x", "image": "batch", "cmd": "true", "env": "K=a\0"}, 400, "env 'K' contains a NUL"),
    ({"name": "x", "image": "batch", "cmd": "echo", "params": "a\0"}, 400, "params contains a NUL"),
    ({"name": "x\0", "image": "batch", "cmd": "true"}, 400, "name contains a NUL"),
    ({"name": "x", "image": "batch\0", "cmd": "true"}, 400, "image contains a NUL"),
    ({"name": "x", "image": "batch", "cmd": "true", "env": "A\n=1"}, 400, "KEY=VALUE"),
]


@pytest.mark.parametrize(("params", "status", "message"), BAD)
def test_bad_input_is_refused_clearly(
    bob: Api, params: dict[str, Any], status: int, message: str
) -> None:
    before = bob.request("GET", "session").json()
    r = bob.request("POST", "session", params=params)
    assert r.status_code == status, r.text
    assert message in r.json()["message"]
    assert bob.request("GET", "session").json() == before


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("session", {"status": "Bogus"}),
        ("session", {"type": "carta"}),
        ("session", {"view": "weird"}),
        ("session/nosuch", {"view": "weird"}),
        ("image", {"type": "carta"}),
    ],
)
def test_bad_queries_are_refused_clearly(bob: Api, path: str, params: dict[str, str]) -> None:
    r = bob.request("GET", path, params=params)
    assert r.status_code in (400, 404), r.text
    assert r.json()["message"]


def test_fields_beyond_their_limits_are_refused_naming_the_limit(bob: Api) -> None:
    before = bob.request("GET", "session").json()
    job = {"name": "big", "image": "batch", "type": "headless"}
    for field, value, limit in (
        ("cmd", "echo " + "a" * 40_000, "the limit is 32,768"),
        ("params", "m31\n" + "p" * 20_000, "parameter line 2 is 20,000 characters long"),
    ):
        r = bob.request("POST", "session", data={**job, "cmd": "echo", field: value})
        assert r.status_code == 400, r.text[:300]
        assert r.json()["message"].startswith(f"{field}: ") and limit in r.json()["message"]
    assert bob.request("GET", "session").json() == before


def test_bodies_beyond_the_limit_get_a_413_naming_it(bob: Api) -> None:
    before = bob.request("GET", "session").json()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for size in (BODY_LIMIT + 1, 20 * 2**20):
        body = b"name=x&image=batch&cmd=true&params=" + b"p" * (size - 35)
        r = bob.request("POST", "session", content=body, headers=form)
        assert r.status_code == 413, (size, r.status_code, r.text[:300])
        assert r.json()["message"] == (
            f"the request body is {size:,} bytes; the limit is {BODY_LIMIT:,} bytes"
        )
    # At the limit the body is read and its fields checked.
    body = b"name=x&image=batch&cmd=true&params=" + b"p" * (BODY_LIMIT - 35)
    r = bob.request("POST", "session", content=body, headers=form)
    assert r.status_code == 400 and "params: params is" in r.json()["message"], r.text[:300]
    # A body without a length is not read at all.
    r = bob.request("POST", "session", content=iter([b"name=x"]), headers=form)
    assert r.status_code == 411 and "Content-Length" in r.json()["message"]
    assert bob.request("GET", "session").json() == before


def test_error_bodies_quote_little_of_long_input(bob: Api) -> None:
    huge = "a" * 1_000_000
    for field in ("name", "image", "cmd", "type", "colour"):
        fields = {"name": "x", "image": "batch", "cmd": "true", field: huge}
        r = bob.request("POST", "session", data=fields)
        assert r.status_code == 400 and len(r.content) < 2000, (field, len(r.content))
    long_id = "i" * 10_000  # URLs are limited well below a megabyte by the proxy
    for method in ("GET", "DELETE"):
        r = bob.request(method, f"session/{long_id}")
        assert r.status_code == 404 and len(r.content) < 500, (method, len(r.content))
        assert r.json()["message"] == f"no session '{'i' * 80}…'"
    apps = f"{bob.hub.url}/services/arcade/api/v1/users/bob/sessions/desk/apps"
    r = httpx.post(apps, json={"app": huge}, headers={"Authorization": f"token {bob.token}"},
                   timeout=60)
    assert r.status_code == 404 and len(r.content) < 2000, len(r.content)
    assert r.json()["message"].startswith(f"no app '{'a' * 80}…' in the catalogue")


def test_unknown_sessions_are_404(bob: Api) -> None:
    for method in ("GET", "DELETE"):
        r = bob.request(method, "session/nosuch")
        assert r.status_code == 404 and "no session 'nosuch'" in r.json()["message"]
    assert bob.request("POST", "session/nosuch").status_code == 400  # no action

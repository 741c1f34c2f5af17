"""The embedded platform end to end: real JupyterHub, proxy and single-user servers."""

from __future__ import annotations

import html
import json
import os
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hub import RunningHub, env_of, hub_xsrf, processes_mentioning, wait_for, wait_for_none

pytestmark = pytest.mark.integration

REST_BAD = [
    ({"image": "nope"}, 400, "'nope' is not in the catalogue"),
    ({"image": "ghcr.io/evil/miner:latest"}, 400, "custom image references are not allowed"),
    ({"image": "batch"}, 400, "is a batch image"),
    ({"image": "casa-4.7"}, 400, "CASA 4.7 is not available here"),
    ({"image": "missing-tool"}, 400, "Install the arcade-no-such-tool package"),
    ({"cores": 0}, 400, "cores: 0 is below the minimum of 0.25 cores"),
    ({"cores": 1000}, 400, "cores: 1000 is above the maximum of 2 cores per session"),
    ({"cores": "abc"}, 400, "cores: 'abc' is not a number"),
    ({"ram": "64G"}, 400, "ram: 64 is above the maximum of 4 GiB of RAM per session"),
    ({"gpus": 2}, 400, "gpus: 2 is above the maximum of 0 GPUs"),
    ({"dataset": "nope"}, 400, "unknown dataset 'nope'"),
    ({"dataset": "secret-survey"}, 403, "it is for members of survey-team"),
    ({"image": "casa-6.7", "dataset": "alma-2019"}, 400, "needs CASA 5.4, but CASA 6.7 provides"),
    ({"colour": "blue"}, 400, "unknown option 'colour'"),
    ({"image": ["notebook", "desktop"]}, 400, "image: give one value, not 2"),
]


@pytest.mark.parametrize(("options", "status", "message"), REST_BAD)
def test_rest_refuses_bad_options_clearly_and_starts_nothing(
    hub: RunningHub, options: dict[str, Any], status: int, message: str
) -> None:
    hub.api("POST", "/users/bob")
    logged = hub.log.stat().st_size
    r = hub.api("POST", "/users/bob/servers/bad", json=options)
    assert r.status_code == status, r.text
    assert message in r.json()["message"]
    # the refusal is logged as one warning with its reason, not as a crash with a traceback
    log = hub.log.read_bytes()[logged:].decode(errors="replace")
    assert "Traceback" not in log
    assert f"Exception applying user_options for bob:bad: {status} " in log
    server = hub.server("bob", "bad")
    assert server is None or (not server["ready"] and server["pending"] is None)
    assert not processes_mentioning(str(hub.data_dir / "home" / "bob"))


def form_post(client: httpx.Client, user: str, server: str, data: dict[str, str]) -> httpx.Response:
    return client.post(
        f"/hub/spawn/{user}/{server}", data={**data, "_xsrf": hub_xsrf(client)}
    )


FORM_BAD = [
    ({"image": "notebook", "cores": "abc", "ram": "1"}, "cores", "'abc' is not a number"),
    ({"image": "notebook", "cores": "9", "ram": "1"}, "cores", "above the maximum of 2 cores"),
    (
        {"image": "casa-6.7", "cores": "1", "ram": "1", "dataset": "alma-2019"},
        "dataset",
        "needs CASA 5.4",
    ),
    (
        {"image": "notebook", "cores": "1", "ram": "1", "dataset": "secret-survey"},
        "dataset",
        "it is for members of survey-team",
    ),
]


@pytest.mark.parametrize(("data", "field", "message"), FORM_BAD)
def test_form_shows_errors_next_to_the_field_and_keeps_the_input(
    hub: RunningHub, data: dict[str, str], field: str, message: str
) -> None:
    with closing(hub.login("dora")) as client:
        r = form_post(client, "dora", "f", data)
    assert r.status_code in (400, 403)
    page = html.unescape(r.text)
    assert f'id="error-{field}"' in page
    error_at = page.index(f'id="error-{field}"')
    assert message in page[error_at : error_at + 400]
    assert f'value="{data["image"]}" checked' in page
    if data.get("dataset") == "alma-2019":  # offered to dora, so kept selected
        assert '<option value="alma-2019" selected' in page
    assert "secret-survey" not in page.split('id="dataset"')[1].split("</select>")[0]


def test_form_lists_the_catalogue_grouped_with_reasons(hub: RunningHub) -> None:
    with closing(hub.login("erin")) as client:
        html = client.get("/hub/spawn/erin/x").text
    for heading in ("Notebooks", "Desktops", "Desktop apps"):
        assert f">{heading}</h2>" in html
    assert 'id="arcade-filter"' in html
    assert ("Needs a tool is not available on this machine: it needs arcade-no-such-tool, "
            "which is not installed. Install the arcade-no-such-tool package.") in html
    assert 'value="batch"' not in html  # batch images are jobs, not sessions
    assert "Secret survey" not in html  # erin is not in survey-team


def contents(hub: RunningHub, token: str, user: str, server: str, path: str) -> httpx.Response:
    return httpx.get(
        f"{hub.url}/user/{user}/{server}/api/contents/{path}",
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )


def test_notebook_sessions_share_the_home_and_stop_without_leftovers(hub: RunningHub) -> None:
    token = hub.user_token("alice")
    r = hub.api(
        "POST",
        "/users/alice/servers/rest",
        json={"image": "notebook", "cores": 1, "ram": "1G", "dataset": "public-sky"},
    )
    assert r.status_code in (201, 202), r.text
    hub.wait_ready("alice", "rest")

    with closing(hub.login("alice")) as client:
        r = form_post(client, "alice", "form", {"image": "notebook", "cores": "0.5", "ram": "0.5"})
        assert r.status_code == 200, r.text[:300]
        hub.wait_ready("alice", "form")
        assert hub.server("alice", "rest")["ready"]  # two named sessions at once

    env = env_of(hub, "alice", "rest")
    home = hub.data_dir / "home" / "alice"
    assert env["ARCADE_HOME"] == env["HOME"] == str(home)
    assert env["ARCADE_CORES"] == "1" and env["ARCADE_RAM_GIB"] == "1"
    assert env["ARCADE_DATASET"] == "public-sky"
    for key in ("ARCADE_PROJECTS", "ARCADE_DATASETS", "ARCADE_SCRATCH", "ARCADE_SESSION_ID"):
        assert env[key], key
    form_env = env_of(hub, "alice", "form")
    assert form_env["ARCADE_HOME"] == str(home)
    assert form_env["ARCADE_SESSION_ID"] != env["ARCADE_SESSION_ID"]
    assert form_env["ARCADE_CORES"] == "0.5"

    if os.geteuid() == 0:  # sessions run as the user's own unprivileged uid
        uid = Path(f"/proc/{env['_pid']}").stat().st_uid
        assert uid != 0 and home.stat().st_uid == uid

    # A file written through one session is seen by the other: the same home.
    put = httpx.put(
        f"{hub.url}/user/alice/rest/api/contents/home/shared.txt",
        headers={"Authorization": f"token {token}"},
        json={"type": "file", "format": "text", "content": "hello"},
        timeout=30,
    )
    assert put.status_code in (200, 201), put.text
    got = contents(hub, token, "alice", "form", "home/shared.txt")
    assert got.status_code == 200 and got.json()["content"] == "hello"

    # The dataset is visible, and read-only where the OS enforces it.
    dataset_dir = Path(env["ARCADE_DATASETS"]) / "public-sky"
    listing = _list_in_session(env, dataset_dir)
    assert "catalog.csv" in listing

    # Another user cannot reach alice's session.
    other = hub.user_token("mallory")
    denied = contents(hub, other, "alice", "rest", "home/shared.txt")
    assert denied.status_code in (403, 302), denied.status_code

    session_ids = [env["ARCADE_SESSION_ID"], form_env["ARCADE_SESSION_ID"]]
    hub.stop_server("alice", "rest")
    hub.stop_server("alice", "form")
    for sid in session_ids:
        assert not wait_for_none(lambda sid=sid: processes_mentioning(sid), 10)
        assert not (hub.data_dir / "sessions" / sid).exists()
        assert not (hub.data_dir / "scratch" / sid).exists()
    assert (home / "shared.txt").read_text() == "hello"  # the home persists


def _list_in_session(env: dict[str, str], path: Path) -> str:
    """List `path` as the session sees it (inside its mount namespace, when it has one)."""
    import subprocess

    cmd = ["ls", str(path)]
    if os.geteuid() == 0:
        cmd = ["nsenter", "-t", env["_pid"], "-m", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="read-only dataset mounts need root")
def test_datasets_are_read_only_inside_the_session(hub: RunningHub) -> None:
    import subprocess

    hub.api("POST", "/users/frank")
    r = hub.api("POST", "/users/frank/servers/ro", json={"dataset": "public-sky"})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready("frank", "ro")
    env = env_of(hub, "frank", "ro")
    target = Path(env["ARCADE_DATASETS"]) / "public-sky" / "new.txt"
    # Even root, inside the session's mount namespace, cannot write to the dataset.
    result = subprocess.run(
        ["nsenter", "-t", env["_pid"], "-m", "touch", str(target)], capture_output=True, text=True
    )
    assert result.returncode != 0 and "Read-only file system" in result.stderr
    assert not (hub.data_dir / "datasets" / "public-sky" / "new.txt").exists()
    # A dataset of a group frank is not in is hidden, even at its host path.
    secret = hub.data_dir / "datasets" / "secret"
    (secret / "plans.txt").write_text("classified")
    seen = subprocess.run(["nsenter", "-t", env["_pid"], "-m", "ls", "-A", str(secret)],
                          capture_output=True, text=True, check=True).stdout
    assert seen == "" and (secret / "plans.txt").exists()
    hub.stop_server("frank", "ro")


def test_spawn_progress_reports_arcade_steps(hub: RunningHub) -> None:
    from concurrent.futures import ThreadPoolExecutor

    hub.api("POST", "/users/gina")
    pool = ThreadPoolExecutor(1)
    started = pool.submit(hub.api, "POST", "/users/gina/servers/p", json={})
    wait_for(
        lambda: (hub.server("gina", "p") or {}).get("pending") == "spawn",
        30,
        "the spawn to be pending",
    )
    events = []
    with httpx.stream(
        "GET",
        f"{hub.url}/hub/api/users/gina/servers/p/progress",
        headers={"Authorization": f"token {hub.token}"},
        timeout=60,
    ) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
                if events[-1].get("ready") or events[-1].get("failed"):
                    break
    assert started.result().status_code in (201, 202)
    pool.shutdown()
    messages = [e.get("message", "") for e in events]
    assert any("Starting JupyterLab" in m for m in messages), messages
    assert any("Limiting the session to 1 core and 1 GiB RAM (" in m for m in messages), messages
    hub.wait_ready("gina", "p")
    hub.stop_server("gina", "p")


def test_session_limit_per_user(hub: RunningHub) -> None:
    hub.api("POST", "/users/hank")
    names = ["a", "b", "c"]
    for n in names:
        r = hub.api("POST", f"/users/hank/servers/{n}", json={"cores": 0.25, "ram": 0.25})
        assert r.status_code in (201, 202), r.text
    r = hub.api("POST", "/users/hank/servers/d", json={})
    assert r.status_code == 400, r.text
    assert (
        "you already have 3 sessions running and this platform allows 3 at once "
        "(platform limit); stop one first" in r.json()["message"]
    )
    for n in names:
        hub.wait_ready("hank", n)
    # stopped sessions do not count: neither the refused one nor one stopped by its user
    hub.stop_server("hank", "a")
    r = hub.api("POST", "/users/hank/servers/e", json={"cores": 0.25, "ram": 0.25})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready("hank", "e")
    for n in ["b", "c", "e"]:
        hub.stop_server("hank", n)

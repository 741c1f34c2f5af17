"""Every entry point obeys the group policy, with the same answer and the same words.

The entry points: the launch form, the hub's REST API, the skaha sessions API, UWS, the Batch page,
the app-launch API and `arcade-launch` inside a desktop. The rules: entries, kinds, datasets
(and the CASA version a dataset needs), project spaces, and per-session limits. Each case names a
user, what they ask for, and what every entry point it applies to must answer: started, or
refused with the status and sentence the planner gives. What starts is checked inside, as its
user sees it: the project spaces the policy gives, and no way to the restricted dataset's data.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.hub import PLATFORM, RunningHub, env_of, running_hub, shared_tmp, wait_for
from tests.integration.test_embedded_sessions import form_post
from tests.integration.test_podman_apps import start_desktop
from tests.service.test_job_page import page_client, xsrf_of

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="hidden datasets and per-user uids need root"),
]
for tool in ("Xvnc", "openbox", "xterm", "dbus-launch", "nsenter"):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed", allow_module_level=True)

GROUPS = {
    # everyone: notebooks, desktops and the terminal, one core, and the shared project space
    # `survey-team` (named like the group that the secret survey is for: being given a
    # project space of that name must not open the dataset)
    "default": {
        "kinds": ["notebook", "desktop", "desktop-app"],
        "entries": ["notebook", "desktop", "xterm"],
        "max_cores": 1,
        "projects": ["survey-team"],
    },
    "survey-team": {"entries": ["*"], "max_cores": 2},  # carol: everything
    "batchers": {"kinds": ["headless"]},  # bob: batch images too
}
CASA_BATCH = {
    "name": "casa-batch", "title": "CASA 6.7 batch", "kind": "headless", "local": {},
    "image": "ghcr.io/arcade-hub/casa:6.7", "versions": {"casa": "6.7"},
}  # fmt: skip
SECRET_FILE = "members-only.txt"

ENTRY_REFUSED = "you may not launch CASA 6.7: CASA 6.7 is for members of survey-team (group policy)"
BATCH_REFUSED = (
    "you may not run Batch: Batch is for members of batchers, survey-team (group policy)"
)
DATASET_REFUSED = "you may not use dataset 'secret-survey': it is for members of survey-team"
CASA_MISMATCH = "dataset 'alma-2019' needs CASA 5.4, but CASA 6.7 provides CASA 6.7"
CASA_BATCH_MISMATCH = "dataset 'alma-2019' needs CASA 5.4, but CASA 6.7 batch provides CASA 6.7"
CORES_REFUSED = (
    "2 is above the maximum of 1 core per session for your groups (group policy: default)"
)


@dataclass(frozen=True)
class Ask:
    user: str
    image: str
    dataset: str | None = None
    cores: float = 1


@dataclass
class Outcome:
    status: int
    """201 when it started, else the refusal's status."""
    text: str = ""
    """What the user was shown (the whole page for the web pages)."""
    check_inside: Callable[[str], str] | None = None
    """Runs a shell line where the launched thing runs, as its user; returns the output."""
    stop: Callable[[], None] = lambda: None


@dataclass
class World:
    hub: RunningHub
    desktops: dict[tuple[str, str | None], dict[str, str]] = field(default_factory=dict)
    counter: int = 0

    def name(self) -> str:
        self.counter += 1
        return f"p{self.counter}"

    def token(self, user: str) -> str:
        return self.hub.user_token(user)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    tmp = shared_tmp()
    doc = yaml.safe_load(PLATFORM.read_text())
    doc["groups"] = GROUPS
    doc["catalogue"].append(CASA_BATCH)
    doc["auth"]["groups"]["batchers"] = ["bob"]
    config = tmp / "platform.yaml"
    config.write_text(yaml.safe_dump(doc))
    datasets = tmp / "data" / "datasets"
    for d in ("alma-2019", "public-sky", "secret"):
        (datasets / d).mkdir(parents=True)
    (datasets / "secret" / SECRET_FILE).write_text("for the survey team\n")
    for p in [tmp / "data", datasets, *datasets.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    try:
        with running_hub(tmp, config=config) as hub:  # stops every session at the end
            yield World(hub)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- what runs, seen from inside -----------------------------------------------------------


def in_namespace_of(pid: str, env: dict[str, str]) -> Callable[[str], str]:
    """Run a shell line in the mount namespace of `pid`, as the session's user, with its
    ARCADE_* variables."""
    uid = Path(env["ARCADE_HOME"]).stat().st_uid
    arcade = {k: v for k, v in env.items() if k.startswith("ARCADE_")}

    def run(line: str) -> str:
        done = subprocess.run(
            ["nsenter", "-t", pid, "-m", "--", "setpriv", f"--reuid={uid}", f"--regid={uid}",
             "--clear-groups", "/bin/sh", "-c", line],
            env={"PATH": "/usr/bin:/bin", **arcade}, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        return done.stdout + done.stderr

    return run


def session_outcome(w: World, user: str, name: str) -> Outcome:
    w.hub.wait_ready(user, name)
    env = env_of(w.hub, user, name)
    inside = in_namespace_of(env["_pid"], env)
    return Outcome(201, "", inside, lambda: w.hub.stop_server(user, name))


# --- the entry points ------------------------------------------------------------------------


def via_form(w: World, ask: Ask) -> Outcome:
    name = w.name()
    data = {"image": ask.image, "cores": f"{ask.cores:g}", "ram": "1"}
    if ask.dataset:
        data["dataset"] = ask.dataset
    with closing(w.hub.login(ask.user)) as client:
        r = form_post(client, ask.user, name, data)
    if r.status_code >= 400:
        return Outcome(r.status_code, html.unescape(r.text))
    return session_outcome(w, ask.user, name)


def via_rest(w: World, ask: Ask) -> Outcome:
    name = w.name()
    w.hub.api("POST", f"/users/{ask.user}")
    options: dict[str, Any] = {"image": ask.image, "cores": ask.cores}
    if ask.dataset:
        options["dataset"] = ask.dataset
    r = w.hub.api("POST", f"/users/{ask.user}/servers/{name}", json=options)
    if r.status_code >= 400:
        w.hub.api("DELETE", f"/users/{ask.user}/servers/{name}", json={"remove": True})
        return Outcome(r.status_code, r.json()["message"])
    return session_outcome(w, ask.user, name)


def skaha(w: World, user: str, method: str, path: str, **kw: Any) -> httpx.Response:
    return httpx.request(
        method, f"{w.hub.url}/services/arcade/skaha/v1/{path}",
        headers={"Authorization": f"Bearer {w.token(user)}"}, timeout=60, **kw,
    )  # fmt: skip


def job_outcome(w: World, user: str, job: str) -> Outcome:
    def finished() -> dict[str, Any] | None:
        view: dict[str, Any] = skaha(w, user, "GET", f"session/{job}").json()
        return view if view["status"] in ("Succeeded", "Failed", "Error") else None

    done = wait_for(finished, 60, f"job {job}")
    logs = skaha(w, user, "GET", f"session/{job}", params={"view": "logs"}).text
    # the job's command was INSIDE: what it printed is what it saw
    return Outcome(201, done["status"] + "\n" + logs, lambda _line: logs,
                   lambda: skaha(w, user, "DELETE", f"session/{job}"))  # fmt: skip


INSIDE = 'ls "$ARCADE_PROJECTS"; ls {secret}; echo done'


def job_command(w: World) -> str:
    return INSIDE.format(secret=w.hub.data_dir / "datasets" / "secret")


def via_skaha(w: World, ask: Ask) -> Outcome:
    entry = next(e for e in yaml.safe_load(PLATFORM.read_text())["catalogue"] + [CASA_BATCH]
                 if e["name"] == ask.image)  # fmt: skip
    params: dict[str, Any] = {"name": w.name(), "image": ask.image, "type": entry["kind"],
                              "cores": f"{ask.cores:g}", "ram": "1"}  # fmt: skip
    if ask.dataset:
        params["dataset"] = ask.dataset
    if entry["kind"] == "headless":
        params |= {"cmd": "/bin/sh", "args": f"-c '{job_command(w)}'"}
    r = skaha(w, ask.user, "POST", "session", params=params)
    if r.status_code != 200:
        return Outcome(r.status_code, r.json()["message"])
    sid = r.text.strip()
    if entry["kind"] == "headless":
        return job_outcome(w, ask.user, sid)
    outcome = session_outcome(w, ask.user, sid)
    outcome.stop = lambda: skaha(w, ask.user, "DELETE", f"session/{sid}")
    return outcome


def via_batch_page(w: World, ask: Ask) -> Outcome:
    name = w.name()
    fields = {"name": name, "image": ask.image, "cmd": f"/bin/sh -c '{job_command(w)}'",
              "cores": f"{ask.cores:g}", "ram": "1", "dataset": ask.dataset or ""}  # fmt: skip
    with closing(page_client(w.hub, ask.user)) as client:
        form = client.get("/services/arcade/jobs/new").text
        r = client.post("/services/arcade/jobs/new", data={"_xsrf": xsrf_of(form), **fields},
                        files={"params_file": ("", b"")}, follow_redirects=False)  # fmt: skip
    if r.status_code != 303:
        return Outcome(r.status_code, html.unescape(r.text))
    views = skaha(w, ask.user, "GET", "session").json()
    job = next(v["jobId"] for v in views if v["name"] == name)
    return job_outcome(w, ask.user, job)


def via_uws(w: World, ask: Ask, run_at_once: bool = True) -> Outcome:
    """UWS: created with PHASE=RUN, or held (checked then) and run afterwards."""
    fields = {"image": ask.image, "cmd": "/bin/sh", "args": f"-c '{job_command(w)}'",
              "cores": f"{ask.cores:g}", "ram": "1", "name": w.name()}  # fmt: skip
    if ask.dataset:
        fields["dataset"] = ask.dataset
    if run_at_once:
        fields["PHASE"] = "RUN"
    auth = {"Authorization": f"Bearer {w.token(ask.user)}"}
    r = httpx.post(f"{w.hub.url}/services/arcade/uws/jobs", data=fields, headers=auth,
                   timeout=60)  # fmt: skip
    if r.status_code != 303:
        return Outcome(r.status_code, r.text)
    job = r.headers["Location"]
    if not run_at_once:
        ran = httpx.post(f"{job}/phase", data={"PHASE": "RUN"}, headers=auth, timeout=60)
        assert ran.status_code == 303, ran.text
    return job_outcome(w, ask.user, job.rsplit("/", 1)[1])


def via_uws_held(w: World, ask: Ask) -> Outcome:
    return via_uws(w, ask, run_at_once=False)


def desktop_of(w: World, user: str, dataset: str | None) -> dict[str, str]:
    """A running desktop of `user` (with `dataset`), kept for the module."""
    key = (user, dataset)
    if key not in w.desktops:
        name = "desk" + (dataset or "")
        options: dict[str, Any] = {"image": "desktop"}
        if dataset:
            options["dataset"] = dataset
        w.hub.api("POST", f"/users/{user}")
        r = w.hub.api("POST", f"/users/{user}/servers/{name}", json=options)
        assert r.status_code in (201, 202), r.text
        w.hub.wait_ready(user, name)
        env = env_of(w.hub, user, name)
        start_desktop(w.hub, user, name)
        published = Path(env["ARCADE_SESSION_DIR"]) / "desktop.json"
        wait_for(published.exists, 30, "the desktop to publish its display")
        w.desktops[key] = env
    return w.desktops[key]


def app_outcome(w: World, env: dict[str, str], pid: int) -> Outcome:
    return Outcome(201, "", in_namespace_of(str(pid), env), lambda: os.kill(pid, 15))


def via_app_api(w: World, ask: Ask) -> Outcome:
    env = desktop_of(w, ask.user, ask.dataset)
    url = f"{env['ARCADE_API_URL']}/users/{ask.user}/sessions/{env['JUPYTERHUB_SERVER_NAME']}/apps"
    own = {"Authorization": f"token {env['JUPYTERHUB_API_TOKEN']}"}
    listed = {a["name"]: a for a in httpx.get(url, headers=own, timeout=30).json()["apps"]}
    r = httpx.post(url, headers=own, json={"app": ask.image}, timeout=30)
    if r.status_code != 201:  # listed as unavailable, with the same reason
        message = r.json()["message"]
        assert not listed[ask.image]["available"] and listed[ask.image]["reason"] == message
        return Outcome(r.status_code, message)
    assert listed[ask.image]["available"]
    return app_outcome(w, env, r.json()["pid"])


def via_arcade_launch(w: World, ask: Ask) -> Outcome:
    env = desktop_of(w, ask.user, ask.dataset)
    keep = ("ARCADE_API_URL", "JUPYTERHUB_USER", "JUPYTERHUB_SERVER_NAME", "JUPYTERHUB_API_TOKEN")
    done = subprocess.run(
        [str(Path(env["ARCADE_DESKTOP_LAUNCH_COMMAND"])), ask.image],
        env={"PATH": os.environ["PATH"], **{k: env[k] for k in keep}},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if done.returncode != 0:
        return Outcome(403 if "may not" in done.stderr else 400, done.stderr)
    pid = int(re.search(r"\(pid (\d+)\)", done.stdout)[1])  # type: ignore[index]
    return app_outcome(w, env, pid)


SESSIONS = {"form": via_form, "rest": via_rest, "skaha": via_skaha}
APPS = {"app-api": via_app_api, "arcade-launch": via_arcade_launch}
JOBS = {"batch-page": via_batch_page, "skaha": via_skaha, "uws": via_uws,
        "uws-held": via_uws_held}

# rule, user's request, expected status (201: started) and sentence, entry points
CASES: list[tuple[str, Ask, int, str, dict[str, Callable[[World, Ask], Outcome]]]] = [
    ("entries", Ask("alice", "casa-6.7"), 403, ENTRY_REFUSED, SESSIONS | APPS),
    ("entries", Ask("carol", "casa-6.7"), 201, "", SESSIONS | APPS),
    ("kinds", Ask("alice", "batch"), 403, BATCH_REFUSED, JOBS),
    ("kinds", Ask("bob", "batch"), 201, "", JOBS),
    ("datasets", Ask("alice", "notebook", "secret-survey"), 403, DATASET_REFUSED, SESSIONS),
    ("datasets", Ask("bob", "batch", "secret-survey"), 403, DATASET_REFUSED, JOBS),
    ("datasets", Ask("carol", "notebook", "secret-survey"), 201, "", SESSIONS),
    ("datasets", Ask("carol", "batch", "secret-survey"), 201, "", JOBS),
    ("casa", Ask("carol", "casa-6.7", "alma-2019"), 400, CASA_MISMATCH, SESSIONS | APPS),
    ("casa", Ask("carol", "casa-batch", "alma-2019"), 400, CASA_BATCH_MISMATCH, JOBS),
    ("projects", Ask("alice", "notebook"), 201, "", SESSIONS),
    ("projects", Ask("alice", "xterm"), 201, "", APPS),
    ("projects", Ask("bob", "batch"), 201, "", JOBS),
    ("limits", Ask("alice", "notebook", cores=2), 400, CORES_REFUSED, SESSIONS),
    ("limits", Ask("bob", "batch", cores=2), 400, CORES_REFUSED, JOBS),
    ("limits", Ask("carol", "notebook", cores=2), 201, "", SESSIONS),
]
TABLE = [
    pytest.param(rule, ask, status, words, via, id=f"{rule}-{ask.user}-{ask.image}-{name}")
    for rule, ask, status, words, points in CASES
    for name, via in points.items()
]


@pytest.mark.parametrize(("rule", "ask", "status", "words", "via"), TABLE)
def test_every_entry_point_gives_the_same_answer(
    world: World,
    rule: str,
    ask: Ask,
    status: int,
    words: str,
    via: Callable[[World, Ask], Outcome],
) -> None:
    outcome = via(world, ask)
    try:
        assert outcome.status == status, outcome.text[-2000:]
        if status != 201:
            assert words in outcome.text, outcome.text[-2000:]
            return
        assert outcome.check_inside is not None
        secret = world.hub.data_dir / "datasets" / "secret"
        seen = outcome.check_inside(INSIDE.format(secret=secret))
        assert "done" in seen, seen
        # the policy's project space, and the restricted data only for its members
        assert "survey-team" in seen, seen
        if ask.user == "carol":  # in survey-team
            assert SECRET_FILE in seen, seen
        else:
            assert SECRET_FILE not in seen, seen
    finally:
        outcome.stop()

"""No secret in a URL the platform generates or in a log: a real embedded platform, used the
way people use it — log in with the shared password, launch a notebook from the form, open it
and the job list (both log in through the hub's OAuth), call the sessions API, submit a batch
job, start a desktop and launch an app into it — and then every secret in play is looked for
in every redirect, link and API answer, and in the hub's, the proxy's, the arcade service's,
the sessions', the apps' and the jobs' logs.

The secrets: the shared password, JupyterHub API tokens (the admin token, a user's token,
each session's own token, the arcade service's token, the proxy's auth token), the OAuth codes
and access tokens of the sessions' and the service's logins, and the desktop's X cookie.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from arcade_hub.desktop.xauth import parse_xauthority
from tests.hub import RunningHub, env_of, hub_xsrf, processes_mentioning, wait_for
from tests.integration.test_podman_apps import start_desktop
from tests.service.conftest import FINAL, Api

pytestmark = pytest.mark.integration

LINK = re.compile(r"""(?:href|src|action)\s*=\s*["']([^"']*)["']""", re.I)
SECRET_PARAMS = {"token", "access_token", "api_token", "password", "xauth", "cookie"}


@dataclass
class Audit:
    """Secrets in play, and every URL and API answer the platform generated."""

    secrets: dict[str, str] = field(default_factory=dict)
    urls: list[tuple[str, str]] = field(default_factory=list)
    """(where, url) of every redirect and link."""
    answers: list[tuple[str, str]] = field(default_factory=list)
    """(where, body) of every API answer."""

    def secret(self, what: str, value: str) -> None:
        assert len(value) >= 8, f"{what} is too short to look for: {value!r}"
        self.secrets[what] = value

    def response(self, where: str, r: httpx.Response) -> None:
        """Record the redirects that led to `r` and the links in its page."""
        for hop in [*r.history, r]:
            if "location" in hop.headers:
                self.urls.append(
                    (f"{where}: redirect from {hop.url.path}", hop.headers["location"])
                )
        if r.headers.get("content-type", "").startswith("text/html"):
            self.urls += [(f"{where}: link", html.unescape(u)) for u in LINK.findall(r.text)]
        else:
            self.answers.append((where, r.text))

    def oauth_login(self, where: str, r: httpx.Response, cookie: str, client: httpx.Client) -> None:
        """The OAuth code in the callback redirect and the access token in the login cookie."""
        codes = [
            parse_qs(urlsplit(h.headers["location"]).query)["code"][0]
            for h in r.history
            if "code=" in h.headers.get("location", "")
        ]
        assert len(codes) == 1, [h.headers.get("location") for h in r.history]
        self.secret(f"{where} OAuth code", codes[0])
        self.secret(f"{where} OAuth access token", signed_cookie_value(client.cookies[cookie]))


def signed_cookie_value(cookie: str) -> str:
    """The value inside a tornado signed cookie (`2|1:0|10:ts|4:name|n:base64|sig`)."""
    fields = cookie.strip('"').split("|")
    return base64.b64decode(fields[4].split(":", 1)[1]).decode()


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    return dict(x.split("=", 1) for x in raw.split("\0") if "=" in x)


def process_env(hub: RunningHub, marker: str) -> dict[str, str]:
    """The environment of the platform's process whose command line contains `marker`."""
    for pid in processes_mentioning(hub.data_dir):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if marker in cmdline:
            return environ(pid)
    raise AssertionError(f"no process of the platform runs {marker}")


def logs(hub: RunningHub) -> Iterator[tuple[Path, str]]:
    """The hub's log (with the proxy, the arcade service and the sessions, which log to the
    hub's output) and every log file in the data directory (apps, batch jobs)."""
    yield hub.log, hub.log.read_text(errors="replace")
    for path in hub.data_dir.rglob("*.log"):
        yield path, path.read_text(errors="replace")


def forms_of(secret: str) -> list[str]:
    """The secret as it could be written: as is, and for bytes given as hex, in base64."""
    forms = [secret]
    if re.fullmatch(r"(?:[0-9a-f]{2})+", secret):
        raw = bytes.fromhex(secret)
        forms += [base64.b64encode(raw).decode(), secret.upper()]
    return forms


@pytest.fixture(scope="module")
def audit(hub: RunningHub) -> Iterator[Audit]:
    """Use the platform (for alice) and record what it generated."""
    a = Audit()
    a.secret("shared password", hub.password)
    a.secret("admin token", hub.token)
    servers = []
    with closing(hub.login("alice")) as browser:
        # The form launches a notebook; opening it logs in to it through the hub's OAuth.
        r = browser.get("/hub/spawn/alice/nb")
        a.response("launch form", r)
        xsrf = hub_xsrf(browser)
        form = {"image": "notebook", "cores": "1", "ram": "1", "_xsrf": xsrf}
        r = browser.post("/hub/spawn/alice/nb", data=form)
        servers.append("nb")
        a.response("form post", r)
        hub.wait_ready("alice", "nb")
        r = browser.get("/user/alice/nb/")  # JupyterLab opens on the home
        assert r.status_code == 200 and r.url.path == "/user/alice/nb/lab/tree/home", r.url
        a.response("session login", r)
        a.oauth_login("session", r, "jupyterhub-user-alice-nb", browser)
        a.response("home", browser.get("/hub/home"))

        # The job list and the Batch page log in to the arcade service through the hub (the
        # login did, landing on Sessions; again here, to audit that login's code and token).
        browser.cookies.delete("service-arcade")
        r = browser.get("/services/arcade/jobs")
        assert r.status_code == 200 and "nb" in r.text, r.text[:300]
        a.oauth_login("arcade service", r, "service-arcade", browser)
        a.response("job list", r)
        a.response("batch page", browser.get("/services/arcade/jobs/new"))

        # The sessions API with alice's token: list (connectURL), a batch job, its logs.
        api = Api(hub, "alice")
        a.secret("alice's API token", api.token)
        a.response("sessions API list", api.request("GET", "session"))
        job = api.create(name="hello", image="batch", type="headless", cmd="echo", args="hi")
        api.wait_status(job, FINAL)
        for view in ({}, {"view": "logs"}, {"view": "events"}, {"view": "stats"}):
            a.response(f"sessions API {view}", api.request("GET", f"session/{job}", params=view))

        # A desktop, and an app launched into it with the session's own token.
        r = hub.api("POST", "/users/alice/servers/desk", json={"image": "desktop"})
        assert r.status_code in (201, 202), r.text
        servers.append("desk")
        hub.wait_ready("alice", "desk")
        env = env_of(hub, "alice", "desk")
        start_desktop(hub, "alice", "desk")
        desktop_json = Path(env["ARCADE_SESSION_DIR"]) / "desktop.json"
        wait_for(desktop_json.exists, 30, "the desktop to publish its display")
        xauthority = Path(json.loads(desktop_json.read_text())["xauthority"])
        [(*_, x_cookie)] = parse_xauthority(xauthority.read_bytes())
        a.secret("desktop X cookie", x_cookie.hex())
        own = {"Authorization": f"token {env['JUPYTERHUB_API_TOKEN']}"}
        apps = f"{env['ARCADE_API_URL']}/users/alice/sessions/desk/apps"
        a.response("apps API list", httpx.get(apps, headers=own, timeout=30))
        r = httpx.post(apps, headers=own, json={"app": "xterm"}, timeout=60)
        assert r.status_code == 201, r.text
        a.response("apps API launch", r)
        a.response("sessions API list with sessions", api.request("GET", "session"))
        r = browser.get("/services/arcade/jobs")
        a.response("job list with sessions", r)
        assert "/user/alice/desk/desktop/" in r.text

        a.secret("notebook session's token", env_of(hub, "alice", "nb")["JUPYTERHUB_API_TOKEN"])
        a.secret("desktop session's token", env["JUPYTERHUB_API_TOKEN"])
        a.secret(
            "arcade service's token", process_env(hub, "arcade_hub.service")["JUPYTERHUB_API_TOKEN"]
        )
        a.secret(
            "proxy's auth token",
            process_env(hub, "configurable-http-proxy")["CONFIGPROXY_AUTH_TOKEN"],
        )
        try:
            yield a
        finally:
            for server in servers:
                hub.stop_server("alice", server)


def test_no_secret_in_a_url_the_platform_generates(audit: Audit) -> None:
    assert len(audit.urls) > 50, audit.urls  # redirects and links of every page seen
    for where, url in audit.urls:
        query = parse_qs(urlsplit(url).query)
        # The one exception is OAuth's own: the authorization code in the redirect to the
        # callback, single-use and bound to the client (and never logged, see below).
        oauth_callback = urlsplit(url).path.endswith("/oauth_callback")
        for what, secret in audit.secrets.items():
            if oauth_callback and what.endswith("OAuth code") and query.get("code") == [secret]:
                continue
            assert not any(f in url for f in forms_of(secret)), f"{what} in {url} ({where})"
        assert not SECRET_PARAMS & {k.lower() for k in query}, f"{url} ({where})"


def test_no_secret_in_an_api_answer(audit: Audit) -> None:
    wheres = [where for where, _ in audit.answers]
    assert "apps API launch" in wheres and "sessions API list with sessions" in wheres
    for where, body in audit.answers:
        for what, secret in audit.secrets.items():
            assert not any(f in body for f in forms_of(secret)), f"{what} in {where}: {body}"
    listed = json.loads(dict(audit.answers)["sessions API list with sessions"])
    urls = [s["connectURL"] for s in listed if s["connectURL"] != "<none>"]
    assert sorted(urlsplit(u).path for u in urls) == [
        "/user/alice/desk/desktop/",
        "/user/alice/nb/",
    ]
    assert all(not urlsplit(u).query for u in urls), urls


def test_no_secret_in_the_logs(audit: Audit, hub: RunningHub) -> None:
    # wait until the OAuth logins and the app launch have been logged
    wait_for(lambda: "Launched xterm" in hub.log.read_text(), 30, "the app launch in the log")
    seen = dict(logs(hub))
    text = seen[hub.log]
    # the logs do have the platform's parts in them: hub, proxy, service, sessions, job
    for part in ("JupyterHub app", "[ConfigProxy]", "arcade service listening", "ServerApp"):
        assert part in text, part
    assert any("arcade-jobs" in str(p) for p in seen), sorted(seen)
    for path, content in seen.items():
        for what, secret in audit.secrets.items():
            for form in forms_of(secret):
                assert form not in content, f"{what} in {path}: " + next(
                    line for line in content.splitlines() if form in line
                )

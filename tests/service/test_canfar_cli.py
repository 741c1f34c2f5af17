"""The released `canfar` command-line client (`pip install canfar==1.5.2` plus the typer pin
the docs give) against the real embedded platform: every command the sessions how-to shows,
run as a subprocess configured the way its documentation says (`CANFAR_URL`, `CANFAR_TOKEN`,
its configuration file in a HOME of its own), never reaching the network."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psutil
import pytest
from packaging.specifiers import SpecifierSet

from tests.hub import RunningHub, wait_for
from tests.service.conftest import BATCH_IMAGE, FINAL, NOTEBOOK_IMAGE, Api

ROOT = Path(__file__).parents[2]
HOWTO = ROOT / "docs" / "how-to" / "use-the-sessions-api.md"
CANFAR = Path(sys.executable).parent / "canfar"
TRACEBACK = ("Traceback",)


@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        """stdout and stderr with Rich's wrapping undone: runs of whitespace as one space."""
        return " ".join(f"{self.out}\n{self.err}".split())


@dataclass
class Cli:
    """`canfar` as a user runs it: two variables and a home of its own (its configuration
    file is `~/.canfar/config.yaml`). HTTPS goes to a closed local port, so that nothing the
    client does by default (its built-in CANFAR servers) reaches the network."""

    home: Path
    url: str
    token: str

    def __call__(self, *args: str, token: str | None = None) -> Ran:
        env = {
            "PATH": str(CANFAR.parent) + ":/usr/bin:/bin",
            "HOME": str(self.home),
            "CANFAR_URL": self.url,
            "CANFAR_TOKEN": token or self.token,
            "COLUMNS": "200",
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "NO_PROXY": "127.0.0.1,localhost",
        }
        r = subprocess.run(
            [str(CANFAR), *args], env=env, capture_output=True, text=True, timeout=120
        )
        return Ran(r.returncode, r.stdout, r.stderr)


def cli_for(api: Api, home: Path) -> Cli:
    home.mkdir(parents=True, exist_ok=True)
    return Cli(home, api.base, api.token)


@pytest.fixture
def cli(alice: Api, tmp_path: Path) -> Cli:
    return cli_for(alice, tmp_path / "home")


def documented_typer_pin() -> str:
    found = re.search(r"pip install canfar==1\.5\.2 '(typer[^']+)'", HOWTO.read_text())
    assert found, f"{HOWTO} gives no typer pin next to canfar==1.5.2"
    return found.group(1)


def test_the_cli_runs_with_the_typer_the_docs_pin() -> None:
    """canfar 1.5.2 imports `typer._click.types`, which typer 0.29 removed: the docs tell
    users the pin, and the test extra installs the same one."""
    pin = documented_typer_pin()
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["test"]
    assert pin in extra and "canfar==1.5.2" in extra
    assert version("typer") in SpecifierSet(pin.removeprefix("typer"))
    ran = subprocess.run([str(CANFAR), "create", "--help"], capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "Launch a new session" in ran.stdout



@pytest.mark.integration
def test_create_ps_logs_events_and_delete_a_job(cli: Cli, alice: Api) -> None:
    made = cli("create", "headless", BATCH_IMAGE, "--name", "greet", "--cpu", "1",
               "--memory", "1", "--", "echo", "hello", "from", "arcade")  # fmt: skip
    assert made.code == 0, made.text
    [job] = re.findall(r"Successfully created session 'greet' \(ID: (\w+)\)", made.text)
    alice.wait_status(job, FINAL)

    listed = cli("ps", "--all")
    assert listed.code == 0 and re.search(rf"{job} greet headless Succeeded {BATCH_IMAGE}",
                                          listed.text), listed.text  # fmt: skip
    logs = cli("logs", job)
    assert logs.code == 0 and "hello from arcade" in logs.out, logs.text
    events = cli("events", job)
    assert events.code == 0, events.text
    # skaha's event table, which the client shows row by row (it drops other lines)
    for reason, message in (("Queued", "queued"), ("Started", "pid"),
                            ("Succeeded", "exit code 0")):  # fmt: skip
        assert re.search(rf"Normal {reason} {job}: {message}", events.text), events.text

    gone = cli("delete", "-f", job)
    assert gone.code == 0 and f"Successfully deleted {{'{job}': True}}" in gone.text
    alice.wait_gone(job)


@pytest.mark.integration
def test_a_refused_create_says_why_where_the_client_shows_it(cli: Cli, alice: Api) -> None:
    """The client prints only "Failed to create session(s)." for any refusal: the server's
    reason is in its debug log (`-vv`), the one place it shows a response body. Resource
    limits reach it before it asks: saved as its server's (see the stats test), the client
    itself refuses what is above them."""
    before = alice.request("GET", "session").json()
    for args, reason in (
        (["notebook", NOTEBOOK_IMAGE, "--cpu", "2", "--memory", "8"],
         "ram: 8 is above the maximum of 4 GiB of RAM per session"),
        (["headless", NOTEBOOK_IMAGE, "--", "ls"],
         f"image: '{NOTEBOOK_IMAGE}' is a notebook image, not headless"),
    ):  # fmt: skip
        plain = cli("create", *args)
        assert plain.code == 1 and "Failed to create session(s)." in plain.text
        assert reason not in plain.text  # the client's own limit, documented
        debug = cli("-vv", "create", *args)
        assert debug.code == 1
        body = r'HTTP STATUS CODE -> 400 (debug\.py:\d+ )?\{"status": 400, "message": "[^"]*'
        assert re.search(body + re.escape(reason), debug.text), debug.text[-3000:]
        assert not any(t in debug.text for t in TRACEBACK)
    assert alice.request("GET", "session").json() == before

    save_server_record(cli, alice)
    over = cli("create", "notebook", NOTEBOOK_IMAGE, "--memory", "8")
    assert over.code == 2 and "8 is not in the range 1<=x<=4" in over.text, over.text
    assert alice.request("GET", "session").json() == before


def save_server_record(cli: Cli, api: Api) -> dict[str, Any]:
    """What the how-to tells users to run: this platform as the client's active server."""
    record = api.request("GET", "canfar-server")
    assert record.status_code == 200, record.text
    for args in (("servers.arcade", record.text), ("active.server", "arcade")):
        saved = cli("config", "set", *args)
        assert saved.code == 0, saved.text
    body: dict[str, Any] = record.json()
    return body


@pytest.mark.integration
def test_stats_show_the_limits_the_platform_enforces(cli: Cli, alice: Api) -> None:
    from canfar.models.http import ServerResources

    unknown = cli("stats")  # configured by the two variables only: no saved limits
    assert unknown.code == 0 and "Fixed: unknown Flexible: unknown" in unknown.text

    record = save_server_record(cli, alice)
    # the record holds what the client's own discovery would save from `context`
    context = alice.request("GET", "context").json()
    from_context = ServerResources.from_context(context).model_dump(exclude_none=True)
    assert record["resources"] == from_context
    assert record["url"] == alice.base.removesuffix("/v1") and record["version"] == "v1"

    stats = cli("stats")
    assert stats.code == 0, stats.text
    assert "@arcade" in stats.text
    # tests/platform.yaml: cores 1 to 2, RAM up to 4 GiB; no cores or RAM asked: 1 and 1 GiB
    assert "Fixed: 2 Cores & 4 GB Flexible: 1 Cores & 1 GB" in stats.text, stats.text
    assert re.search(r"Usage │ \d+ Usage │ [\d.]+G Total │ \d+ Total │ [\d.]+G", stats.text)
    listed = cli("ps", "--all")  # the saved server does not get in the way
    assert listed.code == 0, listed.text


@pytest.mark.integration
def test_info_shows_who_a_job_runs_as_and_what_it_uses(
    alice: Api, hub: RunningHub, tmp_path: Path
) -> None:
    carol = Api(hub, "carol")  # in survey-team: a project group
    cli = cli_for(carol, tmp_path / "carol")
    marker = f"arcade-cli-test-{tmp_path.name}"
    script = (f"import time; x = bytearray(300 << 20); t = time.time(); tag = '{marker}'\n"
              "while time.time() - t < 60: pass")  # fmt: skip
    made = cli("create", "headless", BATCH_IMAGE, "--name", "busy", "--output", "json",
               "--", "python3", "-c", f'"{script}"')  # fmt: skip
    assert made.code == 0, made.text
    [job] = json.loads(made.out)
    try:
        pid = wait_for(lambda: next((p.pid for p in psutil.process_iter(["cmdline"])
                                     if marker in " ".join(p.info["cmdline"] or [])
                                     and p.info["cmdline"][0] == "python3"), None),
                       30, "the job's python process")  # fmt: skip
        status = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        )
        uid, gid = status["Uid"].split()[0], status["Gid"].split()[0]
        groups = [int(g) for g in status["Groups"].split()]
        wait_for(lambda: rss_mib(pid) > 250, 30, "the job to hold its memory")

        info = cli("info", job)
        assert info.code == 0, info.text
        assert f"UID {uid} GID {gid} Groups {groups}" in info.text, info.text
        assert groups and int(uid) != 0
        usage = re.search(r"CPU Usage (\d+)% of 1 core\(s\) RAM Usage (\d+)% of 1 GB",
                          info.text)  # fmt: skip
        assert usage, info.text
        cpu, ram = map(int, usage.groups())
        assert 20 <= ram <= 60 and cpu > 0, info.text  # ~300 MiB of 1 GiB, a busy loop
    finally:
        carol.request("DELETE", f"session/{job}")
        carol.wait_gone(job)


def rss_mib(pid: int) -> float:
    try:
        return float(psutil.Process(pid).memory_info().rss / 2**20)
    except psutil.Error:
        return 0.0


@pytest.mark.integration
def test_deleting_an_unknown_session_is_a_404_the_client_reports_as_a_failure(
    cli: Cli, alice: Api
) -> None:
    r = alice.request("DELETE", "session/nosuchid")
    assert (r.status_code, r.reason_phrase) == (404, "no session 'nosuchid'")
    assert r.json() == {"status": 404, "message": "no session 'nosuchid'"}
    # the client's line says "Successfully" in any case; `False` is its word for not deleted
    plain = cli("delete", "-f", "nosuchid")
    assert plain.code == 0 and "{'nosuchid': False}" in plain.text, plain.text
    # its log (-v) names the reason, from the status line
    verbose = cli("-v", "delete", "-f", "nosuchid")
    assert "Failed to destroy session nosuchid: Client error '404 no session 'nosuchid''" in (
        verbose.text
    ), verbose.text


@pytest.mark.integration
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["info", "nosuchid"], "No information found for the specified session(s)."),
        (["logs", "nosuchid"], "No logs found for the specified session(s)."),
        (["events", "nosuchid"], "No events found for the specified session(s)."),
        (["renew", "nosuchid"], "Failed to renew 1 session(s): nosuchid"),
        (["create", "headless", "nosuch/image:1", "--", "true"], "Failed to create session(s)."),
        (["create", "headless", BATCH_IMAGE, "-e", "NOEQUALS", "--", "true"],
         "Invalid env variable: NOEQUALS"),
        (["create", "carta", BATCH_IMAGE], "Failed to create session(s)."),
        (["create", "nosuch", BATCH_IMAGE], "Invalid value for"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_clear_message_never_a_traceback(
    cli: Cli, args: list[str], says: str
) -> None:
    ran = cli(*args)
    assert says in ran.text, ran.text
    assert not any(t in ran.text for t in TRACEBACK), ran.text


@pytest.mark.integration
def test_a_refused_token_is_named(cli: Cli) -> None:
    listed = cli("ps", token="not-a-token")
    assert listed.code == 1 and "Unable to list sessions." in listed.text
    assert not any(t in listed.text for t in TRACEBACK), listed.text
    # `canfar stats` does not catch the refusal: the client's traceback ends in the
    # server's reason, from the status line
    stats = cli("stats", token="not-a-token")
    assert stats.code == 1 and (
        "Client error '401 authentication required: send 'Authorization: Bearer (JupyterHub "
        "token)' with a token that may access the arcade service'" in stats.text
    ), stats.text[-2000:]


@pytest.mark.integration
def test_the_python_client_raises_the_servers_reason(
    alice: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from canfar.exceptions.session import SessionRequestError
    from canfar.sessions import Session

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CANFAR_URL", alice.base)
    monkeypatch.setenv("CANFAR_TOKEN", alice.token)
    reason = "ram: 8 is above the maximum of 4 GiB of RAM per session"
    with Session(errors="raise") as session, pytest.raises(SessionRequestError) as e:
        session.create(name="big", image=NOTEBOOK_IMAGE, kind="notebook", cores=1, ram=8)
    refused = e.value.errors[1]
    assert reason in refused.response.json()["message"]  # type: ignore[attr-defined]
    assert reason in str(refused)

"""Start the real embedded platform (`arcade-hub run`) for tests, and talk to it."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

from arcade_hub.hub_config import free_port

T = TypeVar("T")
PLATFORM = Path(__file__).parent / "platform.yaml"


def wait_for(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def make_gate(tmp: Path) -> Path:
    """A FIFO in `tmp` that a held session's server reads a line from before it goes on (see
    `release`); sessions' servers run under their users' own uids, so anyone may open it."""
    gate = tmp / "gate"
    os.mkfifo(gate)
    gate.chmod(0o666)
    return gate


def release(gate: Path, line: str = "go\n") -> bool:
    """Let a held session's server go on, once it waits at the gate (False until then); an
    empty `line` makes it exit instead."""
    try:
        fd = os.open(gate, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:
        if e.errno == errno.ENXIO:  # nobody reads it yet
            return False
        raise
    with os.fdopen(fd, "w") as w:
        w.write(line)
    return True


def processes_mentioning(text: str | Path) -> list[int]:
    """Pids whose command line, environment or working directory mentions `text` (e.g. a
    test's data dir)."""
    needle = str(text).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if (
                needle in (entry / "cmdline").read_bytes()
                or needle in (entry / "environ").read_bytes()
                or str(text) in os.readlink(entry / "cwd")
            ):
                found.append(int(entry.name))
    return found


@dataclass
class RunningHub:
    url: str
    token: str
    data_dir: Path
    password: str
    proc: subprocess.Popen[bytes]
    log: Path
    verify: ssl.SSLContext | bool = True
    """The CA file to check the hub's certificate with, when it serves https itself."""

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"token {self.token}", **kwargs.pop("headers", {})}
        return httpx.request(
            method, f"{self.url}/hub/api{path}", headers=headers, timeout=60,
            verify=self.verify, **kwargs,
        )

    def user_token(self, user: str) -> str:
        self.api("POST", f"/users/{user}")
        r = self.api("POST", f"/users/{user}/tokens", json={"note": "test"})
        assert r.status_code == 201, r.text
        token: str = r.json()["token"]
        return token

    def server(self, user: str, name: str) -> dict[str, Any] | None:
        r = self.api("GET", f"/users/{user}")
        if r.status_code == 404:
            return None
        servers: dict[str, Any] = r.json()["servers"]
        return servers.get(name)

    def wait_ready(self, user: str, name: str, timeout: float = 60) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            s = self.server(user, name)
            if s is not None and s.get("pending") is None and not s.get("ready"):
                raise AssertionError(f"{user}/{name} stopped while starting:\n{self.tail()}")
            return s if s and s.get("ready") else None

        return wait_for(ready, timeout, f"{user}/{name} to be ready")

    def stop_server(self, user: str, name: str) -> None:
        r = self.api("DELETE", f"/users/{user}/servers/{name}")
        assert r.status_code in (202, 204), r.text
        try:
            wait_for(
                lambda: (
                    self.server(user, name) is None
                    or not (self.server(user, name) or {}).get("pending")
                ),
                60,
                f"{user}/{name} to stop",
            )
        except AssertionError as e:  # the hub's log says what the stop waits for
            raise AssertionError(f"{e}; the hub's log ends:\n{self.tail(80)}") from None

    def login(self, user: str) -> httpx.Client:
        client = httpx.Client(
            base_url=self.url, timeout=60, follow_redirects=True, verify=self.verify
        )
        client.get("/hub/login")
        r = client.post(
            "/hub/login",
            data={"username": user, "password": self.password, "_xsrf": client.cookies["_xsrf"]},
        )
        assert r.status_code == 200 and "/hub/login" not in str(r.url), r.text[:500]
        return client

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def hub_xsrf(client: httpx.Client) -> str:
    """The hub's XSRF token in a logged-in browser (its `_xsrf` cookie at `/hub/`): a login
    lands on the Sessions page, whose service sets an `_xsrf` cookie of its own."""
    token = client.cookies.get("_xsrf", path="/hub/")
    assert token, "no _xsrf cookie of the hub's"
    return token


def shared_tmp() -> Path:
    """A temporary directory that unprivileged session uids can enter (pytest's is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="arcade-test-", dir="/tmp"))
    path.chmod(0o711)
    return path


@contextlib.contextmanager
def hub_with_document(changes: dict[str, Any] | None = None, **kwargs: Any) -> Iterator[RunningHub]:
    """`running_hub` in a fresh `shared_tmp` (removed afterwards), on the tests' platform
    document with `changes` replacing its top-level sections."""
    tmp = shared_tmp()
    try:
        config = PLATFORM
        if changes:
            config = tmp / "platform.yaml"
            config.write_text(yaml.safe_dump(yaml.safe_load(PLATFORM.read_text()) | changes))
        with running_hub(tmp, config=config, **kwargs) as hub:
            yield hub
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def running_hub(
    tmp: Path,
    config: Path | None = PLATFORM,
    extra_env: dict[str, str] | None = None,
    port: int | None = None,
    preexec_fn: Callable[[], object] | None = None,
    tls_ca: Path | None = None,
    hub_settings: dict[str, dict[str, Any]] | None = None,
) -> Iterator[RunningHub]:
    """`port`: when the platform document must name it (e.g. `web.subdomain_host`);
    `preexec_fn`: runs in the hub's process before it starts (e.g. to start it as a shell
    starts a background job); `tls_ca`: the hub serves https (`web.tls_cert_file`) with a
    certificate of this CA; `hub_settings`: JupyterHub settings changed on top of the
    platform's (tests/hub_run.py), e.g. a shorter interval of something it does every minute."""
    data_dir = tmp / "data"
    port = port or free_port()
    token = secrets.token_hex(16)
    log = tmp / "hub.log"
    command = ["-m", "arcade_hub"]
    if hub_settings:
        command = [str(Path(__file__).parent / "hub_run.py"), json.dumps(hub_settings)]
    args = [
        sys.executable,
        *command,
        "run",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]
    if config is not None:
        args += ["--config", str(config)]
    env = {
        **os.environ,
        "ARCADE_ADMIN_TOKEN": token,
        # each test hub keeps its own uid-range claim (the machine's file is for real hubs)
        "ARCADE_UID_CLAIMS": str(tmp / "uid-ranges.json"),
        **(extra_env or {}),
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp, preexec_fn=preexec_fn
        )
    url = f"{'https' if tls_ca else 'http'}://127.0.0.1:{port}"
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=tls_ca) if tls_ca else True
    hub = RunningHub(url, token, data_dir, "", proc, log, verify)
    try:

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"arcade-hub exited with {proc.returncode}:\n{hub.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{url}/hub/api/", timeout=2, verify=verify).status_code == 200
            return False

        wait_for(up, 60, "the hub to answer")
        password = data_dir / "password"  # absent with OpenID Connect login
        hub.password = password.read_text().strip() if password.exists() else ""
        yield hub
    finally:
        stop_process(proc, 30)
        left = wait_for_none(lambda: processes_mentioning(str(data_dir)), 10)
        assert not left, f"processes left behind: {_commands(left)}"


def _commands(pids: list[int]) -> dict[int, str]:
    found = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            found[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")[:200]
    return found


def stop_process(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds; reaped either way."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for_none(check: Callable[[], list[int]], timeout: float) -> list[int]:
    """Wait until `check` returns an empty list; return what is left after `timeout`."""
    deadline = time.monotonic() + timeout
    while (left := check()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def env_of(hub: RunningHub, user: str, server: str) -> dict[str, str]:
    """The environment of the session's single-user server process."""

    def find() -> dict[str, str] | None:
        for pid in processes_mentioning(f"JUPYTERHUB_SERVER_NAME={server}"):
            try:
                raw = Path(f"/proc/{pid}/environ").read_bytes()
            except OSError:
                continue
            env = dict(x.split("=", 1) for x in raw.decode().split("\0") if "=" in x)
            if (
                env.get("JUPYTERHUB_USER") == user
                and env.get("ARCADE_HOME", "").startswith(str(hub.data_dir))
                and "jupyterhub-singleuser" in Path(f"/proc/{pid}/cmdline").read_text()
            ):
                env["_pid"] = str(pid)
                return env
        return None

    return wait_for(find, 10, f"the process of {user}/{server}")

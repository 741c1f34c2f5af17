"""Fixtures for desktop tests: a real jupyter server with the Arcade desktop, and Chromium."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from arcade_hub.local.processes import session_pids
from arcade_hub.local.teardown import stop_processes

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts" / "desktop"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
TEST_UID = 4242  # no passwd entry, as in arbitrary-uid containers
NOBODY_UID = 65534  # has a passwd entry
APPS = [
    {"name": "casa-6.7", "title": "CASA", "group": "Radio", "version": "6.7.0"},
    {"name": "ds9", "title": "SAOImage DS9", "group": "Imaging", "version": "8.5"},
    {"name": "topcat", "title": "TOPCAT", "group": "Imaging", "version": "4.9"},
]
REQUIRED = ["Xvnc", "xauth", "xterm", "openbox", "dbus-launch", "xdpyinfo", "xsetroot"]


def require_desktop_tools() -> None:
    missing = [tool for tool in REQUIRED if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"desktop tools missing: {', '.join(missing)}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def artifacts_dir(name: str) -> Path:
    path = ARTIFACTS / name
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class DesktopServer:
    """A jupyter server with the desktop extension, bound to 127.0.0.1 with a token."""

    base: Path
    uid: int | None
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    session_id: str = field(default_factory=lambda: f"test-{secrets.token_hex(6)}")
    proc: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.base / "home"

    @property
    def session_dir(self) -> Path:
        return self.base / "session"

    @property
    def log_path(self) -> Path:
        return self.base / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def desktop_url(self) -> str:
        return f"{self.url}desktop/?token={self.token}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "ARCADE_"))}
        env.pop("DISPLAY", None)
        env.pop("XAUTHORITY", None)
        env.update(
            HOME=str(self.home),
            PYTHONPATH=os.pathsep.join([str(REPO), *self.extra_path()]),
            JUPYTER_CONFIG_DIR=str(self.home / ".jupyter"),
            JUPYTER_DATA_DIR=str(self.home / ".local/share/jupyter"),
            JUPYTER_RUNTIME_DIR=str(self.home / ".local/share/jupyter/runtime"),
            # our venv's enabled server extensions, also when run by a system python
            JUPYTER_CONFIG_PATH=str(Path(sys.prefix) / "etc" / "jupyter"),
            ARCADE_SESSION_ID=self.session_id,
            ARCADE_SESSION_DIR=str(self.session_dir),
            ARCADE_DESKTOP_APPS=str(self.base / "apps.json"),
        )
        env.update(self.extra_env)
        return env

    def python(self) -> str:
        """Our interpreter; for another uid a system one, as ours may sit in a 0700 home."""
        if self.uid is None:
            return sys.executable
        return f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"

    def extra_path(self) -> list[str]:
        if self.uid is None:
            return []
        return [p for p in sys.path if p.endswith("site-packages")]

    def command(self) -> list[str]:
        cmd = [
            self.python(), "-m", "jupyter_server",
            "--ip=127.0.0.1", f"--port={self.port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}", "--ServerApp.open_browser=False",
            f"--ServerApp.root_dir={self.home}",
            "--ServerApp.jpserver_extensions=arcade_hub.desktop=True",
        ]  # fmt: skip
        if self.uid is None:
            return [*cmd, "--allow-root"] if os.geteuid() == 0 else cmd
        ids = f"--reuid={self.uid}", f"--regid={self.uid}"
        return ["setpriv", *ids, "--clear-groups", "--", *cmd]

    def prepare(self) -> None:
        self.base.mkdir(mode=0o711)
        self.base.chmod(0o711)
        self.home.mkdir(mode=0o700)
        self.session_dir.mkdir(mode=0o700)
        (self.base / "apps.json").write_text(json.dumps(APPS))
        (self.base / "apps.json").chmod(0o644)
        if self.uid is not None:
            for path in (self.home, self.session_dir):
                os.chown(path, self.uid, self.uid)

    async def start(self) -> None:
        self.prepare()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.command(), env=self.env(), cwd=self.home, stdout=log, stderr=log,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        status = f"{self.url}api/status?token={self.token}"
        await wait_for(lambda: self._ready(status), timeout=60, what="jupyter server")

    def _ready(self, url: str) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"jupyter server exited:\n{self.log_path.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, ConnectionError):
            return False

    def desktop_info(self) -> dict[str, str]:
        info: dict[str, str] = json.loads((self.session_dir / "desktop.json").read_text())
        return info

    def stop(self) -> None:
        """Plain stop of the jupyter server (SIGTERM, as the spawner does)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def wait_for(predicate: object, timeout: float, what: str, interval: float = 0.05) -> None:
    """Await until ``predicate()`` is true (polling), or fail after ``timeout`` seconds."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


def session_processes(session_id: str) -> list[psutil.Process]:
    """The session's processes, found as the platform finds them at stop."""
    found = []
    for pid in session_pids(session_id):
        with contextlib.suppress(psutil.Error):
            found.append(psutil.Process(pid))
    return found


def process_names(session_id: str) -> dict[int, str]:
    names = {}
    for proc in session_processes(session_id):
        with contextlib.suppress(psutil.Error):
            names[proc.pid] = proc.name()
    return names


@pytest.fixture
def server_base() -> Iterator[Path]:
    """A base dir outside pytest's 0700 tmp tree, so an unprivileged uid can reach it."""
    base = Path(tempfile.mkdtemp(prefix="arcade-desktop-test-"))
    base.chmod(0o711)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
async def make_server(server_base: Path) -> AsyncIterator[object]:
    servers: list[DesktopServer] = []

    async def make(uid: int | None = None, **extra_env: str) -> DesktopServer:
        base = server_base / f"server{len(servers)}"
        server = DesktopServer(base=base, uid=uid, extra_env=extra_env)
        servers.append(server)
        await server.start()
        return server

    yield make
    for server in servers:
        server.stop()
        await stop_processes(server.session_id)  # what the spawner's teardown does
        if server.log_path.exists():
            log = artifacts_dir("logs") / f"{server.session_id}.log"
            shutil.copy(server.log_path, log)
            print(f"server log: {log}")

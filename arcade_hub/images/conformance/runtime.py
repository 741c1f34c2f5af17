"""Runtime checks: start the image with podman as an unprivileged user with the platform's
ARCADE_* environment, in a network namespace of its own, and see that it behaves.

- notebook/desktop: `jupyterhub-singleuser` answers at `/user/<name>/api`; only port 8888
  listens; `$HOME` is writable; desktop images also have `Xvnc` and answer at `/desktop/`.
  A real single-user server asks its Hub's API for its version before it listens, and asks it
  who a token belongs to: a stub Hub API (:data:`_STUB_HUB`) answers both on the loopback
  interface of a network namespace of its own, which the container joins.
- desktop-app: the app's command is on PATH and an X client library (libX11/libxcb) is present.
- headless: a command runs and the container exits with its status; `$HOME` is writable.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from arcade_hub.contract import arcade_environment
from arcade_hub.images import labels
from arcade_hub.images.conformance.podman import Podman, PodmanError
from arcade_hub.images.conformance.results import CheckResult
from arcade_hub.images.conformance.static import app_command
from arcade_hub.images.models import ImageInfo

RUN_AS = (54321, 100)
"""An arbitrary unprivileged uid:gid, like the per-user uids the platform hands out."""
HOME = "/home/arcade"
USER = "arcade"
PREFIX = f"/user/{USER}/"
PORT = 8888
HEADLESS_STATUS = 7
MARKER = ".arcade-check"
X_LIBS = ("libX11.so*", "libxcb.so*")
LIB_DIRS = "/lib /lib64 /usr/lib /usr/lib64 /usr/local/lib /lib/*-linux-gnu /usr/lib/*-linux-gnu"

_PROBE = """
import json, sys, urllib.request, urllib.error
headers = {"Authorization": "token " + sys.argv[2]} if len(sys.argv) > 2 else {}
try:
    with urllib.request.urlopen(urllib.request.Request(sys.argv[1], headers=headers),
                                timeout=2) as r:
        print(json.dumps([r.status, r.read(2000).decode("utf-8", "replace")]))
except urllib.error.HTTPError as e:
    print(json.dumps([e.code, ""]))
except Exception as e:
    print(json.dumps([0, str(e)]))
"""

_STUB_HUB = """
import fcntl, json, socket, struct, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# a fresh network namespace has its loopback interface down: bring it up (SIOC[GS]IFFLAGS)
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    flags = struct.unpack("16sh", fcntl.ioctl(s, 0x8913, struct.pack("16sh14x", b"lo", 0))[:18])[1]
    fcntl.ioctl(s, 0x8914, struct.pack("16sh14x", b"lo", flags | 1))
user, token, scopes = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
model = {"kind": "user", "name": user, "admin": False, "groups": [], "scopes": scopes}

class Hub(BaseHTTPRequestHandler):
    def do_GET(self):
        path = self.path.split("?")[0].rstrip("/")
        if path == "/hub/api":
            self.reply(200, {"version": "arcade-check-stub"})
        elif path == "/hub/api/user":
            good = self.headers.get("Authorization", "") in ("token " + token, "bearer " + token)
            self.reply(200, model) if good else self.reply(403, {"message": "unknown token"})
        else:
            self.reply(404, {"message": "the check's stub Hub API has no " + path})

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


class StubHub:
    """The Hub API a single-user server needs at start-up (`GET /hub/api`) and to identify a
    token (`GET /hub/api/user`), served in a new network namespace that the container joins
    (`podman run --network ns:<path>`): nothing but the container can reach it."""

    def __init__(self, token: str, *, user: str = USER, timeout: float = 10.0) -> None:
        self.token = token
        scopes = json.dumps([f"access:servers!user={user}"])
        self.process = subprocess.Popen(
            ["unshare", "--net", "--", sys.executable, "-c", _STUB_HUB, user, token, scopes],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            self.port = self._read_port(timeout)
        except BaseException:
            self.stop()
            raise

    def _read_port(self, timeout: float) -> int:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line.strip().isdigit():
            self.process.kill()
            err = self.process.communicate(timeout=10)[1] if self.process.stderr else ""
            raise PodmanError(f"the stub Hub API did not start: {err.strip()[-300:] or 'no port'}")
        return int(line)

    @property
    def netns(self) -> str:
        return f"/proc/{self.process.pid}/ns/net"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hub/api"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@dataclass
class Sandbox:
    """Host directories mounted as the session's storage, owned by the check's uid."""

    root: Path
    uid: int
    gid: int

    @property
    def home(self) -> Path:
        return self.root / "home"

    def prepare(self) -> None:
        for name in ("home", "projects/arcade-check", "datasets", "scratch"):
            path = self.root / name
            path.mkdir(parents=True, exist_ok=True)
        for name in ("home", "projects/arcade-check", "scratch"):
            with suppress(PermissionError):
                os.chown(self.root / name, self.uid, self.gid)
        self.root.chmod(0o755)

    def mounts(self) -> list[str]:
        return [
            "-v", f"{self.home}:{HOME}:rw",
            "-v", f"{self.root / 'projects'}:/arcade/projects:rw",
            "-v", f"{self.root / 'datasets'}:/arcade/datasets:ro",
            "-v", f"{self.root / 'scratch'}:/arcade/scratch:rw",
        ]  # fmt: skip

    def home_written(self) -> bool:
        return (self.home / MARKER).exists()


def platform_env(kind: str, image: str) -> dict[str, str]:
    """The container contract's environment, as a container backend sets it."""
    env = arcade_environment(
        home=HOME,
        projects="/arcade/projects",
        datasets="/arcade/datasets",
        scratch="/arcade/scratch",
        session_id=secrets.token_hex(6),
        kind=kind,
        image=image,
        cores=1,
        ram_gib=2,
        dataset=None,
    )
    return {**env, "HOME": HOME, "USER": USER}


def hub_env(api_url: str) -> dict[str, str]:
    """What JupyterHub gives a single-user server; ``api_url`` is the (stub) Hub API."""
    return {
        "JUPYTERHUB_USER": USER,
        "JUPYTERHUB_SERVER_NAME": "",
        "JUPYTERHUB_API_TOKEN": secrets.token_hex(16),
        "JUPYTERHUB_CLIENT_ID": f"jupyterhub-user-{USER}",
        "JUPYTERHUB_API_URL": api_url,
        "JUPYTERHUB_OAUTH_ACCESS_SCOPES": json.dumps(
            [f"access:servers!server={USER}/", f"access:servers!user={USER}"]
        ),
        "JUPYTERHUB_BASE_URL": "/",
        "JUPYTERHUB_SERVICE_PREFIX": PREFIX,
        "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{PORT}{PREFIX}",
        "JUPYTERHUB_OAUTH_CALLBACK_URL": f"{PREFIX}oauth_callback",
        "JUPYTERHUB_HOST": "",
    }


def listening_ports(pid: int) -> set[int]:
    """TCP ports in LISTEN state in the network namespace of ``pid``."""
    ports: set[int] = set()
    for table in ("tcp", "tcp6"):
        with suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 3 and fields[3] == "0A":
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


class RuntimeChecker:
    """Runs the runtime checks of one image already in podman's store."""

    def __init__(self, podman: Podman, *, timeout: float = 60.0, run_as: tuple[int, int] = RUN_AS):
        self.podman = podman
        self.timeout = timeout
        self.uid, self.gid = run_as

    def unavailable_reason(self) -> str | None:
        if os.geteuid() != 0:
            return "runtime checks enter the container's network namespace and need root"
        for tool in ("nsenter", "unshare"):
            if shutil.which(tool) is None:
                return f"{tool} is not installed (apt-get install util-linux)"
        return self.podman.unavailable_reason()

    def check(self, image: str, info: ImageInfo) -> list[CheckResult]:
        kind = labels.kind_of(info.labels)
        if kind not in labels.KINDS:
            return [CheckResult.skip("runtime", "the image declares no valid kind")]
        assert kind is not None
        with self._sandbox() as box:
            try:
                if kind in ("notebook", "desktop"):
                    return self._server(image, kind, box)
                if kind == "desktop-app":
                    return self._desktop_app(image, info, box)
                return self._headless(image, box)
            except PodmanError as exc:
                return [CheckResult.fail("runtime: start", str(exc))]

    @contextmanager
    def _sandbox(self) -> Iterator[Sandbox]:
        root = Path(tempfile.mkdtemp(prefix="arcade-check-"))
        box = Sandbox(root, self.uid, self.gid)
        box.prepare()
        try:
            yield box
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def _common(
        self,
        kind: str,
        image: str,
        box: Sandbox,
        extra_env: dict[str, str],
        network: str = "none",
    ) -> list[str]:
        args = [
            "--user", f"{self.uid}:{self.gid}",
            "--network", network,
            "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges",
            "--workdir", HOME,
            *box.mounts(),
        ]  # fmt: skip
        for key, value in {**platform_env(kind, image), **extra_env}.items():
            args += ["-e", f"{key}={value}"]
        return args

    def _one_shot(
        self, image: str, kind: str, box: Sandbox, argv: list[str], entrypoint: str | None = None
    ) -> tuple[int, str]:
        args = ["run", "--rm", *self._common(kind, image, box, {})]
        if entrypoint is not None:
            args += ["--entrypoint", entrypoint]
        result = self.podman.call([*args, image, *argv], timeout=self.timeout)
        if result.returncode in (125, 126, 127) and "Error:" in result.stderr:
            raise PodmanError(result.stderr.strip()[-500:])
        return result.returncode, result.stdout

    def _headless(self, image: str, box: Sandbox) -> list[CheckResult]:
        script = f'touch "$HOME/{MARKER}" && exit {HEADLESS_STATUS}'
        status, _ = self._one_shot(image, "headless", box, ["sh", "-c", script])
        return [
            CheckResult.expect(
                "runtime: exit status",
                status == HEADLESS_STATUS,
                f"`sh -c '... exit {HEADLESS_STATUS}'` exited with {status}",
                f"`sh -c '... exit {HEADLESS_STATUS}'` exited with {status}: the image must run "
                "the job's command and exit with its status (no entrypoint swallowing it)",
            ),
            self._home_result(box),
        ]

    def _desktop_app(self, image: str, info: ImageInfo, box: Sandbox) -> list[CheckResult]:
        command = app_command(info)
        program = command[0] if command else ""
        script = (
            f'touch "$HOME/{MARKER}"; '
            f"echo program=$(command -v '{program}' || true); "
            f"for d in {LIB_DIRS}; do for f in "
            + " ".join(f'"$d"/{lib}' for lib in X_LIBS)
            + '; do [ -e "$f" ] && echo xlib="$f"; done; done; true'
        )
        status, out = self._one_shot(image, "desktop-app", box, ["-c", script], "/bin/sh")
        if status != 0:
            return [CheckResult.fail("runtime: shell", f"/bin/sh -c failed with status {status}")]
        found = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        return [
            CheckResult.expect(
                "runtime: app command",
                bool(found.get("program")),
                f"{program} is {found.get('program')}",
                f"{program} is not on PATH in the image",
            )
            if program
            else CheckResult.skip("runtime: app command", "the image names no command"),
            CheckResult.expect(
                "runtime: X client",
                "xlib" in found,
                f"X client library {found.get('xlib')}",
                "no X client library (libX11 or libxcb): the app cannot open a window",
            ),
            self._home_result(box),
        ]

    def _server(self, image: str, kind: str, box: Sandbox) -> list[CheckResult]:
        name = f"arcade-check-{secrets.token_hex(4)}"
        hub = StubHub(secrets.token_hex(16))
        try:
            args = [
                "--name", name,
                *self._common(kind, image, box, hub_env(hub.api_url), f"ns:{hub.netns}"),
                image, "jupyterhub-singleuser", "--ip=127.0.0.1", f"--port={PORT}",
            ]  # fmt: skip
            try:
                self.podman.run_detached(args)
            except PodmanError as exc:
                self.podman.remove(name)
                return [
                    CheckResult.fail(
                        "runtime: jupyter server", f"cannot start jupyterhub-singleuser: {exc}"
                    )
                ]
            try:
                return self._probe_server(name, kind, box, hub)
            finally:
                self.podman.remove(name)
        finally:
            hub.stop()

    def _probe_server(self, name: str, kind: str, box: Sandbox, hub: StubHub) -> list[CheckResult]:
        pid = self.podman.container_pid(name)
        api = f"http://127.0.0.1:{PORT}{PREFIX}api"
        answer: list[tuple[int, str]] = []

        def answered() -> bool:
            if not self.podman.running(name):
                return True
            answer[:] = [self._get(pid, api)]
            return answer[0][0] == 200

        wait_for(answered, self.timeout)
        status, body = answer[0] if answer else (0, "")
        if status != 200:
            logs = self.podman.logs(name).strip().replace("\n", " | ")[-400:]
            return [
                CheckResult.fail(
                    "runtime: jupyter server",
                    f"no answer at {PREFIX}api within {self.timeout:g}s "
                    f"(HTTP {status or '-'}; container log: {logs or 'empty'})",
                )
            ]
        results = [CheckResult.ok("runtime: jupyter server", f"{PREFIX}api: {body[:80]}")]
        exec_ok = self.podman.call(
            ["exec", name, "sh", "-c", f'touch "$HOME/{MARKER}"'], timeout=30
        )
        results.append(
            self._home_result(box, "" if exec_ok.returncode == 0 else exec_ok.stderr.strip())
        )
        if kind == "desktop":
            xvnc = self.podman.call(["exec", name, "sh", "-c", "command -v Xvnc"], timeout=30)
            results.append(
                CheckResult.expect(
                    "runtime: Xvnc",
                    xvnc.returncode == 0,
                    xvnc.stdout.strip(),
                    "Xvnc is not on PATH (install tigervnc-standalone-server)",
                )
            )
            status, _ = self._get(pid, f"http://127.0.0.1:{PORT}{PREFIX}desktop/", hub.token)
            results.append(
                CheckResult.expect(
                    "runtime: desktop proxy",
                    status == 200,
                    f"{PREFIX}desktop/ answers",
                    f"{PREFIX}desktop/ answered HTTP {status or '-'}: install "
                    "jupyter-remote-desktop-proxy",
                )
            )
        unexpected = sorted(listening_ports(pid) - {PORT, hub.port})
        results.append(
            CheckResult.expect(
                "runtime: listening ports",
                not unexpected,
                f"only {PORT}",
                f"unexpected TCP listeners on {', '.join(map(str, unexpected))} (serve on a unix "
                "socket or only on the server's port)",
            )
        )
        return results

    def _home_result(self, box: Sandbox, detail: str = "") -> CheckResult:
        return CheckResult.expect(
            "runtime: $HOME writable",
            box.home_written(),
            f"{HOME} (as uid {self.uid})",
            f"could not write to $HOME ({HOME}) as uid {self.uid}"
            + (f": {detail}" if detail else ""),
        )

    def _get(self, pid: int, url: str, token: str | None = None) -> tuple[int, str]:
        """GET ``url`` from inside the container's network namespace (as a user with
        ``token``, which the stub Hub API vouches for)."""
        argv = [sys.executable, "-c", _PROBE, url, *([token] if token else [])]
        try:
            done = subprocess.run(
                ["nsenter", "-t", str(pid), "-n", *argv],
                capture_output=True,
                text=True,
                timeout=10,
            )
            status, body = json.loads(done.stdout or "[0, \"\"]")
        except (subprocess.TimeoutExpired, ValueError):
            return 0, ""
        return int(status), str(body)

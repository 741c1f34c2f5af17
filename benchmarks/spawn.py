"""Session start and stop through the hub REST API: Arcade's embedded platform against a plain
JupyterHub with SimpleLocalProcessSpawner, both started in this one run on this machine.

For each round and each platform: `POST /hub/api/users/{u}/servers/{name}` until the server is
ready (polling `GET /hub/api/users/{u}` every 50 ms), then `DELETE` until it is fully stopped.
Platforms are interleaved round by round (the order rotates) so that machine noise hits all of
them; round 1 is a warm-up, reported separately and left out of the statistics.

    python benchmarks/spawn.py [--rounds 7]       prints one JSON document on stdout

Progress goes to stderr. Both hubs are stopped at the end and any process still mentioning
the run's temporary directory is killed and reported.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import jupyterhub

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arcade_hub.config import load_config
from arcade_hub.hub_config import free_port, proxy_command
from tests.hub import processes_mentioning, wait_for

TARGET_RATIO = 1.05
"""Arcade's start median may be at most 5 % above plain JupyterHub's."""
POLL_S = 0.05
START_DEADLINE_S = 120.0
STOP_DEADLINE_S = 60.0
SCRATCH = Path(tempfile.gettempdir())  # enterable by the per-user session uids

PLAIN_CONFIG = """\
import os
c = get_config()  # noqa: F821
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.JupyterHub.db_url = "sqlite:///{dir}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{dir}/jupyterhub_cookie_secret"
c.JupyterHub.allow_named_servers = True
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = "{password}"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{dir}/home/{{username}}"
c.Spawner.cmd = ["{singleuser}"]
c.Spawner.args = {args!r}
c.ConfigurableHTTPProxy.command = ["{proxy}"]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_port}"
c.ConfigurableHTTPProxy.pid_file = "{dir}/proxy.pid"
c.JupyterHub.services = [{{"name": "bench-admin", "api_token": os.environ["BENCH_TOKEN"]}}]
c.JupyterHub.load_roles = [
    {{
        "name": "bench-admin",
        "scopes": ["admin:users", "admin:servers", "list:users", "read:users", "read:hub"],
        "services": ["bench-admin"],
    }}
]
"""


def log(message: str) -> None:
    print(f"[spawn-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Hub:
    """A hub this benchmark started, and a client holding its admin token."""

    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    client: httpx.Client

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_up(self, timeout: float = 90) -> None:
        def up() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                return self.client.get("/hub/api/").status_code == 200
            return False

        wait_for(up, timeout, f"{self.name} to answer", interval=0.1)

    def server(self, user: str, name: str) -> dict[str, Any] | None:
        r = self.client.get(f"/hub/api/users/{user}")
        r.raise_for_status()
        servers: dict[str, Any] = r.json()["servers"]
        return servers.get(name)

    def ensure_user(self, user: str) -> None:
        r = self.client.post(f"/hub/api/users/{user}")
        if r.status_code not in (201, 409):
            raise RuntimeError(f"{self.name}: creating {user}: {r.status_code} {r.text}")

    def start(self, user: str, name: str, options: dict[str, Any]) -> tuple[float, float | None]:
        """Seconds until the hub says ready, and until the server logged its URL (listening)."""
        wall0, t0 = time.time(), time.monotonic()
        r = self.client.post(f"/hub/api/users/{user}/servers/{name}", json=options)
        if r.status_code not in (201, 202):
            raise RuntimeError(f"{self.name}: start {user}/{name}: {r.status_code} {r.text}")

        def ready() -> bool:
            s = self.server(user, name)
            if s is None or (not s.get("pending") and not s.get("ready")):
                raise RuntimeError(f"{self.name}: {user}/{name} failed to start:\n{self.tail()}")
            return bool(s.get("ready"))

        wait_for(ready, START_DEADLINE_S, f"{self.name} {user}/{name} to be ready", POLL_S)
        return time.monotonic() - t0, self.listening_after(user, name, wall0)

    def listening_after(self, user: str, name: str, wall0: float) -> float | None:
        """When the single-user server (its output goes to the hub log) printed its URL."""
        url = re.compile(
            rf"^\[I (\S+ \S+) ServerApp\] http://127\.0\.0\.1:\d+/user/{user}/{name}/",
            re.MULTILINE,
        )
        for m in url.finditer(self.log_path.read_text(errors="replace")):
            stamp = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
            if stamp >= wall0 - 0.001:
                return stamp - wall0
        return None

    def stop(self, user: str, name: str) -> float:
        t0 = time.monotonic()
        r = self.client.delete(f"/hub/api/users/{user}/servers/{name}")
        if r.status_code not in (202, 204):
            raise RuntimeError(f"{self.name}: stop {user}/{name}: {r.status_code} {r.text}")

        def stopped() -> bool:
            s = self.server(user, name)
            return s is None or not (s.get("pending") or s.get("ready"))

        wait_for(stopped, STOP_DEADLINE_S, f"{self.name} {user}/{name} to stop", POLL_S)
        return time.monotonic() - t0

    def shut_down(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                log(f"{self.name} ignored SIGTERM for 30 s; killing it")
                self.proc.kill()
                self.proc.wait()


def launch(name: str, args: list[str], env: dict[str, str], cwd: Path, port: int) -> Hub:
    log_path = cwd / "hub.log"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"token {env['BENCH_TOKEN']}"},
        timeout=30,
    )
    return Hub(name, f"http://127.0.0.1:{port}", proc, log_path, client)


def start_arcade(root: Path, token: str) -> Hub:
    cwd = root / "arcade"
    cwd.mkdir(mode=0o711)
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "arcade_hub",
        "run",
        "--port",
        str(port),
        "--data-dir",
        str(cwd / "data"),
    ]
    env = {**os.environ, "ARCADE_ADMIN_TOKEN": token, "BENCH_TOKEN": token}
    return launch("arcade", args, env, cwd, port)


def start_plain(root: Path, token: str) -> Hub:
    cwd = root / "plain"
    cwd.mkdir(mode=0o711)
    port = free_port()
    singleuser = Path(sys.executable).parent / "jupyterhub-singleuser"
    config = PLAIN_CONFIG.format(
        port=port,
        hub_port=free_port(),
        proxy_port=free_port(),
        dir=cwd,
        password=secrets.token_urlsafe(12),
        singleuser=singleuser if singleuser.exists() else "jupyterhub-singleuser",
        args=["--allow-root"] if os.geteuid() == 0 else [],
        proxy=proxy_command(),
    )
    (cwd / "jupyterhub_config.py").write_text(config)
    args = [sys.executable, "-m", "jupyterhub", "-f", str(cwd / "jupyterhub_config.py")]
    env = {**os.environ, "BENCH_TOKEN": token}
    return launch("plain", args, env, cwd, port)


@dataclass
class Variant:
    key: str
    hub: Hub
    user: str
    server: str
    options: dict[str, Any]
    start: list[float] = field(default_factory=list)
    listening: list[float | None] = field(default_factory=list)
    stop: list[float] = field(default_factory=list)


def p90(samples: list[float]) -> float:
    """Nearest-rank 90th percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def summary(v: Variant) -> dict[str, Any]:
    start, stop = v.start[1:], v.stop[1:]
    listening = [x for x in v.listening[1:] if x is not None]
    lag = [s - x for s, x in zip(start, v.listening[1:], strict=True) if x is not None]
    return {
        "platform": v.hub.name,
        "options": v.options,
        "start_median_s": round(statistics.median(start), 3),
        "start_p90_s": round(p90(start), 3),
        "stop_median_s": round(statistics.median(stop), 3),
        "stop_p90_s": round(p90(stop), 3),
        "listening_median_s": round(statistics.median(listening), 3) if listening else None,
        "ready_lag_median_s": round(statistics.median(lag), 3) if lag else None,
        "warmup": {"start_s": round(v.start[0], 3), "stop_s": round(v.stop[0], 3)},
        "samples": {
            "start_s": [round(x, 3) for x in start],
            "listening_s": [None if x is None else round(x, 3) for x in v.listening[1:]],
            "stop_s": [round(x, 3) for x in stop],
        },
    }


HUB_TOOK = re.compile(r"User (\S+) (?:server )?took ([0-9.]+) seconds to (start|stop)")


def hub_reported(hub: Hub) -> dict[str, list[float]]:
    """The hub's own 'took N seconds to start/stop' lines (all rounds, warm-up included)."""
    out: dict[str, list[float]] = {"start_s": [], "stop_s": []}
    for m in HUB_TOOK.finditer(hub.log_path.read_text(errors="replace")):
        out[f"{m.group(3)}_s"].append(float(m.group(2)))
    return out


def machine() -> dict[str, Any]:
    versions: dict[str, str] = {}
    for module in ("jupyter_server", "jupyterlab"):
        with contextlib.suppress(ImportError):
            versions[module] = __import__(module).__version__
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "jupyterhub": jupyterhub.__version__,
        **versions,
        "kernel": platform.release(),
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        "cgroup_v2": Path("/sys/fs/cgroup/cgroup.controllers").exists(),
        "euid": os.geteuid(),
    }


def arcade_variants(hub: Hub) -> list[Variant]:
    """The default launch, and cores=2/ram=4 when the built-in limits allow it."""
    variants = [Variant("arcade_default", hub, "benchdefault", "nb", {})]
    res = load_config(None).resources
    if res.cores.max >= 2 and res.ram.max >= 4:
        variants.append(Variant("arcade_2cores_4g", hub, "benchbig", "nb", {"cores": 2, "ram": 4}))
    return variants


def run(rounds: int, root: Path) -> dict[str, Any]:
    token = secrets.token_hex(16)
    hubs: list[Hub] = []
    try:
        hubs.append(start_arcade(root, token))
        hubs.append(start_plain(root, token))
        for hub in hubs:
            hub.wait_up()
            log(f"{hub.name} is up at {hub.url}")
        arcade, plain = hubs
        variants = [*arcade_variants(arcade), Variant("plain", plain, "benchplain", "nb", {})]
        for v in variants:
            v.hub.ensure_user(v.user)
        for n in range(rounds):
            shift = n % len(variants)
            for v in variants[shift:] + variants[:shift]:
                took, listening = v.hub.start(v.user, v.server, v.options)
                v.start.append(took)
                v.listening.append(listening)
                v.stop.append(v.hub.stop(v.user, v.server))
                log(
                    f"round {n + 1}/{rounds} {v.key}: start {v.start[-1]:.3f} s, "
                    f"stop {v.stop[-1]:.3f} s"
                )
        return report(variants, rounds, {h.name: hub_reported(h) for h in hubs})
    finally:
        for hub in hubs:
            hub.shut_down()
            log(f"{hub.name} stopped (exit {hub.proc.returncode})")


def report(
    variants: list[Variant], rounds: int, hub_logs: dict[str, dict[str, list[float]]]
) -> dict[str, Any]:
    rows = {v.key: summary(v) for v in variants}
    plain = rows["plain"]

    def ratios(key: str) -> dict[str, float]:
        return {
            "start_median": round(rows[key]["start_median_s"] / plain["start_median_s"], 3),
            "stop_median": round(rows[key]["stop_median_s"] / plain["stop_median_s"], 3),
        }

    arcade_keys = [k for k in rows if k != "plain"]
    limit = round(TARGET_RATIO * plain["start_median_s"], 3)
    met = rows["arcade_default"]["start_median_s"] <= limit
    cfg = load_config(None)
    return {
        "benchmark": "spawn",
        "rounds": rounds,
        "warmup_rounds": 1,
        "poll_interval_s": POLL_S,
        "platforms": rows,
        "ratios_arcade_over_plain": {k: ratios(k) for k in arcade_keys},
        "target": {
            "rule": f"arcade_default start median <= {TARGET_RATIO} x plain start median",
            "limit_s": limit,
            "arcade_default_start_median_s": rows["arcade_default"]["start_median_s"],
            "met": met,
        },
        "hub_reported": hub_logs,
        "machine": machine(),
        "notes": [
            "Times are client-side: REST call until GET /hub/api/users/{u} shows the server "
            "ready (start) or neither pending nor ready (stop), polled every 50 ms.",
            "hub_reported are JupyterHub's own 'took N seconds' log lines (warm-up included, "
            "log order, variants of one hub mixed).",
            "Arcade: built-in platform document, `python -m arcade_hub run`; as root each "
            "session runs under a per-user uid in a private mount namespace, with cgroup "
            "cpu/memory limits, the arcade_hub.desktop server extension, and a per-session "
            "directory, scratch, NSS files and leftover-process sweep on stop.",
            f"arcade_default launches with options {{}}: {cfg.resources.cores.default:g} core, "
            f"{cfg.resources.ram.default:g} GiB (limits: cores <= {cfg.resources.cores.max:g}, "
            f"ram <= {cfg.resources.ram.max:g} GiB).",
            "Plain: JupyterHub SimpleLocalProcessSpawner as the hub's user (root, "
            "--allow-root), no limits, same jupyterhub-singleuser and proxy binaries.",
            "listening_s: POST until the single-user server logged its URL (hub log "
            "timestamps); ready_lag = start - listening is the hub's own readiness check "
            "(exponential backoff with full jitter, up to 5 s between tries), the same code "
            "on both platforms and the main source of noise in start times.",
            "p90 is nearest-rank over the non-warm-up samples.",
        ],
    }


@contextlib.contextmanager
def temp_root(keep: bool) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="arcade-bench-spawn-", dir=SCRATCH))
    root.chmod(0o711)  # per-user session uids must reach their homes under the data dir
    try:
        yield root
    finally:
        deadline = time.monotonic() + 10
        while (left := processes_mentioning(root)) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in left:
            with contextlib.suppress(OSError):
                log(f"left behind: pid {pid} {Path(f'/proc/{pid}/cmdline').read_bytes()!r}")
                os.kill(pid, signal.SIGKILL)
        leftovers.extend(left)
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


leftovers: list[int] = []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds incl. 1 warm-up (>= 5)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (hub logs)")
    args = parser.parse_args()
    if args.rounds < 5:
        parser.error("--rounds must be at least 5")
    with temp_root(args.keep) as root:
        log(f"working in {root}")
        result = run(args.rounds, root)
    result["leftover_processes_killed"] = leftovers
    print(json.dumps(result, indent=2))
    return 0 if not leftovers else 1


if __name__ == "__main__":
    sys.exit(main())

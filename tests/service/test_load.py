"""One user's largest requests do not stall the service for everyone, and the service stops
promptly on SIGTERM while busy with them: against the real hub and proxy.

"The largest allowed request" is a create at every request limit: a multipart body just under
`BODY_LIMIT` whose `cmd`, `args` and parameter lines are at their limits and made of the
shortest quoted words (the splitter's slowest input), refused by the policy only after all of
it is parsed (more cores than allowed), so that no job runs. "Oversized" requests are 4 MiB
forms whose parameter text is one word (what kept the service busy for minutes before),
read to their end and answered 413.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import psutil
import pytest

from arcade_hub.service import limits
from tests.hub import RunningHub, processes_mentioning, wait_for
from tests.service.conftest import Api

pytestmark = pytest.mark.integration

STALL_S = 10
"""A request of the other user's that takes this long has stalled (before the fix: minutes).
How fast the answers are is measured by benchmarks/load.py, not asserted here."""
WORDS = "a 'b' \"c\" "  # three words of one character each, two of them quoted
FORM = "application/x-www-form-urlencoded"


def largest_allowed_body() -> tuple[bytes, str]:
    """(body, Content-Type) of the largest create the limits allow, parsed in full."""
    cmd = WORDS * (limits.CMD_LIMIT // len(WORDS))
    line = WORDS * (limits.PARAM_LINE_LIMIT // len(WORDS))
    budget = limits.BODY_LIMIT - 2 * len(cmd) - 2048  # room for the multipart framing
    full, rest = divmod(budget, len(line) + 1)
    params = "\n".join([line] * full + [WORDS * (rest // len(WORDS))])
    fields = {"name": "big", "image": "batch", "type": "headless", "cores": "64", "cmd": cmd,
              "args": cmd, "params": params}
    request = httpx.Request("POST", "http://x/", data=fields, files={"pad": ("pad.txt", b"")})
    body = request.read()
    assert limits.BODY_LIMIT - 4096 < len(body) <= limits.BODY_LIMIT, len(body)
    return body, request.headers["Content-Type"]


@dataclass
class Load:
    """Requests sent over and over from threads until stopped; answers counted by status."""

    api: Api
    stop: threading.Event = field(default_factory=threading.Event)
    answers: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, body: bytes, content_type: str) -> None:
        headers = {"Authorization": f"Bearer {self.api.token}", "Content-Type": content_type}
        with httpx.Client(timeout=60) as client:
            while not self.stop.is_set():
                try:
                    r = client.post(f"{self.api.base}/session", content=body, headers=headers)
                except httpx.HTTPError as e:  # the service went away (SIGTERM)
                    self.errors.append(repr(e))
                    continue
                with self.lock:
                    self.answers[r.status_code] = self.answers.get(r.status_code, 0) + 1
                    if r.status_code not in (400, 413):
                        self.errors.append(f"{r.status_code} {r.text[:200]}")

    def count(self, status: int) -> int:
        with self.lock:
            return self.answers.get(status, 0)


@contextlib.contextmanager
def heavy_load(api: Api, largest: int = 3, oversized: int = 2) -> Iterator[Load]:
    body, content_type = largest_allowed_body()
    load = Load(api)
    senders = [threading.Thread(target=load.send, args=(body, content_type))
               for _ in range(largest)]
    # what stalled the service before: a form with one parameter word of megabytes
    big = b"name=big&image=batch&type=headless&cores=64&cmd=echo&params=" + b"x" * 4 * 2**20
    senders += [threading.Thread(target=load.send, args=(big, FORM)) for _ in range(oversized)]
    for t in senders:
        t.start()
    try:
        # every kind of request has been answered at least once: the service is busy
        wait_for(lambda: load.count(400) >= largest and load.count(413) >= oversized, 60,
                 "the load to be answered")
        yield load
    finally:
        load.stop.set()
        for t in senders:
            t.join()


MEASURE = """
import json, sys, time
import httpx
url, token, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
auth = {"Authorization": f"Bearer {token}"}
with httpx.Client(timeout=int(sys.argv[4]), headers=auth) as client:
    client.get(url).raise_for_status()  # the token is checked, the connection open
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        client.get(url).raise_for_status()
        times.append((time.perf_counter() - start) * 1000)
print(json.dumps(times))
"""


def get_latencies(api: Api, rounds: int) -> list[float]:
    """`GET /session` as `api`'s user, from a process of its own (another user's machine:
    the load's threads here do not delay it)."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, f"{api.base}/session", api.token, str(rounds),
         str(STALL_S)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    times: list[float] = json.loads(done.stdout)
    return times


def figures(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "n": len(times),
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 1),
        "max_ms": round(max(times), 1),
    }


def test_another_users_list_answers_under_the_largest_requests(hub: RunningHub) -> None:
    alice, bob = Api(hub, "alice"), Api(hub, "bob")
    bob.create(name="one", image="batch", type="headless", cmd="true")  # something to list
    quiet = figures(get_latencies(bob, 50))
    with heavy_load(alice) as load:
        before = load.count(400) + load.count(413)
        busy = get_latencies(bob, 150)  # each answered 200 before it stalled (STALL_S)
        during = load.count(400) + load.count(413) - before
        answered = dict(load.answers)
    report = {"quiet": quiet, "under_load": figures(busy), "load_answers": answered}
    print("\nGET /session latency:", json.dumps(report))
    assert not load.errors, load.errors[:3]
    assert len(busy) == 150 and during > 0, report  # the load went on all the while
    assert alice.request("GET", "session").json() == []  # nothing of the load ran


def service_pid(hub: RunningHub) -> int:
    for pid in processes_mentioning(hub.data_dir):
        with contextlib.suppress(psutil.Error):
            if "arcade_hub.service" in " ".join(psutil.Process(pid).cmdline()):
                return pid
    raise AssertionError(f"no arcade service process:\n{hub.tail()}")


def ended(process: psutil.Process) -> bool:
    """Exited: gone, or a zombie until JupyterHub's next poll of its services reaps it."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def busy(process: psutil.Process) -> float:
    """CPU percent of the service and its worker over a tenth of a second."""
    group = [process, *process.children()]
    for p in group:
        p.cpu_percent(None)
    time.sleep(0.1)  # the sampling window of the measurement, not a wait for a condition
    return sum(p.cpu_percent(None) for p in group)


def test_the_service_stops_promptly_on_sigterm_while_busy(hub: RunningHub) -> None:
    alice = Api(hub, "alice")
    pid = service_pid(hub)
    process = psutil.Process(pid)
    with heavy_load(alice, largest=4, oversized=1):
        # requests are being read and parsed right now (by the service and its worker)
        wait_for(lambda: busy(process) > 50, 20, "the service to be busy")
        workers = process.children()
        start = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: ended(process), 30, "the service to exit", interval=0.02)
        took = time.monotonic() - start
        wait_for(lambda: all(ended(w) for w in workers), 10, "its worker to exit")
    print(f"\nservice exit after SIGTERM while busy: {took:.2f} s")
    assert took < 5, took
    # JupyterHub restarts its managed service; it answers again
    wait_for(lambda: alice.request("GET", "session").status_code == 200, 60,
             "the restarted service")

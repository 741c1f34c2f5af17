"""The storage service's workers: processes running as the users it acts for.

A worker is started per identity (uid, gid, supplementary gids) the first time it is needed,
serves that identity's requests one at a time, and is stopped after `IDLE` seconds unused. An
identity gets up to `PER_IDENTITY` workers when its requests overlap (a long recursive delete
does not hold up its listing), and the pool at most `LIMIT` in all (the longest unused go
first). The event loop never waits on a worker: each exchange runs in a thread of the pool's
own executor.

What a worker answers is treated as coming from the user it runs as: descriptors it sends are
used only when they are regular files, and messages are bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from arcade_hub.local.identity import Identity
from arcade_hub.storage.fsops import Refused
from arcade_hub.storage.worker import receive, send

IDLE = 120.0
PER_IDENTITY = 4
LIMIT = 256
THREADS = 32
log = logging.getLogger("arcade_hub.storage")


@dataclass
class Worker:
    identity: Identity
    proc: subprocess.Popen[bytes]
    sock: socket.socket
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_used: float = field(default_factory=time.monotonic)

    def exchange(self, op: str, args: dict[str, Any]) -> tuple[Any, list[int]]:
        """One request and its answer (the caller holds `lock`)."""
        try:
            send(self.sock, {"op": op, "args": args})
            answer, fds = receive(self.sock)
        except (OSError, EOFError, ValueError) as e:
            self.stop()
            raise Refused(500, "InternalFault", "the storage worker stopped") from e
        finally:
            self.last_used = time.monotonic()
        if answer is None:
            self.stop()
            raise Refused(500, "InternalFault", "the storage worker stopped")
        if "error" in answer:
            for fd in fds:
                os.close(fd)
            status, fault, message = answer["error"]
            raise Refused(int(status), str(fault), str(message))
        for fd in fds:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                for other in fds:
                    os.close(other)
                raise Refused(
                    500, "InternalFault", "the storage worker sent something else than a file"
                )
        return answer.get("ok"), fds

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None and self.sock.fileno() != -1

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()  # the worker exits at the end of its socket
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_worker(identity: Identity, environment: dict[str, str] | None = None) -> Worker:
    """A worker process running as `identity` (as the service's own user when that is it);
    `environment` is added to its fixed one (the platform's data directory names whose
    worker it is)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    switch = os.geteuid() == 0 and identity.uid != 0
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-m", "arcade_hub.storage.worker", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            user=identity.uid if switch else None,
            group=identity.gid if switch else None,
            extra_groups=list(identity.groups) if switch else None,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **(environment or {})},
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        theirs.close()
    return Worker(identity, proc, ours)


class WorkerPool:
    def __init__(
        self, limit: int = LIMIT, idle: float = IDLE, environment: dict[str, str] | None = None
    ) -> None:
        self.environment = environment or {}
        self.limit = limit
        self.idle = idle
        self._workers: dict[Identity, list[Worker]] = {}
        self._guard = threading.Lock()
        self._executor = ThreadPoolExecutor(THREADS, thread_name_prefix="storage-worker")

    async def call(
        self, identity: Identity, op: str, args: dict[str, Any]
    ) -> tuple[Any, list[int]]:
        """Run `op` as `identity`; (answer, descriptors). Raises `Refused`."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, identity, op, args)

    async def run(self, identity: Identity, op: str, args: dict[str, Any]) -> Any:
        """`call` for operations that send no descriptors."""
        answer, fds = await self.call(identity, op, args)
        for fd in fds:
            os.close(fd)
        return answer

    def _call(self, identity: Identity, op: str, args: dict[str, Any]) -> tuple[Any, list[int]]:
        worker = self._acquire(identity)
        try:
            return worker.exchange(op, args)
        finally:
            worker.lock.release()

    def _acquire(self, identity: Identity) -> Worker:
        """A free worker of `identity` (locked), started when there is none and room."""
        with self._guard:
            mine = [w for w in self._workers.get(identity, []) if w.alive]
            self._workers[identity] = mine
            for worker in mine:
                if worker.lock.acquire(blocking=False):
                    return worker
            if len(mine) < PER_IDENTITY:
                self._make_room()
                worker = start_worker(identity, self.environment)
                worker.lock.acquire()
                mine.append(worker)
                return worker
            busy = min(mine, key=lambda w: w.last_used)
        busy.lock.acquire()
        return busy

    def _make_room(self) -> None:
        everyone = [w for ws in self._workers.values() for w in ws]
        if len(everyone) < self.limit:
            return
        for worker in sorted(everyone, key=lambda w: w.last_used):
            if worker.lock.acquire(blocking=False):
                self._workers[worker.identity].remove(worker)
                worker.stop()
                return

    def reap(self) -> None:
        """Stop workers unused for `idle` seconds."""
        now = time.monotonic()
        with self._guard:
            for identity, workers in list(self._workers.items()):
                for worker in list(workers):
                    if now - worker.last_used > self.idle and worker.lock.acquire(blocking=False):
                        workers.remove(worker)
                        worker.stop()
                if not workers:
                    del self._workers[identity]

    def pids(self) -> list[int]:
        return [w.proc.pid for ws in self._workers.values() for w in ws]

    def close(self) -> None:
        with self._guard:
            for workers in self._workers.values():
                for worker in workers:
                    worker.stop()
            self._workers.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)

"""The embedded backend's job runner: a bounded pool of local processes, one per instance.

Each instance runs as its user, in its own cgroup and session directory (the same
`LocalSession` as interactive sessions), through a small `sh` wrapper that appends all output
to the log in the user's home and writes the exit code into the session directory. Instances run
in their own process session, so they outlive a restart of the service; the next service
re-attaches to them by pid (checked against the process start time) and reads their exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import psutil

from arcade_hub.config import PlatformConfig
from arcade_hub.jobs.base import (
    ABORTED,
    ResultFile,
    ResultUnavailable,
    job_lifetime,
    new_instances,
)
from arcade_hub.jobs.model import Instance, Status
from arcade_hub.jobs.store import JobStore
from arcade_hub.launch.spec import LaunchSpec, MountKind
from arcade_hub.local import cgroups, processes
from arcade_hub.local.paths import session_layout
from arcade_hub.local.safe_fs import (
    TooLarge,
    Unreadable,
    list_beneath,
    read_beneath,
    read_text_beneath,
)
from arcade_hub.local.sandbox import make_preexec, read_only_binds_supported
from arcade_hub.local.session import LocalSession, SessionSetupError
from arcade_hub.local.teardown import tear_down

log = logging.getLogger("arcade_hub.jobs")

WRAPPER = (
    'log=$1; status=$2; shift 2; mkdir -p -- "${log%/*}/results" || exit 126; '
    'exec >>"$log" 2>&1 </dev/null; "$@"; rc=$?; echo "$rc" >"$status"; exit "$rc"'
)
"""Runs as the user: output to the log in the home, exit code to the session directory."""
EXIT_FILE = "exit-status"
RESULTS_DIR = "results"
"""Beside a job's logs: `<home>/<log_dir>/<job id>/results/`, the files it wants returned."""
RESULT_FILES_LIMIT = 100
"""Result files listed for one job (the first by name)."""
RESULT_SIZE_LIMIT = 16 * 1024 * 1024
"""The largest result file the service serves (larger ones stay in the home)."""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def log_path(spec: LaunchSpec, log_dir: str, job_id: str) -> Path:
    return Path(spec.home.source) / log_dir / job_id / f"{spec.server_name}.log"


def results_dir(instance: Instance) -> tuple[Path, Path]:
    """(the home, the job's results folder in it)."""
    spec = LaunchSpec.model_validate_json(instance.spec)
    return Path(spec.home.source), Path(instance.log).parent / RESULTS_DIR


def read_log(instance: Instance) -> str:
    spec = LaunchSpec.model_validate_json(instance.spec)
    try:
        return read_text_beneath(Path(spec.home.source), Path(instance.log))
    except Unreadable:
        return ""


class JobRunner:
    """The embedded backend's `arcade_hub.jobs.base.Runner`."""

    def __init__(
        self, store: JobStore, platform: Callable[[], PlatformConfig], data_dir: Path
    ) -> None:
        self.store = store
        self.platform = platform
        self.data_dir = data_dir
        self._slots = asyncio.Semaphore(platform().jobs.max_concurrency)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._expired: set[str] = set()

    # --- submitting and deleting --------------------------------------------------------

    async def submit(self, owner: str, name: str, job_id: str, specs: list[LaunchSpec]) -> None:
        log_dir = self.platform().jobs.log_dir
        instances = new_instances(
            owner, name, job_id, specs, lambda spec, _: str(log_path(spec, log_dir, job_id))
        )
        await self.store.add(instances)
        for instance in instances:
            self._start_task(instance.id, self._run(instance.id))
        log.info("Job %s of %s: %d instance(s) queued", job_id, owner, len(instances))

    async def delete(self, instances: list[Instance]) -> None:
        """Stop what runs, forget the records; logs stay in the user's home."""
        running = []
        for instance in instances:
            if instance.status in (Status.running, Status.terminating):
                instance.status = Status.terminating
                await self.store.update(instance)
                running.append(instance)
            else:
                task = self._tasks.pop(instance.id, None)
                if task is not None:
                    task.cancel()
                await self.store.remove([instance.id])
        for instance in running:
            self._start_task(f"stop-{instance.id}", self._stop(instance))

    async def renew(self, instances: list[Instance], expires: float | None = None) -> None:
        expires = expires if expires is not None else time.time() + self._lifetime()
        for instance in instances:
            if not instance.status.final:
                instance.expires = expires
                await self.store.update(instance)

    async def abort(self, instances: list[Instance]) -> None:
        """End what has not ended as aborted; kill what runs (its watcher keeps the end)."""
        for instance in instances:
            if instance.status.final or instance.status == Status.terminating:
                continue
            running = instance.status == Status.running
            await self._final(instance, Status.failed, ABORTED)
            if running:
                await self._kill(instance)

    async def result_files(self, instances: list[Instance]) -> list[ResultFile]:
        home, folder = results_dir(instances[0])
        try:
            found = await asyncio.to_thread(list_beneath, home, folder, RESULT_FILES_LIMIT)
        except Unreadable:
            return []
        return [ResultFile(name, size) for name, size in found]

    async def read_result(self, instances: list[Instance], name: str) -> bytes:
        home, folder = results_dir(instances[0])
        try:
            return await asyncio.to_thread(
                read_beneath, home, folder / name, RESULT_SIZE_LIMIT, False
            )
        except TooLarge as e:
            raise ResultUnavailable(
                f"{name} is {e.size:,} bytes; the service serves result files of up to "
                f"{RESULT_SIZE_LIMIT:,} bytes: it is in your home at {folder / name}", 413
            ) from None
        except Unreadable:
            raise ResultUnavailable(f"no result file {name}", 404) from None

    async def reap_expired(self) -> None:
        now = time.time()
        for instance in await self.store.with_status(Status.running):
            if instance.expires is not None and instance.expires < now:
                self._expired.add(instance.id)
                await self._kill(instance)

    async def read_log(self, instance: Instance) -> str:
        return read_log(instance)

    def describe(self, instance: Instance) -> str:
        return f"pid {instance.pid}"

    # --- lifecycle ----------------------------------------------------------------------

    async def recover(self) -> None:
        """After a restart: re-attach to running instances, requeue pending ones."""
        live = await self.store.with_status(Status.pending, Status.running, Status.terminating)
        for instance in live:
            if instance.status == Status.pending:
                self._start_task(instance.id, self._run(instance.id))
            elif instance.status == Status.terminating:
                self._start_task(f"stop-{instance.id}", self._stop(instance))
            else:
                self._start_task(instance.id, self._reattach(instance))

    async def close(self) -> None:
        """Stop watching (the instances themselves keep running)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _start_task(self, key: str, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks[key] = task
        task.add_done_callback(lambda t: self._done(key, t))

    def _done(self, key: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled() and task.exception() is not None:
            log.error("Job task %s failed", key, exc_info=task.exception())

    # --- running ------------------------------------------------------------------------

    async def _run(self, instance_id: str) -> None:
        async with self._slots:
            instance = await self.store.get(instance_id)
            if instance is None or instance.status != Status.pending:
                return
            spec = LaunchSpec.model_validate_json(instance.spec)
            try:
                session = LocalSession.prepare(spec, self.platform(), self.data_dir)
            except Exception as e:  # whatever it is, the instance ends and leaves nothing
                await self._clean_up(spec)
                await self._start_failed(instance, f"could not prepare the instance: {e}", e)
                return
            status_file = session.tree.user_dir / EXIT_FILE
            env = {**session.environment(), **spec.env}
            try:
                proc = await asyncio.create_subprocess_exec(
                    "/bin/sh",
                    "-c",
                    WRAPPER,
                    "arcade-job",
                    instance.log,
                    str(status_file),
                    *spec.cmd,
                    *spec.args,
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                    preexec_fn=make_preexec(session.sandbox()),
                    start_new_session=True,
                )
            except Exception as e:  # e.g. a NUL byte the API let through: never stays Pending
                await self._clean_up(spec)
                await self._start_failed(instance, f"could not start: {e}", e)
                return
            instance.pid = proc.pid
            instance.pid_start = start_time(proc.pid)
            instance.started = time.time()
            lifetime = job_lifetime(self.platform().jobs.max_runtime_hours,
                                    await self.store.get_job(instance.job_id))
            instance.expires = instance.started + lifetime
            instance.status = Status.running
            await self.store.update(instance)
            log.info("Job instance %s of %s started (pid %d)", instance.id, spec.username, proc.pid)
            code = await proc.wait()
            await self._finished(instance.id, spec, code)

    async def _reattach(self, instance: Instance) -> None:
        spec = LaunchSpec.model_validate_json(instance.spec)
        async with self._slots:
            if instance.pid and start_time(instance.pid) == instance.pid_start:
                log.info("Re-attached to job instance %s (pid %d)", instance.id, instance.pid)
                await wait_exit(instance.pid)
            await self._finished(instance.id, spec, None)

    async def _finished(self, instance_id: str, spec: LaunchSpec, code: int | None) -> None:
        instance = await self.store.get(instance_id)
        tree = session_layout(spec, self.data_dir, read_only_binds_supported())
        recorded = _read_exit(tree.user_dir)
        if code is None or (code < 0 and recorded is not None):
            code = recorded
        await self._clean_up(spec)
        if instance is None or instance.status.final:  # gone, or ended already (aborted)
            return
        if instance.status == Status.terminating:
            await self.store.remove([instance.id])
            return
        if instance.id in self._expired:
            self._expired.discard(instance.id)
            lifetime = job_lifetime(self.platform().jobs.max_runtime_hours,
                                    await self.store.get_job(instance.job_id))
            await self._final(
                instance, Status.failed, f"stopped after its lifetime of {lifetime / 3600:g} h"
            )
        elif code is None:
            await self._final(
                instance, Status.failed, "its exit status was lost (stopped meanwhile)"
            )
        elif code == 0:
            await self._final(instance, Status.succeeded, "exit code 0", code)
        elif code < 0:
            await self._final(instance, Status.failed, f"killed by signal {-code}", code)
        else:
            await self._final(instance, Status.failed, f"exit code {code}", code)

    async def _start_failed(self, instance: Instance, message: str, error: Exception) -> None:
        expected = isinstance(error, SessionSetupError | OSError)
        log.log(logging.WARNING if expected else logging.ERROR, "Job instance %s: %s",
                instance.id, message, exc_info=None if expected else error)
        await self._final(instance, Status.error, message)

    async def _final(
        self, instance: Instance, status: Status, message: str, code: int | None = None
    ) -> None:
        instance.status = status
        instance.message = message
        instance.exit_code = code
        instance.finished = time.time()
        await self.store.update(instance)
        log.info("Job instance %s: %s (%s)", instance.id, status.value, message)

    async def _stop(self, instance: Instance) -> None:
        await self._kill(instance)
        if instance.id not in self._tasks:  # nobody watches it (e.g. after a restart)
            spec = LaunchSpec.model_validate_json(instance.spec)
            await self._clean_up(spec)
            await self.store.remove([instance.id])

    async def _kill(self, instance: Instance) -> None:
        spec = LaunchSpec.model_validate_json(instance.spec)
        cg = cgroups.find(spec.session_id)
        pids = processes.session_pids(spec.session_id, cg.pids() if cg else None)
        if instance.pid and start_time(instance.pid) == instance.pid_start:
            pids.add(instance.pid)
        if pids:
            await processes.terminate(pids)

    async def _clean_up(self, spec: LaunchSpec) -> None:
        scratch = [m.source for m in spec.mounts_of(MountKind.scratch)]
        await tear_down(spec.session_id, self.data_dir, scratch)

    def _lifetime(self) -> float:
        return self.platform().jobs.max_runtime_hours * 3600


def _read_exit(user_dir: Path) -> int | None:
    try:
        text = read_text_beneath(user_dir, user_dir / EXIT_FILE, limit=32)
    except Unreadable:
        return None
    with contextlib.suppress(ValueError):
        return int(text.strip())
    return None


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (tells a reused pid apart); None
    for a process that is gone or a zombie."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        since_boot = proc.create_time() - psutil.boot_time()
    except psutil.Error:
        return None
    return round(since_boot * CLOCK_TICKS)


async def wait_exit(pid: int) -> None:
    """Wait until a process that is not our child exits (pidfd: no polling)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    gone: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not gone.done():
            gone.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await gone
    finally:
        loop.remove_reader(fd)
        os.close(fd)

"""What a running session or job instance uses now on the embedded backend, and who it runs as:
the `runAsUID`/`runAsGID`/`supplementalGroups` and `*InUse` values of the sessions API.

Its processes are those of its cgroup, else those carrying its `ARCADE_SESSION_ID` marker
(`arcade_hub.local.processes`). RAM is the cgroup's memory use (without a cgroup: the resident
memory of its processes); cores are the CPU time its processes use over a short sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

import psutil

from arcade_hub.backend import InUse, RunsAs
from arcade_hub.config import PlatformConfig
from arcade_hub.launch.spec import LaunchSpec
from arcade_hub.local import cgroups, processes
from arcade_hub.local.session import identity_for, per_user

SAMPLE_SECONDS = 0.25
"""How long the CPU time of a session's processes is watched to tell the cores it uses."""
MEMORY_FILES = ("memory.current", "memory.usage_in_bytes")
"""A cgroup's memory use: v2, v1."""


def runs_as(spec: LaunchSpec, platform: PlatformConfig, data_dir: Path) -> RunsAs:
    """The ids the sandbox gives the processes of `spec` (`arcade_hub.local.sandbox`): the
    user's own and its project groups' when the hub runs as root, else the hub's."""
    if not per_user(platform):
        return RunsAs(os.getuid(), os.getgid(), tuple(sorted(set(os.getgroups()))))
    ident = identity_for(spec, platform, data_dir)
    return RunsAs(ident.uid, ident.gid, ident.groups)


async def in_use(specs: Sequence[LaunchSpec]) -> list[InUse]:
    """Cores and RAM the processes of each spec use now (nothing where none runs); one
    sample for all of them."""
    found = await asyncio.to_thread(_processes, [spec.session_id for spec in specs])
    every = set().union(*(pids for pids, _ in found))
    if not every:
        return [InUse() for _ in specs]
    loop = asyncio.get_running_loop()
    before, started = await asyncio.to_thread(_cpu_seconds, every), loop.time()
    await asyncio.sleep(SAMPLE_SECONDS)
    after, elapsed = await asyncio.to_thread(_cpu_seconds, every), loop.time() - started

    def measured(pids: set[int], cgroup: cgroups.SessionCgroup | None) -> InUse:
        if not pids:
            return InUse()
        used = sum(max(after[p] - before[p], 0.0) for p in pids & before.keys() & after.keys())
        ram = _memory_bytes(cgroup, pids)
        return InUse(cores=used / elapsed, ram_gib=None if ram is None else ram / 2**30)

    return await asyncio.to_thread(lambda: [measured(*one) for one in found])


def _processes(session_ids: list[str]) -> list[tuple[set[int], cgroups.SessionCgroup | None]]:
    """Each session's processes: its cgroup's, else those carrying its marker."""
    groups = [cgroups.find(s) for s in session_ids]
    pids = [cg.pids() if cg else set() for cg in groups]
    unplaced = {s for s, found in zip(session_ids, pids, strict=True) if not found}
    marked = processes.pids_by_session(unplaced) if unplaced else {}
    return [
        (found or marked.get(s, set()), cg)
        for s, found, cg in zip(session_ids, pids, groups, strict=True)
    ]


def _cpu_seconds(pids: set[int]) -> dict[int, float]:
    found = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            found[pid] = times.user + times.system
    return found


def _memory_bytes(cgroup: cgroups.SessionCgroup | None, pids: set[int]) -> int | None:
    for directory in cgroup.dirs if cgroup else ():
        for name in MEMORY_FILES:
            with contextlib.suppress(OSError, ValueError):
                return int((directory / name).read_text())
    total = None
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            total = (total or 0) + psutil.Process(pid).memory_info().rss
    return total

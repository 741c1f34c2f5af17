"""A batch job's instances: its planned spec once per instance, each with a session and a
scratch of its own, `REPLICA_ID`/`REPLICA_COUNT`, and its parameter line (split into extra
arguments like a shell line, and whole in `ARCADE_JOB_PARAM`)."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from arcade_hub import contract, shellwords
from arcade_hub.config import PlatformConfig
from arcade_hub.launch.request import LaunchRequest
from arcade_hub.launch.site import Site
from arcade_hub.launch.spec import LaunchSpec, Mount, MountKind
from arcade_hub.launch.storage import scratch_dir


def instance_ids(job_id: str, count: int) -> list[str]:
    """A single instance carries the job's id; several are `<job id>-<replica>`."""
    if count == 1:
        return [job_id]
    return [f"{job_id}-{n}" for n in range(1, count + 1)]


def split_words(line: str) -> list[str]:
    """A parameter line's words, split like a shell line (ValueError when it cannot be), in
    linear time (`arcade_hub.shellwords`)."""
    return shellwords.split(line)


def job_instances(
    spec: LaunchSpec,
    request: LaunchRequest,
    config: PlatformConfig,
    site: Site,
    new_session_id: Callable[[], str] = lambda: secrets.token_hex(6),
) -> list[LaunchSpec]:
    """One spec per instance of the planned job `spec` (whose `server_name` is the job id)."""
    count = spec.replicas
    specs = []
    for replica, instance_id in enumerate(instance_ids(spec.server_name, count), start=1):
        session_id = new_session_id()
        env = dict(spec.env)
        if count > 1 or "REPLICA_ID" not in env:
            env.update(REPLICA_ID=str(replica), REPLICA_COUNT=str(count))
        args = list(spec.args)
        if request.params:
            line = request.params[replica - 1]
            env[contract.JOB_PARAM] = line
            args += split_words(line)
        scratch = str(scratch_dir(config.storage, site.data_dir, session_id))
        mounts = tuple(
            Mount(kind=MountKind.scratch, name=m.name, source=scratch)
            if m.kind == MountKind.scratch else m
            for m in spec.mounts
        )  # fmt: skip
        specs.append(spec.model_copy(update={
            "server_name": instance_id, "session_id": session_id, "env": env,
            "args": tuple(args), "mounts": mounts,
        }))  # fmt: skip
    return specs

"""How long interactive sessions and batch jobs live, and how jobs run."""

from __future__ import annotations

from pydantic import Field

from arcade_hub.config.base import Model


class SessionsApi(Model):
    """The sessions API (skaha-compatible) and the lifetime of interactive sessions."""

    lifetime_hours: float = Field(
        96,
        gt=0,
        title="Session lifetime (hours)",
        description=(
            "How long an interactive session runs before it is stopped; renewing it "
            "(API `action=renew` or the job list) starts a new lifetime from now."
        ),
    )
    idle_timeout_minutes: float = Field(
        60,
        ge=0,
        title="Idle timeout (minutes)",
        description=(
            "Notebook and desktop sessions with no activity for this long are stopped and "
            "removed (jupyterhub-idle-culler, run as a hub service); 0 turns culling off."
        ),
    )
    idle_check_seconds: int = Field(
        60,
        ge=1,
        title="Idle check interval (seconds)",
        description="How often the idle culler looks for idle sessions.",
    )


class Jobs(Model):
    """Headless batch jobs: limits, and the embedded backend's worker pool and logs."""

    max_concurrency: int = Field(
        2,
        ge=1,
        title="Instances running at once (embedded backend)",
        description=(
            "How many job instances the embedded backend runs at the same time, for the "
            "whole platform; further instances wait as `Pending`. Not used on Kubernetes: "
            "every instance of a job is submitted at once (the Job's `parallelism`), and the "
            "cluster's scheduler and quotas decide when each runs."
        ),
    )
    max_replicas: int = Field(
        64,
        ge=1,
        title="Instances per job",
        description="The largest `replicas` (or number of parameter lines) one job may ask for.",
    )
    max_runtime_hours: float = Field(
        24,
        gt=0,
        title="Job lifetime (hours)",
        description=(
            "An instance still running at the end of its lifetime is stopped and marked "
            "`Failed`; renewing the job starts a new lifetime from now. Embedded backend: "
            "counted for each instance from when it starts running (time waiting for a free "
            "slot does not count). Kubernetes: the Job's `activeDeadlineSeconds`, counted "
            "from the Job's start, so time its pods spend `Pending` (scheduling, image "
            "pulls) counts too, and every instance of the job ends at the same deadline."
        ),
    )
    log_dir: str = Field(
        "arcade-jobs",
        # relative, components not starting with a dot (so no `..`)
        pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$",
        title="Log directory (embedded backend)",
        description=(
            "Where the embedded backend writes job logs, relative to the user's home: "
            "`<home>/<log_dir>/<job id>/<instance id>.log`, kept after the job ends. Does not "
            "apply on Kubernetes, where an instance's log is its pod's log (the service "
            "keeps the last 256 KiB of each in its data directory until the job is deleted)."
        ),
    )

"""`plan()`: whether and how a user may launch what they asked for. Every rule lives here.

A request is planned for a purpose: an interactive `session` (a notebook, a desktop, or a
desktop app on a desktop of its own), a batch `job` (headless; `job_instances` then adds its
instances and parameters), or an `app` opened on a desktop the user already runs. The planner
decides the entry or image (the catalogue, discovered entries, custom references, the registry
check that pins a digest: once), the group policy (entries, kinds, datasets, project spaces,
limits and totals), the dataset and the CASA version it needs, and a job's command, instances
and environment. It answers a frozen `LaunchSpec`, or a `Refusal` naming every problem in a
user's words, with the status every entry point answers.

No I/O of its own: the registry is asked through `PlanContext.images`, what the user already
runs comes in `PlanContext.usage`, what the backend can run in `PlanContext.site`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from arcade_hub import contract, shellwords
from arcade_hub.casa.detect import Detected, cached_casa_version
from arcade_hub.config import CatalogueEntry, Dataset, Kind, PlatformConfig
from arcade_hub.config.casa_versions import satisfies
from arcade_hub.images.discovery import Snapshot, merge_catalogue
from arcade_hub.images.rules import ImageCheck, ResolvedImage
from arcade_hub.launch.choices import (
    ImageChoice,
    UserContext,
    allowed_datasets,
    choose_image,
    dataset_allowed,
    dataset_refusal,
    session_resources,
)
from arcade_hub.launch.request import LaunchRequest, Refusal
from arcade_hub.launch.rules import Usage, check_totals, entry_refusal, project_spaces
from arcade_hub.launch.site import Site
from arcade_hub.launch.spec import (
    UNNAMED_SESSION_ID,
    LaunchSpec,
    Mount,
    MountKind,
    counted,
)
from arcade_hub.launch.storage import expand, home_dir, project_dir, scratch_dir
from arcade_hub.quoting import shown

log = logging.getLogger("arcade_hub.launch")


class Purpose(StrEnum):
    session = "session"
    job = "job"
    app = "app"


class ImageLookup(Protocol):
    """The registry, as the planner asks it (`arcade_hub.images.services.ImageServices`)."""

    async def discovered(self) -> Snapshot: ...

    async def resolve(self, check: ImageCheck) -> ResolvedImage: ...


@dataclass(frozen=True)
class PlanContext:
    """Everything a plan depends on besides the user and the request."""

    config: PlatformConfig
    site: Site
    server_name: str
    """The session's name (a named server), a job's id, or the desktop's name for an app."""
    usage: Usage | None = None
    """What the user runs already, for totals and concurrency; None checks neither."""
    images: ImageLookup | None = None
    """The registry; None: the static catalogue only, and images needing a check refused."""
    desktop: LaunchSpec | None = None
    """`Purpose.app`: the desktop the app opens on."""
    new_session_id: Callable[[], str] = field(default=lambda: secrets.token_hex(6))
    """Names each new session (injectable for reproducible specs in tests)."""


@dataclass
class Problems:
    """What is wrong so far: a sentence per field, and the status it deserves."""

    errors: dict[str, str] = field(default_factory=dict)
    status: int = 400

    def add(self, key: str, message: str, status: int = 400) -> None:
        self.errors.setdefault(key, message)
        self.status = max(self.status, status)

    def refusal(self) -> Refusal:
        return Refusal(self.errors, self.status if len(self.errors) == 1 else 400)


async def plan(
    user: UserContext, request: LaunchRequest, purpose: Purpose, ctx: PlanContext
) -> LaunchSpec | Refusal:
    """The spec of what `user` may launch for `request`, or why not."""
    if purpose == Purpose.app:
        return await _plan_app(user, request, ctx)
    ctx = await _with_discovered(ctx)
    problems = Problems()
    choice = choose_image(request.image, purpose == Purpose.job, ctx.config, ctx.site, user)
    if choice.check is not None and not choice.error:
        choice = await _checked(choice, ctx, user)
    if choice.error:
        problems.add("image", choice.error, choice.status)
    cores, ram, gpus = session_resources(request, ctx.config, user, problems.errors)
    if purpose == Purpose.job:
        count = _job_rules(request, choice.entry, ctx, problems)
    else:
        count = 1
        _session_rules(request, choice, ctx, problems)
    if ctx.usage is not None:
        for key, message in check_totals(
            ctx.config, user.groups, ctx.usage, cores=cores * count, ram_gib=ram * count,
            what="job" if purpose == Purpose.job else "session",
        ).items():  # fmt: skip
            problems.add(key, message)
    dataset, needed = await _dataset(request.dataset, choice.entry, ctx, user, problems)
    if problems.errors:
        return problems.refusal()
    assert choice.image is not None
    spec = _spec(user, request, purpose, ctx, choice, dataset, (cores, ram, gpus), count)
    if needed is not None:
        spec = spec.model_copy(update={"casa_version": needed.version})
    log.info("Launch spec for %s: %s", user.name, spec.summary())
    return spec


async def _with_discovered(ctx: PlanContext) -> PlanContext:
    """The catalogue with the entries discovered in registries (cached by the lookup)."""
    if ctx.images is None or not ctx.config.images.discovery.repositories:
        return ctx
    snapshot = await ctx.images.discovered()
    return dataclasses.replace(
        ctx,
        config=merge_catalogue(ctx.config, snapshot.entries),
        site=dataclasses.replace(ctx.site, discovered=snapshot.names),
    )


async def _checked(choice: ImageChoice, ctx: PlanContext, user: UserContext) -> ImageChoice:
    """The image as the registry answered for it: pinned to a digest, or refused."""
    assert choice.check is not None
    if ctx.images is None:
        error = f"{choice.check.ref} could not be checked against its registry; try again"
        return dataclasses.replace(choice, error=error)
    resolved = await ctx.images.resolve(choice.check)
    if resolved.error or resolved.pinned is None:
        error = resolved.error or f"{choice.check.ref} could not be resolved to a digest"
        log.info("Image %s for %s refused: %s", choice.check.ref, user.name, error)
        return dataclasses.replace(choice, error=error)
    log.info("Image %s for %s resolved to %s", choice.check.ref, user.name, resolved.pinned)
    return dataclasses.replace(choice, image=resolved.pinned, labelled_kind=resolved.kind)


def _session_rules(
    request: LaunchRequest, choice: ImageChoice, ctx: PlanContext, problems: Problems
) -> None:
    if ctx.server_name == UNNAMED_SESSION_ID:
        problems.add("", f"{UNNAMED_SESSION_ID!r} is the name of your unnamed session; "
                     "choose another name")  # fmt: skip
    given = [k for k in ("cmd", "args", "env", "instances", "params") if getattr(request, k)]
    if given:
        problems.add(given[0], f"{', '.join(given)} apply to batch jobs only")
    entry = choice.entry
    if entry is not None and entry.kind == Kind.desktop_app and _host_desktop(ctx) is None:
        problems.add("image", f"{entry.title} opens on a desktop, but no desktop is available "
                     "on this platform")  # fmt: skip


def _job_rules(
    request: LaunchRequest,
    entry: CatalogueEntry | None,
    ctx: PlanContext,
    problems: Problems,
) -> int:
    """A job's own rules: its command, environment and number of instances (returned)."""
    availability = ctx.site.availability
    if entry is not None and not request.cmd and not availability.job_prefix(entry):
        problems.add("cmd", availability.no_command_reason(entry))
    for key in request.env:
        if key.startswith(contract.RESERVED_PREFIXES):
            problems.add("env", f"{key} is set by the platform and cannot be overridden")
    limit = ctx.config.jobs.max_replicas
    count = request.instances
    if request.params:
        if count is not None and count != len(request.params):
            problems.add("replicas", f"{count} instances asked for, but "
                         f"{len(request.params)} parameter lines given: one instance runs per "
                         "line")  # fmt: skip
        count = len(request.params)
    for number, line in enumerate(request.params, start=1):
        try:
            shellwords.check(line)  # split like a shell line when the instances are made
        except ValueError as e:
            problems.add("params", f"parameter line {number} ({shown(line)}): {e}")
    count = 1 if count is None else count
    if count < 1:
        problems.add("replicas", f"{count} is below the minimum of 1 instance")
    elif count > limit:
        most = counted(limit, "instance")
        problems.add("replicas", f"{count} is above the maximum of {most} per job")
    return max(count, 1)


async def _dataset(
    requested: str | None,
    entry: CatalogueEntry | None,
    ctx: PlanContext,
    user: UserContext,
    problems: Problems,
) -> tuple[Dataset | None, Detected | None]:
    """The dataset asked for, checked, and the CASA version its data needs (if known)."""
    if not requested:
        return None, None
    config = ctx.config
    try:
        dataset = config.dataset(requested)
    except KeyError:
        known = ", ".join(d.id for d in config.datasets if dataset_allowed(d, user, config))
        problems.add("dataset", f"unknown dataset {shown(requested)}" + (
            f" (available: {known})" if known else " (no datasets are offered here)"))  # fmt: skip
        return None, None
    if not dataset_allowed(dataset, user, config):
        problems.add("dataset", dataset_refusal(dataset, config), 403)
    elif ctx.site.datasets_on_host and not expand(dataset.path, ctx.site.data_dir).is_dir():
        problems.add("dataset", f"dataset {dataset.id!r} is not available right now: its data "
                     "is missing on this machine (tell your platform's operators)")  # fmt: skip
    else:
        needed = await dataset_casa(dataset, ctx.site)
        if entry and needed and (mismatch := casa_mismatch(dataset, needed, entry, config)):
            problems.add("dataset", mismatch)
        return dataset, needed
    return dataset, None


async def dataset_casa(dataset: Dataset, site: Site) -> Detected | None:
    """The CASA version `dataset` needs and where that is said: the platform document, or
    (with `casa_version_from_data`, where the data is on this machine) the data itself,
    read off the event loop and cached until it changes."""
    if dataset.casa_version:
        return Detected(dataset.casa_version, "the platform configuration")
    if not (dataset.casa_version_from_data and site.datasets_on_host):
        return None
    return await asyncio.to_thread(cached_casa_version, expand(dataset.path, site.data_dir))


def casa_mismatch(
    dataset: Dataset, needed: Detected, entry: CatalogueEntry, config: PlatformConfig
) -> str | None:
    """Why `entry` cannot work on `dataset`, which needs another CASA version, or None."""
    if not entry.casa_version or satisfies(entry.casa_version, needed.version):
        return None
    matching = [
        e for e in config.catalogue if e.casa_version and satisfies(e.casa_version, needed.version)
    ]
    hint = ", ".join(f"{e.title} ({e.name})" for e in matching) or "no entry of this platform"
    return (
        f"dataset {dataset.id!r} needs CASA {needed.version}, but {entry.title} provides "
        f"CASA {entry.casa_version}: choose {hint}"
    )


def _host_desktop(ctx: PlanContext) -> CatalogueEntry | None:
    for e in ctx.config.catalogue:
        if e.kind == Kind.desktop and ctx.site.availability.unavailable_reason(e) is None:
            return e
    return None


def _spec(
    user: UserContext,
    request: LaunchRequest,
    purpose: Purpose,
    ctx: PlanContext,
    choice: ImageChoice,
    dataset: Dataset | None,
    resources: tuple[float, float, float],
    count: int,
) -> LaunchSpec:
    """The frozen spec of a planned session or job (before a job's instances)."""
    entry, session_id = choice.entry, ctx.new_session_id()
    cores, ram, gpus = resources
    desktop = _host_desktop(ctx) if entry is not None and entry.kind == Kind.desktop_app else None
    job = purpose == Purpose.job
    env = {**request.env, contract.JOB_ID: ctx.server_name} if job else {}
    cmd = ctx.site.availability.job_command(entry, request.cmd) if job and entry else ()
    return LaunchSpec(
        username=user.name,
        server_name=ctx.server_name,
        session_id=session_id,
        kind=entry.kind if entry is not None else choice.custom_kind(),
        entry=entry.name if entry else None,
        title=entry.title if entry else str(choice.image),
        image=str(choice.image),
        cores=cores,
        ram_gib=ram,
        gpus=int(gpus),
        dataset=dataset.id if dataset else None,
        desktop=desktop.name if desktop else None,
        mounts=session_mounts(ctx.config, ctx.site, user, session_id, dataset),
        allowed_datasets=allowed_datasets(ctx.config, user),
        env=env,
        cmd=cmd,
        args=request.args if job else (),
        replicas=count,
    )


async def _plan_app(
    user: UserContext, request: LaunchRequest, ctx: PlanContext
) -> LaunchSpec | Refusal:
    """A desktop app on the user's running desktop `ctx.desktop`: the app must be a desktop
    app of the catalogue that the user's groups may launch and that works on the desktop's
    dataset; it shares the desktop's resources, storage and environment."""
    desktop, config = ctx.desktop, ctx.config
    assert desktop is not None, "Purpose.app plans an app on a desktop"
    name = request.image or ""
    if not_an_app := unknown_app(config, name):
        return not_an_app
    entry = config.entry(name)
    if not_desktop := desktop_refusal(desktop):
        return not_desktop
    refusal = entry_refusal(config, user.groups, entry)
    if refusal:
        return Refusal({"image": f"you may not launch {entry.title}: {refusal}"}, 403)
    dataset = config.dataset(desktop.dataset) if desktop.dataset else None
    needed = await dataset_casa(dataset, ctx.site) if dataset else None
    if dataset and needed and (mismatch := casa_mismatch(dataset, needed, entry, config)):
        return Refusal({"dataset": mismatch})
    return desktop.app_on_desktop(entry)


def unknown_app(config: PlatformConfig, name: str) -> Refusal | None:
    """Why `name` is no desktop app of the catalogue, or None (the first check of an app)."""
    try:
        entry = config.entry(name)
    except KeyError:
        apps = ", ".join(e.name for e in config.catalogue if e.kind == Kind.desktop_app)
        return Refusal({"": f"no app {shown(name)} in the catalogue (available: {apps})"}, 404)
    if entry.kind != Kind.desktop_app:
        return Refusal({"": f"{entry.title} is a {entry.kind.value}, not a desktop app"})
    return None


def desktop_refusal(desktop: LaunchSpec) -> Refusal | None:
    """Why no app can open on the session `desktop` (it is not a desktop), or None."""
    if desktop.kind in (Kind.desktop, Kind.desktop_app):
        return None
    name = f"{desktop.username}/{desktop.server_name}" if desktop.server_name else desktop.username
    return Refusal({"": f"session {name} is not a desktop session"}, 409)


def session_mounts(
    config: PlatformConfig,
    site: Site,
    user: UserContext,
    session_id: str,
    dataset: Dataset | None,
) -> tuple[Mount, ...]:
    """Home, the project spaces the group policy gives, the dataset and a new scratch."""
    roots = config.storage
    home = str(home_dir(roots, site.data_dir, user.name))
    mounts = [Mount(kind=MountKind.home, name="home", source=home)]
    for group in project_spaces(config, user.groups):
        source = str(project_dir(roots, site.data_dir, group))
        mounts.append(Mount(kind=MountKind.project, name=group, source=source))
    if dataset is not None:
        source = str(expand(dataset.path, site.data_dir))
        mounts.append(
            Mount(kind=MountKind.dataset, name=dataset.id, source=source, read_only=True)
        )
    scratch = str(scratch_dir(roots, site.data_dir, session_id))
    mounts.append(Mount(kind=MountKind.scratch, name="scratch", source=scratch))
    return tuple(mounts)

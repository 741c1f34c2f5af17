"""Turn a `LaunchRequest` into a `LaunchSpec`, or refuse it with reasons a user understands.

This is the one place launch rules live. The form, the hub REST API and the sessions API all
reach it through the spawner's `apply_user_options`, so none of them can bypass it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from arcade_hub.config import (
    SESSION_KINDS,
    CatalogueEntry,
    Choices,
    Dataset,
    Kind,
    PlatformConfig,
)
from arcade_hub.images.rules import ImageCheck, ResolvedImage, parse_custom, reference_errors
from arcade_hub.launch.request import LaunchRefused, LaunchRequest
from arcade_hub.launch.rules import (
    Limit,
    Usage,
    check_totals,
    custom_images_granted,
    dataset_granted,
    dataset_granting_groups,
    entry_refusal,
    limit,
    project_spaces,
)
from arcade_hub.launch.spec import LaunchSpec, Mount, MountKind
from arcade_hub.launch.storage import expand, home_dir, project_dir, scratch_dir


@dataclass(frozen=True)
class UserContext:
    """Who is launching: name, groups (from the identity provider or the document), admin."""

    name: str
    groups: frozenset[str] = frozenset()
    admin: bool = False


class Availability(Protocol):
    """Whether the backend can run an entry here, and if not, why."""

    def unavailable_reason(self, entry: CatalogueEntry) -> str | None: ...

    @property
    def runs_image_references(self) -> bool: ...


@dataclass(frozen=True)
class Site:
    """What the policy needs besides the document: the data directory and the backend."""

    data_dir: Path
    availability: Availability
    datasets_on_host: bool = True
    """Whether dataset paths are host directories that must exist (the embedded backend)."""
    discovered: frozenset[str] = frozenset()
    """Names of catalogue entries found in registries (always checked and pinned at launch)."""


def user_groups(config: PlatformConfig, username: str, asserted: frozenset[str]) -> frozenset[str]:
    """Groups asserted by the login plus groups the document gives the user."""
    listed = {g for g, members in config.auth.groups.items() if username in members}
    return frozenset(asserted | listed)


def dataset_allowed(dataset: Dataset, user: UserContext, config: PlatformConfig) -> bool:
    """Open datasets, datasets of the user's groups, and datasets the group policy grants."""
    return (
        not dataset.groups
        or bool(user.groups & set(dataset.groups))
        or dataset_granted(config, user.groups, dataset)
    )


def allowed_datasets(config: PlatformConfig, user: UserContext) -> tuple[str, ...]:
    """Ids of every dataset `user` may use; backends that see all of them hide the rest."""
    return tuple(d.id for d in config.datasets if dataset_allowed(d, user, config))


def dataset_refusal(dataset: Dataset, config: PlatformConfig) -> str:
    who = sorted({*dataset.groups, *dataset_granting_groups(config, dataset)})
    return f"you may not use dataset {dataset.id!r}: it is for members of {', '.join(who)}"


def resource_max(
    config: PlatformConfig, user: UserContext, key: str
) -> tuple[Choices, Limit]:
    """The platform's choices for `key` (cores, ram, gpus) and the user's group maximum."""
    choices: Choices = getattr(config.resources, key)
    return choices, limit(config, user.groups, f"max_{key}")  # type: ignore[arg-type]


def launchable_entries(config: PlatformConfig) -> list[CatalogueEntry]:
    """Entries a session can be started from (notebooks, desktops and desktop apps)."""
    return [e for e in config.catalogue if e.kind != Kind.headless]


def build_spec(
    request: LaunchRequest,
    config: PlatformConfig,
    user: UserContext,
    site: Site,
    *,
    server_name: str,
    session_id: str,
    resolved: ResolvedImage | None = None,
    usage: Usage | None = None,
) -> LaunchSpec:
    """Check `request` against the platform and return the frozen launch spec.

    `usage` is what the user already runs (other sessions, unfinished jobs), for the group
    policy's totals and concurrency; None checks neither.

    When `image_check` names an image to check, `resolved` must carry the registry's answer
    for it (see `arcade_hub.images.resolver`); the spec then runs the digest-pinned image.
    """
    errors: dict[str, str] = {}
    status = 400

    entry, image, image_error = _resolve_image(request.image, config, site, user)
    if (
        entry is not None
        and entry.kind != Kind.headless
        and entry_refusal(config, user.groups, entry)
    ):
        status = 403
    labelled_kind: str | None = None
    check = None if image_error else _image_check(entry, image, config, site)
    if check is not None:
        if resolved is None or resolved.ref != check.ref:
            image_error = (
                f"{check.ref} could not be checked against its registry; try again"
            )
        elif resolved.error or resolved.pinned is None:
            image_error = resolved.error or f"{check.ref} could not be resolved to a digest"
        else:
            image, labelled_kind = resolved.pinned, resolved.kind
    if image_error:
        errors["image"] = image_error
    desktop: CatalogueEntry | None = None
    if entry is not None and entry.kind == Kind.desktop_app:
        desktop = _host_desktop(config, site)
        if desktop is None:
            errors["image"] = (
                f"{entry.title} opens on a desktop, but no desktop is available on this platform"
            )

    cores, ram, gpus = session_resources(request, config, user, errors)
    if usage is not None:
        for key, message in check_totals(
            config, user.groups, usage, cores=cores, ram_gib=ram, what="session"
        ).items():
            errors.setdefault(key, message)

    dataset: Dataset | None = None
    if request.dataset:
        try:
            dataset = config.dataset(request.dataset)
        except KeyError:
            known = ", ".join(d.id for d in config.datasets if dataset_allowed(d, user, config))
            errors["dataset"] = f"unknown dataset {request.dataset!r}" + (
                f" (available: {known})" if known else " (no datasets are offered here)"
            )
        else:
            if not dataset_allowed(dataset, user, config):
                errors["dataset"] = dataset_refusal(dataset, config)
                status = 403
            elif site.datasets_on_host and not expand(dataset.path, site.data_dir).is_dir():
                errors["dataset"] = (
                    f"dataset {dataset.id!r} is not available right now: its data is missing "
                    "on this machine (tell your platform's operators)"
                )
            elif entry is not None:
                mismatch = casa_mismatch(dataset, entry, config)
                if mismatch:
                    errors["dataset"] = mismatch

    if errors:
        raise LaunchRefused(errors, status=status if len(errors) == 1 else 400)
    assert image is not None

    if entry is not None:
        kind = entry.kind
    else:
        kind = Kind(labelled_kind) if labelled_kind in ("notebook", "desktop") else Kind.notebook
    return LaunchSpec(
        username=user.name,
        server_name=server_name,
        session_id=session_id,
        kind=kind,
        entry=entry.name if entry else None,
        title=entry.title if entry else image,
        image=image,
        cores=cores,
        ram_gib=ram,
        gpus=int(gpus),
        dataset=dataset.id if dataset else None,
        desktop=desktop.name if desktop else None,
        mounts=_mounts(config, site, user, session_id, dataset),
        allowed_datasets=allowed_datasets(config, user),
    )


def app_refusal(
    config: PlatformConfig, user: UserContext, entry: CatalogueEntry, dataset_id: str | None
) -> LaunchRefused | None:
    """Why `user` may not open the desktop app `entry` on a desktop of theirs that has
    `dataset_id`: the group policy and the dataset's CASA version, in the words a launch of the
    same app from the form gets; None when they may."""
    refusal = entry_refusal(config, user.groups, entry)
    if refusal:
        return LaunchRefused({"image": f"you may not launch {entry.title}: {refusal}"}, 403)
    try:
        dataset = config.dataset(dataset_id) if dataset_id else None
    except KeyError:
        return None
    mismatch = casa_mismatch(dataset, entry, config) if dataset else None
    return LaunchRefused({"dataset": mismatch}) if mismatch else None


def image_check(
    request: LaunchRequest, config: PlatformConfig, user: UserContext, site: Site
) -> ImageCheck | None:
    """The image the registry must confirm before `build_spec` can accept `request`, if any.

    Custom references, discovered entries and (with `images.policy.resolve_catalogue`)
    catalogue entries on container backends are checked; nothing is when the request is
    refused anyway.
    """
    entry, image, error = _resolve_image(request.image, config, site, user)
    if error:
        return None
    return _image_check(entry, image, config, site)


def _image_check(
    entry: CatalogueEntry | None, image: str | None, config: PlatformConfig, site: Site
) -> ImageCheck | None:
    if image is None:
        return None
    if entry is None:
        return ImageCheck(ref=image, expected_kind=None, custom=True)
    if entry.name in site.discovered or (
        config.images.policy.resolve_catalogue and site.availability.runs_image_references
    ):
        return ImageCheck(ref=entry.image, expected_kind=entry.kind.value)
    return None


def _resolve_image(
    requested: str | None, config: PlatformConfig, site: Site, user: UserContext
) -> tuple[CatalogueEntry | None, str | None, str | None]:
    """Return (entry, image reference, error)."""
    if requested is None:
        entry = config.default_entry
    else:
        try:
            entry = config.entry(requested)
        except KeyError:
            return None, requested, _custom_image_error(requested, config, site, user)
    if entry.kind == Kind.headless:
        return (
            entry,
            entry.image,
            (
                f"{entry.title} ({entry.name}) is a batch image: submit it as a job, "
                "not as an interactive session"
            ),
        )
    refusal = entry_refusal(config, user.groups, entry)
    if refusal:
        return entry, entry.image, f"you may not launch {entry.title}: {refusal}"
    reason = site.availability.unavailable_reason(entry)
    if reason:
        return entry, entry.image, f"{entry.title} is not available here: {reason}"
    return entry, entry.image, None


def custom_images_allowed(config: PlatformConfig, user: UserContext) -> bool:
    """Everyone with `policy.custom_images`, else members of `images.policy.custom_image_groups`
    and users whose group policy has `custom_images`."""
    groups = config.images.policy.custom_image_groups
    return (
        config.policy.custom_images
        or bool(user.groups & set(groups))
        or custom_images_granted(config, user.groups)
    )


def _custom_image_error(
    requested: str, config: PlatformConfig, site: Site, user: UserContext
) -> str | None:
    names = ", ".join(e.name for e in launchable_entries(config))
    if not custom_images_allowed(config, user):
        groups = config.images.policy.custom_image_groups
        who = f" (only for members of {', '.join(groups)})" if groups else ""
        return (
            f"{requested!r} is not in the catalogue (choose one of: {names}); "
            f"custom image references are not allowed on this platform{who}"
        )
    if not site.availability.runs_image_references:
        return (
            f"{requested!r} is not in the catalogue, and this platform runs sessions as local "
            f"processes, which cannot run an image reference (choose one of: {names})"
        )
    ref, error = parse_custom(requested)
    if ref is None:
        return error
    return reference_errors(ref, config.images.policy)


def _host_desktop(config: PlatformConfig, site: Site) -> CatalogueEntry | None:
    for e in config.catalogue:
        if e.kind == Kind.desktop and site.availability.unavailable_reason(e) is None:
            return e
    return None


def session_resources(
    request: LaunchRequest, config: PlatformConfig, user: UserContext, errors: dict[str, str]
) -> tuple[float, float, float]:
    """Cores, RAM and GPUs for one session (or job instance), within the platform's limits
    and the user's group maxima; refusals go into `errors`."""
    return (
        _within("cores", request.cores, config, user, "cores", errors),
        _within("ram", request.ram_gib, config, user, "GiB of RAM", errors),
        _within("gpus", request.gpus, config, user, "GPUs", errors),
    )


def _within(
    key: str,
    value: float | None,
    config: PlatformConfig,
    user: UserContext,
    unit: str,
    errors: dict[str, str],
) -> float:
    choices, group = resource_max(config, user, key)
    if value is None:
        return min(choices.default, max(group.value, choices.min))
    if value < choices.min:
        errors[key] = f"{value:g} is below the minimum of {choices.min:g} {unit}"
    elif value > choices.max:
        errors[key] = f"{value:g} is above the maximum of {choices.max:g} {unit} per session"
    elif value > group.value:
        errors[key] = (
            f"{value:g} is above the maximum of {group.value:g} {unit} per session for your "
            f"groups ({group.source})"
        )
    return value


def casa_mismatch(dataset: Dataset, entry: CatalogueEntry, config: PlatformConfig) -> str | None:
    if not dataset.casa_version or not entry.casa_version:
        return None
    if entry.casa_version == dataset.casa_version:
        return None
    matching = [e for e in config.catalogue if e.casa_version == dataset.casa_version]
    hint = ", ".join(f"{e.title} ({e.name})" for e in matching)
    return (
        f"dataset {dataset.id!r} needs CASA {dataset.casa_version}, but {entry.title} provides "
        f"CASA {entry.casa_version}: choose {hint}"
    )


def _mounts(
    config: PlatformConfig,
    site: Site,
    user: UserContext,
    session_id: str,
    dataset: Dataset | None,
) -> tuple[Mount, ...]:
    roots = config.storage
    mounts = [
        Mount(
            kind=MountKind.home, name="home", source=str(home_dir(roots, site.data_dir, user.name))
        )
    ]
    for group in project_spaces(config, user.groups):
        mounts.append(
            Mount(
                kind=MountKind.project,
                name=group,
                source=str(project_dir(roots, site.data_dir, group)),
            )
        )
    if dataset is not None:
        mounts.append(
            Mount(
                kind=MountKind.dataset,
                name=dataset.id,
                source=str(expand(dataset.path, site.data_dir)),
                read_only=True,
            )
        )
    mounts.append(
        Mount(
            kind=MountKind.scratch,
            name="scratch",
            source=str(scratch_dir(roots, site.data_dir, session_id)),
        )
    )
    return tuple(mounts)


__all__ = [
    "SESSION_KINDS",
    "Availability",
    "LaunchRefused",
    "Site",
    "Usage",
    "UserContext",
    "build_spec",
    "custom_images_allowed",
    "dataset_allowed",
    "dataset_refusal",
    "image_check",
    "launchable_entries",
    "resource_max",
    "session_resources",
    "user_groups",
]

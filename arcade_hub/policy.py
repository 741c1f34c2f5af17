"""Turn a `LaunchRequest` into a `LaunchSpec`, or refuse it with reasons a user understands.

This is the one place launch rules live. The form, the hub REST API and the sessions API all
reach it through the spawner's `apply_user_options`, so none of them can bypass it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from arcade_hub.config.models import (
    SESSION_KINDS,
    CatalogueEntry,
    Choices,
    Dataset,
    Kind,
    PlatformConfig,
)
from arcade_hub.images.rules import ImageCheck, ResolvedImage, parse_custom, reference_errors
from arcade_hub.options import LaunchRefused, LaunchRequest
from arcade_hub.spec import LaunchSpec, Mount, MountKind
from arcade_hub.storage import expand, home_dir, project_dir, scratch_dir


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


def dataset_allowed(dataset: Dataset, user: UserContext) -> bool:
    return not dataset.groups or bool(user.groups & set(dataset.groups))


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
) -> LaunchSpec:
    """Check `request` against the platform and return the frozen launch spec.

    When `image_check` names an image to check, `resolved` must carry the registry's answer
    for it (see `arcade_hub.images.resolver`); the spec then runs the digest-pinned image.
    """
    errors: dict[str, str] = {}
    status = 400

    entry, image, image_error = _resolve_image(request.image, config, site, user)
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

    cores = _within("cores", request.cores, config.resources.cores, "cores", errors)
    ram = _within("ram", request.ram_gib, config.resources.ram, "GiB of RAM", errors)
    gpus = _within("gpus", request.gpus, config.resources.gpus, "GPUs", errors)

    dataset: Dataset | None = None
    if request.dataset:
        try:
            dataset = config.dataset(request.dataset)
        except KeyError:
            known = ", ".join(d.id for d in config.datasets if dataset_allowed(d, user))
            errors["dataset"] = f"unknown dataset {request.dataset!r}" + (
                f" (available: {known})" if known else " (no datasets are offered here)"
            )
        else:
            if not dataset_allowed(dataset, user):
                errors["dataset"] = (
                    f"you may not use dataset {dataset.id!r}: it is for members of "
                    f"{', '.join(dataset.groups)}"
                )
                status = 403
            elif site.datasets_on_host and not expand(dataset.path, site.data_dir).is_dir():
                errors["dataset"] = (
                    f"dataset {dataset.id!r} is not available right now: its data is missing "
                    "on this machine (tell your platform's operators)"
                )
            elif entry is not None:
                mismatch = _casa_mismatch(dataset, entry, config)
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
    )


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
    reason = site.availability.unavailable_reason(entry)
    if reason:
        return entry, entry.image, f"{entry.title} is not available here: {reason}"
    return entry, entry.image, None


def custom_images_allowed(config: PlatformConfig, user: UserContext) -> bool:
    """Everyone with `policy.custom_images`, else members of `images.policy.custom_image_groups`."""
    groups = config.images.policy.custom_image_groups
    return config.policy.custom_images or bool(user.groups & set(groups))


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


def _within(
    key: str, value: float | None, choices: Choices, unit: str, errors: dict[str, str]
) -> float:
    if value is None:
        return choices.default
    if value < choices.min:
        errors[key] = f"{value:g} is below the minimum of {choices.min:g} {unit}"
    elif value > choices.max:
        errors[key] = f"{value:g} is above the maximum of {choices.max:g} {unit} per session"
    return value


def _casa_mismatch(dataset: Dataset, entry: CatalogueEntry, config: PlatformConfig) -> str | None:
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
    for group in sorted(user.groups):
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
    "UserContext",
    "build_spec",
    "custom_images_allowed",
    "dataset_allowed",
    "image_check",
    "launchable_entries",
    "user_groups",
]

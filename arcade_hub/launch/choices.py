"""What a user may choose, and their choice checked: the entry or image, the resources, the
datasets. The planner (`arcade_hub.launch.planner`) and the forms that offer the choices
(the launch form, the Batch page) both use these, so a form never offers what `plan()`
refuses."""

from __future__ import annotations

from dataclasses import dataclass

from arcade_hub.config import CatalogueEntry, Choices, Dataset, Kind, PlatformConfig
from arcade_hub.images.rules import ImageCheck, parse_custom, reference_errors
from arcade_hub.launch.request import LaunchRequest
from arcade_hub.launch.rules import (
    Limit,
    custom_images_granted,
    dataset_granted,
    dataset_granting_groups,
    entry_refusal,
    limit,
)
from arcade_hub.launch.site import Site
from arcade_hub.launch.spec import amount
from arcade_hub.quoting import shown


@dataclass(frozen=True)
class UserContext:
    """Who is launching: name, groups (from the identity provider or the document), admin."""

    name: str
    groups: frozenset[str] = frozenset()
    admin: bool = False


def user_groups(config: PlatformConfig, username: str, asserted: frozenset[str]) -> frozenset[str]:
    """Groups asserted by the login plus groups the document gives the user."""
    listed = {g for g, members in config.auth.groups.items() if username in members}
    return frozenset(asserted | listed)


# --- the entry or image ------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageChoice:
    """The catalogue entry (None: a custom image) and image a request names, what the registry
    must confirm about it, and why it cannot be used (with the status) if it cannot."""

    entry: CatalogueEntry | None
    image: str | None
    check: ImageCheck | None = None
    error: str | None = None
    status: int = 400
    labelled_kind: str | None = None
    """A custom image's kind, as its labels say (after the registry check)."""

    def custom_kind(self) -> Kind:
        """What a custom image runs as: its labelled kind when it is a session kind."""
        if self.labelled_kind in ("notebook", "desktop"):
            return Kind(self.labelled_kind)
        return Kind.notebook


def choose_image(
    requested: str | None, job: bool, config: PlatformConfig, site: Site, user: UserContext
) -> ImageChoice:
    """The entry or image `requested` names for a session (`job` False) or a batch job."""
    choice = _for_job(requested, config, site, user) if job else _for_session(
        requested, config, site, user)  # fmt: skip
    if choice.error is None:
        choice = ImageChoice(choice.entry, choice.image, _check(choice, config, site))
    return choice


def _for_session(
    requested: str | None, config: PlatformConfig, site: Site, user: UserContext
) -> ImageChoice:
    if requested is None:
        entry = config.default_entry
    else:
        try:
            entry = config.entry(requested)
        except KeyError:
            return ImageChoice(None, requested, error=_custom_error(requested, config, site, user))
    if entry.kind == Kind.headless:
        error = (
            f"{entry.title} ({entry.name}) is a batch image: submit it as a job, "
            "not as an interactive session"
        )
        return ImageChoice(entry, entry.image, error=error)
    return _allowed(entry, "launch", config, site, user)


def _for_job(
    requested: str | None, config: PlatformConfig, site: Site, user: UserContext
) -> ImageChoice:
    batch = [e for e in config.catalogue if e.kind == Kind.headless]
    names = ", ".join(e.name for e in batch) or "none on this platform"
    if requested is None:
        if not batch:
            return ImageChoice(None, None, error="this platform offers no batch images")
        entry = batch[0]
    else:
        try:
            entry = config.entry(requested)
        except KeyError:
            error = f"{shown(requested)} is not a batch image in the catalogue (choose: {names})"
            return ImageChoice(None, requested, error=error)
    if entry.kind != Kind.headless:
        error = (
            f"{entry.title} ({entry.name}) is a {entry.kind.value} image: start it as a "
            f"session, or choose a batch image ({names})"
        )
        return ImageChoice(entry, entry.image, error=error)
    return _allowed(entry, "run", config, site, user)


def _allowed(
    entry: CatalogueEntry, verb: str, config: PlatformConfig, site: Site, user: UserContext
) -> ImageChoice:
    """`entry` when the user's groups may `verb` it and the backend can run it."""
    refusal = entry_refusal(config, user.groups, entry)
    if refusal:
        error = f"you may not {verb} {entry.title}: {refusal}"
        return ImageChoice(entry, entry.image, error=error, status=403)
    reason = site.availability.unavailable_reason(entry)
    if reason:
        error = f"{entry.title} is not available here: {reason}"
        return ImageChoice(entry, entry.image, error=error)
    return ImageChoice(entry, entry.image)


def _check(choice: ImageChoice, config: PlatformConfig, site: Site) -> ImageCheck | None:
    """What the registry must confirm before the image runs: custom references, discovered
    entries, and (with `images.policy.resolve_catalogue`) catalogue entries on container
    backends."""
    entry, image = choice.entry, choice.image
    if image is None:
        return None
    if entry is None:
        return ImageCheck(ref=image, expected_kind=None, custom=True)
    if entry.name in site.discovered or (
        config.images.policy.resolve_catalogue and site.availability.runs_image_references
    ):
        return ImageCheck(ref=entry.image, expected_kind=entry.kind.value)
    return None


def custom_images_allowed(config: PlatformConfig, user: UserContext) -> bool:
    """Everyone with `policy.custom_images`, else members of `images.policy.custom_image_groups`
    and users whose group policy has `custom_images`."""
    groups = config.images.policy.custom_image_groups
    return (
        config.policy.custom_images
        or bool(user.groups & set(groups))
        or custom_images_granted(config, user.groups)
    )


def launchable_entries(config: PlatformConfig) -> list[CatalogueEntry]:
    """Entries a session can be started from (notebooks, desktops and desktop apps)."""
    return [e for e in config.catalogue if e.kind != Kind.headless]


def _custom_error(
    requested: str, config: PlatformConfig, site: Site, user: UserContext
) -> str | None:
    names = ", ".join(e.name for e in launchable_entries(config))
    if not custom_images_allowed(config, user):
        groups = config.images.policy.custom_image_groups
        who = f" (only for members of {', '.join(groups)})" if groups else ""
        return (
            f"{shown(requested)} is not in the catalogue (choose one of: {names}); "
            f"custom image references are not allowed on this platform{who}"
        )
    if not site.availability.runs_image_references:
        return (
            f"{shown(requested)} is not in the catalogue, and this platform runs sessions as local "
            f"processes, which cannot run an image reference (choose one of: {names})"
        )
    ref, error = parse_custom(requested)
    if ref is None:
        return error
    return reference_errors(ref, config.images.policy)


# --- resources ------------------------------------------------------------------------------


def resource_max(config: PlatformConfig, user: UserContext, key: str) -> tuple[Choices, Limit]:
    """The platform's choices for `key` (cores, ram, gpus) and the user's group maximum."""
    choices: Choices = getattr(config.resources, key)
    return choices, limit(config, user.groups, f"max_{key}")  # type: ignore[arg-type]


def resource_default(config: PlatformConfig, user: UserContext, key: str) -> float:
    """What a session gets of `key` (cores, ram, gpus) when it asks for none: the platform's
    default, at most the user's group maximum (and never below the platform's minimum)."""
    choices, group = resource_max(config, user, key)
    return min(choices.default, max(group.value, choices.min))


def session_resources(
    request: LaunchRequest, config: PlatformConfig, user: UserContext, errors: dict[str, str]
) -> tuple[float, float, float]:
    """Cores, RAM and GPUs for one session (or job instance), within the platform's limits
    and the user's group maxima; refusals go into `errors`."""
    return (
        _within("cores", request.cores, config, user, errors),
        _within("ram", request.ram_gib, config, user, errors),
        _within("gpus", request.gpus, config, user, errors),
    )


def _within(
    key: str,
    value: float | None,
    config: PlatformConfig,
    user: UserContext,
    errors: dict[str, str],
) -> float:
    if value is None:
        return resource_default(config, user, key)
    choices, group = resource_max(config, user, key)
    if value < choices.min:
        errors[key] = f"{value:g} is below the minimum of {amount(key, choices.min)}"
    elif value > choices.max:
        errors[key] = f"{value:g} is above the maximum of {amount(key, choices.max)} per session"
    elif value > group.value:
        errors[key] = (
            f"{value:g} is above the maximum of {amount(key, group.value)} per session for "
            f"your groups ({group.source})"
        )
    return value


# --- datasets -------------------------------------------------------------------------------


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

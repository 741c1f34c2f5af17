"""Pure image policy checks: no I/O, every refusal a sentence a user understands."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from arcade_hub.config.images import ImagePolicy
from arcade_hub.config.references import DEFAULT_TAG, ImageReference, parse_reference
from arcade_hub.images import labels
from arcade_hub.images.errors import InvalidReference
from arcade_hub.images.models import ImageInfo

SESSION_KINDS = ("notebook", "desktop")


@dataclass(frozen=True)
class ImageCheck:
    """What to look up in the registry for one launch, and what to expect of the image."""

    ref: str
    """The reference as configured or typed."""
    expected_kind: str | None
    """The catalogue entry's kind; None for a custom image (any session kind)."""
    custom: bool = False


def glob_any(value: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(value, p) for p in patterns)


def path_glob(value: str, pattern: str) -> bool:
    """Whether the `/`-separated `value` matches `pattern` component by component: `*`, `?` and
    `[...]` stay within one component, and a component `**` stands for one or more. So
    `*.example.org/*` allows `images.example.org/x` but not `evil.com/x.example.org/pwn`."""
    return _components_match(value.split("/"), pattern.split("/"))


def _components_match(parts: list[str], patterns: list[str]) -> bool:
    if not patterns:
        return not parts
    first, rest = patterns[0], patterns[1:]
    if first == "**":
        return any(_components_match(parts[i:], rest) for i in range(1, len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], first) and _components_match(parts[1:], rest)


def parse_custom(text: str) -> tuple[ImageReference | None, str | None]:
    try:
        return parse_reference(text), None
    except InvalidReference as exc:
        return None, f"{exc}; write it like registry.example.org/group/image:1.0"


def reference_errors(ref: ImageReference, policy: ImagePolicy) -> str | None:
    """Checks a custom reference must pass before the registry is asked anything."""
    allowed = policy.allowed_repositories
    if allowed and not any(path_glob(ref.name, p) for p in allowed):
        return (
            f"images from {ref.name} are not allowed on this platform "
            f"(allowed: {', '.join(allowed)})"
        )
    if ref.digest is None:
        tag = ref.tag or DEFAULT_TAG
        if glob_any(tag, policy.refused_tags):
            missing = " (a reference without tag means 'latest')" if ref.tag is None else ""
            return (
                f"the tag {tag!r} of {ref.name} is not accepted here{missing}: give a fixed "
                "version tag such as :1.2.3, or pin a digest with @sha256:..."
            )
    return None


def is_root_user(user: str | None) -> bool:
    """An image config ``User`` of root: unset, empty, ``root``, ``0`` or ``0:<group>``."""
    if not user:
        return True
    name = user.split(":", 1)[0].strip()
    return name in ("", "root", "0")


def image_errors(info: ImageInfo, check: ImageCheck, policy: ImagePolicy) -> str | None:
    """Checks on what the registry says about the image (labels, user)."""
    kind = labels.kind_of(info.labels)
    name = parse_reference(info.reference).name
    if kind is not None and kind not in labels.KINDS:
        return (
            f"{name} declares the unknown kind {kind!r} (label {labels.KIND}; expected one of "
            f"{', '.join(labels.KINDS)})"
        )
    if check.expected_kind is not None:
        if kind is not None and kind != check.expected_kind:
            return (
                f"{name} is labelled as a {kind} image, but it is offered as a "
                f"{check.expected_kind}: tell your platform's operators"
            )
    else:
        if kind is None and policy.require_kind_label:
            return (
                f"{name} does not say what it is: images need the label {labels.KIND} "
                f"({' or '.join(SESSION_KINDS)}) to run here"
            )
        if kind is not None and kind not in SESSION_KINDS:
            return (
                f"{name} is a {kind} image; only {' and '.join(SESSION_KINDS)} images can be "
                "started as a session"
            )
    if not policy.allow_root and is_root_user(info.user):
        who = f"user {info.user!r}" if info.user else "no user (so root)"
        return (
            f"{name} runs as {who}; images must run as an unprivileged user here "
            "(set USER to a non-root user in the Dockerfile)"
        )
    return None


@dataclass(frozen=True)
class ResolvedImage:
    """The outcome of checking one image against the registry at launch."""

    ref: str
    """The reference that was checked (as in :class:`ImageCheck`)."""
    pinned: str | None = None
    """``registry/repository@sha256:...``: what will run. None when refused."""
    kind: str | None = None
    """The image's labelled kind, if any."""
    error: str | None = None

    @classmethod
    def refused(cls, ref: str, error: str) -> ResolvedImage:
        return cls(ref=ref, error=error)

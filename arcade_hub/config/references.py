"""Parse and normalize container image references.

Grammar (as in ``distribution/reference``)::

    reference  := [registry "/"] repository [":" tag] ["@" digest]
    registry   := host [":" port]      # first component with "." or ":" or "localhost"
    repository := component ("/" component)*

Docker Hub references are normalized the way the docker CLI does: ``python:3.11`` is
``docker.io/library/python:3.11`` and ``index.docker.io`` is spelled ``docker.io``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from arcade_hub.quoting import shown

DOCKER_HUB = "docker.io"
"""How Docker Hub is named in normalized references."""

DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
DEFAULT_TAG = "latest"

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})")
_HOST = re.compile(
    r"(?:(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
    r"(?:\.(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]))*"
    r"|\[[0-9A-Fa-f:.]+\])"
    r"(?::[0-9]{1,5})?"
)
_MAX_NAME = 255


class InvalidReference(ValueError):
    """An image reference (``host[:port]/repo[:tag][@digest]``) could not be parsed."""


def is_digest(value: str) -> bool:
    """Whether ``value`` is a supported content digest (``sha256:<64 hex>``/``sha512:...``)."""
    return _DIGEST.fullmatch(value) is not None


def _looks_like_registry(component: str) -> bool:
    return (
        "." in component
        or ":" in component
        or component == "localhost"
        or (component.startswith("["))
    )


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A normalized image reference; ``str()`` gives the canonical, fully qualified form."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageReference:
        """Parse ``text``; raise :class:`InvalidReference` (a ``ValueError``) if it is bad."""
        return parse_reference(text)

    @property
    def name(self) -> str:
        """``registry/repository`` without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What to ask the registry for: the digest if pinned, else the tag (or ``latest``)."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def is_pinned(self) -> bool:
        return self.digest is not None

    def with_digest(self, digest: str) -> ImageReference:
        """The same reference pinned to ``digest`` (the tag is kept for readability)."""
        if not is_digest(digest):
            raise InvalidReference(f"invalid digest {digest!r}: expected sha256:<64 hex digits>")
        return replace(self, digest=digest)

    def pinned(self, digest: str | None = None) -> str:
        """``registry/repository@sha256:...`` for ``digest`` or this reference's own digest."""
        digest = digest or self.digest
        if digest is None:
            raise InvalidReference(f"{self} carries no digest to pin to")
        return format_digest_reference(self.name, digest)

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def format_digest_reference(repository: str, digest: str) -> str:
    """Format ``repository@digest`` after checking the digest, e.g. ``quay.io/a/b@sha256:...``."""
    if not is_digest(digest):
        raise InvalidReference(f"invalid digest {digest!r}: expected sha256:<64 hex digits>")
    return f"{repository}@{digest}"


def normalize_registry(host: str) -> str:
    """Lower-case ``host`` and spell every Docker Hub alias ``docker.io``."""
    host = host.lower()
    return DOCKER_HUB if host in DOCKER_HUB_ALIASES else host


def parse_reference(text: str) -> ImageReference:
    """Parse an image reference, normalizing Docker Hub shorthands.

    >>> str(parse_reference("python:3.11"))
    'docker.io/library/python:3.11'
    """
    if not isinstance(text, str):
        raise InvalidReference(f"image reference must be a string, not {type(text).__name__}")
    if not text:
        raise InvalidReference("empty image reference")
    if text != text.strip() or any(c.isspace() for c in text):
        raise InvalidReference(f"invalid image reference {shown(text)}: contains whitespace")
    if "://" in text:
        raise InvalidReference(
            f"invalid image reference {shown(text)}: drop the URL scheme, e.g. 'host:5000/repo:tag'"
        )

    def bad(what: str) -> InvalidReference:
        return InvalidReference(f"invalid image reference {shown(text)}: {what}")

    rest, at, digest = text.partition("@")
    if at and not is_digest(digest):
        raise bad(f"bad digest {digest!r} (expected sha256:<64 lower-case hex digits>)")
    registry, rest = _registry(rest, bad)
    rest, tag = _tag(rest, bad)
    repository = _repository(rest, registry, bad)
    if len(registry) + 1 + len(repository) > _MAX_NAME:
        raise bad(f"name longer than {_MAX_NAME} characters")
    return ImageReference(registry=registry, repository=repository, tag=tag, digest=digest or None)


def _registry(text: str, bad: Callable[[str], InvalidReference]) -> tuple[str, str]:
    """(registry, the rest): the first component when it names a host, else Docker Hub."""
    first, sep, rest = text.partition("/")
    if not (sep and _looks_like_registry(first)):
        return DOCKER_HUB, text
    if not _HOST.fullmatch(first):
        raise bad(f"bad registry {first!r}")
    port = first.rpartition(":")[2] if not first.endswith("]") and ":" in first else None
    if port is not None and not 0 < int(port) < 65536:
        raise bad(f"bad port {port}")
    return normalize_registry(first), rest


def _tag(text: str, bad: Callable[[str], InvalidReference]) -> tuple[str, str | None]:
    """(the repository part, its tag if any)."""
    colon = text.rfind(":")
    if colon <= text.rfind("/"):
        return text, None
    text, tag = text[:colon], text[colon + 1 :]
    if not _TAG.fullmatch(tag):
        raise bad(f"bad tag {tag!r} (letters, digits, '_', '.', '-'; at most 128 characters)")
    return text, tag


def _repository(text: str, registry: str, bad: Callable[[str], InvalidReference]) -> str:
    if not text:
        raise bad("missing repository")
    components = text.split("/")
    for component in components:
        if not _COMPONENT.fullmatch(component):
            hint = (
                " (repository names must be lower case)" if component.lower() != component else ""
            )
            raise bad(f"bad repository component {component!r}{hint}")
    if registry == DOCKER_HUB and len(components) == 1:
        return f"library/{text}"
    return text

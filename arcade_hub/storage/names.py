"""What a request names: node paths from URL paths and `vos://` URIs, checked before any file
is touched.

The VOSpace has one root with two containers: `home/<user>` (each user's home) and
`projects/<group>` (the group project spaces). A node path is a tuple of names; each name is
refused when it could mean something other than one directory entry: empty, `.` or `..`, a
slash (also percent-encoded: `%2F` is refused, not decoded into a separator), a NUL or another
control character, bidirectional-text controls (which make a name read as another), more than
255 bytes, or bytes that are not UTF-8. Nothing is normalised: two fullwidth full stops
(U+FF0E) are a name of their own, never the parent.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote

HOME = "home"
PROJECTS = "projects"
TOPS = (HOME, PROJECTS)
NAME_BYTES = 255
PATH_BYTES = 4096
DEPTH = 128
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


class BadPath(ValueError):
    """A path or URI that names no node; the message says why (for a 400)."""


@dataclass(frozen=True)
class NodePath:
    """A node of the VOSpace: `()` the root, `("home",)`, `("home", "alice", ...)`."""

    parts: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return "/".join(self.parts)

    @property
    def top(self) -> str | None:
        return self.parts[0] if self.parts else None

    @property
    def owner(self) -> str | None:
        """The user (under `home`) or group (under `projects`) whose tree this is."""
        return self.parts[1] if len(self.parts) > 1 else None

    @property
    def inner(self) -> tuple[str, ...]:
        """The names below the tree's root (empty for the tree's root itself)."""
        return self.parts[2:]

    @property
    def in_tree(self) -> bool:
        """Whether the node is a home or project space or something inside one."""
        return len(self.parts) >= 2

    @property
    def name(self) -> str:
        return self.parts[-1] if self.parts else ""

    @property
    def parent(self) -> NodePath:
        return NodePath(self.parts[:-1])

    def child(self, name: str) -> NodePath:
        return NodePath((*self.parts, check_name(name)))

    def same_tree(self, other: NodePath) -> bool:
        return self.parts[:2] == other.parts[:2]


def check_name(name: str) -> str:
    """`name` when it names exactly one directory entry; BadPath otherwise."""
    if name in ("", ".", ".."):
        raise BadPath(f"{name!r} is not a node name")
    if "/" in name:
        raise BadPath("a node name cannot contain a slash (an encoded slash is not a separator)")
    for ch in name:
        if unicodedata.category(ch) in ("Cc", "Cs") or ch in _BIDI:
            raise BadPath(f"a node name cannot contain the character U+{ord(ch):04X}")
    if len(name.encode()) > NAME_BYTES:
        raise BadPath(f"a node name is at most {NAME_BYTES} bytes")
    return name


def _checked(names: list[str]) -> NodePath:
    if len(names) > DEPTH:
        raise BadPath(f"a path has at most {DEPTH} names")
    path = NodePath(tuple(check_name(n) for n in names))
    if len(path.text.encode()) > PATH_BYTES:
        raise BadPath(f"a path is at most {PATH_BYTES} bytes")
    if path.top is not None and path.top not in TOPS:
        raise BadPath(f"the VOSpace root holds only {' and '.join(TOPS)}")
    return path


def from_url(raw: str) -> NodePath:
    """The node named by the (still percent-encoded) path after an endpoint's prefix."""
    if len(raw) > 3 * PATH_BYTES:
        raise BadPath(f"a path is at most {PATH_BYTES} bytes")
    raw = raw.strip("/")
    if not raw:
        return NodePath()
    names = []
    for segment in raw.split("/"):
        try:
            names.append(unquote(segment, errors="strict"))
        except UnicodeDecodeError:
            raise BadPath("a node name must be UTF-8") from None
    return _checked(names)


def uri_authority(resource_id: str) -> str:
    """`host!arcade` for `ivo://host/arcade`: the authority of the service's node URIs."""
    return resource_id.removeprefix("ivo://").replace("/", "!")


def to_uri(path: NodePath, authority: str) -> str:
    return f"vos://{authority}/{path.text}" if path.parts else f"vos://{authority}"


def short_name_aliases(resource_id: str) -> tuple[str, ...]:
    """The resource IDs CADC's `vos` client makes of a short name (`arcade:path`): it looks
    up `ivo://cadc.nrc.ca/<name>` (`ivo://opencadc.org/<name>` with
    `LOCAL_VOSPACE_WEBSERVICE`) in the registry of the host `VOSPACE_WEBSERVICE` names. The
    platform's registry answers them with this service, and node URIs of theirs name it."""
    name = resource_id.rstrip("/").rsplit("/", 1)[-1]
    return (f"ivo://cadc.nrc.ca/{name}", f"ivo://opencadc.org/{name}")


def from_uri(uri: str, authority: str, aliases: tuple[str, ...] = ()) -> NodePath:
    """The node a `vos://<authority>/path` URI of this service names (`!` or `~` between
    the resource's host and name, as clients write either); `aliases` are other authorities
    that name this service."""
    if not uri.startswith("vos://"):
        raise BadPath("a node URI starts with vos://")
    given, _, path = uri.removeprefix("vos://").partition("/")
    known = {a.lower() for a in (authority, *aliases)}
    if given.replace("~", "!").lower() not in known:
        raise BadPath(f"the URI is not of this service (vos://{authority}/...)")
    if "?" in path or "#" in path:
        path = path.split("?", 1)[0].split("#", 1)[0]
    path = path.strip("/")
    return _checked(path.split("/")) if path else NodePath()


def is_own_uri(uri: str, authority: str, aliases: tuple[str, ...] = ()) -> bool:
    try:
        from_uri(uri, authority, aliases)
    except BadPath:
        return False
    return True

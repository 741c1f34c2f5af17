"""Who may do what where, from the platform's own model, and as whom the work is done.

- A user's home (`home/<user>`) is theirs: their requests run as their uid with the gids of
  their project spaces, exactly the identity of their sessions, so what they can do is what
  the kernel lets that identity do.
- A project space (`projects/<group>`) is read-write for the members the group policy gives it
  to (`arcade_hub.launch.rules.project_spaces`): their requests run as themselves, as in their
  sessions, and the setgid directory gives new files the project's group.
- Anyone else (another user, or a request without a token) only reads what is shared: the
  work runs as the home's owner (uid and own group only) or, in a project space, as nobody
  with the project's group, and the worker checks that the node and every container on the
  way are public (`ispublic`) or readable by one of the caller's groups (`groupread`).

The root of each tree is an absolute path derived from the user's or group's name by the
platform (`arcade_hub.launch.storage`), below root-owned directories; homes and project spaces
are created as a session start creates them, for their owners only.
"""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from arcade_hub.config import PlatformConfig
from arcade_hub.launch.rules import project_spaces
from arcade_hub.launch.storage import home_dir, legacy_path_name, project_dir
from arcade_hub.local.identity import Identity, IdentityRegistry, hub_identity
from arcade_hub.local.paths import adopt_legacy_dir
from arcade_hub.local.safe_fs import make_dir, root_dir
from arcade_hub.local.session import per_user
from arcade_hub.storage.fsops import Refused
from arcade_hub.storage.names import HOME, PROJECTS, NodePath


def _nobody() -> int:
    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        return 65534


NOBODY = _nobody()


@dataclass(frozen=True)
class Caller:
    """Who is asking: a user and their groups, or nobody (no token)."""

    name: str | None
    groups: frozenset[str] = frozenset()

    @property
    def anonymous(self) -> bool:
        return self.name is None


@dataclass(frozen=True)
class Grant:
    """How a request on one tree runs: as `identity`, in the tree at `root`; `owner` or only
    reading what is shared with `gids` (empty: only what is public)."""

    identity: Identity
    root: str
    owner: bool
    gids: frozenset[int] = frozenset()

    def args(self, path: NodePath) -> dict[str, object]:
        """The worker's arguments naming `path` in this tree, with who is looking."""
        return {
            "root": self.root,
            "inner": list(path.inner),
            "owner": self.owner,
            "gids": sorted(self.gids),
        }


class Trees:
    """The homes and project spaces of the platform, and who acts in them."""

    def __init__(self, platform: Callable[[], PlatformConfig], data_dir: Path) -> None:
        self.platform = platform
        self.data_dir = data_dir
        self._ids: tuple[float, dict[str, dict[str, int]]] = (-1.0, {})

    @property
    def registry(self) -> IdentityRegistry:
        config = self.platform()
        return IdentityRegistry(self.data_dir / "identities.json", config.backend.local.uid_range)

    def projects_of(self, caller: Caller) -> list[str]:
        """The project spaces the group policy gives the caller (none without a token)."""
        if caller.anonymous:
            return []
        return project_spaces(self.platform(), caller.groups)

    def identity(self, user: str, groups: list[str]) -> Identity:
        """The uid and gids of `user`'s sessions (allocated at first use, as a session does)."""
        if not per_user(self.platform()):
            return hub_identity()
        return self.registry.identity(user, frozenset(groups))

    def ids(self) -> dict[str, dict[str, int]]:
        """The users' and groups' ids handed out so far (`identities.json`), re-read when
        it changed."""
        path = self.data_dir / "identities.json"
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            return {}
        if mtime != self._ids[0]:
            self._ids = (mtime, json.loads(path.read_text()))
        return self._ids[1]

    def user_of(self, uid: int) -> str | None:
        return next((n for n, i in self.ids().get("users", {}).items() if i == uid), None)

    def group_of(self, gid: int) -> str | None:
        return next((n for n, i in self.ids().get("groups", {}).items() if i == gid), None)

    def gid_of(self, group: str) -> int | None:
        return self.ids().get("groups", {}).get(group)

    def caller_gids(self, caller: Caller) -> frozenset[int]:
        groups = self.ids().get("groups", {})
        return frozenset(groups[g] for g in caller.groups if g in groups)

    def root_of(self, path: NodePath) -> Path:
        config = self.platform()
        assert path.owner is not None
        if path.top == HOME:
            return home_dir(config.storage, self.data_dir, path.owner)
        return project_dir(config.storage, self.data_dir, path.owner)

    def grant(self, caller: Caller, path: NodePath) -> Grant:
        """How `caller`'s request on the tree of `path` runs (see the module's words)."""
        assert path.owner is not None and path.top in (HOME, PROJECTS)
        root = self.root_of(path)
        projects = self.projects_of(caller)
        if path.top == HOME and caller.name == path.owner:
            ident = self.identity(path.owner, projects)
            self._ensure_home(root, path.owner, ident)
            return Grant(ident, str(root), owner=True)
        if path.top == PROJECTS and path.owner in projects and caller.name is not None:
            ident = self.identity(caller.name, projects)
            self._ensure_project(root, path.owner)
            return Grant(ident, str(root), owner=True)
        if not root.is_dir():
            raise Refused(404, "NodeNotFound", f"{path.text}: not found")
        return Grant(self._reader(path), str(root), owner=False, gids=self.caller_gids(caller))

    def _reader(self, path: NodePath) -> Identity:
        """Whose rights a viewer who is not the owner reads with: the home's owner (uid and
        own group only), or nobody with the project's group."""
        assert path.owner is not None
        if not per_user(self.platform()):
            return hub_identity()
        if path.top == HOME:
            uid = self.ids().get("users", {}).get(path.owner)
            if uid is None:
                raise Refused(404, "NodeNotFound", f"{path.text}: not found")
            return Identity(uid, uid)
        gid = self.gid_of(path.owner)
        if gid is None:
            raise Refused(404, "NodeNotFound", f"{path.text}: not found")
        return Identity(NOBODY, gid, (gid,))

    def _ensure_home(self, root: Path, user: str, ident: Identity) -> None:
        """The user's home as a session start makes it, when it is not there yet."""
        if root.is_dir():
            return
        root_dir(root.parent, 0o711)
        adopt_legacy_dir(root, legacy_path_name(user), uid=ident.uid)
        make_dir(root, 0o700, ident.uid, ident.gid, exist_ok=True)

    def _ensure_project(self, root: Path, group: str) -> None:
        if root.is_dir():
            return
        gid = self.registry.group_id(group) if per_user(self.platform()) else os.getgid()
        root_dir(root.parent, 0o711)
        adopt_legacy_dir(root, legacy_path_name(group), gid=gid)
        make_dir(root, 0o2770, 0 if os.geteuid() == 0 else os.getuid(), gid, exist_ok=True)

"""Unix identities for Arcade users and groups on the embedded backend.

When the hub runs as root, every Arcade user gets an unprivileged uid of its own and every
group a gid, handed out from a configured range and remembered in `<data_dir>/identities.json`
so that files keep their owner across restarts. Without root, sessions run as the hub's user.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Identity:
    uid: int
    gid: int
    groups: tuple[int, ...] = ()

    @property
    def is_hub_user(self) -> bool:
        return self.uid == os.getuid()


class IdentityRegistry:
    """Stable uid/gid allocation, persisted as JSON under a file lock."""

    def __init__(self, path: Path, id_range: tuple[int, int]) -> None:
        self.path = path
        self.low, self.high = id_range

    def identity(self, username: str, groups: frozenset[str] = frozenset()) -> Identity:
        with self._locked() as data:
            uid = self._allocate(data, "users", username)
            gids = tuple(self._allocate(data, "groups", g) for g in sorted(groups))
        return Identity(uid=uid, gid=uid, groups=gids)

    def group_id(self, group: str) -> int:
        with self._locked() as data:
            return self._allocate(data, "groups", group)

    def _allocate(self, data: dict[str, dict[str, int]], table: str, name: str) -> int:
        names = data.setdefault(table, {})
        if name in names:
            return names[name]
        used = set(data.get("users", {}).values()) | set(data.get("groups", {}).values())
        candidate = self.low
        while candidate in used:
            candidate += 1
        if candidate > self.high:
            raise RuntimeError(
                f"no free id left in {self.low}..{self.high}; widen backend.local.uid_range"
            )
        names[name] = candidate
        return candidate

    @contextmanager
    def _locked(self) -> Iterator[dict[str, dict[str, int]]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_suffix(".lock")
        with open(lock, "a") as lf:
            fcntl.flock(lf, fcntl.LOCK_EX)
            data = json.loads(self.path.read_text()) if self.path.exists() else {}
            before = json.dumps(data, sort_keys=True)
            yield data
            if json.dumps(data, sort_keys=True) != before:
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
                os.replace(tmp, self.path)


def hub_identity() -> Identity:
    return Identity(uid=os.getuid(), gid=os.getgid())

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


UID_CLAIMS = Path("/var/lib/arcade-hub-uid-ranges.json")
"""Which data directory hands out which uid range, for every Arcade Hub on this machine."""


class UidRangeTaken(Exception):
    """Another platform on this machine hands out uids of this range to its own users."""


def claim_uid_range(data_dir: Path, id_range: tuple[int, int], claims: Path = UID_CLAIMS) -> None:
    """Record that the platform of `data_dir` hands out `id_range`; refuse when the range
    overlaps one that another platform's data directory claimed (two hubs would give the same
    uid, and with it every file, to two different users). Claims of data directories that no
    longer exist are dropped."""
    low, high = id_range
    claims.parent.mkdir(parents=True, exist_ok=True)
    with open(claims.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            found = json.loads(claims.read_text()) if claims.exists() else {}
        except ValueError:
            found = {}
        kept: dict[str, list[int]] = {}
        for other, (other_low, other_high) in found.items():
            if other == str(data_dir) or not Path(other).is_dir():
                continue
            kept[other] = [other_low, other_high]
            if other_low <= high and low <= other_high:
                raise UidRangeTaken(
                    f"backend.local.uid_range {low}..{high} overlaps {other_low}..{other_high}, "
                    f"which the Arcade Hub with the data directory {other} hands out on this "
                    "machine: its users and this platform's would share uids and files. Give "
                    f"this platform another uid_range, or remove {other} if it is gone for good."
                )
        kept[str(data_dir)] = [low, high]
        tmp = claims.with_suffix(".tmp")
        tmp.write_text(json.dumps(kept, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, claims)

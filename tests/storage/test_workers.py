"""The storage workers on their own: what a worker running as a user may do in a tree, and
what a viewer who is not the owner sees (run as root, as the service does)."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arcade_hub.local.identity import Identity
from arcade_hub.storage.fsops import Refused
from arcade_hub.storage.pool import WorkerPool
from tests.hub import processes_mentioning, shared_tmp, wait_for_none

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="workers switch to users' uids")
ALICE = Identity(47001, 47001)
TEAM = 47100


@pytest.fixture
def tree() -> Iterator[Path]:
    tmp = shared_tmp()
    home = tmp / "alice"
    home.mkdir(mode=0o700)
    os.chown(home, ALICE.uid, ALICE.gid)
    try:
        yield home
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def call(pool: WorkerPool, who: Identity, op: str, **args: Any) -> tuple[Any, list[int]]:
    return asyncio.run(pool.call(who, op, args))


def test_a_worker_acts_with_its_users_rights_only(tree: Path) -> None:
    pool = WorkerPool(environment={"ARCADE_DATA_DIR": str(tree)})
    try:
        root = str(tree)
        call(pool, ALICE, "mkdir", root=root, inner=["d"])
        made, fds = call(pool, ALICE, "upload", root=root, inner=["d", "f"])
        os.write(fds[0], b"data")
        os.close(fds[0])
        call(pool, ALICE, "commit", root=root, inner=["d", "f"], temp=made["temp"])
        st = (tree / "d" / "f").stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (ALICE.uid, ALICE.gid, 0o660)
        with pytest.raises(Refused) as outside:
            call(pool, ALICE, "mkdir", root="/etc", inner=["arcade-should-not-exist"])
        assert outside.value.status == 403 and not Path("/etc/arcade-should-not-exist").exists()
        (tree / "out").symlink_to("/etc")
        link, fds = call(pool, ALICE, "read", root=root, inner=["out"])
        assert link["type"] == "link" and not fds, "a link is answered as a link, never opened"
        for op, inner in (
            ("mkdir", ["out", "x"]),
            ("upload", ["out"]),
            ("read", ["out", "passwd"]),
        ):
            with pytest.raises(Refused):
                call(pool, ALICE, op, root=root, inner=inner)
        assert not Path("/etc/x").exists()
        os.mkfifo(tree / "fifo")
        os.chown(tree / "fifo", ALICE.uid, ALICE.gid)
        with pytest.raises(Refused):
            call(pool, ALICE, "read", root=root, inner=["fifo"])  # refused, not waited on
    finally:
        pool.close()
    assert not wait_for_none(lambda: processes_mentioning(tree), 5)


def test_viewers_see_only_what_is_shared(tree: Path) -> None:
    pool = WorkerPool()
    root, owner = str(tree), Identity(ALICE.uid, ALICE.gid)
    try:
        (tree / "d").mkdir(mode=0o770)
        (tree / "d" / "f").write_text("x")
        for p in (tree / "d", tree / "d" / "f"):
            os.chown(p, ALICE.uid, ALICE.gid)
        stranger = {"owner": False, "gids": [TEAM]}
        with pytest.raises(Refused) as hidden:
            call(pool, owner, "read", root=root, inner=["d", "f"], **stranger)
        assert hidden.value.status == 404
        os.chown(tree / "d", ALICE.uid, TEAM)
        os.chmod(tree / "d", 0o750)
        os.chmod(tree / "d" / "f", 0o604)  # public, but its container is shared with TEAM only
        _info, fds = call(pool, owner, "read", root=root, inner=["d", "f"], **stranger)
        os.close(fds[0])
        with pytest.raises(Refused):
            call(pool, owner, "read", root=root, inner=["d", "f"], owner=False, gids=[])
    finally:
        pool.close()

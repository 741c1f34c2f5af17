"""How the platform's services keep records in SQLite (the batch job store, the storage
service's UWS jobs): one connection, committed before the service answers, owned by one thread
of its own so that the event loop never waits for the disk."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


def connect(path: Path, schema: str, private: bool = False) -> sqlite3.Connection:
    """The database at `path` (made with `schema` when new), rows as `sqlite3.Row`, in WAL
    mode, autocommit outside `Transaction`. `private`: the directory must be the service's
    own (made 0700, refused when it is a link or someone else's) and the file 0600."""
    if private:
        _private_dir(path.parent)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        os.close(fd)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(schema)
    return db


def _private_dir(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise PermissionError(
            f"{path} must be a directory of uid {os.geteuid()} (not a link, not another's)"
        )
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o700, follow_symlinks=False)


class Transaction:
    """`with Transaction(db):` one write transaction, rolled back on an exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


class DatabaseThread:
    """One thread that runs every call on a store, in order; the event loop awaits them."""

    def __init__(self, name: str) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=name)

    def call(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `call` in the thread and wait for it (start-up and shut-down, off the loop)."""
        return self._thread.submit(call, *args, **kwargs).result()

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.wrap_future(self._thread.submit(call, *args, **kwargs))

    def shutdown(self) -> None:
        self._thread.shutdown()

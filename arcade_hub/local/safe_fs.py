"""File operations of the root side in places a session user can write, made safe.

The hub and the arcade service run as root on the embedded backend; a session's user controls
their home, scratch and the `user/` directory of each session, and their own jobs run while
root works there. Every operation of root below such a place goes through this module:

- directories root creates are opened with O_NOFOLLOW and changed through their descriptor
  (`fchown`/`fchmod`), never by path, so a symlink planted in between changes nothing;
- files root writes live in root-owned directories (`create_file`, `replace_file`); files root
  reads from a user's place (`read_beneath`) are opened component by component with
  O_NOFOLLOW relative to their parent, without blocking (a FIFO is refused, not waited on),
  only when they are regular files of the expected owner, and only up to a size limit;
- trees are removed with `remove_tree`: shutil's descriptor-based rmtree (it never follows a
  symlink, even one swapped in while it runs), off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

LIMIT = 4 * 1024 * 1024
"""The most `read_beneath` reads by default (the end of a log)."""
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

if not shutil.rmtree.avoids_symlink_attacks:  # pragma: no cover - Linux always has it
    raise ImportError("this platform's shutil.rmtree can be turned by symlinks")


class Unreadable(Exception):
    """A file root was asked to read from a user's place is missing or not what it should be."""


class TooLarge(Unreadable):
    """A file asked for whole that is larger than the limit."""

    def __init__(self, path: Path, size: int) -> None:
        super().__init__(f"{path} is {size} bytes")
        self.size = size


class UnsafePath(Exception):
    """A directory root relies on is not what it should be (a symlink, or not root's)."""


@contextlib.contextmanager
def open_dir(path: Path) -> Iterator[int]:
    """A descriptor of the directory `path` itself (never of a symlink's target)."""
    fd = os.open(path, _DIR_FLAGS)
    try:
        yield fd
    finally:
        os.close(fd)


def make_dir(
    path: Path, mode: int, uid: int | None = None, gid: int | None = None, *, exist_ok: bool
) -> bool:
    """Create the directory `path` (its parent must exist) with `mode`, owned by `uid`/`gid`
    (root only; None keeps root's). Returns whether it was created now.

    An existing entry is only accepted with `exist_ok` and when it is a real directory; its
    owner and mode are left as they are."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if not exist_ok:
            raise
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafePath(f"{path} exists and is not a directory") from None
        return False
    with open_dir(path) as fd:
        if os.geteuid() == 0 and (uid is not None or gid is not None):
            os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
        os.fchmod(fd, mode)
    return True


def root_dir(path: Path, mode: int) -> None:
    """Make sure `path` (and its missing parents) is a directory that only root changes: one
    made now gets `mode`; an existing one must not be a symlink and, when Arcade runs as root,
    must belong to root and not be writable by others."""
    if not path.exists() and not path.is_symlink():
        path.parent.mkdir(parents=True, exist_ok=True)
        make_dir(path, mode, exist_ok=True)
        return
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UnsafePath(f"{path} must be a directory, not a symlink or a file")
    if os.geteuid() == 0 and (st.st_uid != 0 or st.st_mode & 0o022):
        mode_now = stat.S_IMODE(st.st_mode)
        raise UnsafePath(
            f"{path} belongs to uid {st.st_uid} with mode {mode_now:o}; Arcade Hub keeps "
            "session state there as root, so it must belong to root and be writable only by "
            f"root (chown root {path}; chmod go-w {path})"
        )


def set_owner(fd: int, uid: int | None, gid: int | None, mode: int) -> None:
    """Owner (as root) and mode of what `fd` is open on."""
    if os.geteuid() == 0 and (uid is not None or gid is not None):
        os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
    os.fchmod(fd, mode)


def create_file(
    directory: Path, name: str, mode: int, uid: int | None = None, gid: int | None = None
) -> int:
    """A new file `name` in the root-owned `directory`, open for writing (the caller closes
    it); never an existing file or a symlink's target."""
    with open_dir(directory) as dfd:
        fd = os.open(
            name,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=dfd,
        )
    try:
        set_owner(fd, uid, gid, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def replace_file(
    directory: Path, name: str, data: bytes, mode: int, uid: int | None = None,
    gid: int | None = None,
) -> None:
    """Atomically (re)write `name` in the root-owned `directory`."""
    tmp = f".{name}.{os.getpid()}.tmp"
    with open_dir(directory) as dfd:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dfd)
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
            dir_fd=dfd,
        )
        try:
            set_owner(fd, uid, gid, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)


@contextlib.contextmanager
def _beneath(root: Path, path: Path, directory: bool = False) -> Iterator[tuple[int, int]]:
    """(a descriptor of `path` beneath `root`, the uid of the owner of `root`), opened
    component by component without following a symlink; what is opened must be the owner's
    (and a regular file unless `directory`). Raises `Unreadable`, also for an OSError of the
    caller's while it holds the descriptor; closes everything afterwards."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        raise Unreadable(f"{path} is not inside {root}") from None
    if not parts or any(p in ("..", ".") for p in parts):
        raise Unreadable(f"{path} is not a file inside {root}")
    fds: list[int] = []
    try:
        fds.append(os.open(root, _DIR_FLAGS))
        owner = os.fstat(fds[0]).st_uid
        for part in parts[:-1]:
            fds.append(os.open(part, _DIR_FLAGS, dir_fd=fds[-1]))
        flags = _DIR_FLAGS if directory else (
            os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
        fds.append(os.open(parts[-1], flags, dir_fd=fds[-1]))
        st = os.fstat(fds[-1])
        if st.st_uid != owner or not (directory or stat.S_ISREG(st.st_mode)):
            raise Unreadable(f"{path} is not a regular file of its directory's owner")
        yield fds[-1], owner
    except OSError as e:
        raise Unreadable(f"{path}: {e.strerror}") from None
    finally:
        for f in fds:
            with contextlib.suppress(OSError):
                os.close(f)


def read_beneath(root: Path, path: Path, limit: int = LIMIT, tail: bool = True) -> bytes:
    """The last `limit` bytes of `path` (`tail`; else the whole file, `TooLarge` beyond
    `limit`), which must lie beneath `root` and be a regular file of the owner of `root`.
    Raises `Unreadable` otherwise (symlinks anywhere beneath `root`, FIFOs, devices, other
    owners' files)."""
    with _beneath(root, path) as (fd, _):
        size = os.fstat(fd).st_size
        if size > limit and not tail:
            raise TooLarge(path, size)
        if size > limit:
            os.lseek(fd, size - limit, os.SEEK_SET)
        chunks = []
        left = limit
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
    return b"".join(chunks)


def list_beneath(root: Path, path: Path, limit: int) -> list[tuple[str, int]]:
    """(name, size) of the regular files of the owner of `root` in the directory `path`
    beneath it (not in its subdirectories, no symlinks), sorted by name: at most `limit`,
    from the first `4 * limit` entries the directory yields (a bounded cost however many
    files it holds)."""
    found = []
    with _beneath(root, path, directory=True) as (fd, owner), os.scandir(fd) as entries:
        for _, entry in zip(range(4 * limit), entries, strict=False):
            with contextlib.suppress(OSError):
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(st.st_mode) and st.st_uid == owner:
                    found.append((entry.name, st.st_size))
    return sorted(found)[:limit]


def read_text_beneath(root: Path, path: Path, limit: int = LIMIT) -> str:
    return read_beneath(root, path, limit).decode(errors="replace")


async def remove_tree(path: Path) -> None:
    """Remove `path` and everything below it, in a thread: a user's scratch may hold a million
    files, which must not stall the hub or the service."""
    await asyncio.to_thread(shutil.rmtree, path, ignore_errors=True)

"""Read files the user controls (job logs, exit codes) without following their symlinks.

The service runs as root; a user could replace a directory in their home by a symlink to
somewhere they may not read. Every component is opened with O_NOFOLLOW relative to its parent,
and only regular files owned by the home's owner are read.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

LIMIT = 4 * 1024 * 1024


class Unreadable(Exception):
    pass


def read_beneath(root: Path, path: Path, limit: int = LIMIT) -> str:
    """The last `limit` bytes of `path`, which must lie beneath `root` and belong to the owner
    of `root`, as text."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        raise Unreadable(f"{path} is not inside {root}") from None
    if not parts or any(p in ("..", ".") for p in parts):
        raise Unreadable(f"{path} is not a file inside {root}")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    fds: list[int] = []
    try:
        fd = os.open(root, flags | os.O_DIRECTORY)
        fds.append(fd)
        owner = os.fstat(fd).st_uid
        for part in parts[:-1]:
            fd = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
            fds.append(fd)
        fd = os.open(parts[-1], flags | os.O_NONBLOCK, dir_fd=fd)
        fds.append(fd)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != owner:
            raise Unreadable(f"{path} is not a regular file of the home's owner")
        if st.st_size > limit:
            os.lseek(fd, st.st_size - limit, os.SEEK_SET)
        data = os.read(fd, limit)
    except OSError as e:
        raise Unreadable(f"{path}: {e.strerror}") from None
    finally:
        for f in fds:
            with contextlib.suppress(OSError):
                os.close(f)
    return data.decode(errors="replace")

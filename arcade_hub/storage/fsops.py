"""The file work of the storage service, done in a worker process running as a user.

Everything here runs with the uid and gids of the identity the worker was started as, so the
kernel checks every access as it would in that user's session. On top of that:

- a tree (a home or a project space) is entered from its root, an absolute path the root side
  derived from the user's or group's name, and every name below it is opened relative to its
  parent's descriptor with O_NOFOLLOW: a symlink anywhere is a link node, never a way out;
- files are opened without blocking (a FIFO is refused, not waited on), only when regular;
- an upload goes to a new hidden file beside its target (O_EXCL) and is renamed over it when
  complete, so sessions see the old file or the whole new one;
- a `Viewer` that is not the tree's owner sees only what is shared with it: every container on
  the way and the node itself readable by it (the node's `ispublic`, or `groupread` with one of
  its groups); the root side sends only reads for such viewers.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
MD5_ATTR = "user.arcade.md5"
"""`<md5 hex> <size> <mtime ns>` of a file the service received; stale once either changes."""
FILE_MODE = 0o660
"""New files: read-write for the owner and the group (a project's, by the setgid directory),
like the sessions' umask 007 makes them."""
DIR_MODE = 0o770
UPLOAD_INFIX = ".upload-"


class Refused(Exception):
    """An operation the user may not do or that cannot be done: an HTTP status, a VOSpace
    fault name and a message for the client."""

    def __init__(self, status: int, fault: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.fault = fault
        self.message = message


_ERRNO = {
    errno.ENOENT: (404, "NodeNotFound", "not found"),
    errno.ENOTDIR: (404, "NodeNotFound", "not found (a name on the way is not a container)"),
    errno.ELOOP: (404, "NodeNotFound", "not found (a name on the way is a link, never followed)"),
    errno.EACCES: (403, "PermissionDenied", "permission denied"),
    errno.EPERM: (403, "PermissionDenied", "permission denied"),
    errno.EEXIST: (409, "DuplicateNode", "already exists"),
    errno.ENOTEMPTY: (409, "DuplicateNode", "already exists and is not empty"),
    errno.EISDIR: (409, "DuplicateNode", "is a container"),
    errno.EXDEV: (409, "OperationNotSupported", "is on another volume: copy it instead"),
    errno.EINVAL: (400, "InvalidArgument", "invalid (a container cannot go inside itself)"),
    errno.ENAMETOOLONG: (400, "InvalidURI", "name too long"),
    errno.ENOSPC: (507, "InternalFault", "no space left on the storage"),
    errno.EDQUOT: (507, "InternalFault", "storage quota exceeded"),
}


def refusal(e: OSError, what: str) -> Refused:
    status, fault, words = _ERRNO.get(e.errno or 0, (500, "InternalFault", "failed"))
    return Refused(status, fault, f"{what}: {words}")


@dataclass(frozen=True)
class Viewer:
    """Who the worker acts for: the tree's owner (a home's user, a project's member) may do
    what the kernel allows; anyone else reads only what is shared: with the public (`o+r`) or
    with a group among `gids` (`g+r`)."""

    owner: bool = True
    gids: frozenset[int] = frozenset()

    def may_read(self, st: os.stat_result) -> bool:
        if self.owner or st.st_mode & stat.S_IROTH:
            return True
        return bool(st.st_mode & stat.S_IRGRP) and st.st_gid in self.gids


@contextlib.contextmanager
def opened_dir(root: str, names: tuple[str, ...], viewer: Viewer, what: str) -> Iterator[int]:
    """A descriptor of the container `names` below `root`, each step O_NOFOLLOW; for a viewer
    that is not the owner every container below the root must be readable by it."""
    fds: list[int] = []
    try:
        try:
            fds.append(os.open(root, DIR_FLAGS))
            for name in names:
                fds.append(os.open(name, DIR_FLAGS, dir_fd=fds[-1]))
                if not viewer.may_read(os.fstat(fds[-1])):
                    raise Refused(404, "NodeNotFound", f"{what}: not found")
        except OSError as e:
            raise refusal(e, what) from None
        yield fds[-1]
    finally:
        for fd in fds:
            os.close(fd)


def node_type(mode: int) -> str | None:
    if stat.S_ISDIR(mode):
        return "container"
    if stat.S_ISREG(mode):
        return "data"
    if stat.S_ISLNK(mode):
        return "link"
    return None  # FIFOs, sockets, devices: not nodes


def entry_info(dfd: int, name: str, st: os.stat_result) -> dict[str, Any] | None:
    kind = node_type(st.st_mode)
    if kind is None:
        return None
    info: dict[str, Any] = {
        "name": name,
        "type": kind,
        "size": st.st_size,
        "mtime": st.st_mtime,
        "uid": st.st_uid,
        "gid": st.st_gid,
        "mode": stat.S_IMODE(st.st_mode),
    }
    if kind == "link":
        with contextlib.suppress(OSError):
            info["target"] = os.readlink(name, dir_fd=dfd)
    return info


def stored_md5(fd: int, st: os.stat_result) -> str | None:
    """The MD5 the service recorded when it received the file, if the file is unchanged."""
    try:
        value = os.getxattr(fd, MD5_ATTR).decode()
    except (OSError, UnicodeDecodeError):
        return None
    digest, _, stamp = value.partition(" ")
    return digest if stamp == f"{st.st_size} {st.st_mtime_ns}" else None


def record_md5(fd: int, digest: str) -> None:
    """Note the MD5 of the file open as `fd` (best effort: some file systems have no xattrs)."""
    st = os.fstat(fd)
    with contextlib.suppress(OSError):
        os.setxattr(fd, MD5_ATTR, f"{digest} {st.st_size} {st.st_mtime_ns}".encode())


def lstat_at(dfd: int, name: str, what: str) -> os.stat_result:
    try:
        return os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except OSError as e:
        raise refusal(e, what) from None


def open_node(dfd: int, name: str, what: str) -> int:
    """The node `name` opened without following it: a container or a regular file."""
    st = lstat_at(dfd, name, what)
    kind = node_type(st.st_mode)
    if kind in ("link", None):
        raise Refused(
            409,
            "LinkFound" if kind else "InvalidArgument",
            f"{what}: is a link node; the service never follows links"
            if kind
            else f"{what}: not a file or container",
        )
    try:
        return os.open(name, DIR_FLAGS if kind == "container" else FILE_FLAGS, dir_fd=dfd)
    except OSError as e:
        raise refusal(e, what) from None


def node(root: str, inner: tuple[str, ...], viewer: Viewer, page: dict[str, Any]) -> dict[str, Any]:
    """The node's own information and, for a container, a page of its children."""
    what = "/".join(inner) or "the tree's root"
    if not inner:
        with opened_dir(root, (), Viewer(), what) as fd:
            st = os.fstat(fd)
            if not viewer.may_read(st):
                raise Refused(404, "NodeNotFound", f"{what}: not found")
            root_info: dict[str, Any] = {
                "name": "",
                "type": "container",
                "size": 0,
                "mtime": st.st_mtime,
                "uid": st.st_uid,
                "gid": st.st_gid,
                "mode": stat.S_IMODE(st.st_mode),
            }
            return {"node": root_info, "children": children(fd, page)}
    with opened_dir(root, inner[:-1], viewer, what) as dfd:
        st = lstat_at(dfd, inner[-1], what)
        info = entry_info(dfd, inner[-1], st)
        if info is None or not viewer.may_read(st):
            raise Refused(404, "NodeNotFound", f"{what}: not found")
        if info["type"] == "link":
            return {"node": info, "children": []}
        fd = open_node(dfd, inner[-1], what)
        try:
            if info["type"] == "data":
                info["md5"] = stored_md5(fd, os.fstat(fd))
                return {"node": info, "children": []}
            return {"node": info, "children": children(fd, page)}
        finally:
            os.close(fd)


_SORT = {
    "name": lambda i: i["name"],
    "length": lambda i: (i["size"], i["name"]),
    "date": lambda i: (i["mtime"], i["name"]),
}


def children(fd: int, page: dict[str, Any]) -> list[dict[str, Any]]:
    """Up to `page["limit"]` children after `page["start"]` in `page["sort"]` order."""
    limit = page.get("limit")
    if limit == 0:
        return []
    found = []
    with os.scandir(fd) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                info = entry_info(fd, entry.name, entry.stat(follow_symlinks=False))
                if info is not None:
                    found.append(info)
    found.sort(key=_SORT[page.get("sort", "name")], reverse=page.get("order") == "desc")
    start = page.get("start")
    if start is not None:
        names = [i["name"] for i in found]
        # from `start` itself: the `vos` client drops the first child of every page after
        # the first, which repeats the last one it has
        found = found[names.index(start) :] if start in names else found
    cap = page["cap"] if limit is None else min(limit, page["cap"])
    return found[:cap]


def read(root: str, inner: tuple[str, ...], viewer: Viewer) -> tuple[dict[str, Any], list[int]]:
    """A file opened for reading (its descriptor goes to the root side, which sends it), with
    its size and recorded MD5; a link node answers its target instead."""
    what = "/".join(inner) or "the tree's root"
    if not inner:
        raise Refused(409, "InvalidArgument", f"{what}: is a container, not a file")
    with opened_dir(root, inner[:-1], viewer, what) as dfd:
        st = lstat_at(dfd, inner[-1], what)
        info = entry_info(dfd, inner[-1], st)
        if info is None or not viewer.may_read(st):
            raise Refused(404, "NodeNotFound", f"{what}: not found")
        if info["type"] == "link":
            return info, []
        if info["type"] == "container":
            raise Refused(409, "InvalidArgument", f"{what}: is a container, not a file")
        fd = open_node(dfd, inner[-1], what)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Refused(409, "InvalidArgument", f"{what}: changed while opened")
        os.set_blocking(fd, True)
        info.update(size=st.st_size, mtime=st.st_mtime, md5=stored_md5(fd, st))
    except BaseException:
        os.close(fd)
        raise
    return info, [fd]

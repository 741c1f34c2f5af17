"""What the storage worker changes, as the user it runs as (see `fsops` for the rules):
containers, uploads (a hidden new file renamed over the target), deletions without following
links, moves, link nodes and the sharing bits."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
from typing import Any

from arcade_hub.storage.fsops import (
    DIR_FLAGS,
    DIR_MODE,
    FILE_MODE,
    UPLOAD_INFIX,
    Refused,
    Viewer,
    lstat_at,
    node_type,
    open_node,
    opened_dir,
    refusal,
)

OWNER = Viewer()


def _what(inner: tuple[str, ...]) -> str:
    return "/".join(inner) or "the tree's root"


def _not_root(inner: tuple[str, ...], verb: str) -> None:
    if not inner:
        raise Refused(
            403, "PermissionDenied", f"the root of a home or project space cannot be {verb}"
        )


def mkdir(root: str, inner: tuple[str, ...]) -> dict[str, Any]:
    _not_root(inner, "created")
    with opened_dir(root, inner[:-1], OWNER, _what(inner)) as dfd:
        try:
            os.mkdir(inner[-1], DIR_MODE, dir_fd=dfd)
        except OSError as e:
            raise refusal(e, _what(inner)) from None
    return {}


def upload(root: str, inner: tuple[str, ...]) -> tuple[dict[str, Any], list[int]]:
    """A new hidden file beside the target, open for writing (its descriptor goes to the root
    side, which writes the bytes); a file being replaced lends it its mode and group."""
    _not_root(inner, "replaced by a file")
    what = _what(inner)
    with opened_dir(root, inner[:-1], OWNER, what) as dfd:
        mode, gid = FILE_MODE, -1
        try:
            st = os.stat(inner[-1], dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        except OSError as e:
            raise refusal(e, what) from None
        if st is not None:
            kind = node_type(st.st_mode)
            if kind != "data":
                raise Refused(
                    409,
                    "DuplicateNode" if kind == "container" else "LinkFound",
                    f"{what}: is a {kind or 'special file'} node, not a file: it is "
                    "not replaced (and links are never written through)",
                )
            mode, gid = stat.S_IMODE(st.st_mode) & 0o777, st.st_gid
        short = inner[-1].encode()[:200].decode(errors="ignore")  # room for the suffix
        temp = f".{short}{UPLOAD_INFIX}{secrets.token_hex(8)}"
        try:
            fd = os.open(
                temp,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                FILE_MODE,
                dir_fd=dfd,
            )
        except OSError as e:
            raise refusal(e, what) from None
        with contextlib.suppress(OSError):
            if gid != -1 and gid != os.fstat(fd).st_gid:
                os.fchown(fd, -1, gid)
            os.fchmod(fd, mode)
    return {"temp": temp}, [fd]


def commit(root: str, inner: tuple[str, ...], temp: str) -> dict[str, Any]:
    """Put the finished upload in place of the target (one rename: never half a file)."""
    what = _what(inner)
    with opened_dir(root, inner[:-1], OWNER, what) as dfd:
        st = None
        with contextlib.suppress(FileNotFoundError):
            st = os.stat(inner[-1], dir_fd=dfd, follow_symlinks=False)
        if st is not None and node_type(st.st_mode) != "data":
            _unlink_quietly(dfd, temp)
            raise Refused(409, "DuplicateNode", f"{what}: became a container or link meanwhile")
        try:
            os.rename(temp, inner[-1], src_dir_fd=dfd, dst_dir_fd=dfd)
        except OSError as e:
            _unlink_quietly(dfd, temp)
            raise refusal(e, what) from None
    return {}


def abort(root: str, inner: tuple[str, ...], temp: str) -> dict[str, Any]:
    with opened_dir(root, inner[:-1], OWNER, _what(inner)) as dfd:
        _unlink_quietly(dfd, temp)
    return {}


def _unlink_quietly(dfd: int, name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=dfd)


def delete(root: str, inner: tuple[str, ...]) -> dict[str, Any]:
    """Remove a node; a container with everything in it (VOSpace's delete), without ever
    following a link (shutil's descriptor-based rmtree)."""
    _not_root(inner, "deleted")
    what = _what(inner)
    with opened_dir(root, inner[:-1], OWNER, what) as dfd:
        st = lstat_at(dfd, inner[-1], what)
        errors: list[str] = []
        try:
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(inner[-1], dir_fd=dfd, onerror=lambda _f, p, _e: errors.append(p))
            else:
                os.unlink(inner[-1], dir_fd=dfd)
        except OSError as e:
            raise refusal(e, what) from None
        if errors:
            raise Refused(
                403, "PermissionDenied", f"{what}: {len(errors)} entries could not be deleted"
            )
    return {"deleted": 1}


def move(
    root: str, inner: tuple[str, ...], dest_root: str, dest: tuple[str, ...]
) -> dict[str, Any]:
    """Move a node to `dest`, or into `dest` when that is an existing container; an existing
    file or link at the destination is not replaced."""
    _not_root(inner, "moved")
    _not_root(dest, "replaced")
    what = _what(inner)
    with opened_dir(root, inner[:-1], OWNER, what) as sfd:
        lstat_at(sfd, inner[-1], what)
        target_dir, name = dest[:-1], dest[-1]
        with opened_dir(dest_root, target_dir, OWNER, _what(dest)) as dfd:
            st = None
            with contextlib.suppress(FileNotFoundError):
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            if st is not None and stat.S_ISDIR(st.st_mode):
                target_dir, name = dest, inner[-1]
            elif st is not None:
                raise Refused(409, "DuplicateNode", f"{_what(dest)}: already exists")
        with opened_dir(dest_root, target_dir, OWNER, _what(dest)) as dfd:
            if _exists(dfd, name):
                raise Refused(409, "DuplicateNode", f"{_what((*target_dir, name))}: already exists")
            try:
                os.rename(inner[-1], name, src_dir_fd=sfd, dst_dir_fd=dfd)
            except OSError as e:
                raise refusal(e, what) from None
            _adopt_group(dfd, name)
    return {}


def _exists(dfd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _adopt_group(dfd: int, name: str) -> None:
    """A node moved into a setgid container (a project space) takes the container's group,
    as one created there would, so the project's members can use it."""
    parent = os.fstat(dfd)
    if not parent.st_mode & stat.S_ISGID:
        return
    with contextlib.suppress(Refused, OSError):
        fd = open_node(dfd, name, name)
        try:
            if os.fstat(fd).st_gid != parent.st_gid:
                os.fchown(fd, -1, parent.st_gid)
        finally:
            os.close(fd)


def link(root: str, inner: tuple[str, ...], target: str) -> dict[str, Any]:
    """A link node: a symlink whose text is the target (the service itself never follows)."""
    _not_root(inner, "replaced by a link")
    with opened_dir(root, inner[:-1], OWNER, _what(inner)) as dfd:
        try:
            os.symlink(target, inner[-1], dir_fd=dfd)
        except OSError as e:
            raise refusal(e, _what(inner)) from None
    return {}


def set_props(
    root: str, inner: tuple[str, ...], change: dict[str, Any], recursive: bool
) -> dict[str, Any]:
    """Apply the sharing bits (`change`: gid, set/clear bits for files and containers) to a
    node, and with `recursive` to everything below it; links are left alone."""
    what = _what(inner)
    with opened_dir(root, inner[:-1], OWNER, what) as dfd:
        fd = os.open(root, DIR_FLAGS) if not inner else open_node(dfd, inner[-1], what)
    done, failed = 0, 0
    try:
        _apply(fd, change, what)
        done += 1
        if recursive and stat.S_ISDIR(os.fstat(fd).st_mode):
            for _top, dirs, files, top_fd in os.fwalk(".", dir_fd=fd, follow_symlinks=False):
                for name in (*dirs, *files):
                    try:
                        child = open_node(top_fd, name, name)
                    except Refused:
                        continue  # links and special files
                    try:
                        _apply(child, change, name)
                        done += 1
                    except Refused:
                        failed += 1
                    finally:
                        os.close(child)
    finally:
        os.close(fd)
    return {"done": done, "failed": failed}


def _apply(fd: int, change: dict[str, Any], what: str) -> None:
    st = os.fstat(fd)
    is_dir = stat.S_ISDIR(st.st_mode)
    set_bits = change["dir_set" if is_dir else "set"]
    clear_bits = change["dir_clear" if is_dir else "clear"]
    try:
        gid = change.get("gid")
        if gid is not None and gid != st.st_gid:
            os.fchown(fd, -1, gid)
        mode = (stat.S_IMODE(st.st_mode) | set_bits) & ~clear_bits
        if gid is not None and gid != st.st_gid:
            mode &= ~change.get("regroup_clear", 0)
        if mode != stat.S_IMODE(st.st_mode) or gid is not None:
            os.fchmod(fd, mode)  # also after fchown, which clears setgid on files
    except OSError as e:
        words = refusal(e, what)
        if words.status == 403 and change.get("gid") is not None:
            words.message = (
                f"{what}: you can share only with a group you are a member of "
                "(one of your project spaces)"
            )
        raise words from None

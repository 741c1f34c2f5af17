"""The on-disk layout of a local session, created before it starts.

<data_dir>/sessions/<session id>/          private to the user (0700)
    datasets/<id>    read-only bind mount (root) or symlink (no root) of the dataset
    projects/<group> symlink to the group's project space (group-owned, setgid)
<home root>/<user>                         the user's home, the same in every session
<scratch root>/<session id>                removed when the session stops
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from arcade_hub.local.identity import Identity
from arcade_hub.spec import LaunchSpec, MountKind


@dataclass(frozen=True)
class SessionTree:
    session: Path
    home: Path
    projects: Path
    datasets: Path
    scratch: Path
    read_only_binds: tuple[tuple[str, str], ...]


def session_layout(spec: LaunchSpec, data_dir: Path, bind_datasets: bool) -> SessionTree:
    """Where a session's things are (pure: creates nothing)."""
    session = data_dir / "sessions" / spec.session_id
    datasets = session / "datasets"
    binds = tuple(
        (m.source, str(datasets / m.name))
        for m in spec.mounts_of(MountKind.dataset)
        if bind_datasets
    )
    return SessionTree(
        session=session,
        home=Path(spec.home.source),
        projects=session / "projects",
        datasets=datasets,
        scratch=Path(spec.mounts_of(MountKind.scratch)[0].source),
        read_only_binds=binds,
    )


def prepare_session_tree(
    spec: LaunchSpec, data_dir: Path, ident: Identity, bind_datasets: bool
) -> SessionTree:
    """Create the session's directories with the right owners; return where things are."""
    tree = session_layout(spec, data_dir, bind_datasets)
    _ensure_dir(data_dir, 0o711)
    _ensure_dir(tree.session.parent, 0o711)
    _ensure_dir(tree.session, 0o700, ident)
    datasets, projects = tree.datasets, tree.projects
    _ensure_dir(datasets, 0o755, ident)
    _ensure_dir(projects, 0o755, ident)
    _ensure_dir(tree.home.parent, 0o711)
    _ensure_dir(tree.home, 0o700, ident, only_if_new=True)
    _ensure_dir(tree.scratch.parent, 0o711)
    _ensure_dir(tree.scratch, 0o700, ident)

    for index, m in enumerate(spec.mounts_of(MountKind.project)):
        target = Path(m.source)
        _ensure_dir(target.parent, 0o711)
        gid = ident.groups[index] if index < len(ident.groups) else ident.gid
        _ensure_dir(
            target,
            0o2770,
            Identity(uid=0 if os.geteuid() == 0 else ident.uid, gid=gid),
            only_if_new=True,
        )
        _symlink(target, projects / m.name)

    for m in spec.mounts_of(MountKind.dataset):
        source = Path(m.source)
        if not source.is_dir():
            raise FileNotFoundError(
                f"dataset {m.name!r} is configured at {source}, which does not exist"
            )
        link = datasets / m.name
        if bind_datasets:
            link.mkdir(exist_ok=True)
        else:
            _symlink(source, link)
    return tree


def _ensure_dir(
    path: Path, mode: int, owner: Identity | None = None, *, only_if_new: bool = False
) -> None:
    existed = path.is_dir()
    path.mkdir(parents=True, exist_ok=True)
    if existed and only_if_new:
        return
    if owner is not None and os.geteuid() == 0:
        os.chown(path, owner.uid, owner.gid)
    os.chmod(path, mode)


def _symlink(target: Path, link: Path) -> None:
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)


def unreachable_reason(executable: str, ident: Identity) -> str | None:
    """Why `ident` cannot run `executable` or its script interpreter, or None if it can."""
    paths = [Path(executable)]
    with contextlib.suppress(OSError), open(executable, "rb") as f:
        first = f.readline(256)
        if first.startswith(b"#!"):
            paths.append(Path(first[2:].split()[0].decode()))
    for path in paths:
        for candidate in {path.absolute(), path.resolve()}:
            reason = blocked_path(candidate, ident)
            if reason:
                return reason
    return None


def blocked_path(path: Path, ident: Identity) -> str | None:
    """Which directory on the way to `path` `ident` may not enter, or None."""
    for part in [*reversed(path.parents), path]:
        st = part.stat()
        needed = stat.S_IXOTH
        if st.st_uid == ident.uid:
            needed = stat.S_IXUSR
        elif st.st_gid == ident.gid or st.st_gid in ident.groups:
            needed = stat.S_IXGRP
        if not st.st_mode & needed:
            mode = stat.S_IMODE(st.st_mode)
            return f"{part} (mode {mode:o}) cannot be entered by uid {ident.uid}"
    return None


def unreachable_message(reason: str) -> str:
    return (
        f"Sessions run as unprivileged users, but {reason}. Install Arcade Hub where other "
        "users can read it (scripts/setup.sh uses Debian's /usr/bin/python3), or set "
        "backend.local.run_as: hub-user."
    )

"""The on-disk layout of a local session, created before it starts.

<data_dir>/sessions/<session id>/       root's (0750, group: the user's own group)
    datasets/<id>     read-only bind mount point (root) or symlink (no root) of the dataset
    projects/<group>  symlink to the group's project space (group-owned, setgid)
    files/            the Jupyter server's root directory (what the file browser shows):
                      symlinks `home`, `projects`, `datasets` and `scratch`, side by side
    passwd, group     the session's names for nss_wrapper
    desktop-apps.json what the desktop menu offers
    apps/             app logs (root creates each, the user reads them)
    app.xauth         the desktop's cookie as root copied it, for app containers
    containers        the app containers the session started, removed at stop
    user/             the user's own (0700): ARCADE_SESSION_DIR, where the desktop publishes
                      `desktop.json` and its cookies and a job writes its exit status
<home root>/<user>                      the user's home, the same in every session
<scratch root>/<session id>             removed when the session stops

Everything root later reads back or mounts lies in the root-owned part; the user's part is only
read through `arcade_hub.local.safe_fs`. Nothing is changed by path below a place the user can
write (see docs/how-to/secure-the-deployment.md).
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from arcade_hub.launch.spec import LaunchSpec, MountKind
from arcade_hub.launch.storage import legacy_path_name, path_name
from arcade_hub.local.identity import Identity
from arcade_hub.local.safe_fs import make_dir, open_dir, root_dir, set_owner

USER_DIR = "user"
APP_LOGS = "apps"
FILES_DIR = "files"
FILES_HOME = "home"
"""The home's name in `files/`: a notebook session's file browser opens there."""


@dataclass(frozen=True)
class SessionTree:
    session: Path
    home: Path
    projects: Path
    datasets: Path
    scratch: Path
    read_only_binds: tuple[tuple[str, str], ...]

    @property
    def user_dir(self) -> Path:
        """The one directory of the session its user may write (ARCADE_SESSION_DIR)."""
        return self.session / USER_DIR

    @property
    def app_logs(self) -> Path:
        return self.session / APP_LOGS

    @property
    def files(self) -> Path:
        """The session's file browser root: home, project spaces, datasets and scratch."""
        return self.session / FILES_DIR


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
    """Create the session's directories with the right owners; return where things are.

    The session directory is new and root's while everything in it is made; the user gets
    `user/`, the home (when new) and scratch, each changed through its own descriptor."""
    tree = session_layout(spec, data_dir, bind_datasets)
    root_dir(data_dir, 0o711)
    root_dir(tree.session.parent, 0o711)
    make_dir(tree.session, 0o700, exist_ok=False)
    make_dir(tree.datasets, 0o755, exist_ok=False)
    make_dir(tree.projects, 0o755, exist_ok=False)
    make_dir(tree.app_logs, 0o750, gid=ident.gid, exist_ok=False)
    make_dir(tree.user_dir, 0o700, ident.uid, ident.gid, exist_ok=False)
    root_dir(tree.home.parent, 0o711)
    adopt_legacy_dir(tree.home, legacy_path_name(spec.username), uid=ident.uid)
    make_dir(tree.home, 0o700, ident.uid, ident.gid, exist_ok=True)
    root_dir(tree.scratch.parent, 0o711)
    make_dir(tree.scratch, 0o700, ident.uid, ident.gid, exist_ok=False)

    for index, m in enumerate(spec.mounts_of(MountKind.project)):
        target = Path(m.source)
        root_dir(target.parent, 0o711)
        gid = ident.groups[index] if index < len(ident.groups) else ident.gid
        owner = 0 if os.geteuid() == 0 else ident.uid
        adopt_legacy_dir(target, legacy_path_name(m.name), gid=gid)
        make_dir(target, 0o2770, owner, gid, exist_ok=True)
        (tree.projects / path_name(m.name)).symlink_to(target)

    for m in spec.mounts_of(MountKind.dataset):
        source = Path(m.source)
        if not source.is_dir():
            raise FileNotFoundError(
                f"dataset {m.name!r} is configured at {source}, which does not exist"
            )
        link = tree.datasets / m.name  # ids are validated names
        if bind_datasets:
            make_dir(link, 0o755, exist_ok=False)
        else:
            link.symlink_to(source)
    make_file_browser_root(tree)
    # Last: the user may enter (its group) once everything in it is in place.
    with open_dir(tree.session) as fd:
        set_owner(fd, None, ident.gid, 0o750)
    return tree


def make_file_browser_root(tree: SessionTree) -> None:
    """`files/`: the session's storage side by side, as the Jupyter server's root directory.

    Root makes it and its links in the session directory while that is still root's alone;
    root never follows them (the session's server, running as the user, does). The links of
    `projects` and `datasets` are relative, so they name the session's own directories (bind
    mounts inside its mount namespace); `home` and `scratch` name the user's directories.
    Nothing is made in the user's home."""
    make_dir(tree.files, 0o755, exist_ok=False)
    (tree.files / FILES_HOME).symlink_to(tree.home)
    (tree.files / "projects").symlink_to(Path("..") / tree.projects.name)
    (tree.files / "datasets").symlink_to(Path("..") / tree.datasets.name)
    (tree.files / "scratch").symlink_to(tree.scratch)


def adopt_legacy_dir(
    path: Path, legacy_name: str, *, uid: int | None = None, gid: int | None = None
) -> None:
    """Give a home or project space made by an older version (whose names had 32-bit hashes,
    `arcade_hub.launch.storage.legacy_path_name`) its current name, in the same root-owned parent.
    Only when it belongs to this user (`uid`) or group (`gid`): under the old names another
    user's name could collide with this one's."""
    legacy = path.with_name(legacy_name)
    if legacy == path or path.exists() or path.is_symlink():
        return
    try:
        st = os.lstat(legacy)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        return
    if os.geteuid() == 0 and ((uid is not None and st.st_uid != uid) or (
        gid is not None and st.st_gid != gid
    )):
        return
    os.rename(legacy, path)


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

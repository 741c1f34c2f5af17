"""Names for per-user uids that have no entry in /etc/passwd, through nss_wrapper.

Sessions of a hub running as root run under uids handed out by Arcade, which the system does
not know. Without a passwd entry, shells print "I have no name!" and dbus-daemon (which the
desktop needs) refuses to start. With Debian's libnss-wrapper installed, each session gets its
own passwd and group files naming its user and groups; without it, nothing changes.
"""

from __future__ import annotations

import glob
from pathlib import Path

from arcade_hub.launch.storage import path_name
from arcade_hub.local.identity import Identity
from arcade_hub.local.safe_fs import replace_file

LIBRARY_GLOBS = ("/usr/lib/*/libnss_wrapper.so", "/usr/lib/libnss_wrapper.so")


def nss_wrapper_library() -> str | None:
    for pattern in LIBRARY_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def write_nss_files(
    session_dir: Path, username: str, ident: Identity, home: Path, groups: dict[str, int]
) -> None:
    """Write passwd/group files for a session of a per-user uid (when nss_wrapper exists)."""
    if nss_wrapper_library() is None or ident.is_hub_user:
        return
    name = path_name(username)
    passwd = (
        "root:x:0:0:root:/root:/bin/sh\n"
        f"{name}:x:{ident.uid}:{ident.gid}:Arcade user {name}:{home}:/bin/bash\n"
    )
    lines = ["root:x:0:", f"{name}:x:{ident.gid}:"]
    lines += [f"{path_name(g)}:x:{gid}:{name}" for g, gid in sorted(groups.items())]
    # in the root-owned session directory (arcade_hub.local.paths)
    replace_file(session_dir, "passwd", passwd.encode(), 0o644)
    replace_file(session_dir, "group", ("\n".join(lines) + "\n").encode(), 0o644)


def nss_environment(session_dir: Path) -> dict[str, str]:
    """The environment that makes a session's processes use its passwd/group files."""
    library = nss_wrapper_library()
    passwd = session_dir / "passwd"
    if library is None or not passwd.exists():
        return {}
    return {
        "LD_PRELOAD": library,
        "NSS_WRAPPER_PASSWD": str(passwd),
        "NSS_WRAPPER_GROUP": str(session_dir / "group"),
    }

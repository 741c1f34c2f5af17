"""What happens in a session's first process between fork and exec.

In order: join the session's cgroup, enter a private mount namespace, cover the datasets the
user may not use and bind the chosen ones read-only into the session directory (root only),
pin CPUs where no cgroup limits them, drop to the user's uid/gid, and move into the home
directory. Only async-signal-tolerant work:
no logging, no allocation-heavy code paths beyond what CPython needs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from arcade_hub.local.cgroups import SessionCgroup, join
from arcade_hub.local.identity import Identity

CLONE_NEWNS = 0x00020000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000


@dataclass(frozen=True)
class Sandbox:
    """Everything the preexec function needs, computed before the fork."""

    identity: Identity
    home: str
    cgroup: SessionCgroup | None = None
    cpus: frozenset[int] | None = None
    read_only_binds: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    hidden: tuple[str, ...] = field(default_factory=tuple)
    """Host paths covered by an empty read-only tmpfs (datasets the user may not use)."""
    umask: int = 0o022


def read_only_binds_supported() -> bool:
    """Private mount namespaces need root (CAP_SYS_ADMIN)."""
    return os.geteuid() == 0


def make_preexec(sandbox: Sandbox) -> Callable[[], None]:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)

    def check(result: int, what: str) -> None:
        if result != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    def preexec() -> None:
        if sandbox.cgroup is not None:
            join(sandbox.cgroup)
        if sandbox.read_only_binds or sandbox.hidden:
            check(libc.unshare(CLONE_NEWNS), "unshare mount namespace")
            check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
            for path in sandbox.hidden:
                flags = MS_RDONLY | MS_NOSUID | MS_NODEV
                check(
                    libc.mount(b"tmpfs", path.encode(), b"tmpfs", flags, b"size=4k,mode=0555"),
                    f"hide {path}",
                )
            for source, target in sandbox.read_only_binds:
                src, dst = source.encode(), target.encode()
                check(libc.mount(src, dst, None, MS_BIND | MS_REC, None), f"bind {source}")
                flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV
                check(libc.mount(None, dst, None, flags, None), f"read-only {source}")
        if sandbox.cpus:
            os.sched_setaffinity(0, sandbox.cpus)
        ident = sandbox.identity
        if os.geteuid() == 0 and ident.uid != 0:
            os.setgroups(list(ident.groups))
            os.setgid(ident.gid)
            os.setuid(ident.uid)
        os.umask(sandbox.umask)
        os.chdir(sandbox.home)

    return preexec

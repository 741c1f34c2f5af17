"""Desktop session launcher, started by jupyter-server-proxy for ``/desktop-websockify/``.

It runs Xvnc with the RFB protocol on a unix socket only (no VNC or X11 TCP port), a per-session
X authorization cookie, and an openbox session under ``dbus-launch``. It publishes the display
in ``$ARCADE_SESSION_DIR/desktop.json`` and a FamilyWild cookie for X clients started elsewhere.
Run as ``python -m arcade_hub.desktop.session --rfb-socket PATH``; on SIGTERM/SIGINT/SIGHUP, or
when Xvnc or the window manager exits, every process it started is stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import logging
import os
import pwd
import secrets
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import psutil

from arcade_hub import contract
from arcade_hub.secret_files import write_private_file

from .menu import DesktopApp, load_apps, parse_apps, render_menu, render_rc
from .xauth import new_cookie, write_xauthority

log = logging.getLogger("arcade_hub.desktop")

ENV_SESSION_ID = contract.SESSION_ID
ENV_SESSION_DIR = contract.SESSION_DIR
ENV_APPS = contract.DESKTOP_APPS
ENV_LAUNCH_COMMAND = contract.DESKTOP_LAUNCH_COMMAND
ENV_TERMINAL = contract.DESKTOP_TERMINAL
ENV_GEOMETRY = contract.DESKTOP_GEOMETRY

DEFAULT_LAUNCH = "arcade-launch"
DEFAULT_TERMINAL = "xterm"
DEFAULT_GEOMETRY = "1680x1050"
X11_UNIX_DIR = Path("/tmp/.X11-unix")
DISPLAY_TIMEOUT = 30.0
APPS_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
CRASH_LOOP_SECONDS = 10.0
# Desktop background: a two-tone pattern, so clients can tell desktop pixels from a blank frame.
STARTUP_SCRIPT = """#!/bin/sh
xsetroot -cursor_name left_ptr -mod 4 4 -fg '#2a5275' -bg '#1d3b57'
# A hint that stays: where the menu is (no panel). In the desktop's colours, not a white box.
if command -v xmessage >/dev/null 2>&1; then
    xmessage -geometry +16+16 -bg '#1d3b57' -fg '#ffffff' -bd '#2a5275' -fn 10x20 \\
        -buttons '' -name arcade-hint \\
        'Arcade desktop: click the background for the menu (terminal, apps, CASA)' &
fi
"""
ENV_AUTOSTART = contract.AUTOSTART


def startup_script(launch_command: Sequence[str], autostart: str | None) -> str:
    """The window manager's startup script; opens the session's app when it has one."""
    if not autostart:
        return STARTUP_SCRIPT
    command = shlex.join([*launch_command, autostart])
    return STARTUP_SCRIPT + f"{command} &\n"

_KILL_AT_ONCE = frozenset({"dbus-launch"})
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class DesktopSettings:
    """Everything the launcher needs, read once from the command line and environment."""

    rfb_socket: Path
    session_dir: Path
    session_id: str
    apps_file: Path | None = None
    launch_command: tuple[str, ...] = (DEFAULT_LAUNCH,)
    terminal_command: tuple[str, ...] = (DEFAULT_TERMINAL,)
    geometry: str = DEFAULT_GEOMETRY
    owns_session_dir: bool = False

    @classmethod
    def from_env(cls, rfb_socket: Path, env: Mapping[str, str]) -> DesktopSettings:
        """Build settings from ``env``; creates a private temp session dir if none is given."""
        session_id = env.get(ENV_SESSION_ID) or f"desktop-{secrets.token_hex(8)}"
        owns = not env.get(ENV_SESSION_DIR)
        if owns:
            session_dir = Path(tempfile.mkdtemp(prefix="arcade-desktop-"))
        else:
            session_dir = Path(env[ENV_SESSION_DIR])
            session_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        apps = env.get(ENV_APPS)
        return cls(
            rfb_socket=rfb_socket,
            session_dir=session_dir,
            session_id=session_id,
            apps_file=Path(apps) if apps else None,
            launch_command=tuple(shlex.split(env.get(ENV_LAUNCH_COMMAND) or DEFAULT_LAUNCH)),
            terminal_command=tuple(shlex.split(env.get(ENV_TERMINAL) or DEFAULT_TERMINAL)),
            geometry=env.get(ENV_GEOMETRY) or DEFAULT_GEOMETRY,
            owns_session_dir=owns,
        )

    @property
    def server_auth(self) -> Path:
        return self.session_dir / "xvnc.xauth"

    @property
    def app_auth(self) -> Path:
        """FamilyWild cookie for X clients (XAUTHORITY)."""
        return self.session_dir / "app.xauth"

    @property
    def info_file(self) -> Path:
        return self.session_dir / "desktop.json"

    @property
    def menu_file(self) -> Path:
        return self.session_dir / "openbox-menu.xml"

    @property
    def rc_file(self) -> Path:
        return self.session_dir / "openbox-rc.xml"

    @property
    def startup_file(self) -> Path:
        return self.session_dir / "openbox-startup.sh"


def menu_apps(settings: DesktopSettings) -> list[DesktopApp]:
    """The apps for the menu: as the platform's apps API lists them for this session's user
    (`arcade-launch --list --json`: the group policy and what can run here, with reasons),
    else the session's apps file."""
    try:
        done = subprocess.run(
            [*settings.launch_command, "--list", "--json"],
            capture_output=True, text=True, timeout=APPS_TIMEOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if done.returncode == 0:
            apps = parse_apps(json.loads(done.stdout))
            log.info("the menu lists %d apps from the platform", len(apps))
            return apps
        log.warning("arcade-launch --list: %s", done.stderr.strip()[-500:])
    except (OSError, subprocess.TimeoutExpired, ValueError) as e:
        log.warning("the platform's app list is unavailable (%s): using the apps file", e)
    return load_apps(settings.apps_file)


def xvnc_command(settings: DesktopSettings, displayfd: int) -> list[str]:
    """Xvnc arguments: RFB on a 0600 unix socket only, X11 on unix sockets with a cookie."""
    return [
        "Xvnc",
        "-displayfd", str(displayfd),
        "-rfbunixpath", str(settings.rfb_socket),
        "-rfbunixmode", "0600",
        "-rfbport", "-1",
        "-nolisten", "tcp",
        "-auth", str(settings.server_auth),
        "-SecurityTypes", "None",
        "-geometry", settings.geometry,
        "-depth", "24",
        "-desktop", "Arcade Desktop",
        "-AcceptSetDesktopSize=1",
        "-SendCutText=1",
        "-AcceptCutText=1",
    ]  # fmt: skip


def window_manager_command(settings: DesktopSettings, session_bus: bool = True) -> list[str]:
    """openbox (under ``dbus-launch`` for a session bus) with the session's rc.xml and startup."""
    openbox = [
        "openbox", "--config-file", str(settings.rc_file),
        "--startup", shlex.quote(str(settings.startup_file)),
    ]  # fmt: skip
    return ["dbus-launch", "--exit-with-session", *openbox] if session_bus else openbox


def has_passwd_entry(uid: int) -> bool:
    """dbus-daemon refuses to start for a uid without a passwd entry (arbitrary-uid pods)."""
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def desktop_info(settings: DesktopSettings, display: int, xvnc_pid: int) -> dict[str, object]:
    """Content of ``desktop.json``: how other processes find and draw on the display."""
    return {
        "display": f":{display}",
        "x_socket": str(X11_UNIX_DIR / f"X{display}"),
        "xauthority": str(settings.app_auth),
        "session_id": settings.session_id,
        "launcher_pid": os.getpid(),
        "xvnc_pid": xvnc_pid,
    }


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl failed")


def _die_with_parent() -> None:
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


@dataclass
class DesktopSession:
    """The running processes of one desktop; ``start`` then ``wait``, always ``stop``."""

    settings: DesktopSettings
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    display: int | None = None
    xvnc: subprocess.Popen[bytes] | None = None
    wm: subprocess.Popen[bytes] | None = None
    started: float = 0.0

    def start(self) -> None:
        s = self.settings
        self.env[ENV_SESSION_ID] = s.session_id
        self.env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        self.env.pop("SESSION_MANAGER", None)
        _ensure_x11_unix_dir()
        # jupyter-server-proxy reuses the socket path when it restarts us; we remove its
        # private dir on stop, so make it again if needed.
        s.rfb_socket.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        cookie = new_cookie()
        write_xauthority(s.server_auth, None, cookie)
        read_fd, write_fd = os.pipe()
        try:
            self.xvnc = subprocess.Popen(
                xvnc_command(s, write_fd),
                env=self.env,
                pass_fds=(write_fd,),
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
            os.close(write_fd)
            self.display = _read_display(read_fd, DISPLAY_TIMEOUT)
        finally:
            os.close(read_fd)
        write_xauthority(s.app_auth, self.display, cookie)
        self.env["DISPLAY"] = f":{self.display}"
        self.env["XAUTHORITY"] = str(s.app_auth)
        s.menu_file.write_text(
            render_menu(menu_apps(s), s.launch_command, s.terminal_command)
        )
        s.rc_file.write_text(render_rc(s.menu_file))
        s.startup_file.write_text(startup_script(s.launch_command, self.env.get(ENV_AUTOSTART)))
        s.startup_file.chmod(0o700)
        # Published before the window manager starts, so its startup apps find the display.
        info = json.dumps(desktop_info(s, self.display, self.xvnc.pid), indent=2) + "\n"
        write_private_file(s.info_file, info.encode())
        session_bus = has_passwd_entry(os.getuid())
        if not session_bus:
            log.warning("uid %d has no passwd entry: no D-Bus session bus", os.getuid())
        self.started = time.monotonic()
        self.wm = subprocess.Popen(
            window_manager_command(s, session_bus),
            env=self.env,
            cwd=self.env.get("HOME") or None,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        log.info("desktop on display :%d, info in %s", self.display, s.info_file)

    def wait(self) -> int:
        """Reap children (and adopted orphans) until Xvnc or the window manager exits."""
        assert self.xvnc is not None and self.wm is not None
        watched = {self.xvnc.pid: self.xvnc, self.wm.pid: self.wm}
        while True:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                return 1
            proc = watched.get(pid)
            if proc is None:
                continue
            proc.returncode = os.waitstatus_to_exitcode(status)
            log.warning("%s exited with %s", proc.args[0], proc.returncode)  # type: ignore[index]
            # Non-zero makes jupyter-server-proxy start a fresh desktop, unless it died
            # right away: then a restart would only loop.
            return 1 if time.monotonic() - self.started > CRASH_LOOP_SECONDS else 0

    def stop(self) -> None:
        """Terminate every descendant, then remove the published files."""
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        stop_descendants(STOP_TIMEOUT)
        for proc in (self.xvnc, self.wm):
            if proc is not None and proc.returncode is None:
                proc.returncode = -1  # reaped by stop_descendants
        s = self.settings
        for path in (s.info_file, s.app_auth, s.server_auth):
            path.unlink(missing_ok=True)
        if self.display is not None:
            _remove_stale_display(self.display, self.xvnc.pid if self.xvnc else None)
        if s.owns_session_dir:
            shutil.rmtree(s.session_dir, ignore_errors=True)
        _remove_proxy_socket_dir(s.rfb_socket)


def stop_descendants(timeout: float) -> None:
    """SIGTERM all descendants, SIGKILL those still alive after ``timeout`` seconds.

    The ``dbus-launch`` babysitter gets SIGKILL at once: on SIGTERM it signals the bus (which
    gets our SIGTERM anyway) and then sleeps 3 s before exiting.
    """
    procs = psutil.Process().children(recursive=True)
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            if proc.name() in _KILL_AT_ONCE:
                proc.kill()
            else:
                proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            log.warning("killing %s (pid %d) that ignored SIGTERM", proc.name(), proc.pid)
            proc.kill()
    psutil.wait_procs(alive, timeout=timeout)


def _ensure_x11_unix_dir() -> None:
    """Xvnc needs /tmp/.X11-unix; an unprivileged server cannot create it sticky itself."""
    try:
        X11_UNIX_DIR.mkdir(mode=0o1777)
    except FileExistsError:
        return
    X11_UNIX_DIR.chmod(0o1777)


def _read_display(fd: int, timeout: float) -> int:
    """Read the display number Xvnc writes to ``-displayfd`` once it accepts connections."""
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise TimeoutError("Xvnc did not report a display in time")
        chunk = os.read(fd, 64)
        if not chunk:
            raise RuntimeError("Xvnc exited before reporting a display")
        data += chunk
    return int(data.strip())


def _remove_proxy_socket_dir(socket_path: Path) -> None:
    """Remove jupyter-server-proxy's ``mkdtemp`` socket dir, which it never cleans up."""
    socket_path.unlink(missing_ok=True)
    if socket_path.parent.name.startswith("jupyter-server-proxy-"):
        with contextlib.suppress(OSError):
            socket_path.parent.rmdir()


def _remove_stale_display(display: int, xvnc_pid: int | None) -> None:
    """Remove the lock file and X socket if a killed Xvnc left them behind."""
    lock = Path(f"/tmp/.X{display}-lock")
    try:
        owner = int(lock.read_text().strip())
    except (OSError, ValueError):
        return
    if owner == xvnc_pid and not psutil.pid_exists(owner):
        lock.unlink(missing_ok=True)
        (X11_UNIX_DIR / f"X{display}").unlink(missing_ok=True)


def run(settings: DesktopSettings) -> int:
    """Start the desktop, wait for it to end or for a stop signal, then clean up."""
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    parent = os.getppid()
    _die_with_parent()  # the jupyter server may be SIGKILLed: stop with it
    if os.getppid() != parent:
        return 1
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _raise_stop)
    session = DesktopSession(settings)
    try:
        session.start()
        return session.wait()
    except _Stop as stop:
        log.info("stopping desktop on %s", stop)
        return 0
    finally:
        session.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rfb-socket", type=Path, required=True, help="RFB unix socket path")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[arcade-desktop %(levelname)s] %(message)s")
    if not os.environ.get(ENV_SESSION_ID):
        log.warning("%s is not set; generating one for this desktop", ENV_SESSION_ID)
    settings = DesktopSettings.from_env(args.rfb_socket, os.environ)
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())

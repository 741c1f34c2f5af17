"""Desktop apps as podman containers, through the real hub: a desktop session, an app whose image
is in local podman storage (a real X client, `xdpyinfo`, with its shared libraries), launched
through the platform API; it draws on the desktop's display with the session cookie and is
refused without it; stopping the session leaves no container and no process.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from arcade_hub.images.conformance.podman import Podman
from tests.conftest import shared_tmp
from tests.hub import PLATFORM, RunningHub, env_of, processes_mentioning, running_hub, wait_for

pytestmark = pytest.mark.integration

IMAGE = "localhost/arcade-test/xcheck:1"
BUSYBOX = Path("/bin/busybox")
XDPYINFO = Path("/usr/bin/xdpyinfo")
# Writes what it saw into $HOME (the user's home, mounted read-write), then stays running.
XCHECK = """#!/bin/sh
out="$HOME/xcheck-$ARCADE_SESSION_ID"
xdpyinfo > "$out.with-cookie" 2>&1; echo $? > "$out.with-cookie.status"
XAUTHORITY=/nonexistent xdpyinfo > "$out.without-cookie" 2>&1
echo $? > "$out.without-cookie.status"
echo "$(id -u) $DISPLAY $ARCADE_APP" > "$out.who"
exec sleep 600
"""


def shared_libraries(binary: Path) -> list[Path]:
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    return [Path(w) for line in out.splitlines() for w in line.split() if w.startswith("/")]


def build_rootfs_tar(path: Path) -> None:
    """xdpyinfo with its libraries, static busybox for sh/sleep/id, and the check script."""

    def add_file(tar: tarfile.TarFile, source: Path, name: str, mode: int = 0o755) -> None:
        data = source.read_bytes()
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), mode
        tar.addfile(info, io.BytesIO(data))

    def add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.mode = tarfile.DIRTYPE, mode
        tar.addfile(info)

    script = path.parent / "xcheck"
    script.write_text(XCHECK)
    dirs = {"bin", "tmp", "usr", "usr/bin", "usr/local", "usr/local/bin"}
    libs = shared_libraries(XDPYINFO)
    for lib in libs:
        parts = lib.parent.relative_to("/").parts
        dirs |= {"/".join(parts[: i + 1]) for i in range(len(parts))}
    with tarfile.open(path, "w") as tar:
        for d in sorted(dirs):
            add_dir(tar, d, 0o1777 if d == "tmp" else 0o755)
        add_file(tar, BUSYBOX, "bin/busybox")
        for applet in ("sh", "sleep", "id", "echo"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        add_file(tar, XDPYINFO, "usr/bin/xdpyinfo")
        add_file(tar, script, "usr/local/bin/xcheck")
        for lib in libs:
            add_file(tar, lib.resolve(), str(lib.relative_to("/")))


@pytest.fixture(scope="module")
def podman_env() -> Iterator[dict[str, str]]:
    """Private podman storage (CONTAINERS_STORAGE_CONF) holding the app image."""
    if os.geteuid() != 0:
        pytest.skip("the embedded platform runs per-user sessions only as root")
    for tool in ("Xvnc", "openbox", "xauth", "ldd"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    if not XDPYINFO.exists() or not BUSYBOX.exists():
        pytest.skip("needs x11-utils (xdpyinfo) and busybox-static for the test image")
    root = shared_tmp()
    conf = root / "containers.conf"
    # the sandbox lacks CAP_SYS_RESOURCE: podman's default ulimits cannot be raised
    conf.write_text('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=32768:32768"]\n')
    storage = root / "storage.conf"
    storage.write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{root}/root"\nrunroot = "{root}/runroot"\n'
    )
    env = {"CONTAINERS_CONF": str(conf), "CONTAINERS_STORAGE_CONF": str(storage)}
    tool = Podman(env={**os.environ, **env})
    reason = tool.unavailable_reason()
    if reason:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"podman cannot run here: {reason}")
    tar = root / "rootfs.tar"
    build_rootfs_tar(tar)
    tool.check(
        [
            "import", "-q",
            "--change", "LABEL org.arcade-hub.kind=desktop-app",
            "--change", "LABEL org.arcade-hub.title=X check",
            "--change", "LABEL org.arcade-hub.command=/usr/local/bin/xcheck",
            str(tar), IMAGE,
        ]
    )  # fmt: skip
    try:
        yield env
    finally:
        leftovers = tool.call(["ps", "-aq"]).stdout.split()
        for container in leftovers:
            tool.remove(container)
        tool.call(["system", "reset", "--force"], timeout=120)
        shutil.rmtree(root, ignore_errors=True)
        assert not leftovers, f"containers left behind: {leftovers}"


@pytest.fixture(scope="module")
def hub(podman_env: dict[str, str]) -> Iterator[RunningHub]:
    tmp = shared_tmp()
    platform = yaml.safe_load(PLATFORM.read_text())
    platform["catalogue"].append(
        # no `local` block: it can only run as a container
        {"name": "xcheck", "title": "X check", "kind": "desktop-app", "group": "Tools",
         "image": IMAGE}
    )  # fmt: skip
    config = tmp / "platform.yaml"
    config.write_text(yaml.safe_dump(platform))
    try:
        with running_hub(tmp, config, extra_env=podman_env) as h:
            yield h
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def podman_ps(env: dict[str, str], session_id: str) -> list[str]:
    out = subprocess.run(
        ["podman", "ps", "-a", "--format", "{{.Names}}", "--filter",
         f"label=org.arcade-hub.session-id={session_id}"],
        env={**os.environ, **env}, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    return out.split()


SESSION_CORES = 0.5
SESSION_RAM = 2**30
LIMITS = "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}}"


def podman_inspect(env: dict[str, str], container: str, template: str) -> str:
    return subprocess.run(
        ["podman", "inspect", "--format", template, container],
        env={**os.environ, **env}, capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip


def start_desktop(hub: RunningHub, user: str, server: str) -> None:
    """Open the desktop's websocket once, as the browser does, so Xvnc starts."""
    headers = {
        "Authorization": f"token {hub.token}",
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    url = f"{hub.url}/user/{user}/{server}/desktop-websockify/"
    with httpx.stream("GET", url, headers=headers, timeout=60) as r:
        assert r.status_code == 101, r.status_code


def test_app_with_a_local_image_runs_as_a_container_on_the_desktop(
    hub: RunningHub, podman_env: dict[str, str]
) -> None:
    hub.api("POST", "/users/carol")
    r = hub.api(
        "POST",
        "/users/carol/servers/desk",
        json={"image": "desktop", "cores": SESSION_CORES, "ram": SESSION_RAM // 2**30},
    )
    assert r.status_code in (201, 202), r.text
    hub.wait_ready("carol", "desk")
    env = env_of(hub, "carol", "desk")
    session_id = env["ARCADE_SESSION_ID"]
    desktop_json = Path(env["ARCADE_SESSION_DIR"]) / "desktop.json"
    start_desktop(hub, "carol", "desk")
    wait_for(desktop_json.exists, 30, "the desktop to publish its display")

    url = f"{env['ARCADE_API_URL']}/users/carol/sessions/desk/apps"
    own = {"Authorization": f"token {env['JUPYTERHUB_API_TOKEN']}"}
    listed = httpx.get(url, headers=own, timeout=30)
    assert "xcheck" in [a["name"] for a in listed.json()["apps"]], listed.text
    r = httpx.post(url, headers=own, json={"app": "xcheck"}, timeout=60)
    assert r.status_code == 201, r.text
    launched = r.json()
    assert launched["runs_as"] == "container" and launched["image"] == IMAGE

    home = Path(env["ARCADE_HOME"])
    out = home / f"xcheck-{session_id}"
    who = Path(f"{out}.who")
    try:
        wait_for(lambda: who.exists() and who.read_text().strip(), 60, "the app to run")
    except AssertionError:
        raise AssertionError(Path(launched["log"]).read_text()[-2000:]) from None
    display = json.loads(desktop_json.read_text())
    # with the session's cookie, the X client in the container talks to the desktop's server
    assert Path(f"{out}.with-cookie.status").read_text().strip() == "0"
    info = Path(f"{out}.with-cookie").read_text()
    assert f"name of display:    {display['display']}" in info, info
    # without it, the same display refuses it
    assert Path(f"{out}.without-cookie.status").read_text().strip() != "0"
    assert "unable to open display" in Path(f"{out}.without-cookie").read_text()
    # as the session's own uid, not root
    uid, shown_display, app = who.read_text().split()
    assert int(uid) == home.stat().st_uid != 0
    assert (shown_display, app) == (display["display"], "xcheck")
    assert podman_ps(podman_env, session_id) == [launched["container"]]
    # held to the session's size: the container is outside the session's cgroup
    limits = podman_inspect(podman_env, launched["container"], LIMITS)
    assert limits.split() == [str(SESSION_RAM), str(SESSION_RAM), str(int(SESSION_CORES * 1e9))]
    record = hub.data_dir / "sessions" / f"{session_id}.containers"
    assert record.read_text().split() == [launched["container"]]
    assert record.stat().st_uid == os.geteuid()  # not the session user's to edit

    started = time.monotonic()
    hub.stop_server("carol", "desk")
    assert podman_ps(podman_env, session_id) == []
    assert not record.exists()
    assert f"Removed app containers ['{launched['container']}']" in hub.log.read_text()
    left = processes_mentioning(session_id)
    assert not left, left
    print(f"\nstop with an app container: {time.monotonic() - started:.1f}s")

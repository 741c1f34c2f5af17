"""A session user attacks the root side of the embedded platform from their own processes.

The hub and the arcade service run as root; a session's user controls their home, scratch and
their session's `user/` directory, and their own jobs and desktop run while root works there.
Before each root operation (desktop-app launch, session stop, job teardown) the user plants
symlinks, FIFOs and rewritten state files aimed at a victim directory outside the session;
nothing outside the session may change owner, mode or content, and root must neither hang nor
follow what was planted. (docs/how-to/secure-the-deployment.md lists every root operation.)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from arcade_hub.hub_config import free_port
from tests.hub import (
    RunningHub,
    env_of,
    hub_with_document,
    processes_mentioning,
    running_hub,
    shared_tmp,
    wait_for,
    wait_for_none,
)
from tests.integration.test_podman_apps import start_desktop

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="the root side exists only when the hub is root"),
]

for tool in ("Xvnc", "openbox", "xterm", "dbus-launch"):
    if shutil.which(tool) is None:
        pytest.skip(f"desktop tool {tool} is not installed", allow_module_level=True)


@pytest.fixture
def victim() -> Iterator[Path]:
    """Root's things outside any session: a private file, a private and a public directory."""
    base = shared_tmp()
    target = base / "victim"
    target.mkdir(mode=0o700)
    (target / "secret").write_text("root only\n")
    (target / "secret").chmod(0o600)
    (target / "dir").mkdir(mode=0o700)
    (target / "dir" / "keep").write_text("keep me\n")
    (base / "public").mkdir(mode=0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def snapshot(base: Path) -> dict[str, tuple[int, int, int, str]]:
    """Owner, group, mode and content (or listing) of everything under `base`."""
    found = {}
    for path in [base, *sorted(base.rglob("*"))]:
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode):
            what = hashlib.sha256(path.read_bytes()).hexdigest()
        elif stat.S_ISDIR(st.st_mode):
            what = ",".join(sorted(p.name for p in path.iterdir()))
        else:
            what = os.readlink(path) if stat.S_ISLNK(st.st_mode) else "other"
        found[str(path)] = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), what)
    return found


def as_user(
    env: dict[str, str], script: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `script` as the session's own uid, as the user's job or terminal would."""
    owner = Path(env["ARCADE_HOME"]).stat()
    done = subprocess.run(
        ["/bin/sh", "-c", script],
        user=owner.st_uid,
        group=owner.st_gid,
        extra_groups=[],
        env={"PATH": "/usr/bin:/bin", "S": env["ARCADE_SESSION_DIR"], "HOME": env["ARCADE_HOME"],
             "SCRATCH": env["ARCADE_SCRATCH"]},
        capture_output=True,
        text=True,
        timeout=30,
    )  # fmt: skip
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def desktop(hub: RunningHub) -> Iterator[dict[str, str]]:
    """A running desktop of alice's with its display published; stopped afterwards."""
    hub.api("POST", "/users/alice")
    r = hub.api("POST", "/users/alice/servers/hostile", json={"image": "desktop"})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready("alice", "hostile")
    env = env_of(hub, "alice", "hostile")
    start_desktop(hub, "alice", "hostile")
    published = Path(env["ARCADE_SESSION_DIR"]) / "desktop.json"
    wait_for(published.exists, 30, "the desktop to publish its display")
    try:
        yield env
    finally:
        if (hub.server("alice", "hostile") or {}).get("ready"):
            hub.stop_server("alice", "hostile")


def launch(env: dict[str, str], app: str = "xterm") -> httpx.Response:
    url = f"{env['ARCADE_API_URL']}/users/alice/sessions/hostile/apps"
    own = {"Authorization": f"token {env['JUPYTERHUB_API_TOKEN']}"}
    return httpx.post(url, headers=own, json={"app": app}, timeout=20)


def test_the_session_directory_is_roots_and_only_user_is_the_users(
    hub: RunningHub, desktop: dict[str, str], victim: Path
) -> None:
    session = Path(desktop["ARCADE_SESSION_DIR"]).parent
    user_dir = Path(desktop["ARCADE_SESSION_DIR"])
    uid = Path(desktop["ARCADE_HOME"]).stat().st_uid
    assert user_dir.name == "user"
    assert (user_dir.stat().st_uid, stat.S_IMODE(user_dir.stat().st_mode)) == (uid, 0o700)
    st = session.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, uid, 0o750)
    for name in ("datasets", "projects", "apps", "passwd", "group", "desktop-apps.json"):
        assert (session / name).lstat().st_uid == 0, name
    # The user cannot replace what root uses in there.
    for script in (
        f'rm -rf "$S/../apps"; ln -s {victim / "victim"} "$S/../apps"',
        'mv "$S/../datasets" "$S/../d2"',
        f'ln -s {victim / "victim"} "$S/../projects/evil"',
        'echo "root::0:0::/:/bin/sh" > "$S/../passwd"',
    ):
        assert as_user(desktop, script, check=False).returncode != 0, script
    assert (session / "apps").is_dir() and not (session / "apps").is_symlink()


def test_app_launch_takes_only_the_display_from_what_the_user_wrote(
    hub: RunningHub, desktop: dict[str, str], victim: Path
) -> None:
    user_dir = Path(desktop["ARCADE_SESSION_DIR"])
    published = json.loads((user_dir / "desktop.json").read_text())
    before = snapshot(victim)
    # Rewritten state: the cookie and the X socket "are" root's files; logs dir symlinks.
    forged = {**published, "xauthority": str(victim / "victim" / "secret"),
              "x_socket": str(victim / "victim" / "dir")}  # fmt: skip
    as_user(desktop, f"cat > \"$S/desktop.json\" <<'EOF'\n{json.dumps(forged)}\nEOF\n"
            f'rm -rf "$S/apps"; ln -s {victim / "public"} "$S/apps"')  # fmt: skip
    r = launch(desktop)
    assert r.status_code == 201, r.text
    launched = r.json()
    log = Path(launched["log"])
    assert log.parent == user_dir.parent / "apps"  # root's directory, not one the user names
    st = log.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (
        0,
        Path(desktop["ARCADE_HOME"]).stat().st_gid,
        0o640,
    )
    environ = Path(f"/proc/{launched['pid']}/environ").read_bytes().split(b"\0")
    assert f"XAUTHORITY={user_dir / 'app.xauth'}".encode() in environ
    assert f"DISPLAY={published['display']}".encode() in environ
    assert snapshot(victim) == before


@pytest.mark.parametrize(
    "plant",
    [
        'rm "$S/desktop.json"; mkfifo "$S/desktop.json"',
        'rm "$S/desktop.json"; ln -s /etc/shadow "$S/desktop.json"',
        'echo \'{"display": ":0; rm -rf /"}\' > "$S/desktop.json"',
        'head -c 1000000 /dev/zero | tr "\\0" " " > "$S/desktop.json"',
    ],
    ids=["fifo", "symlink", "bad-display", "huge"],
)
def test_a_broken_desktop_file_is_refused_at_once(
    hub: RunningHub, desktop: dict[str, str], plant: str
) -> None:
    user_dir = Path(desktop["ARCADE_SESSION_DIR"])
    original = (user_dir / "desktop.json").read_text()
    as_user(desktop, plant)
    r = launch(desktop)  # answered within the request's timeout: not stuck on a FIFO
    assert r.status_code == 409, r.text
    assert "the desktop of this session is not running yet" in r.json()["message"]
    restore = f'rm -f "$S/desktop.json"; cat > "$S/desktop.json" <<\'EOF\'\n{original}EOF\n'
    as_user(desktop, restore)
    assert launch(desktop).status_code == 201  # and the service still works


def test_stop_removes_the_session_without_following_planted_links(
    hub: RunningHub, desktop: dict[str, str], victim: Path
) -> None:
    before = snapshot(victim)
    target = victim / "victim"
    as_user(
        desktop,
        f"""
        ln -s {target} "$S/to-victim"; ln -s {target}/secret "$S/secret"
        mkfifo "$S/fifo"; mkdir -p "$S/deep/er"; ln -s {target} "$S/deep/er/link"
        ln -s {target} "$SCRATCH/to-victim"; mkfifo "$SCRATCH/fifo"
        mkdir -p "$SCRATCH/a/b"; ln -s {target}/dir "$SCRATCH/a/b/c"
    """,
    )
    session = Path(desktop["ARCADE_SESSION_DIR"]).parent
    scratch = Path(desktop["ARCADE_SCRATCH"])
    hub.stop_server("alice", "hostile")
    assert not session.exists() and not scratch.exists()
    assert snapshot(victim) == before
    assert not wait_for_none(lambda: processes_mentioning(desktop["ARCADE_SESSION_ID"]), 10)


def jobs_api(hub: RunningHub, token: str, method: str, path: str, **kw: object) -> httpx.Response:
    return httpx.request(
        method, f"{hub.url}/services/arcade/skaha/v1/{path}",
        headers={"Authorization": f"Bearer {token}"}, timeout=30, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.parametrize("ending", ["finishes", "deleted"])
def test_job_teardown_does_not_follow_what_the_job_planted(
    hub: RunningHub, victim: Path, ending: str
) -> None:
    token = hub.user_token("alice")
    before = snapshot(victim)
    target = victim / "victim"
    plant = (
        f'ln -s {target} "$ARCADE_SCRATCH/to-victim"; mkfifo "$ARCADE_SCRATCH/fifo"; '
        f'ln -s {target}/secret "$ARCADE_SESSION_DIR/exit-status"; '
        f'ln -s {target} "$ARCADE_SESSION_DIR/to-victim"; mkfifo "$ARCADE_SESSION_DIR/fifo"; '
        f"echo planted; {'sleep 600' if ending == 'deleted' else 'exit 3'}"
    )
    r = jobs_api(hub, token, "POST", "session",
                 params={"name": "plant", "image": "batch", "type": "headless",
                         "cmd": "/bin/sh", "args": f"-c '{plant}'"})  # fmt: skip
    assert r.status_code == 200, r.text
    job = r.text.strip()

    def state() -> dict[str, object]:
        got = jobs_api(hub, token, "GET", f"session/{job}")
        assert got.status_code == 200, got.text
        body: dict[str, object] = got.json()
        return body

    wait_for(
        lambda: (
            "planted" in jobs_api(hub, token, "GET", f"session/{job}", params={"view": "logs"}).text
        ),
        60,
        "the job to plant",
    )
    if ending == "deleted":
        assert jobs_api(hub, token, "DELETE", f"session/{job}").status_code == 200
        wait_for(
            lambda: jobs_api(hub, token, "GET", f"session/{job}").status_code == 404,
            60,
            "the job to be gone",
        )
    else:
        done = wait_for(
            lambda: s if (s := state())["status"] == "Failed" else None, 60, "the job to end"
        )
        # the exit status came from the process, not from the planted symlink
        assert done["exitCode"] == 3, done
    assert snapshot(victim) == before
    # torn down before the job's end was recorded: its scratch and session directory are gone
    for root in ("scratch", "sessions"):
        assert not list((hub.data_dir / root).rglob("to-victim")), root


FORK_BOMB = (
    "grep :pids: /proc/self/cgroup; "
    "(i=0; while [ $i -lt 100 ]; do sleep 60 & i=$((i+1)); done); "
    "echo after-bomb; exec sleep 60"
)


def test_a_fork_bomb_stops_at_the_sessions_process_limit() -> None:
    with hub_with_document({"backend": {"local": {"max_processes": 32}}}) as hub:
        token = hub.user_token("alice")
        r = jobs_api(hub, token, "POST", "session",
                     params={"name": "bomb", "image": "batch", "type": "headless",
                             "cmd": "/bin/sh", "args": f"-c '{FORK_BOMB}'"})  # fmt: skip
        assert r.status_code == 200, r.text
        job = r.text.strip()

        def log() -> str:
            return jobs_api(hub, token, "GET", f"session/{job}", params={"view": "logs"}).text

        text = wait_for(lambda: t if "after-bomb" in (t := log()) else None, 60, "the bomb")
        cgroup = Path("/sys/fs/cgroup/pids" + text.splitlines()[0].split(":", 2)[2])
        assert "/arcade/" in str(cgroup), text  # the session's own pids cgroup
        assert (cgroup / "pids.max").read_text().strip() == "32"
        assert int((cgroup / "pids.current").read_text()) <= 32
        assert "Cannot fork" in text, text  # the shell could not start all 100
        assert jobs_api(hub, token, "DELETE", f"session/{job}").status_code == 200
        wait_for(lambda: not cgroup.exists(), 30, "the job's cgroup to go")


def test_a_second_platform_cannot_hand_out_the_same_uids() -> None:
    claims = shared_tmp()
    other = shared_tmp()
    env = {"ARCADE_UID_CLAIMS": str(claims / "uid-ranges.json")}
    try:
        with running_hub(claims, extra_env=env) as first:
            second = subprocess.run(
                [sys.executable, "-m", "arcade_hub", "run", "--data-dir", str(other / "data"),
                 "--port", str(free_port())],
                env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert second.returncode == 2, second.stdout + second.stderr
            assert "backend.local.uid_range 200000..299999 overlaps 200000..299999" in (
                second.stderr
            )
            assert str(first.data_dir) in second.stderr
            assert first.api("GET", "/users").status_code == 200  # the first one runs on
    finally:
        shutil.rmtree(claims, ignore_errors=True)
        shutil.rmtree(other, ignore_errors=True)

"""The podman command for desktop apps in containers, and which way an app runs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from arcade_hub.config import CatalogueEntry, Kind
from arcade_hub.config.loader import parse_config
from arcade_hub.launch.spec import LaunchSpec, Mount, MountKind
from arcade_hub.local import podman_apps
from arcade_hub.local.identity import Identity
from arcade_hub.local.paths import session_layout
from arcade_hub.local.podman_apps import AppContainer, Bind, choose, podman_run_command
from arcade_hub.local.session import Desktop, LocalSession

PLATFORM = parse_config(Path("tests/platform.yaml").read_text())


def entry(**local: object) -> CatalogueEntry:
    data: dict[str, object] = {
        "name": "casa-6.7",
        "title": "CASA 6.7",
        "kind": "desktop-app",
        "image": "localhost/casa:6.7",
    }
    if local:
        data["local"] = local
    return CatalogueEntry.model_validate(data)


def container(**changes: object) -> AppContainer:
    base = AppContainer(
        name="arcade-0123456789ab-casa-6.7-abcdef",
        image="localhost/casa:6.7",
        command=("casa", "--nologger"),
        session_id="0123456789ab",
        app="casa-6.7",
        username="alice",
        uid=200001,
        gid=200001,
        groups=(200001, 300002),
        display=":3",
        x11_dir="/tmp/.X11-unix",
        xauthority="/data/sessions/0123456789ab/app.xauth",
        workdir="/data/home/alice",
        binds=(
            Bind("/data/home/alice", "/data/home/alice"),
            Bind("/srv/alma", "/data/sessions/0123456789ab/datasets/alma", read_only=True),
        ),
        env={"ARCADE_HOME": "/data/home/alice", "HOME": "/data/home/alice"},
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def pairs(cmd: list[str], flag: str) -> list[str]:
    return [cmd[i + 1] for i, arg in enumerate(cmd) if arg == flag]


def test_run_command_is_locked_down_and_shares_only_the_display() -> None:
    cmd = podman_run_command(container())
    assert cmd[:3] == ["podman", "run", "--rm"]
    for flag in ("--pull=never", "--network=none", "--read-only"):
        assert flag in cmd
    assert pairs(cmd, "--cap-drop") == ["ALL"]
    assert pairs(cmd, "--security-opt") == ["no-new-privileges"]
    assert pairs(cmd, "--user") == ["200001:200001"]
    assert pairs(cmd, "--group-add") == ["300002"]
    assert "--userns=keep-id" not in cmd
    assert pairs(cmd, "-v") == [
        "/tmp/.X11-unix:/tmp/.X11-unix:ro",
        f"/data/sessions/0123456789ab/app.xauth:{podman_apps.CONTAINER_XAUTHORITY}:ro",
        "/data/home/alice:/data/home/alice:rw",
        "/srv/alma:/data/sessions/0123456789ab/datasets/alma:ro",
    ]
    assert pairs(cmd, "--label") == [
        "org.arcade-hub.session-id=0123456789ab",
        "org.arcade-hub.app=casa-6.7",
        "org.arcade-hub.user=alice",
    ]
    env = dict(e.split("=", 1) for e in pairs(cmd, "-e"))
    assert env == {
        "ARCADE_HOME": "/data/home/alice",
        "HOME": "/data/home/alice",
        "ARCADE_SESSION_ID": "0123456789ab",
        "ARCADE_APP": "casa-6.7",
        "DISPLAY": ":3",
        "XAUTHORITY": podman_apps.CONTAINER_XAUTHORITY,
    }
    assert pairs(cmd, "--workdir") == ["/data/home/alice"]
    # the command replaces the image's entrypoint; the image comes right before its arguments
    assert cmd[-4:] == ["--entrypoint", "casa", "localhost/casa:6.7", "--nologger"]
    assert "-p" not in cmd and "--publish" not in cmd and "--privileged" not in cmd


def test_app_container_is_held_to_the_sessions_cores_and_ram() -> None:
    cmd = podman_run_command(container(cores=1.5, ram_bytes=2 * 2**30))
    assert "--cpus=1.5" in cmd
    assert f"--memory={2 * 2**30}" in cmd and f"--memory-swap={2 * 2**30}" in cmd
    assert cmd.index("--cpus=1.5") < cmd.index("localhost/casa:6.7")


def test_rootless_keeps_the_id_and_adds_no_groups() -> None:
    cmd = podman_run_command(container(rootless=True, runtime="runc"), podman="/usr/bin/podman")
    assert cmd[:4] == ["/usr/bin/podman", "--runtime", "runc", "run"]
    assert "--userns=keep-id" in cmd and "--group-add" not in cmd


def test_without_a_command_the_image_default_runs() -> None:
    cmd = podman_run_command(container(command=()))
    assert cmd[-1] == "localhost/casa:6.7" and "--entrypoint" not in cmd


def test_app_command_prefers_the_image_label_then_local_cmd() -> None:
    e = entry(cmd=["xterm", "-e", "casa"])
    assert podman_apps.app_command({"org.arcade-hub.command": "casa --nogui"}, e) == (
        "casa",
        "--nogui",
    )
    assert podman_apps.app_command({}, e) == ("xterm", "-e", "casa")
    assert podman_apps.app_command({}, entry()) == ()


def test_container_env_drops_host_only_variables() -> None:
    env = podman_apps.container_env(
        {
            "ARCADE_HOME": "/h",
            "ARCADE_SESSION_DIR": "/s",
            "ARCADE_DESKTOP_APPS": "/s/a.json",
            "ARCADE_DESKTOP_LAUNCH_COMMAND": "/venv/bin/arcade-launch",
            "PATH": "/venv/bin:/usr/bin",
            "LD_PRELOAD": "libnss_wrapper.so",
            "HOME": "/h",
            "USER": "alice",
        }
    )
    assert env == {"ARCADE_HOME": "/h", "HOME": "/h", "USER": "alice"}


@pytest.mark.parametrize(
    ("containers", "podman_reason", "present", "local_reason", "local", "how"),
    [
        (True, None, True, None, {"cmd": ["xterm"]}, "container"),
        (True, None, True, None, None, "container"),
        (True, None, False, None, {"cmd": ["xterm"]}, "local"),
        (True, "podman is not installed", True, None, {"cmd": ["xterm"]}, "local"),
        (False, None, True, None, {"cmd": ["xterm"]}, "local"),
        (True, None, False, None, None, None),
        (True, None, False, "xterm not found. install xterm", {"cmd": ["xterm"]}, None),
        (False, None, True, None, {"requires": ["xterm"]}, None),
    ],
)
def test_choice_rule(
    containers: bool,
    podman_reason: str | None,
    present: bool,
    local_reason: str | None,
    local: dict[str, object] | None,
    how: str | None,
) -> None:
    e = entry(**local) if local else entry()
    choice = choose(
        e,
        containers=containers,
        podman_reason=podman_reason,
        image_present=present,
        local_reason=local_reason,
    )
    assert choice.how == how
    if how is None:
        assert choice.reason.startswith(
            "CASA 6.7 is not available on this machine (for operators: not as a container, as "
        )
        assert "not as a local command" in choice.reason


def test_refusal_says_what_to_do() -> None:
    reason = choose(
        entry(), containers=True, podman_reason=None, image_present=False, local_reason=None
    ).reason
    assert "localhost/casa:6.7 is not in this machine's podman storage" in reason
    assert "podman pull localhost/casa:6.7" in reason and "no `local` block" in reason
    off = choose(
        entry(), containers=False, podman_reason=None, image_present=True, local_reason=None
    )
    assert "backend.local.app_containers" in off.reason


def test_container_for_a_session_mounts_its_storage_where_the_desktop_has_it(
    tmp_path: Path,
) -> None:
    spec = LaunchSpec(
        username="alice",
        server_name="desk",
        session_id="0123456789ab",
        kind=Kind.desktop,
        entry="desktop",
        title="Linux desktop",
        image="ghcr.io/arcade-hub/desktop:0.1.0",
        cores=1,
        ram_gib=1,
        gpus=0,
        dataset="alma",
        mounts=(
            Mount(kind=MountKind.home, name="home", source=str(tmp_path / "home/alice")),
            Mount(kind=MountKind.project, name="radio", source=str(tmp_path / "projects/radio")),
            Mount(kind=MountKind.dataset, name="alma", source="/srv/alma", read_only=True),
            Mount(kind=MountKind.scratch, name="scratch", source=str(tmp_path / "scratch/0123")),
        ),
    )
    tree = session_layout(spec, tmp_path / "data", bind_datasets=True)
    ident = Identity(uid=200001, gid=200001, groups=(300002,))
    session = LocalSession(spec, PLATFORM, tmp_path / "data", ident, tree, None, None)
    desktop = Desktop(7, Path("/tmp/.X11-unix/X7"), tree.user_dir / "app.xauth")
    c = podman_apps.container_for(
        session,
        entry(cmd=["xterm"]),
        desktop,
        xauthority=tree.session / "app.xauth",
        command=("xterm",),
        name="n",
        rootless=False,
        runtime=None,
    )
    # root's own paths only: the sockets' directory and root's copy of the cookie
    assert c.x11_dir == "/tmp/.X11-unix" and c.display == ":7"
    assert c.xauthority == str(tree.session / "app.xauth")
    assert (c.uid, c.gid, c.groups) == (200001, 200001, (300002,))
    assert c.workdir == str(tmp_path / "home/alice")
    assert set(c.binds) == {
        Bind(str(tmp_path / "home/alice"), str(tmp_path / "home/alice")),
        Bind(str(tmp_path / "scratch/0123"), str(tmp_path / "scratch/0123")),
        Bind(str(tmp_path / "projects/radio"), str(tree.projects / "radio")),
        Bind("/srv/alma", str(tree.datasets / "alma"), read_only=True),
    }
    assert c.env["ARCADE_SESSION_ID"] == "0123456789ab"
    assert c.env["ARCADE_DATASETS"] == str(tree.datasets)
    assert "ARCADE_SESSION_DIR" not in c.env and "PATH" not in c.env
    assert "--group-add" in podman_run_command(c)


def test_containers_are_recorded_beside_the_users_session_dir(tmp_path: Path) -> None:
    session = tmp_path / "sessions" / "0123456789ab"
    session.mkdir(parents=True)
    assert podman_apps.recorded_containers(session) == []
    podman_apps.record_container(session, "a")
    podman_apps.record_container(session, "b")
    assert podman_apps.recorded_containers(session) == ["a", "b"]
    assert podman_apps.containers_file(session) == tmp_path / "sessions/0123456789ab.containers"


async def test_nothing_recorded_runs_no_podman(tmp_path: Path) -> None:
    assert await podman_apps.remove_session_containers(tmp_path, podman="/nonexistent") == []


def test_config_switch_defaults_to_auto() -> None:
    assert PLATFORM.backend.local.app_containers == "auto"
    text = Path("tests/platform.yaml").read_text()
    off = parse_config(text + '\nbackend: {local: {app_containers: "off"}}\n')
    assert off.backend.local.app_containers == "off"

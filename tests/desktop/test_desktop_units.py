"""Unit tests of the desktop's pure parts: menu, rc.xml, cookies, settings, proxy config."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
from traitlets.config import Config

from arcade_hub.desktop import secure_xsrf_cookie
from arcade_hub.desktop.menu import DesktopApp, parse_apps, render_menu, render_rc
from arcade_hub.desktop.proxy import PROXY_NAME, install_proxy_config, server_process_spec
from arcade_hub.desktop.session import (
    DesktopSettings,
    desktop_info,
    window_manager_command,
    xvnc_command,
)
from arcade_hub.desktop.xauth import FAMILY_WILD, parse_xauthority, write_xauthority
from arcade_hub.hub_config import free_port
from tests.hub import wait_for

MENU_NS = "{http://openbox.org/3.4/menu}"
RC_NS = "{http://openbox.org/3.4/rc}"


def _items(menu: ET.Element) -> list[tuple[str, str]]:
    return [
        (item.get("label", ""), item.findtext(f"{MENU_NS}action/{MENU_NS}command", ""))
        for item in menu.findall(f"{MENU_NS}item")
    ]


def test_menu_groups_apps_and_keeps_terminal_local() -> None:
    apps = parse_apps(
        [
            {"name": "casa-6.7", "title": "CASA", "group": "Radio", "version": "6.7.0"},
            {"name": "ds9", "title": 'DS9 <fast> & "good"', "group": "Imaging", "version": "8"},
            {"name": "topcat", "title": "TOPCAT 4.9", "group": "Imaging", "version": "4.9"},
            {"name": "odd name", "title": "Loose"},
        ]
    )
    xml = render_menu(apps, ["arcade-launch"], ["xterm"])
    root = ET.fromstring(xml).find(f"{MENU_NS}menu")
    assert root is not None and root.get("id") == "root-menu"
    assert _items(root) == [("Terminal", "xterm"), ("Loose", "arcade-launch 'odd name'")]
    groups = {m.get("label"): _items(m) for m in root.findall(f"{MENU_NS}menu")}
    assert groups == {
        "Radio": [("CASA 6.7.0", "arcade-launch casa-6.7")],
        "Imaging": [
            ('DS9 <fast> & "good" 8', "arcade-launch ds9"),
            ("TOPCAT 4.9", "arcade-launch topcat"),
        ],
    }
    ids = [m.get("id") for m in root.iter(f"{MENU_NS}menu")]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    "raw",
    [{"name": "x"}, [{"title": "no name"}], [{"name": ""}], [{"name": "x", "group": ["a"]}]],
)
def test_parse_apps_rejects_bad_input(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_apps(raw)


def test_app_label() -> None:
    assert DesktopApp("a", "A", version="1").label == "A 1"
    assert DesktopApp("a", "A 1.0", version="1.0").label == "A 1.0"


def test_every_catalogue_app_is_listed_unavailable_ones_marked_and_one_terminal() -> None:
    """CASA 6.7.6 cannot run here: it is in the menu, marked, and choosing it runs
    `arcade-launch`, which says why; the catalogue's xterm is the menu's own Terminal."""
    apps = parse_apps([
        {"name": "xterm", "title": "Terminal (xterm)", "group": "Tools", "available": True},
        {"name": "casa-6.7.0", "title": "CASA 6.7.0", "group": "CASA", "available": True},
        {"name": "casa-6.7.6", "title": "CASA 6.7.6", "group": "CASA", "available": False,
         "reason": "CASA 6.7.6 is not installed on this machine"},
    ])  # fmt: skip
    assert apps[2].reason.endswith("not installed on this machine") and not apps[1].reason
    root = ET.fromstring(render_menu(apps, ["arcade-launch"], ["xterm"])).find(f"{MENU_NS}menu")
    assert root is not None
    assert _items(root) == [("Terminal", "xterm")]  # once
    groups = {m.get("label"): _items(m) for m in root.findall(f"{MENU_NS}menu")}
    assert groups == {"CASA": [
        ("CASA 6.7.0", "arcade-launch casa-6.7.0"),
        ("CASA 6.7.6 (unavailable)", "arcade-launch casa-6.7.6"),
    ]}  # fmt: skip


def test_the_menu_comes_from_the_platform_else_the_apps_file(tmp_path: Path) -> None:
    from arcade_hub.desktop.session import DesktopSettings, menu_apps

    listing = tmp_path / "arcade-launch"
    listing.write_text('#!/bin/sh\necho \'[{"name": "ds9", "title": "DS9", "available": true}]\'\n')
    listing.chmod(0o755)
    apps_file = tmp_path / "apps.json"
    apps_file.write_text('[{"name": "xterm", "title": "Terminal"}]')
    settings = DesktopSettings(rfb_socket=tmp_path / "s", session_dir=tmp_path, session_id="x",
                               apps_file=apps_file, launch_command=(str(listing),))  # fmt: skip
    assert [a.name for a in menu_apps(settings)] == ["ds9"]
    broken = DesktopSettings(rfb_socket=tmp_path / "s", session_dir=tmp_path, session_id="x",
                             apps_file=apps_file, launch_command=("false",))  # fmt: skip
    assert [a.name for a in menu_apps(broken)] == ["xterm"]


def test_menu_fonts_are_readable(tmp_path: Path) -> None:
    rc = ET.fromstring(render_rc(tmp_path / "menu.xml"))
    sizes = {f.get("place"): int(f.findtext(f"{RC_NS}size") or 0)
             for f in rc.iterfind(f".//{RC_NS}font")}  # fmt: skip
    assert sizes["MenuItem"] >= 12 and sizes["MenuHeader"] >= 12


def test_rc_points_at_session_menu_and_binds_root_menu(tmp_path: Path) -> None:
    rc = ET.fromstring(render_rc(tmp_path / "a&b" / "menu.xml"))
    assert rc.findtext(f"{RC_NS}menu/{RC_NS}file") == str(tmp_path / "a&b" / "menu.xml")
    shown = [
        a.findtext(f"{RC_NS}menu")
        for a in rc.iterfind(f".//{RC_NS}context[@name='Root']//{RC_NS}action")
    ]
    assert "root-menu" in shown


def test_xauthority_is_family_wild_and_private(tmp_path: Path) -> None:
    path = tmp_path / "app.xauth"
    cookie = bytes(range(16))
    write_xauthority(path, 7, cookie)
    assert path.stat().st_mode & 0o777 == 0o600
    assert parse_xauthority(path.read_bytes()) == [
        (FAMILY_WILD, b"", b"7", b"MIT-MAGIC-COOKIE-1", cookie)
    ]
    if shutil.which("xauth"):
        listed = subprocess.run(
            ["xauth", "-f", str(path), "nlist"], capture_output=True, text=True, check=True
        ).stdout.split()
        assert listed == [
            "ffff",
            "0000",
            "0001",
            "37",
            "0012",
            "4d49542d4d414749432d434f4f4b49452d31",
            "0010",
            cookie.hex(),
        ]


def test_settings_from_env(tmp_path: Path) -> None:
    env = {
        "ARCADE_SESSION_ID": "s1",
        "ARCADE_SESSION_DIR": str(tmp_path / "sess"),
        "ARCADE_DESKTOP_APPS": "/apps.json",
        "ARCADE_DESKTOP_LAUNCH_COMMAND": "arcade-launch --desktop",
    }
    s = DesktopSettings.from_env(Path("/run/rfb"), env)
    assert (s.session_id, s.session_dir, s.owns_session_dir) == ("s1", tmp_path / "sess", False)
    assert (tmp_path / "sess").stat().st_mode & 0o777 == 0o700
    assert s.apps_file == Path("/apps.json")
    assert s.launch_command == ("arcade-launch", "--desktop")
    assert s.terminal_command == ("xterm",)
    fallback = DesktopSettings.from_env(Path("/run/rfb"), {})
    try:
        assert fallback.owns_session_dir and fallback.session_id.startswith("desktop-")
        assert fallback.session_dir.stat().st_mode & 0o777 == 0o700
    finally:
        shutil.rmtree(fallback.session_dir)


class AppsApi(BaseHTTPRequestHandler):
    """The platform API's app list, as `arcade-launch --list` reads it."""

    def do_GET(self) -> None:
        ok = (self.path == "/api/v1/users/al%20ice/sessions/desk/apps"
              and self.headers.get("Authorization") == "token t0k")
        body = json.dumps({"apps": [{"name": "xterm", "title": "Terminal", "group": "Tools"}]}
                          if ok else {"message": "no"}).encode()
        self.send_response(200 if ok else 403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_menu_apps_come_from_the_api_without_an_apps_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a pod on Kubernetes no apps file is written: the menu lists what the platform's API
    says this session may open (the real `arcade-launch --list --json`); without the API, the
    menu has only the terminal."""
    from arcade_hub.desktop.session import menu_apps

    server = ThreadingHTTPServer(("127.0.0.1", 0), AppsApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    launch = (sys.executable, "-m", "arcade_hub.launch_cli")
    settings = DesktopSettings(rfb_socket=tmp_path / "s", session_dir=tmp_path, session_id="x",
                               launch_command=launch)  # fmt: skip
    env = {"ARCADE_API_URL": f"http://127.0.0.1:{server.server_address[1]}/api/v1/",
           "JUPYTERHUB_USER": "al ice", "JUPYTERHUB_SERVER_NAME": "desk",
           "JUPYTERHUB_API_TOKEN": "t0k"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        assert menu_apps(settings) == [DesktopApp(name="xterm", title="Terminal", group="Tools")]
        monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "bad")
        assert menu_apps(settings) == []
    finally:
        server.shutdown()
        server.server_close()
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "t0k")
    assert menu_apps(settings) == []  # the API is gone
    monkeypatch.delenv("ARCADE_API_URL")
    assert menu_apps(settings) == []  # not in a session


def test_xvnc_has_no_tcp_and_uses_cookie(tmp_path: Path) -> None:
    s = DesktopSettings(rfb_socket=Path("/run/rfb"), session_dir=tmp_path, session_id="s")
    cmd = xvnc_command(s, 5)
    pairs = dict(zip(cmd[1::2], cmd[2::2], strict=False))
    assert pairs["-rfbport"] == "-1"
    assert pairs["-rfbunixpath"] == "/run/rfb"
    assert pairs["-nolisten"] == "tcp"
    assert pairs["-auth"] == str(tmp_path / "xvnc.xauth")
    assert pairs["-displayfd"] == "5"
    assert "-listen" not in cmd
    assert window_manager_command(s)[:3] == ["dbus-launch", "--exit-with-session", "openbox"]
    assert window_manager_command(s, session_bus=False)[0] == "openbox"
    info = desktop_info(s, 3, 99)
    assert info["display"] == ":3" and info["x_socket"] == "/tmp/.X11-unix/X3"
    assert info["xauthority"] == str(tmp_path / "app.xauth")


def test_proxy_config_added_once_and_never_overrides() -> None:
    config = Config()
    assert install_proxy_config(config)
    spec = config.ServerProxy.servers[PROXY_NAME]
    assert spec == server_process_spec()
    assert spec["unix_socket"] is True and spec["raw_socket_proxy"] is True
    assert "{unix_socket}" in spec["command"]
    assert not install_proxy_config(config)

    custom = Config()
    custom.ServerProxy.servers = {PROXY_NAME: {"command": ["mine"]}, "other": {"command": ["x"]}}
    assert not install_proxy_config(custom)
    assert custom.ServerProxy.servers[PROXY_NAME] == {"command": ["mine"]}

    other = Config()
    other.ServerProxy.servers = {"other": {"command": ["x"]}}
    assert install_proxy_config(other)
    assert set(other.ServerProxy.servers) == {"other", PROXY_NAME}


def _xsrf_set_cookie(tmp_path: Path, cookie_options: str | None) -> str:
    """The `_xsrf` Set-Cookie header of a real Jupyter server with the session extension."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env |= {"HOME": str(tmp_path), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    if cookie_options is not None:
        env["JUPYTERHUB_COOKIE_OPTIONS"] = cookie_options
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}",
         "--ip=127.0.0.1", "--IdentityProvider.token=not-used-here", "--allow-root",
         "--ServerApp.jpserver_extensions=arcade_hub.desktop=True", f"--notebook-dir={tmp_path}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
    )  # fmt: skip
    try:

        def login_page() -> httpx.Response | None:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/login", timeout=5)
            except httpx.TransportError:
                return None

        r = wait_for(login_page, 60, "the Jupyter server to answer")
        cookies = [c for c in r.headers.get_list("set-cookie") if c.startswith("_xsrf=")]
        assert cookies, r.headers
        return cookies[0]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_session_xsrf_cookie_is_secure_when_the_hubs_cookies_are(tmp_path: Path) -> None:
    secure = _xsrf_set_cookie(tmp_path, json.dumps({"secure": True}))
    assert "; Secure" in secure, secure
    plain = _xsrf_set_cookie(tmp_path, None)  # http: a Secure cookie would never come back
    assert "Secure" not in plain, plain


@pytest.mark.parametrize(
    ("options", "secure"),
    [('{"secure": true}', True), ('{"secure": false}', False), ("not json", False), ("[]", False)],
)
def test_secure_xsrf_cookie_reads_the_hubs_cookie_options(options: str, secure: bool) -> None:
    settings: dict[str, Any] = {"xsrf_cookie_kwargs": {"path": "/user/a/"}}
    assert secure_xsrf_cookie(settings, {"JUPYTERHUB_COOKIE_OPTIONS": options}) is secure
    assert settings["xsrf_cookie_kwargs"] == {
        "path": "/user/a/",
        **({"secure": True} if secure else {}),
    }

"""End to end: jupyter server + Arcade desktop + Debian Chromium through Playwright."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from arcade_hub.desktop.xauth import write_xauthority
from arcade_hub.local.teardown import stop_processes

from .conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    NOBODY_UID,
    TEST_UID,
    DesktopServer,
    artifacts_dir,
    process_names,
    require_desktop_tools,
    session_processes,
    wait_for,
)

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = pytest.mark.e2e

MakeServer = Callable[..., Awaitable[DesktopServer]]

# Samples canvas pixels; counts our desktop background colours and white (xterm) pixels.
CANVAS_STATS = """() => {
  const c = document.querySelector('#screen canvas');
  if (!c || c.width < 64 || c.height < 64) return null;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0, desktop = 0, white = 0, black = 0;
  const colours = new Set();
  for (let i = 0; i < d.length; i += 4 * 5) {
    const r = d[i], g = d[i + 1], b = d[i + 2];
    n++;
    const rgb = (r << 16) | (g << 8) | b;
    if (rgb === 0x2a5275 || rgb === 0x1d3b57) desktop++;
    colours.add(rgb);
    if (r > 245 && g > 245 && b > 245) white++;
    if (r + g + b === 0) black++;
  }
  return {width: c.width, height: c.height, n, desktop, white, black, colours: colours.size};
}"""
DESKTOP_VISIBLE = f"() => {{ const s = ({CANVAS_STATS})(); return s && s.desktop > s.n / 2; }}"
XTERM_VISIBLE = f"() => {{ const s = ({CANVAS_STATS})(); return s && s.white > 5000; }}"


def x_env(display: str, xauthority: str) -> dict[str, str]:
    return {**os.environ, "DISPLAY": display, "XAUTHORITY": xauthority}


def xdpyinfo(display: str, xauthority: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["xdpyinfo"], env=x_env(display, xauthority), capture_output=True, text=True, timeout=20
    )


def screen_size(display: str, xauthority: str) -> tuple[int, int]:
    out = xdpyinfo(display, xauthority).stdout
    dims = next(line for line in out.splitlines() if "dimensions:" in line).split()[1]
    width, height = dims.split("x")
    return int(width), int(height)


def tree_rss(session_id: str, exclude: int | None) -> dict[str, int]:
    rss: dict[str, int] = {}
    for proc in session_processes(session_id):
        if proc.pid in (exclude, os.getpid()):
            continue
        try:
            name = proc.name()
            rss[name] = rss.get(name, 0) + proc.memory_info().rss
        except psutil.Error:
            continue
    return rss


async def open_desktop(browser: Any, server: DesktopServer) -> tuple[Any, float]:
    """Open /desktop/ in a fresh page; return the page and seconds until desktop pixels."""
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    start = time.monotonic()
    await page.goto(server.desktop_url)
    await page.wait_for_function(DESKTOP_VISIBLE, polling=50, timeout=60_000)
    return page, time.monotonic() - start


def launch_browser(pw: Any) -> Any:
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@pytest.mark.parametrize(
    "uid",
    [None, NOBODY_UID, TEST_UID],
    ids=["server-uid", "uid-with-passwd-entry", "uid-without-passwd-entry"],
)
async def test_desktop_session(make_server: MakeServer, uid: int | None) -> None:
    require_desktop_tools()
    if uid is not None and os.geteuid() != 0:
        pytest.skip("switching uid needs root")
    server = await make_server(uid)
    out = artifacts_dir(f"session-{uid if uid is not None else 'server-uid'}")
    figures: dict[str, Any] = {}
    async with playwright_api.async_playwright() as pw:
        browser = await launch_browser(pw)
        page, figures["open_to_desktop_s"] = await open_desktop(browser, server)
        assert await page.text_content("#status") == "Connected"
        await page.locator("#screen canvas").screenshot(path=out / "desktop.png")
        info = server.desktop_info()
        display, cookie = info["display"], info["xauthority"]
        assert info["x_socket"] == f"/tmp/.X11-unix/X{display[1:]}"
        assert Path(info["x_socket"]).is_socket()

        # The session's processes all carry the marker; Xvnc listens on no TCP port.
        names = set(process_names(server.session_id).values())
        assert {"Xvnc", "openbox"} <= names, names
        if uid != TEST_UID:  # dbus-daemon cannot run for a uid without a passwd entry
            assert {"dbus-launch", "dbus-daemon"} <= names, names
        launcher = psutil.Process(int(info["launcher_pid"])).cmdline()
        rfb_socket = Path(launcher[launcher.index("--rfb-socket") + 1])
        assert rfb_socket.is_socket() and rfb_socket.stat().st_mode & 0o777 == 0o600
        xvnc = psutil.Process(int(info["xvnc_pid"]))
        assert xvnc.net_connections(kind="inet") == []
        ss = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
        assert "Xvnc" not in ss, ss
        if uid is not None:
            assert xvnc.uids().real == uid

        # Cookie checks: right cookie works, none or a wrong one is refused.
        assert xdpyinfo(display, cookie).returncode == 0
        refused = xdpyinfo(display, "/nonexistent")
        assert refused.returncode != 0 and "unable to open display" in refused.stderr
        wrong = server.base / "wrong.xauth"
        write_xauthority(wrong, int(display[1:]), secrets.token_bytes(16))
        assert xdpyinfo(display, str(wrong)).returncode != 0

        # noVNC resize=remote: the X screen follows the browser viewport.
        await page.set_viewport_size({"width": 1000, "height": 700})
        stats = await page.evaluate(CANVAS_STATS)
        await wait_for(
            lambda: screen_size(display, cookie)[0] < 1100, timeout=20, what="remote resize"
        )
        stats = await page.evaluate(CANVAS_STATS)
        assert screen_size(display, cookie) == (stats["width"], stats["height"])

        # An X client from another process, with only DISPLAY + the app cookie.
        start = time.monotonic()
        xterm = subprocess.Popen(["xterm"], env=x_env(display, cookie))
        try:
            await page.wait_for_function(XTERM_VISIBLE, polling=50, timeout=30_000)
            figures["xterm_to_visible_s"] = time.monotonic() - start
            await page.locator("#screen canvas").screenshot(path=out / "xterm.png")
            assert xterm.poll() is None
            figures["rss_bytes"] = tree_rss(server.session_id, exclude=server.proc.pid)  # type: ignore[union-attr]
            figures["jupyter_server_rss_bytes"] = psutil.Process(server.proc.pid).memory_info().rss  # type: ignore[union-attr]
        finally:
            xterm.terminate()
            xterm.wait(timeout=10)
        await browser.close()

    # A plain stop of the jupyter server stops the whole desktop.
    server.stop()
    left = process_names(server.session_id)
    assert left == {}, f"left after stop: {left}"
    assert not Path(info["x_socket"]).exists()
    assert not (server.session_dir / "desktop.json").exists()
    assert not rfb_socket.parent.exists()
    (out / "figures.json").write_text(json.dumps(figures, indent=2))
    print(f"\nartifacts in {out}: {json.dumps(figures)}")


async def test_clipboard_both_ways(make_server: MakeServer) -> None:
    require_desktop_tools()
    pytest.importorskip("tkinter")
    server = await make_server()
    async with playwright_api.async_playwright() as pw:
        browser = await launch_browser(pw)
        page, _ = await open_desktop(browser, server)
        info = server.desktop_info()
        env = x_env(info["display"], info["xauthority"])
        await page.click("#clipboard-button")
        text = f"from-browser-{secrets.token_hex(4)}"
        await page.fill("#clipboard-text", text)
        await page.dispatch_event("#clipboard-text", "change")
        read = "import tkinter; r = tkinter.Tk(); r.withdraw(); print(r.clipboard_get())"

        def x_clipboard() -> str:
            got = subprocess.run(
                [sys.executable, "-c", read], env=env, capture_output=True, text=True, timeout=20
            )
            return got.stdout.strip()

        await wait_for(lambda: x_clipboard() == text, timeout=20, what="X clipboard")
        text2 = f"from-x-{secrets.token_hex(4)}"
        own = (
            "import sys, tkinter; r = tkinter.Tk(); r.withdraw(); r.clipboard_clear();"
            f"r.clipboard_append({text2!r}); r.update(); print('ok', flush=True); r.mainloop()"
        )
        owner = subprocess.Popen([sys.executable, "-c", own], env=env, stdout=subprocess.PIPE)
        try:
            await page.wait_for_function(
                f"() => document.getElementById('clipboard-text').value === {text2!r}",
                polling=50,
                timeout=20_000,
            )
        finally:
            owner.terminate()
            owner.wait(timeout=10)
        await browser.close()


async def test_root_menu_launches_app(make_server: MakeServer, server_base: Path) -> None:
    """Right-click the desktop, pick Imaging > TOPCAT: the launch command runs in the session."""
    require_desktop_tools()
    fake = server_base / "fake-launch"
    fake.write_text(  # no platform to list apps for (the menu then reads the apps file)
        '#!/bin/sh\ncase "$*" in *--list*) exit 1;; esac\n'
        'echo "$* $ARCADE_SESSION_ID $DISPLAY" > "$ARCADE_SESSION_DIR/ran"\n'
    )
    fake.chmod(0o755)
    server = await make_server(ARCADE_DESKTOP_LAUNCH_COMMAND=f"{fake} --from-menu")
    out = artifacts_dir("menu")
    ran = server.session_dir / "ran"
    async with playwright_api.async_playwright() as pw:
        browser = await launch_browser(pw)
        page, _ = await open_desktop(browser, server)
        before = await page.evaluate(CANVAS_STATS)
        off_the_hint = {"x": 400, "y": 300}
        await page.locator("#screen canvas").click(button="right", position=off_the_hint)
        await page.wait_for_function(
            f"() => ({CANVAS_STATS})().colours > {before['colours']} + 2", polling=50
        )
        await page.keyboard.press("i")  # Imaging submenu (first-letter shortcut)
        await page.locator("#screen canvas").screenshot(path=out / "menu.png")
        await page.keyboard.press("t")  # TOPCAT
        await wait_for(ran.exists, timeout=20, what="menu item to run the launch command")
        await browser.close()
    display = server.desktop_info()["display"]
    assert ran.read_text().split() == ["--from-menu", "topcat", server.session_id, display]
    menu = (server.session_dir / "openbox-menu.xml").read_text()
    assert "casa-6.7" in menu and "Radio" in menu


async def test_killed_server_leaves_nothing_after_the_teardown(make_server: MakeServer) -> None:
    """SIGKILL the jupyter server (no clean stop); the teardown's stop by the session marker
    cleans all."""
    require_desktop_tools()
    server = await make_server()
    async with playwright_api.async_playwright() as pw:
        browser = await launch_browser(pw)
        await open_desktop(browser, server)
        await browser.close()
    info = server.desktop_info()
    # An app started by the platform outside the desktop's process tree, marked by the spawner.
    env = {**x_env(info["display"], info["xauthority"]), "ARCADE_SESSION_ID": server.session_id}
    app = subprocess.Popen(["xterm"], env=env, start_new_session=True)
    assert server.proc is not None
    before = process_names(server.session_id)
    assert {"Xvnc", "openbox", "dbus-daemon", "xterm"} <= set(before.values()), before
    server.proc.kill()
    server.proc.wait()
    survivors = await stop_processes(server.session_id)
    assert not survivors
    assert process_names(server.session_id) == {}
    assert app.wait(timeout=10) is not None

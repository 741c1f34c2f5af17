"""The desktop pod's X relay: cookie check, cookie swap, refusals; and a real Xvnc reached over
TCP by xdpyinfo through the relay (skipped when Xvnc is not installed)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import shutil
import socket
import struct
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from arcade_hub.desktop.xauth import MIT_MAGIC_COOKIE, write_xauthority
from arcade_hub.kube.xrelay import X_TCP_BASE, Relay, Setup, read_setup, serve

CLIENT_COOKIE = bytes.fromhex("00112233445566778899aabbccddeeff")
DESKTOP_COOKIE = bytes.fromhex("ffeeddccbbaa99887766554433221100")


@dataclass
class Desktop:
    session_dir: Path
    cookie_file: Path
    socket: Path


@pytest.fixture
def desktop(tmp_path: Path) -> Desktop:
    session = tmp_path / "session"
    session.mkdir()
    cookie_file = tmp_path / "cookie"
    cookie_file.write_text(CLIENT_COOKIE.hex() + "\n")
    return Desktop(session, cookie_file, tmp_path / "X5")


def publish(d: Desktop, display: int, x_socket: Path) -> None:
    """What arcade_hub.desktop.session writes once Xvnc runs."""
    write_xauthority(d.session_dir / "app.xauth", display, DESKTOP_COOKIE)
    (d.session_dir / "desktop.json").write_text(json.dumps({
        "display": f":{display}", "x_socket": str(x_socket),
        "xauthority": str(d.session_dir / "app.xauth")}))


@contextlib.asynccontextmanager
async def relay_on(d: Desktop, port: int = 0) -> AsyncIterator[int]:
    server = await serve(Relay(d.session_dir, d.cookie_file), "127.0.0.1", port)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def connect(port: int, cookie: bytes, order: str = "<") -> tuple[
        asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(Setup(order, 11, 0, MIT_MAGIC_COOKIE, cookie).encode())
    await writer.drain()
    return reader, writer


async def refusal_reason(reader: asyncio.StreamReader, order: str = "<") -> str:
    head = await reader.readexactly(8)
    status, length, _, _, words = struct.unpack(f"{order}BBHHH", head)
    assert status == 0
    return (await reader.readexactly(words * 4))[:length].decode()


@pytest.mark.parametrize("order", ["<", ">"])
async def test_good_cookie_is_swapped_for_the_desktops(desktop: Desktop, order: str) -> None:
    received: asyncio.Queue[Setup] = asyncio.Queue()

    async def x_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await received.put(await read_setup(reader))
        writer.write(b"hello from X")
        await writer.drain()
        writer.write(await reader.readexactly(4))  # echo
        await writer.drain()
        writer.close()

    server = await asyncio.start_unix_server(x_server, str(desktop.socket))
    publish(desktop, 5, desktop.socket)
    async with server, relay_on(desktop) as port:
        reader, writer = await connect(port, CLIENT_COOKIE, order)
        setup = await asyncio.wait_for(received.get(), 5)
        assert (setup.order, setup.major, setup.auth_name, setup.auth_data) == (
            order, 11, MIT_MAGIC_COOKIE, DESKTOP_COOKIE)
        assert await reader.readexactly(12) == b"hello from X"
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"ping"
        assert await reader.read() == b""
        writer.close()


async def test_wrong_cookie_is_refused(desktop: Desktop) -> None:
    publish(desktop, 5, desktop.socket)
    async with relay_on(desktop) as port:
        reader, writer = await connect(port, DESKTOP_COOKIE)  # not the session's Secret
        assert "Authorization required" in await refusal_reason(reader)
        writer.close()


async def test_desktop_not_started_is_explained(desktop: Desktop) -> None:
    async with relay_on(desktop) as port:
        reader, writer = await connect(port, CLIENT_COOKIE, ">")
        assert "open it in your browser" in await refusal_reason(reader, ">")
        writer.close()
    publish(desktop, 5, desktop.socket)  # published, but the socket is gone
    async with relay_on(desktop) as port:
        reader, writer = await connect(port, CLIENT_COOKIE)
        assert "not running" in await refusal_reason(reader)
        writer.close()


async def test_garbage_is_dropped(desktop: Desktop) -> None:
    async with relay_on(desktop) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        assert await reader.read() == b""
        writer.close()


# -- a real X server ------------------------------------------------------------------------

def free_x_port() -> int:
    for port in range(X_TCP_BASE + 50, X_TCP_BASE + 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port in 6050-6199 for a TCP X display")


@pytest.fixture
def xvnc(desktop: Desktop) -> Iterator[tuple[int, Path]]:
    if not (shutil.which("Xvnc") and shutil.which("xdpyinfo")):
        pytest.skip("needs Xvnc and xdpyinfo (tigervnc-standalone-server, x11-utils)")
    server_auth = desktop.session_dir / "xvnc.xauth"
    write_xauthority(server_auth, None, DESKTOP_COOKIE)
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvnc", "-displayfd", str(write_fd), "-rfbport", "-1", "-nolisten", "tcp",
         "-auth", str(server_auth), "-SecurityTypes", "None", "-geometry", "320x200"],
        pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        ready, _, _ = select.select([read_fd], [], [], 20)
        assert ready, "Xvnc did not report its display"
        display = int(os.read(read_fd, 32).decode().strip())
        publish(desktop, display, Path(f"/tmp/.X11-unix/X{display}"))
        yield display, server_auth
    finally:
        os.close(read_fd)
        proc.terminate()
        proc.wait(10)


async def test_xdpyinfo_reaches_xvnc_through_the_relay(
    desktop: Desktop, xvnc: tuple[int, Path], tmp_path: Path
) -> None:
    port = free_x_port()
    number = port - X_TCP_BASE
    client_auth = tmp_path / "client.xauth"
    write_xauthority(client_auth, number, CLIENT_COOKIE)  # the Secret's FamilyWild entry
    env = {"PATH": os.environ["PATH"], "DISPLAY": f"127.0.0.1:{number}"}
    async with relay_on(desktop, port):
        good = await asyncio.create_subprocess_exec(
            "xdpyinfo", env={**env, "XAUTHORITY": str(client_auth)},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(good.communicate(), 20)
        assert good.returncode == 0, err.decode()
        assert b"dimensions:    320x200 pixels" in out
        bad = await asyncio.create_subprocess_exec(
            "xdpyinfo", env={**env, "XAUTHORITY": str(tmp_path / "none")},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(bad.communicate(), 20)
        assert bad.returncode != 0 and b"unable to open display" in err


@pytest.mark.parametrize("secret", ["", "\n", "zz", "0011"])
async def test_an_empty_or_broken_cookie_secret_lets_nobody_in(
    desktop: Desktop, secret: str
) -> None:
    publish(desktop, 5, desktop.socket)
    desktop.cookie_file.write_text(secret)
    async with relay_on(desktop) as port:
        for cookie in (b"", secret.strip().encode()):
            reader, writer = await connect(port, cookie)
            assert "Authorization required" in await refusal_reason(reader)
            writer.close()

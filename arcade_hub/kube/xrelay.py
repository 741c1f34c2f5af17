"""X11 over TCP for desktop-app pods: a relay beside the desktop's X server.

The desktop (`arcade_hub.desktop.session`) runs Xvnc on a unix socket only, with a cookie it
makes itself. On Kubernetes a sidecar of the desktop pod runs this relay: it listens on
TCP port `6000 + display` in the pod's private network namespace, accepts only X clients
that present the session's cookie (from the session's Secret, shared with the user's app
pods), and connects them to the desktop's unix socket with the desktop's own cookie, read
from `desktop.json` in the shared session directory. A NetworkPolicy lets only the user's
app pods reach the port.

Run as ``python3 -m arcade_hub.kube.xrelay --session-dir DIR --cookie-file FILE``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import logging
import struct
from dataclasses import dataclass
from pathlib import Path

from arcade_hub.desktop.xauth import MIT_MAGIC_COOKIE, parse_xauthority

log = logging.getLogger("arcade_hub.kube.xrelay")

X_TCP_BASE = 6000
SETUP_TIMEOUT = 10.0
_HEADER = 12


class RelayRefused(Exception):
    """The client may not (or cannot yet) use the display; the message goes to the client."""


@dataclass(frozen=True)
class Setup:
    """An X11 connection setup request (the first bytes a client sends)."""

    order: str  # ">" (MSB first, 'B') or "<" (LSB first, 'l')
    major: int
    minor: int
    auth_name: bytes
    auth_data: bytes

    def encode(self) -> bytes:
        o = self.order
        head = (b"B" if o == ">" else b"l") + b"\0"
        head += struct.pack(f"{o}HHHHxx", self.major, self.minor, len(self.auth_name),
                            len(self.auth_data))
        return head + _padded(self.auth_name) + _padded(self.auth_data)


def _pad(n: int) -> int:
    return (4 - n % 4) % 4


def _padded(data: bytes) -> bytes:
    return data + b"\0" * _pad(len(data))


async def read_setup(reader: asyncio.StreamReader) -> Setup:
    head = await reader.readexactly(_HEADER)
    if head[:1] not in (b"B", b"l"):
        raise ValueError("not an X11 connection setup")
    order = ">" if head[:1] == b"B" else "<"
    major, minor, n, d = struct.unpack(f"{order}HHHH", head[2:10])
    name = await reader.readexactly(n + _pad(n))
    data = await reader.readexactly(d + _pad(d))
    return Setup(order, major, minor, name[:n], data[:d])


def refusal(setup: Setup, reason: str) -> bytes:
    """The server's 'Failed' reply to a connection setup, with `reason` for the client."""
    text = reason.encode()[:255]
    return struct.pack(f"{setup.order}BBHHH", 0, len(text), setup.major, setup.minor,
                       (len(text) + _pad(len(text))) // 4) + _padded(text)


@dataclass(frozen=True)
class Desktop:
    socket: str
    cookie: bytes


def current_desktop(session_dir: Path) -> Desktop:
    """Where the desktop's X server is now, and its cookie (it changes when Xvnc restarts)."""
    try:
        info = json.loads((session_dir / "desktop.json").read_text())
        entries = parse_xauthority(Path(info["xauthority"]).read_bytes())
    except (OSError, ValueError, KeyError):
        raise RelayRefused(
            "the desktop is not running yet: open it in your browser first"
        ) from None
    cookies = [data for _, _, _, name, data in entries if name == MIT_MAGIC_COOKIE]
    if not cookies:
        raise RelayRefused("the desktop has no X cookie")
    return Desktop(socket=str(info["x_socket"]), cookie=cookies[0])


MIN_COOKIE_BYTES = 16
"""An MIT-MAGIC-COOKIE-1 is 16 bytes; anything shorter in the Secret is a broken Secret."""


@dataclass
class Relay:
    session_dir: Path
    cookie_file: Path

    def expected_cookie(self) -> bytes:
        return bytes.fromhex(self.cookie_file.read_text().strip())

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            try:
                setup = await asyncio.wait_for(read_setup(reader), SETUP_TIMEOUT)
            except (TimeoutError, ValueError, asyncio.IncompleteReadError):
                return
            try:
                desktop = self.authorize(setup)
                up_reader, up_writer = await asyncio.open_unix_connection(desktop.socket)
            except (RelayRefused, OSError) as e:
                reason = str(e) if isinstance(e, RelayRefused) else "the desktop is not running"
                log.info("refused X client %s: %s", peer, reason)
                writer.write(refusal(setup, reason))
                await writer.drain()
                return
            log.info("X client %s connected to %s", peer, desktop.socket)
            up_writer.write(Setup(setup.order, setup.major, setup.minor, MIT_MAGIC_COOKIE,
                                  desktop.cookie).encode())
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            with contextlib.suppress(OSError):
                writer.close()

    def authorize(self, setup: Setup) -> Desktop:
        try:
            expected = self.expected_cookie()
        except (OSError, ValueError):
            expected = b""
        # An empty or unreadable cookie Secret must not let empty client cookies through.
        if (
            setup.auth_name != MIT_MAGIC_COOKIE
            or len(expected) < MIN_COOKIE_BYTES
            or not hmac.compare_digest(setup.auth_data, expected)
        ):
            raise RelayRefused("Authorization required, but no authorization protocol specified")
        return current_desktop(self.session_dir)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()


async def serve(relay: Relay, host: str, port: int) -> asyncio.Server:
    return await asyncio.start_server(relay.handle, host, port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--session-dir", type=Path, required=True)
    parser.add_argument("--cookie-file", type=Path, required=True)
    parser.add_argument("--display", type=int, default=0, help="TCP port is 6000 + display")
    parser.add_argument("--host", default="0.0.0.0")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(levelname).1s %(asctime)s] %(message)s")

    async def run() -> None:
        server = await serve(Relay(args.session_dir, args.cookie_file), args.host,
                             X_TCP_BASE + args.display)
        log.info("X relay on %s:%d", args.host, X_TCP_BASE + args.display)
        async with server:
            await server.serve_forever()

    asyncio.run(run())


if __name__ == "__main__":
    main()

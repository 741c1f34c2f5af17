"""Xauthority cookies: generate a per-session MIT-MAGIC-COOKIE-1 and write Xauthority files.

The file format (libXau) is a sequence of entries, each made of a big-endian ``uint16`` family
followed by four length-prefixed byte strings: address, display number, auth name, auth data.
A ``FamilyWild`` entry matches any host, so the file works from other processes, network
namespaces and containers that reach the X unix socket.
"""

from __future__ import annotations

import secrets
import struct
from pathlib import Path

from arcade_hub.secret_files import write_private_file

FAMILY_WILD = 0xFFFF
MIT_MAGIC_COOKIE = b"MIT-MAGIC-COOKIE-1"


def new_cookie() -> bytes:
    """Return 16 random bytes for a MIT-MAGIC-COOKIE-1."""
    return secrets.token_bytes(16)


def _field(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


def xauth_entry(display: int | None, cookie: bytes, family: int = FAMILY_WILD) -> bytes:
    """Encode one Xauthority entry; ``display=None`` leaves the display number empty."""
    number = b"" if display is None else str(display).encode()
    return (
        struct.pack(">H", family)
        + _field(b"")
        + _field(number)
        + _field(MIT_MAGIC_COOKIE)
        + _field(cookie)
    )


def parse_xauthority(data: bytes) -> list[tuple[int, bytes, bytes, bytes, bytes]]:
    """Decode an Xauthority file into ``(family, address, number, name, data)`` tuples."""
    entries = []
    pos = 0
    while pos < len(data):
        (family,) = struct.unpack_from(">H", data, pos)
        pos += 2
        fields: list[bytes] = []
        for _ in range(4):
            (length,) = struct.unpack_from(">H", data, pos)
            fields.append(data[pos + 2 : pos + 2 + length])
            pos += 2 + length
        entries.append((family, fields[0], fields[1], fields[2], fields[3]))
    return entries


def write_xauthority(path: Path, display: int | None, cookie: bytes) -> None:
    """Write a FamilyWild Xauthority file holding ``cookie`` for ``display``."""
    write_private_file(path, xauth_entry(display, cookie))

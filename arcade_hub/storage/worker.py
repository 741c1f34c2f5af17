"""`python -m arcade_hub.storage.worker FD`: the storage service's file worker.

The service starts one worker per identity (uid, gid, supplementary gids) with
`subprocess.Popen(user=..., group=..., extra_groups=...)`, so this process never had root's
rights: the kernel checks every file access as it would in that user's sessions. It reads one
request at a time from the unix socket `FD` and answers it; descriptors of files it opened
travel back with the answer (SCM_RIGHTS), so the service streams bytes without ever opening a
user's path itself. It exits when the service closes the socket.

Messages are a 4-byte big-endian length and a JSON object: requests `{"op", "args"}`, answers
`{"ok": ...}` or `{"error": [status, fault, message]}`.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import sys
import traceback
from collections.abc import Callable
from typing import Any

from arcade_hub.storage import fsops, fswrite
from arcade_hub.storage.fsops import Refused, Viewer

HEADER = struct.Struct(">I")
MESSAGE_LIMIT = 64 * 1024 * 1024
"""The longest message either side accepts (a listing of `vospace.max_children` entries)."""

Result = tuple[Any, list[int]]


def _viewer(args: dict[str, Any]) -> Viewer:
    return Viewer(owner=bool(args.get("owner", True)), gids=frozenset(args.get("gids", ())))


def _plain(result: Any) -> Result:
    return result, []


OPS: dict[str, Callable[[dict[str, Any]], Result]] = {
    "node": lambda a: _plain(fsops.node(a["root"], tuple(a["inner"]), _viewer(a), a["page"])),
    "read": lambda a: fsops.read(a["root"], tuple(a["inner"]), _viewer(a)),
    "mkdir": lambda a: _plain(fswrite.mkdir(a["root"], tuple(a["inner"]))),
    "upload": lambda a: fswrite.upload(a["root"], tuple(a["inner"])),
    "commit": lambda a: _plain(fswrite.commit(a["root"], tuple(a["inner"]), a["temp"])),
    "abort": lambda a: _plain(fswrite.abort(a["root"], tuple(a["inner"]), a["temp"])),
    "delete": lambda a: _plain(fswrite.delete(a["root"], tuple(a["inner"]))),
    "move": lambda a: _plain(
        fswrite.move(a["root"], tuple(a["inner"]), a["dest_root"], tuple(a["dest"]))
    ),
    "link": lambda a: _plain(fswrite.link(a["root"], tuple(a["inner"]), a["target"])),
    "props": lambda a: _plain(
        fswrite.set_props(a["root"], tuple(a["inner"]), a["change"], bool(a.get("recursive")))
    ),
}


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] = ()) -> None:  # type: ignore[assignment]
    body = json.dumps(message).encode()
    socket.send_fds(sock, [HEADER.pack(len(body))], list(fds))
    sock.sendall(body)


def receive(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """One message and the descriptors that came with it; (None, []) at the end."""
    header, fds = b"", []
    while len(header) < HEADER.size:
        data, got, _flags, _addr = socket.recv_fds(sock, HEADER.size - len(header), 4)
        fds.extend(got)
        if not data:
            for fd in fds:
                os.close(fd)
            return None, []
        header += data
    (length,) = HEADER.unpack(header)
    if length > MESSAGE_LIMIT:
        raise ValueError(f"message of {length} bytes")
    body = bytearray()
    while len(body) < length:
        chunk = sock.recv(min(length - len(body), 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the socket mid-message")
        body += chunk
    return json.loads(body), fds


def answer(request: dict[str, Any]) -> Result:
    op = OPS.get(str(request.get("op")))
    if op is None:
        raise Refused(400, "OperationNotSupported", f"no operation {request.get('op')!r}")
    return op(request.get("args") or {})


def serve(sock: socket.socket) -> None:
    while True:
        request, stray = receive(sock)
        for fd in stray:
            os.close(fd)
        if request is None:
            return
        fds: list[int] = []
        try:
            result, fds = answer(request)
            send(sock, {"ok": result}, fds)
        except Refused as e:
            send(sock, {"error": [e.status, e.fault, e.message]})
        except Exception:
            traceback.print_exc(file=sys.stderr)
            send(sock, {"error": [500, "InternalFault", "the storage worker failed"]})
        finally:
            for fd in fds:
                os.close(fd)


def _not_dumpable() -> None:
    """Processes of the same uid cannot attach to (ptrace) or read the memory of this one."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except (OSError, AttributeError):
        pass


def main() -> None:
    _not_dumpable()
    sock = socket.socket(fileno=int(sys.argv[1]))
    os.umask(0o007)  # as in sessions: nothing new for "other" users unless shared
    with contextlib.suppress(EOFError, ConnectionError):
        serve(sock)


if __name__ == "__main__":
    main()

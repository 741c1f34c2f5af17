"""`files/<path>`: the bytes of a node, streamed both ways with bounded memory.

- GET/HEAD send a file the caller may read, opened by a worker running as the tree's user and
  passed here as a descriptor; single byte ranges (`Range: bytes=a-b`, resumed downloads) are
  honoured; `Digest: md5=` is sent when the service recorded the file's MD5. A link node to
  another node of this service redirects there; the service never follows a link itself.
- PUT writes a file: the body must announce its length (411 otherwise) and at most
  `vospace.max_file_gib` (413 before a byte is read). Bytes go straight into a new hidden file
  the worker created as the user, one chunk at a time (tornado reads the next chunk only when
  the last is written), with their MD5; a `Digest: md5=` header the client sent must match
  (412 otherwise). The file replaces the target in one rename; an interrupted upload leaves
  nothing. The answer carries the MD5 of what arrived (`Digest`), which `vos` checks.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
from email.utils import formatdate
from typing import Any
from urllib.parse import quote

from arcade_hub.sizes import gib_to_bytes
from arcade_hub.storage.access import Grant
from arcade_hub.storage.fsops import Refused, record_md5
from arcade_hub.storage.handlers import StorageHandler
from arcade_hub.storage.names import NodePath, is_own_uri

CHUNK = 1 << 20
TXN_OP = "x-put-txn-op"
"""CADC's PUT transactions (not offered here: no `x-put-txn-id` in any answer)."""
_RANGE = re.compile(r"bytes=(\d{0,19})-(\d{0,19})")


def digest_header(md5_hex: str) -> str:
    return "md5=" + base64.b64encode(bytes.fromhex(md5_hex)).decode()


def md5_of_header(value: str | None) -> str | None:
    """The MD5 (hex) a `Digest: md5=<base64>` header names, or None."""
    if not value or not value.lower().startswith("md5="):
        return None
    try:
        raw = base64.b64decode(value[4:], validate=True)
    except ValueError:
        raise Refused(400, "InvalidArgument", "the Digest header's md5 is not base64") from None
    if len(raw) != 16:
        raise Refused(400, "InvalidArgument", "the Digest header's md5 is not 16 bytes")
    return raw.hex()


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) of a single `bytes=` range; None for the whole file."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if not match or not (match[1] or match[2]):
        return None  # several ranges or another unit: the whole file
    if match[1]:
        first, last = int(match[1]), int(match[2]) if match[2] else size - 1
    else:
        first, last = max(0, size - int(match[2])), size - 1
    if first >= size or first > last:
        raise Refused(416, "InvalidArgument", f"the range is outside the file's {size} bytes")
    return first, min(last, size - 1)


class FilesHandler(StorageHandler):
    streams_files = True
    endpoint = "files"
    _fd: int | None = None
    _temp: str | None = None
    _path: NodePath | None = None
    _grant: Grant | None = None

    async def prepare(self) -> None:
        self._md5 = hashlib.md5()
        self._received = 0
        await super().prepare()

    async def check_request(self) -> None:
        if self.request.method == "PUT":
            await self._start_upload()

    # --- download ---------------------------------------------------------------------------

    async def get(self) -> None:
        await self._send(head=False)

    async def head(self) -> None:
        await self._send(head=True)

    async def _send(self, head: bool) -> None:
        path = self.node_path()
        if not path.in_tree or not path.inner:
            raise Refused(409, "InvalidArgument", f"/{path.text} is a container, not a file")
        grant = self.grant(path)
        info, fds = await self.storage.pool.call(grant.identity, "read", grant.args(path))
        if not fds:
            self._follow_link(path, str(info.get("target") or ""))
            return
        try:
            await self._stream(fds[0], info, path, head)
        finally:
            os.close(fds[0])

    def _follow_link(self, path: NodePath, target: str) -> None:
        """A link node to a node of this service: the client is sent there (and asks again,
        with its own rights); other targets are not served."""
        if not is_own_uri(target, self.authority(), self.alias_authorities()):
            raise Refused(
                404,
                "NodeNotFound",
                f"{path.text} is a link to {target[:200]!r}, which this service does "
                "not serve; links are never followed by the service",
            )
        self.redirect(self.files_url(self.uri_path(target)), status=303)

    async def _stream(self, fd: int, info: dict[str, Any], path: NodePath, head: bool) -> None:
        size = int(info["size"])
        span = byte_range(self.request.headers.get("Range"), size)
        first, last = span or (0, size - 1)
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Accept-Ranges", "bytes")
        self.set_header("Last-Modified", formatdate(info["mtime"], usegmt=True))
        self.set_header("Content-Disposition", f"inline; filename*=UTF-8''{quote(path.name)}")
        if info.get("md5"):
            self.set_header("Digest", digest_header(info["md5"]))
        if span:
            self.set_status(206)
            self.set_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.set_header("Content-Length", str(max(0, last - first + 1)))
        if head:
            self.finish()
            return
        position = first
        while position <= last:
            chunk = await asyncio.to_thread(os.pread, fd, min(CHUNK, last - position + 1), position)
            if not chunk:
                break  # the file shrank meanwhile: the client sees a short body
            position += len(chunk)
            self.write(chunk)
            await self.flush()
        self.finish()

    # --- upload -----------------------------------------------------------------------------

    async def _start_upload(self) -> None:
        if "Transfer-Encoding" in self.request.headers:
            raise Refused(411, "InvalidArgument", "send the file with a Content-Length header")
        length = self.request.headers.get("Content-Length", "").strip()
        if not length.isdigit() or len(length) > 19:
            raise Refused(411, "InvalidArgument", "send the file with a Content-Length header")
        self._length = int(length)
        limit = gib_to_bytes(self.storage.platform().vospace.max_file_gib)
        if self._length > limit:
            refusal = Refused(
                413,
                "RequestEntityTooLarge",
                f"the file is {self._length:,} bytes; this platform takes files of up "
                f"to {limit:,} bytes (vospace.max_file_gib)",
            )
            raise refusal
        self._path = path = self.node_path()
        if not path.in_tree or not path.inner:
            raise Refused(409, "InvalidArgument", f"/{path.text} is a container, not a file")
        self._expected_md5 = md5_of_header(self.request.headers.get("Digest"))
        self._grant = grant = self.grant(path, write=True)
        if self._length == 0 and TXN_OP in self.request.headers:
            # `vos` opens a PUT transaction for files of 5 GiB and more with an empty PUT;
            # without a transaction id in the answer it sends the file in one request, so
            # this one must leave the target as it is
            self._probe = True
            return
        created, fds = await self.storage.pool.call(grant.identity, "upload", grant.args(path))
        self._fd, self._temp = fds[0], created["temp"]
        self.request.connection.set_max_body_size(self._length)  # type: ignore[union-attr]

    async def data_received(self, chunk: bytes) -> None:  # type: ignore[override]
        if self._fd is None:  # nothing to write to: a refused body is thrown away
            return
        self._received += len(chunk)
        await asyncio.to_thread(self._write, self._fd, chunk)

    def _write(self, fd: int, chunk: bytes) -> None:
        self._md5.update(chunk)
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view) :]

    _probe = False

    async def put(self) -> None:
        if self._probe:
            self.set_status(200)
            self.finish()
            return
        assert self._fd is not None and self._path is not None and self._grant is not None
        digest = self._md5.hexdigest()
        if self._received != self._length:
            raise Refused(400, "InvalidArgument", "the body ended before its Content-Length")
        if self._expected_md5 is not None and self._expected_md5 != digest:
            raise Refused(
                412,
                "TransferFailed",
                f"the file arrived with MD5 {digest}, not {self._expected_md5}",
            )
        record_md5(self._fd, digest)
        os.close(self._fd)
        self._fd = None
        temp, self._temp = self._temp, None
        args = {**self._grant.args(self._path), "temp": temp}
        await self.storage.pool.run(self._grant.identity, "commit", args)
        self.set_status(201)
        self.set_header("Digest", digest_header(digest))
        self.finish()

    def on_finish(self) -> None:
        self._discard()

    def on_connection_close(self) -> None:
        self._discard()

    def _discard(self) -> None:
        """An upload that did not complete leaves nothing behind."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._temp is not None and self._grant is not None and self._path is not None:
            args = {**self._grant.args(self._path), "temp": self._temp}
            self._temp = None
            task = asyncio.ensure_future(self.storage.pool.run(self._grant.identity, "abort", args))
            task.add_done_callback(lambda t: t.exception())

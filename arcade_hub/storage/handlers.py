"""The storage service's base handler, VOSI and the registry, and the nodes endpoint.

Every request is authenticated by a JupyterHub API token (`Authorization: Bearer` or `token`,
as the `vos` client sends it) or is anonymous; cookies are never read, so a page of another
site cannot act for a logged-in user (it cannot set the header). A bad token gets a 401 with
the IVOA challenge. Errors are plain text naming what went wrong; never a traceback.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tornado import httputil, web

from arcade_hub.quoting import shorten
from arcade_hub.storage import documents
from arcade_hub.storage.access import Caller, Grant
from arcade_hub.storage.documents import BadDocument
from arcade_hub.storage.fsops import Refused
from arcade_hub.storage.names import (
    HOME,
    PROJECTS,
    BadPath,
    NodePath,
    from_uri,
    from_url,
    uri_authority,
)
from arcade_hub.storage.state import Storage
from arcade_hub.storage.views import node_doc, page_of, permission_change, virtual_doc

SMALL_BODY = documents.XML_LIMIT
DRAIN_LIMIT = 64 * 1024 * 1024
"""A refused body up to this size is read (and thrown away) before the answer is sent."""
MESSAGE_LIMIT = 2000
TOKEN_PAGE = "/hub/token"


@web.stream_request_body
class StorageHandler(web.RequestHandler):
    """Bodies (node, transfer and property documents, forms) are at most SMALL_BODY bytes,
    announced by Content-Length: larger ones get a 413 before they are read."""

    caller: Caller = Caller(None)
    quiet = False
    """Answers below 400 are logged at debug level only (the app's `_log_request`)."""
    streams_files = False
    """The files endpoint's PUT takes a file of any announced size (its own limit)."""

    @property
    def storage(self) -> Storage:
        storage: Storage = self.settings["storage"]
        return storage

    async def prepare(self) -> None:
        self._chunks: list[bytes] = []
        if self.request.method in ("GET", "HEAD", "DELETE", "OPTIONS"):
            self._limit_body(0)
        elif not self.streams_files:
            self._limit_body(SMALL_BODY)
        if self._draining:
            return  # refused already: answered once the body is in
        try:
            await self.authenticate()
            await self.check_request()
        except Refused as refusal:
            self.refuse_body(refusal, self.announced())

    async def check_request(self) -> None:
        """What a handler checks before its body is read (the files endpoint's upload)."""

    def announced(self) -> int:
        length = self.request.headers.get("Content-Length", "0").strip()
        return int(length) if length.isdigit() and len(length) <= 19 else 0

    def _limit_body(self, limit: int) -> None:
        length = self.request.headers.get("Content-Length", "0").strip() or "0"
        if "Transfer-Encoding" in self.request.headers and limit:
            raise Refused(411, "InvalidArgument", "send the request body with a Content-Length")
        if not length.isdigit() or len(length) > 19:
            raise Refused(400, "InvalidArgument", "the Content-Length header is not a number")
        if int(length) > limit:
            self.refuse_body(
                Refused(
                    413,
                    "RequestEntityTooLarge",
                    f"the request body is {int(length):,} bytes; the limit here is {limit:,} bytes",
                ),
                int(length),
            )
            return
        self.request.connection.set_max_body_size(max(limit, 1))  # type: ignore[union-attr]

    def refuse_body(self, refusal: Refused, length: int) -> None:
        """Answer `refusal` once the body has been read and thrown away: a proxy still sending
        it, or reusing the connection, would otherwise see it reset and answer an error of its
        own. A body over DRAIN_LIMIT is not read: the connection is cut after the answer."""
        if length == 0 or self._draining:
            raise refusal
        if length > DRAIN_LIMIT:
            self.set_header("Connection", "close")
            raise refusal
        self.request.connection.set_max_body_size(length)  # type: ignore[union-attr]
        self._draining = True

        def answer(*_args: object) -> None:
            raise refusal

        setattr(self, str(self.request.method).lower(), answer)

    _draining = False

    def data_received(self, chunk: bytes) -> None:
        if not self._draining:
            self._chunks.append(chunk)

    @property
    def body(self) -> bytes:
        return b"".join(getattr(self, "_chunks", []))

    def form(self) -> dict[str, str]:
        """A form-encoded body's fields (the last value of each)."""
        fields: dict[str, list[bytes]] = {}
        httputil.parse_body_arguments(
            self.request.headers.get("Content-Type", ""), self.body, fields, {}
        )
        return {k: v[-1].decode(errors="replace") for k, v in fields.items()}

    async def authenticate(self) -> None:
        auth = self.storage.auth
        token = auth.get_token(self, in_cookie=False)
        if not token:
            return
        model = await auth.user_for_token(token, sync=False)
        if model is None or not auth.check_scopes(auth.access_scopes, model):
            raise Refused(
                401,
                "PermissionDenied",
                "the token is not valid, or may not use the storage service",
            )
        self.caller = await self.storage.caller(model)

    def base(self) -> str:
        return self.storage.base(self.request)

    def authority(self) -> str:
        return self.storage.authority(self.request)

    def files_url(self, path: NodePath) -> str:
        return f"{self.base()}/files/" + "/".join(quote(n, safe="") for n in path.parts)

    endpoint = ""
    """The endpoint (`nodes`, `files`) whose path after it names a node."""

    def raw_path(self) -> str:
        """The path after the endpoint as the client sent it (still percent-encoded: an
        encoded slash is not a separator, and nothing is decoded twice)."""
        start = f"{self.storage.settings.prefix.rstrip('/')}/{self.endpoint}"
        path = self.request.path
        return path[len(start) :] if path.startswith(start) else ""

    def node_path(self) -> NodePath:
        try:
            return from_url(self.raw_path())
        except BadPath as e:
            raise Refused(400, "InvalidURI", str(e)) from None

    def alias_authorities(self) -> tuple[str, ...]:
        return tuple(uri_authority(a) for a in self.storage.aliases(self.request))

    def uri_path(self, uri: str) -> NodePath:
        try:
            return from_uri(uri, self.authority(), self.alias_authorities())
        except BadPath as e:
            raise Refused(400, "InvalidURI", str(e)) from None

    def grant(self, path: NodePath, write: bool = False) -> Grant:
        """How the caller's request on `path` (inside a home or project space) runs; a write
        needs the tree's owner (a home's user, a project's member)."""
        grant = self.storage.trees.grant(self.caller, path)
        if write and not grant.owner:
            if self.caller.anonymous:
                raise Refused(
                    401, "PermissionDenied", "authenticate with a token to change anything"
                )
            raise Refused(
                403,
                "PermissionDenied",
                f"{path.text}: only its owner or its project's members change it",
            )
        return grant

    def arguments(self) -> dict[str, str]:
        return {k: v[-1].decode(errors="replace") for k, v in self.request.query_arguments.items()}

    # --- errors ---------------------------------------------------------------------------

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, Refused):
            message = exc.message
        elif isinstance(exc, BadDocument):
            message = str(exc)
        elif status_code < 500:
            message = self._reason
        else:
            message = "internal error of the storage service; see its log"
        if status_code == 401:
            self.challenge()
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish(shorten(message, MESSAGE_LIMIT) + "\n")

    def challenge(self) -> None:
        origin = f"{self.request.protocol}://{self.request.host}"
        self.add_header(
            "WWW-Authenticate",
            f'ivoa_bearer standard_id="{documents.TOKEN_METHOD}", '
            f'access_url="{origin}{TOKEN_PAGE}"',
        )
        self.add_header("WWW-Authenticate", 'Bearer realm="Arcade Hub storage"')

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, Refused | BadDocument):
            status_code = exc.status if isinstance(exc, Refused) else 400
            if self.caller.anonymous and status_code in (403, 404) and self.protected:
                exc = Refused(
                    401, "PermissionDenied", "not found or not public: authenticate with a token"
                )
                kwargs["exc_info"] = (Refused, exc, None)
                status_code = 401
        super().send_error(status_code, **kwargs)

    protected = True
    """Whether an anonymous refusal here is a 401 with the challenge (not VOSI)."""

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, Refused | BadDocument) and (
            not isinstance(value, Refused) or value.status < 500
        ):
            return
        super().log_exception(typ, value, tb)

    def _request_summary(self) -> str:
        return f"{self.request.method} {self.request.path} ({self.request.remote_ip})"

    def write_xml(self, body: bytes, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/xml; charset=UTF-8")
        self.finish(body)


class CapabilitiesHandler(StorageHandler):
    protected = False

    def get(self) -> None:
        self.write_xml(documents.capabilities(self.base()))


class StorageRoot(StorageHandler):
    """The service's own address: JupyterHub requests it without credentials at start-up and
    then every minute (its health check), a person may type it. Both are sent to the
    service's capabilities (VOSI), quietly: no log line a minute."""

    protected = False
    quiet = True

    def get(self) -> None:
        self.redirect(f"{self.storage.settings.prefix.rstrip('/')}/capabilities")


class AvailabilityHandler(StorageHandler):
    protected = False

    def get(self) -> None:
        self.write_xml(documents.availability(True, "the storage service is accepting requests"))


class RegistryHandler(StorageHandler):
    """`/reg/resource-caps` at the platform's root: where `vos` clients (with
    `VOSPACE_WEBSERVICE` set to the platform's host) find the service's capabilities."""

    protected = False

    def get(self) -> None:
        caps = f"{self.base()}/capabilities"
        ids = (self.storage.resource_id(self.request), *self.storage.aliases(self.request))
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish(
            "# The resource IDs this platform serves, and their VOSI capabilities. The last\n"
            "# two are what CADC's vos client makes of the short name (arcade:path).\n"
            + "".join(f"{resource} = {caps}\n" for resource in ids)
        )


class NodesHandler(StorageHandler):
    """`nodes/<path>`: a node's document (GET, with a page of a container's children), create
    a container, link or empty file (PUT), change sharing (POST), delete (DELETE)."""

    endpoint = "nodes"

    async def get(self) -> None:
        path = self.node_path()
        args = self.arguments()
        if not path.in_tree:
            names = [] if args.get("limit") == "0" else self.virtual_children(path)
            self.write_xml(virtual_doc(path, self.authority(), names).document())
            return
        start = self.uri_path(args["uri"]).name if args.get("uri") else None
        try:
            page = page_of(args, self.storage.platform().vospace.max_children, start)
        except BadDocument as e:
            raise Refused(400, "InvalidArgument", str(e)) from None
        grant = self.grant(path)
        found = await self.storage.pool.run(
            grant.identity, "node", {**grant.args(path), "page": page}
        )
        doc = node_doc(path, found["node"], self.storage.trees, self.authority(), found["children"])
        self.write_xml(doc.document())

    def virtual_children(self, path: NodePath) -> list[str]:
        if not path.parts:
            return [HOME, PROJECTS]
        if path.top == HOME:
            return [] if self.caller.name is None else [self.caller.name]
        return self.storage.trees.projects_of(self.caller)

    def writable(self) -> NodePath:
        path = self.node_path()
        if len(path.parts) < 3:
            raise Refused(
                403,
                "PermissionDenied",
                f"/{path.text} is the platform's: create and change nodes inside a "
                "home or project space",
            )
        return path

    async def put(self) -> None:
        path = self.writable()
        request = documents.read_node(self.body)
        if request.uri and self.uri_path(request.uri) != path:
            raise Refused(400, "InvalidURI", "the node document names another node than the URL")
        grant = self.grant(path, write=True)
        pool, args = self.storage.pool, grant.args(path)
        if request.type == "ContainerNode":
            await pool.run(grant.identity, "mkdir", args)
        elif request.type == "LinkNode":
            await pool.run(
                grant.identity, "link", {**args, "target": self.link_target(request.target)}
            )
        else:
            created = await pool.run(grant.identity, "upload", args)
            await pool.run(grant.identity, "commit", {**args, "temp": created["temp"]})
        await self.answer_node(path, grant, 201)

    def link_target(self, target: str | None) -> str:
        """A link's target: a node URI of this service or an http(s) URL, kept as the link's
        text (the service never follows it)."""
        target = (target or "").strip()
        if target.startswith("vos://"):
            self.uri_path(target)
        elif not target.startswith(("https://", "http://")):
            raise Refused(
                400, "InvalidArgument", "a link's target is a vos:// node URI or an http(s) URL"
            )
        if len(target) > 4096 or "\0" in target:
            raise Refused(400, "InvalidArgument", "a link's target is at most 4096 characters")
        return target

    async def post(self) -> None:
        path = self.node_path()
        if not path.in_tree:
            raise Refused(403, "PermissionDenied", f"/{path.text} is the platform's")
        request = documents.read_node(self.body)
        change = permission_change(request.properties, self.storage.trees)
        grant = self.grant(path, write=True)
        await self.storage.pool.run(grant.identity, "props", {**grant.args(path), "change": change})
        await self.answer_node(path, grant, 200)

    async def delete(self) -> None:
        path = self.writable()
        grant = self.grant(path, write=True)
        await self.storage.pool.run(grant.identity, "delete", grant.args(path))
        self.set_status(204)
        self.finish()

    async def answer_node(self, path: NodePath, grant: Grant, status: int) -> None:
        found = await self.storage.pool.run(
            grant.identity, "node", {**grant.args(path), "page": {"cap": 0, "limit": 0}}
        )
        doc = node_doc(path, found["node"], self.storage.trees, self.authority(), [])
        self.write_xml(doc.document(), status)

"""The base of every service handler, and the API's: bounded bodies, authentication through the
hub (tokens, or the service's login cookie with its XSRF token), JSON errors, never a
traceback."""

from __future__ import annotations

import json
from typing import Any

from jupyterhub.services.auth import HubOAuth, HubOAuthenticated
from tornado import httputil, web
from tornado.log import access_log

from arcade_hub.config import PlatformConfig
from arcade_hub.config.cache import platform_config
from arcade_hub.quoting import reason_phrase
from arcade_hub.service import limits
from arcade_hub.service.hub_client import HubClient
from arcade_hub.service.limits import MESSAGE_LIMIT, shorten, shown
from arcade_hub.service.parsing import CreateParser
from arcade_hub.service.settings import ServiceSettings

XSRF_NEEDED = (
    "this request is authenticated by the arcade service's login cookie, so it must carry the "
    "XSRF token of the service's pages (the _xsrf form field or the X-XSRFToken header); "
    "API clients send 'Authorization: token <JupyterHub token>' instead"
)
INTERNAL = "internal error in the arcade service; see its log"


class ApiError(web.HTTPError):
    """An error for the API client: its message is shown as is."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, "%s", message)
        self.message = message


def as_sent(arguments: dict[str, list[bytes]]) -> dict[str, list[str]]:
    """Query or form arguments as the client sent them. Tornado's `get_argument` turns control
    characters into spaces, which would silently change a command; a NUL is refused instead
    (`arcade_hub.service.skaha_params`)."""
    return {k: [v.decode(errors="replace") for v in values] for k, values in arguments.items()}


@web.stream_request_body
class ServiceHandler(HubOAuthenticated, web.RequestHandler):
    """Every handler of the service.

    - The body is streamed: refused with 413 naming the limit when its Content-Length is above
      `limits.BODY_LIMIT` (nothing of it is kept), parsed as tornado would once it has all
      arrived. Bodies must come with a Content-Length (411 otherwise): the body is parsed when
      that many bytes are in, before the handler runs. A refused body is read to its end
      (up to `limits.DRAIN_LIMIT`) before the 413 is sent: a client or proxy still sending
      would otherwise see the connection reset instead of the answer.
    - Requests that change something and are authenticated by the service's login cookie need
      the XSRF token (HubOAuth checks it when it reads the cookie, `check_xsrf_cookie`);
      requests with a token (`Authorization: token ...`) do not.
    - The log names the path, never the query (`log_request`, `_request_summary`), nor what a
      refusal quotes: clients put commands and variables there.
    """

    body_limit = limits.BODY_LIMIT
    quiet = False
    """Answers below 400 are logged at debug level only (`log_request`)."""
    body_hint = ""
    """Added to the 413's message: what in the body may be how large."""
    _body_parsed = False
    _xsrf_refused = False
    _answered_early = False

    @property
    def hub_auth(self) -> HubOAuth:
        auth: HubOAuth = self.settings["hub_auth"]
        return auth

    @property
    def service(self) -> ServiceSettings:
        settings: ServiceSettings = self.settings["arcade"]
        return settings

    @property
    def hub(self) -> HubClient:
        client: HubClient = self.settings["hub_client"]
        return client

    @property
    def platform(self) -> PlatformConfig:
        return platform_config(self.service.config_file)

    @property
    def parser(self) -> CreateParser:
        parser: CreateParser = self.settings["parser"]
        return parser

    # --- the body -----------------------------------------------------------------------

    def set_default_headers(self) -> None:
        if self._answered_early:
            # An answer before tornado has read the whole request: tornado closes the
            # connection after it. Say so, or the proxy may send the next request down this
            # connection (and get "socket hang up" for it).
            self.set_header("Connection", "close")

    def prepare(self) -> None:
        self._chunks: list[bytes] = []
        self._received = 0
        self._answered_early = True  # until the body has arrived
        if "Transfer-Encoding" in self.request.headers:  # chunked: no length known
            raise ApiError(411, "send the request body with a Content-Length header")
        length = self.request.headers.get("Content-Length", "0").strip() or "0"
        if not length.isdigit():
            raise ApiError(400, "the Content-Length header is not a number")
        self._expected = int(length)
        self._too_large = self._expected > self.body_limit
        if self._expected > limits.DRAIN_LIMIT:
            raise self._body_refusal()  # the connection is cut after this answer
        if self._too_large:
            self.request.connection.set_max_body_size(limits.DRAIN_LIMIT)  # type: ignore[union-attr]
        elif self._expected == 0:
            self._parse_body()

    def data_received(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if not self._too_large:
            self._chunks.append(chunk)
        if self._received < self._expected or self._finished:
            return
        if self._too_large:
            self._refuse(self._body_refusal())
            return
        try:
            self._parse_body()
        except httputil.HTTPInputError as e:
            self._refuse(ApiError(400, f"the request body cannot be read: {e}"))

    def _parse_body(self) -> None:
        body = b"".join(self._chunks)
        self._chunks = []
        self.request.body = body
        self._answered_early = False
        if body:
            content_type = self.request.headers.get("Content-Type", "")
            httputil.parse_body_arguments(
                content_type, body, self.request.body_arguments, self.request.files,
                self.request.headers,
            )
            for key, values in self.request.body_arguments.items():
                self.request.arguments.setdefault(key, []).extend(values)
        self._body_parsed = True

    def _body_refusal(self) -> ApiError:
        return ApiError(
            413,
            f"the request body is {self._expected:,} bytes; the limit is "
            f"{self.body_limit:,} bytes{self.body_hint}",
        )

    def _refuse(self, error: ApiError) -> None:
        """Answer from `data_received`: the handler's method does not run then."""
        self._answered_early = True
        self.send_error(error.status_code, exc_info=(type(error), error, None))

    # --- authentication -----------------------------------------------------------------

    def check_xsrf_cookie(self) -> None:
        """Tornado calls this before the body has arrived, where a form's `_xsrf` is: then it
        does nothing. HubOAuth calls it again when it reads the login cookie (the request is
        not token-authenticated), and then a missing or wrong token refuses the cookie."""
        if not self._body_parsed:
            return
        try:
            super().check_xsrf_cookie()  # HubAuthenticated's: skipped for token requests
        except web.HTTPError:
            self._xsrf_refused = True
            raise

    def refusal(self) -> str | None:
        """Why an unauthenticated request was refused, when the reason is the XSRF token."""
        return XSRF_NEEDED if self._xsrf_refused else None

    # --- errors and the log -------------------------------------------------------------

    def error_message(self, status_code: int, kwargs: dict[str, Any]) -> str:
        """What an error says: the ApiError's message, never an internal exception's, and
        never more than MESSAGE_LIMIT characters (whatever it quotes)."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(exc, "message", None) or self._reason
        if status_code == 403 and self.refusal() and not isinstance(exc, ApiError):
            message = self.refusal()
        if status_code >= 500 and not isinstance(exc, ApiError):
            message = INTERNAL
        return shorten(str(message), MESSAGE_LIMIT)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Refusals are the client's business (the access line has their status); what the
        service did not expect is logged with its traceback."""
        if isinstance(value, web.HTTPError) and value.status_code < 500:
            return
        super().log_exception(typ, value, tb)

    def _request_summary(self) -> str:
        return f"{self.request.method} {self.request.path} ({self.request.remote_ip})"


def log_request(handler: web.RequestHandler) -> None:
    """The service's access log (its application's `log_function`): status, method, path
    without the query, client, time. A handler's answers below 400 are debug lines when it
    says so (`ServiceHandler.quiet`: the root, which the hub checks every minute)."""
    status = handler.get_status()
    write = access_log.info if status < 400 else access_log.warning
    if isinstance(handler, ServiceHandler) and handler.quiet and status < 400:
        write = access_log.debug
    if status >= 500:
        write = access_log.error
    request = handler.request
    write("%d %s %s (%s) %.2fms", status, request.method, request.path, request.remote_ip,
          1000.0 * request.request_time())


class ApiHandler(ServiceHandler):
    """Base for API handlers: JSON in and out."""

    def require_user(self, owner: str) -> dict[str, Any]:
        """The caller's hub model; 403 unless it is `owner` (or an admin)."""
        user: dict[str, Any] | None = self.get_current_user()
        if user is None:
            raise ApiError(
                403,
                self.refusal()
                or "authentication required: send 'Authorization: token <JupyterHub token>'",
            )
        if user.get("name") != owner and not user.get("admin"):
            raise ApiError(403, f"you may not act on sessions of {shown(owner)}")
        return user

    def body(self) -> dict[str, Any]:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise ApiError(400, "the request body must be JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return data

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def challenges(self) -> list[str]:
        """The `WWW-Authenticate` challenges of a 401 (`arcade_hub.service.vosi`)."""
        return []

    def send_challenges(self, status_code: int) -> None:
        if status_code == 401:
            for value in self.challenges():
                self.add_header("WWW-Authenticate", value)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """`{"status", "message"}`; the message is the status line's reason phrase too."""
        self.set_header("Content-Type", "application/json")
        self.send_challenges(status_code)
        message = self.error_message(status_code, kwargs)
        self.set_status(status_code, reason_phrase(message) or None)
        self.finish(json.dumps({"status": status_code, "message": message}))

"""VOSI for the service's two APIs (capabilities and availability, anonymous, as VOSI 1.1
asks), the IVOA SSO challenges of their 401s, and the token URL those challenges name.

A 401 of the sessions API or UWS carries two `WWW-Authenticate` challenges:

- `Bearer realm="arcade"`: the APIs take a JupyterHub token (`Authorization: Bearer <token>`);
- `ivoa_bearer standard_id="ivo://ivoa.net/sso#tls-with-password", access_url="<token URL>"`
  (IVOA SSO): a client that knows the user's name and password gets a token at
  `{prefix}token` (POST `username` and `password` as a form; the answer's `X-VO-Bearer` header
  is the token and `X-VO-Authenticated` the user). The hub checks the password and makes the
  token, limited to this service and to TOKEN_LIFETIME. Only with the hub's password login
  (`auth.method.type: shared-password`): with OpenID Connect there is no password to give, and the
  challenge is left out (users create tokens on the hub's token page).
"""

from __future__ import annotations

import time

from arcade_hub.service.handlers import ApiError, ApiHandler, as_sent
from arcade_hub.service.limits import too_long
from arcade_hub.service.uws_xml import (
    SKAHA_ID,
    UWS_ID,
    XML,
    availability_document,
    capabilities_document,
)

TLS_WITH_PASSWORD = "ivo://ivoa.net/sso#tls-with-password"
TOKEN_LIFETIME = 24 * 3600
"""Seconds a token from the token URL is valid."""
STARTED = time.time()
SERVICES = {"uws": (UWS_ID, "jobs"), "skaha/v1": (SKAHA_ID, "session")}


def challenges(handler: ApiHandler) -> list[str]:
    """The `WWW-Authenticate` values of a 401 of the service's APIs."""
    found = ['Bearer realm="arcade"']
    if password_login(handler):
        url = f"{public_base(handler)}{handler.service.prefix}token"
        found.append(f'ivoa_bearer standard_id="{TLS_WITH_PASSWORD}", access_url="{url}"')
    return found


def password_login(handler: ApiHandler) -> bool:
    return handler.platform.auth.method.type == "shared-password"


def public_base(handler: ApiHandler) -> str:
    """The origin clients reach the service at (absolute, as challenges and capabilities
    need it)."""
    from arcade_hub.service.skaha import browser_base

    return browser_base(handler) or f"{handler.request.protocol}://{handler.request.host}"


class VosiHandler(ApiHandler):
    """`{service}/capabilities` and `{service}/availability`, for `uws` and `skaha/v1`."""

    def get(self, service: str, what: str) -> None:
        standard, endpoint = SERVICES[service]
        self.set_header("Content-Type", XML)
        if what == "availability":
            self.finish(availability_document(STARTED, "the arcade service is running"))
            return
        base = f"{public_base(self)}{self.service.prefix}{service}/"
        self.finish(capabilities_document(base, standard, endpoint))

    def head(self, service: str, what: str) -> None:
        """AuthVO: a client probes the capabilities for how to authenticate."""
        self.set_header("Content-Type", XML)
        self.finish()


class TokenHandler(ApiHandler):
    """IVOA SSO tls-with-password: a form with `username` and `password` for a token."""

    def challenges(self) -> list[str]:
        return challenges(self)

    async def post(self) -> None:
        if not password_login(self):
            raise ApiError(404, (
                "this hub logs in with OpenID Connect: create a token on the hub's token page"
            ))  # fmt: skip
        sent = as_sent(self.request.body_arguments)
        user = (sent.get("username") or [""])[-1]
        password = (sent.get("password") or [""])[-1]
        if not user or not password:
            raise ApiError(400, "send username and password as form fields")
        if problem := too_long("username", user) or too_long("password", password):
            raise ApiError(400, problem)
        token = await self.hub.login_token(
            user, password, [f"access:services!service={self.service.name}"],
            TOKEN_LIFETIME, "IVOA login (tls-with-password) to the arcade service",
        )  # fmt: skip
        if token is None:
            raise ApiError(401, "invalid username or password")
        self.set_header("X-VO-Authenticated", user)
        self.set_header("X-VO-Bearer", token)
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"logged in as {user}; your token is in the X-VO-Bearer header\n")

"""Authentication with OCI Distribution registries: basic credentials and bearer tokens from
the registry's token service, answering the `WWW-Authenticate` challenges of its 401s."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from arcade_hub.config.images import RegistryConfig, is_loopback_host
from arcade_hub.images.cache import Clock
from arcade_hub.images.errors import (
    RegistryAuthError,
    RegistryProtocolError,
    RegistryTimeout,
    RegistryUnavailable,
)

TOKEN_LIFETIME = 60.0
"""Token lifetime assumed when the token service does not say (as the distribution spec)."""
_AUTH_PARAM = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header."""

    scheme: str
    params: dict[str, str]

    @classmethod
    def parse(cls, header: str) -> Challenge:
        scheme, _, rest = header.strip().partition(" ")
        params = {m[1].lower(): m[3] or m[2] for m in _AUTH_PARAM.finditer(rest)}
        return cls(scheme.lower(), params)


@dataclass
class _Token:
    value: str
    expires: float


def error_detail(response: httpx.Response) -> str:
    """The registry's own error codes and messages, if it sent any."""
    try:
        errors = response.json().get("errors") or []
        parts = [f"{e.get('code', '?')}: {e.get('message', '')}".strip() for e in errors]
    except (ValueError, AttributeError):
        parts = []
    return "; ".join(parts) or f"HTTP {response.status_code}"


def describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text



@dataclass
class RegistryAuth:
    """What the client remembers to authenticate: each registry's challenge and the tokens
    it got per scope."""

    http: httpx.AsyncClient
    clock: Clock
    environ: Mapping[str, str]
    tokens: dict[tuple[str, str], _Token] = field(default_factory=dict)
    challenges: dict[str, Challenge] = field(default_factory=dict)

    def credentials(self, config: RegistryConfig) -> tuple[str, str] | None:
        if not config.username:
            return None
        if not config.password_env:
            return config.username, ""
        password = self.environ.get(config.password_env)
        if password is None:
            raise RegistryAuthError(
                f"registry {config.registry_name}: environment variable {config.password_env} "
                f"(password of {config.username}) is not set"
            )
        return config.username, password

    def _basic(self, credentials: tuple[str, str]) -> str:
        raw = f"{credentials[0]}:{credentials[1]}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    async def authorization(self, config: RegistryConfig, scope: str) -> str | None:
        challenge = self.challenges.get(config.registry_name)
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            credentials = self.credentials(config)
            return self._basic(credentials) if credentials else None
        token = self.tokens.get((config.registry_name, scope))
        if token is None or token.expires <= self.clock():
            token = await self._fetch_token(config, challenge, scope)
        return f"Bearer {token.value}"

    async def learn(
        self, config: RegistryConfig, response: httpx.Response, scope: str
    ) -> None:
        """Remember the challenge of a 401 so the next attempt carries credentials."""
        header = response.headers.get("WWW-Authenticate", "")
        challenge = Challenge.parse(header)
        name = config.registry_name
        if challenge.scheme == "basic":
            if self.credentials(config) is None:
                raise RegistryAuthError(
                    f"registry {name} requires a username and password "
                    "(set username and password_env)"
                )
        elif challenge.scheme == "bearer":
            if not challenge.params.get("realm"):
                raise RegistryAuthError(f"registry {name}: bearer challenge without realm")
        else:
            raise RegistryAuthError(
                f"registry {name} asks for unsupported authentication {header or '(none)'!r}"
            )
        self.challenges[name] = challenge
        self.tokens.pop((name, scope), None)

    async def _fetch_token(
        self, config: RegistryConfig, challenge: Challenge, scope: str
    ) -> _Token:
        name = config.registry_name
        realm = challenge.params["realm"]
        realm_parts = urlsplit(realm)
        if realm_parts.scheme not in ("http", "https") or not realm_parts.hostname:
            raise RegistryAuthError(f"registry {name}: bad token realm {realm!r}")
        credentials = self.credentials(config)
        if (
            credentials
            and realm_parts.scheme == "http"
            and not (config.insecure or is_loopback_host(realm_parts.hostname))
        ):
            raise RegistryAuthError(
                f"registry {name}: refusing to send credentials to plain-http realm {realm}"
            )
        params = {"scope": scope}
        if "service" in challenge.params:
            params["service"] = challenge.params["service"]
        headers = {"Authorization": self._basic(credentials)} if credentials else {}
        response = await self._ask(config, realm, params, headers)
        if response.status_code in (401, 403):
            who = f"user {credentials[0]}" if credentials else "anonymous access"
            raise RegistryAuthError(
                f"token service {realm} of registry {name} refused {who} for {scope}"
            )
        token = self._token_of(response, config, realm)
        self.tokens[(name, scope)] = token
        return token

    async def _ask(
        self, config: RegistryConfig, realm: str, params: dict[str, str], headers: dict[str, str]
    ) -> httpx.Response:
        """One request to the token service; its transport failures in the registry's words."""
        name = config.registry_name
        try:
            async with asyncio.timeout(config.timeout):
                return await self.http.get(
                    realm, params=params, headers=headers, timeout=config.timeout
                )
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise RegistryTimeout(
                f"token service {realm} of registry {name} did not answer within "
                f"{config.timeout:g}s"
            ) from exc
        except httpx.TransportError as exc:
            raise RegistryUnavailable(
                f"token service {realm} of registry {name} is unavailable: {describe(exc)}"
            ) from exc

    def _token_of(self, response: httpx.Response, config: RegistryConfig, realm: str) -> _Token:
        """The token in the token service's (non-refusing) answer."""
        name = config.registry_name
        if response.status_code >= 500:
            raise RegistryUnavailable(
                f"token service {realm} of registry {name} is unavailable: "
                f"HTTP {response.status_code}"
            )
        if response.status_code != 200:
            raise RegistryAuthError(
                f"token service {realm} of registry {name} answered HTTP {response.status_code}"
            )
        try:
            data = response.json()
            value = data.get("token") or data.get("access_token")
            lifetime = float(data.get("expires_in") or TOKEN_LIFETIME)
        except (ValueError, AttributeError, TypeError) as exc:
            raise RegistryProtocolError(f"token service {realm}: bad answer: {exc}") from exc
        if not isinstance(value, str) or not value:
            raise RegistryProtocolError(f"token service {realm}: answer carries no token")
        # Renew a little early so a token does not expire in flight.
        return _Token(value, self.clock() + max(lifetime * 0.9, lifetime - 30))

    def error(
        self, config: RegistryConfig, response: httpx.Response, scope: str
    ) -> RegistryAuthError:
        name = config.registry_name
        challenge = Challenge.parse(response.headers.get("WWW-Authenticate", ""))
        credentials = self.credentials(config)
        if challenge.params.get("error") == "insufficient_scope" or credentials is None:
            return RegistryAuthError(
                f"registry {name} denied access to {scope} "
                f"({error_detail(response)}); the repository may not exist or need credentials"
            )
        return RegistryAuthError(
            f"registry {name} rejected the credentials of user {credentials[0]} "
            f"({error_detail(response)})"
        )


"""`ArcadeOIDCAuthenticator`: oauthenticator's GenericOAuthenticator configured from the platform
document's `auth.method` (type `oidc`).

Endpoints come from the issuer's discovery document, fetched once when the hub starts. Hub
groups are managed from the groups claim at every login and refresh, so they follow the
identity provider. Authorization uses only claims the provider asserts (groups), never an
email address or domain the user could choose.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlencode

import httpx
from jupyterhub.crypto import CryptKeeper
from oauthenticator.generic import GenericOAuthenticator
from tornado import web
from traitlets import Dict, Unicode, default

from arcade_hub import contract

DISCOVERY = "/.well-known/openid-configuration"


class DiscoveryError(Exception):
    """The issuer's discovery document could not be read or does not fit."""


def fetch_discovery(issuer: str, timeout: float = 10) -> dict[str, Any]:
    """The issuer's OpenID configuration; its `issuer` must be the configured one."""
    url = issuer.rstrip("/") + DISCOVERY
    try:
        r = httpx.get(url, timeout=timeout, follow_redirects=True)
        r.raise_for_status()
        doc: dict[str, Any] = r.json()
    except (httpx.HTTPError, ValueError) as e:
        raise DiscoveryError(f"cannot read the OpenID configuration at {url}: {e}") from e
    if doc.get("issuer", "").rstrip("/") != issuer.rstrip("/"):
        raise DiscoveryError(
            f"{url} names issuer {doc.get('issuer')!r}, not {issuer!r}; fix auth.method.issuer"
        )
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint"):
        if not doc.get(key):
            raise DiscoveryError(f"{url} has no {key}")
    return doc


def group_names(raw: object) -> list[str]:
    """Group names from a groups claim: a list (or one string); Keycloak paths lose their `/`."""
    if raw is None:
        return []
    items = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    return sorted({str(g).strip().lstrip("/") for g in items if str(g).strip().lstrip("/")})


class ArcadeOIDCAuthenticator(GenericOAuthenticator):
    """GenericOAuthenticator whose defaults come from the platform document."""

    issuer = Unicode(config=True, help="OpenID Connect issuer URL.")
    client_secret_env = Unicode(
        contract.OIDC_CLIENT_SECRET,
        config=True,
        help="Environment variable holding the client secret.",
    )
    groups_claim = Unicode("groups", config=True, help="Userinfo claim listing groups.")
    discovery = Dict(help="The issuer's discovery document (fetched at start).")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # JupyterHub creates the CryptKeeper singleton without the hub's config; create it
        # here with it, so `CryptKeeper.keys` from the generated config encrypts auth_state.
        if not CryptKeeper.initialized():
            CryptKeeper.instance(config=self.config)
        # Discovery now: a wrong issuer stops the hub at start, not at the first login.
        self.log.info("OpenID provider %s: log in at %s", self.issuer, self.authorize_url)

    @default("discovery")
    def _discovery_default(self) -> dict[str, Any]:
        return fetch_discovery(self.issuer)

    @default("authorize_url")
    def _authorize_url_default(self) -> str:
        return str(self.discovery["authorization_endpoint"])

    @default("token_url")
    def _token_url_default(self) -> str:
        return str(self.discovery["token_endpoint"])

    @default("userdata_url")
    def _userdata_url_default(self) -> str:
        return str(self.discovery["userinfo_endpoint"])

    @default("logout_redirect_url")
    def _logout_redirect_url_default(self) -> str:
        end = self.discovery.get("end_session_endpoint")
        return f"{end}?{urlencode({'client_id': self.client_id})}" if end else ""

    @default("client_secret")
    def _client_secret_default(self) -> str:
        return os.environ.get(self.client_secret_env, "")

    @default("manage_groups")
    def _manage_groups_default(self) -> bool:
        return True

    @default("enable_auth_state")
    def _enable_auth_state_default(self) -> bool:
        return True  # keeps the tokens (encrypted) so logins can be refreshed

    @default("auth_state_groups_key")
    def _groups_key_default(self) -> Any:
        claim = self.groups_claim
        return lambda auth_state: group_names(
            (auth_state.get(self.user_auth_state_key) or {}).get(claim)
        )

    async def refresh_user(self, user: Any, handler: Any = None, **kwargs: Any) -> Any:
        """Refresh from the provider; a user no longer in an allowed group must log in again
        (and then sees why they are refused)."""
        refreshed = await super().refresh_user(user, handler, **kwargs)
        if isinstance(refreshed, dict) and not await super().check_allowed(user.name, refreshed):
            self.log.info("%s is no longer in an allowed group: login required", user.name)
            return False
        return refreshed

    async def check_allowed(self, username: str, auth_model: dict[str, Any] | None) -> bool:
        """Allowed by the provider's groups (or admin); otherwise a 403 that says why."""
        if await super().check_allowed(username, auth_model):
            return True
        groups = sorted((auth_model or {}).get("groups") or [])
        asserted = ", ".join(groups) if groups else "none"
        allowed = ", ".join(sorted(self.allowed_groups)) or "none"
        raise web.HTTPError(
            403,
            reason="Not in an allowed group",
            log_message=(
                f"{username} may not use this hub: it is open to members of {allowed}, and "
                f"your identity provider reports your groups as: {asserted}. Ask your group "
                "administrator to add you, then log in again."
            ),
        )

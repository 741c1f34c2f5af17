"""Login (shared password or OpenID Connect), admins and groups."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from arcade_hub import contract
from arcade_hub.config.base import ENV_NAME_PATTERN, Model


class SharedPasswordAuth(Model):
    """Embedded login: one shared password for everyone (generated when not set)."""

    type: Literal["shared-password"] = Field(
        "shared-password", title="Type", description="Shared-password login."
    )
    password_file: str = Field(
        "{data_dir}/password",
        title="Password file",
        description="Where the shared password is kept. Generated on first start if absent.",
    )


class OidcAuth(Model):
    """Login through an OpenID Connect identity provider; groups follow its claims."""

    type: Literal["oidc"] = Field(title="Type", description="OpenID Connect login.")
    issuer: str = Field(
        title="Issuer",
        description=(
            "The provider's issuer URL; its endpoints are read from "
            "`{issuer}/.well-known/openid-configuration` when the hub starts."
        ),
        pattern=r"^https?://",
    )
    client_id: str = Field(title="Client id", description="The hub's client id at the provider.")
    client_secret_env: str = Field(
        contract.OIDC_CLIENT_SECRET,
        title="Client secret variable",
        description=(
            "Name of the environment variable holding the client secret. The secret itself "
            "never goes into the platform document."
        ),
        pattern=ENV_NAME_PATTERN,
    )
    scopes: list[str] = Field(
        default_factory=lambda: ["openid", "profile"],
        title="Scopes",
        description=(
            "Scopes requested. Add the one that releases the groups claim if the provider "
            "needs it (e.g. `groups`, or `org.cilogon.userinfo` at CILogon)."
        ),
    )
    username_claim: str = Field(
        "preferred_username",
        title="Username claim",
        description="Userinfo claim used as the hub username.",
    )
    groups_claim: str = Field(
        "groups",
        title="Groups claim",
        description=(
            "Userinfo claim listing the user's groups (`isMemberOf` at CILogon). A leading `/` "
            "in a group name (Keycloak group paths) is removed."
        ),
    )
    manage_groups: bool = Field(
        True,
        title="Groups from claims",
        description=(
            "Set the user's hub groups from the groups claim at every login and refresh, so "
            "they follow the identity provider. Users listed in `auth.groups` also get those "
            "groups in the launch policy (datasets, images), not in the hub's group list."
        ),
    )
    allowed_groups: list[str] = Field(
        default_factory=list,
        title="Allowed groups",
        description=(
            "Only members of one of these groups (as asserted by the provider) may log in, "
            "besides `auth.admin_users`. Empty requires `allow_any_user`."
        ),
    )
    allow_any_user: bool = Field(
        False,
        title="Allow any user",
        description="Let every user the provider authenticates log in (no group check).",
    )
    admin_groups: list[str] = Field(
        default_factory=list,
        title="Admin groups",
        description="Members of these groups are hub admins (re-evaluated at every login).",
    )
    refresh_age_seconds: int = Field(
        300,
        ge=0,
        title="Refresh age",
        description=(
            "How old (seconds) a user's login may get before the hub checks it with the "
            "provider again (userinfo, then the refresh token). When the provider no longer "
            "accepts it the user must log in again; groups are updated. Also checked before "
            "every launch. 0 disables."
        ),
    )
    callback_url: str | None = Field(
        None,
        title="Callback URL",
        description=(
            "The redirect URI registered at the provider, e.g. "
            "`https://hub.example.org/hub/oauth_callback` (default: derived from the request). "
            "Cookies are marked secure when it is https."
        ),
        pattern=r"^https?://",
    )
    logout_url: str | None = Field(
        None,
        title="Logout URL",
        description=(
            "Where to send the browser after logging out of the hub (default: the provider's "
            "`end_session_endpoint`, so the provider session ends too; `''` to stay in the hub)."
        ),
    )
    login_service: str = Field(
        "your institute",
        title="Login button",
        description="Shown on the login button: `Sign in with <login_service>`.",
    )

    @model_validator(mode="after")
    def _who_may_log_in(self) -> OidcAuth:
        if not self.allowed_groups and not self.allow_any_user:
            raise ValueError("set allowed_groups, or allow_any_user: true")
        if (self.allowed_groups or self.admin_groups) and not self.manage_groups:
            raise ValueError("allowed_groups and admin_groups need manage_groups: true")
        return self


class AuthConfig(Model):
    """Who may log in and what they are."""

    method: SharedPasswordAuth | OidcAuth = Field(
        default_factory=SharedPasswordAuth,
        discriminator="type",
        title="Login method",
        description=(
            "`shared-password` (the embedded default) or `oidc` (an OpenID Connect identity "
            "provider such as Keycloak or CILogon, with groups from its claims)."
        ),
    )
    admin_users: list[str] = Field(
        default_factory=list, title="Admins", description="Users with admin rights in the hub."
    )
    groups: dict[str, list[str]] = Field(
        default_factory=dict,
        title="Groups",
        description="Group name to member usernames, for logins that assert no groups.",
    )

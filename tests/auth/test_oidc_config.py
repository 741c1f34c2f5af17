"""The `oidc` login method in the platform document and the JupyterHub config built from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from arcade_hub.auth.oidc import ArcadeOIDCAuthenticator, DiscoveryError, group_names
from arcade_hub.config import OidcAuth, PlatformConfig, SharedPasswordAuth
from arcade_hub.hub_config import RunOptions, hub_config
from tests.hub import PLATFORM

OIDC: dict[str, Any] = {
    "type": "oidc",
    "issuer": "https://login.example.org/realms/astro",
    "client_id": "arcade",
    "allowed_groups": ["astro"],
    "admin_groups": ["hub-admins"],
}


def platform(method: dict[str, Any] | None = None, **auth: Any) -> PlatformConfig:
    doc = yaml.safe_load(PLATFORM.read_text())
    doc["auth"] = {**auth, **({"method": method} if method else {})}
    return PlatformConfig.model_validate(doc)


def test_shared_password_stays_the_default() -> None:
    assert isinstance(platform().auth.method, SharedPasswordAuth)


def test_oidc_method_is_chosen_by_type() -> None:
    method = platform(OIDC).auth.method
    assert isinstance(method, OidcAuth)
    assert method.groups_claim == "groups" and method.username_claim == "preferred_username"
    assert method.client_secret_env == "ARCADE_OIDC_CLIENT_SECRET"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"allowed_groups": []}, "allow_any_user"),
        ({"client_secret": "s3cret"}, "Extra inputs are not permitted"),
        ({"client_secret_env": "not a name"}, "client_secret_env"),
        ({"issuer": "login.example.org"}, "issuer"),
        ({"manage_groups": False}, "need manage_groups"),
        ({"type": "saml"}, "does not match any of the expected tags"),
    ],
)
def test_oidc_method_refuses(change: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        platform({**OIDC, **change})


def test_allow_any_user_without_groups() -> None:
    assert platform({**OIDC, "allowed_groups": [], "allow_any_user": True})


def build(tmp_path: Path, method: dict[str, Any], **auth: Any) -> Any:
    opts = RunOptions(data_dir=tmp_path, config_file=None)
    return hub_config(platform(method, **auth), opts)


def test_hub_config_for_oidc(tmp_path: Path) -> None:
    c = build(tmp_path, {**OIDC, "callback_url": "https://hub.example.org/hub/oauth_callback"})
    assert c.JupyterHub.authenticator_class is ArcadeOIDCAuthenticator
    a = c.ArcadeOIDCAuthenticator
    assert a.issuer == OIDC["issuer"] and a.client_id == "arcade"
    assert a.allowed_groups == {"astro"} and a.admin_groups == {"hub-admins"}
    assert a.manage_groups is True and a.allow_all is False
    assert a.auth_refresh_age == 300 and a.refresh_pre_spawn is True
    assert "client_secret" not in a  # read from the environment variable at start
    assert len(c.CryptKeeper["keys"][0]) == 32
    assert (tmp_path / "auth-state-key").stat().st_mode & 0o077 == 0
    assert c.JupyterHub.tornado_settings == {"cookie_options": {"secure": True}}
    assert "cookie_host_prefix_enabled" not in c.JupyterHub  # keeps the hub cookie off /user/
    assert not (tmp_path / "password").exists()
    # the key survives restarts, or stored auth state could not be read
    again = build(tmp_path, OIDC)
    assert again.CryptKeeper["keys"] == c.CryptKeeper["keys"]
    assert "tornado_settings" not in again.JupyterHub  # plain http: not secure-only


def test_document_groups_with_provider_groups(tmp_path: Path) -> None:
    """JupyterHub refuses load_groups when the authenticator manages groups; the launch
    policy still adds the document's groups."""
    from arcade_hub.launch.choices import user_groups

    config = platform(OIDC, groups={"survey-team": ["carol"]})
    c = hub_config(config, RunOptions(data_dir=tmp_path, config_file=None))
    assert "load_groups" not in c.JupyterHub
    assert user_groups(config, "carol", frozenset({"astro"})) == {"astro", "survey-team"}


def test_hub_config_for_shared_password_is_unchanged(tmp_path: Path) -> None:
    c = build(tmp_path, {}, admin_users=["root-admin"])
    assert c.JupyterHub.authenticator_class == "shared-password"
    assert c.Authenticator.allow_all is True
    assert c.Authenticator.admin_users == {"root-admin"}


def test_authenticator_defaults_from_the_document(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SECRET", "from-env")
    discovery = {
        "issuer": OIDC["issuer"],
        "authorization_endpoint": "https://login.example.org/auth",
        "token_endpoint": "https://login.example.org/token",
        "userinfo_endpoint": "https://login.example.org/userinfo",
        "end_session_endpoint": "https://login.example.org/logout",
    }
    a = ArcadeOIDCAuthenticator(
        issuer=OIDC["issuer"],
        client_id="arcade",
        client_secret_env="MY_SECRET",
        discovery=discovery,
        allowed_groups={"astro"},
    )
    assert a.client_secret == "from-env"
    assert a.authorize_url == "https://login.example.org/auth"
    assert a.token_url == "https://login.example.org/token"
    assert a.userdata_url == "https://login.example.org/userinfo"
    assert a.logout_redirect_url == "https://login.example.org/logout?client_id=arcade"
    assert a.enable_auth_state is True and a.manage_groups is True
    state = {a.user_auth_state_key: {"groups": ["/astro", "astro", "/projects/x", ""]}}
    assert a.auth_state_groups_key(state) == ["astro", "projects/x"]


def test_group_names() -> None:
    assert group_names(None) == []
    assert group_names("astro") == ["astro"]
    assert group_names(["b", "/a", 3]) == ["3", "a", "b"]
    assert group_names({"not": "a list"}) == []


def test_discovery_of_an_unreachable_issuer_fails_clearly() -> None:
    from arcade_hub.auth.oidc import fetch_discovery
    from arcade_hub.hub_config import free_port

    with pytest.raises(DiscoveryError, match="cannot read the OpenID configuration"):
        fetch_discovery(f"http://127.0.0.1:{free_port()}", timeout=2)


def test_hub_with_an_unreachable_issuer_stops_at_start(tmp_path: Path) -> None:
    from arcade_hub.hub_config import free_port
    from tests.auth.conftest import oidc_platform
    from tests.hub import running_hub

    config = oidc_platform(tmp_path / "platform.yaml", f"http://127.0.0.1:{free_port()}")
    with (
        pytest.raises(AssertionError, match="cannot read the OpenID configuration"),
        running_hub(tmp_path, config=config, extra_env={"ARCADE_OIDC_CLIENT_SECRET": "x"}),
    ):
        pass

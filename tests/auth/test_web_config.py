"""`web` in the platform document: the public URL and per-user subdomains set the right
JupyterHub traits, the arcade service's links follow, and over https every cookie is `Secure`
and host-only (the hub's, the sessions', the arcade service's login cookie)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from unittest.mock import Mock

import pytest
import yaml
from jupyterhub.app import JupyterHub
from jupyterhub.services.auth import HubOAuth, HubOAuthenticated
from pydantic import ValidationError
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine
from tornado.web import Application, RequestHandler

from arcade_hub import contract
from arcade_hub.config import PlatformConfig
from arcade_hub.hub_config import SERVICE, RunOptions, hub_config
from arcade_hub.service.app import make_app
from arcade_hub.service.sessions import Sessions
from arcade_hub.service.settings import ServiceSettings
from arcade_hub.service.skaha import browser_base
from tests.hub import PLATFORM

OIDC: dict[str, Any] = {
    "type": "oidc",
    "issuer": "https://login.example.org/realms/astro",
    "client_id": "arcade",
    "allowed_groups": ["astro"],
}


def platform(web: dict[str, Any] | None = None, method: dict[str, Any] | None = None) -> Any:
    doc = yaml.safe_load(PLATFORM.read_text())
    if web is not None:
        doc["web"] = web
    if method is not None:
        doc["auth"] = {"method": method}
    return PlatformConfig.model_validate(doc)


def build(tmp_path: Path, web: dict[str, Any] | None = None, **kw: Any) -> Any:
    return hub_config(platform(web, **kw), RunOptions(data_dir=tmp_path, config_file=None))


def service_env(c: Any) -> dict[str, str]:
    env: dict[str, str] = next(s for s in c.JupyterHub.services if s["name"] == SERVICE)[
        "environment"
    ]
    return env


def test_by_default_everything_is_under_the_hub_host(tmp_path: Path) -> None:
    c = build(tmp_path)
    assert "subdomain_host" not in c.JupyterHub and "public_url" not in c.JupyterHub
    assert "tornado_settings" not in c.JupyterHub  # plain http on one machine
    assert c.JupyterHub.template_vars == {"arcade_url": "/services/arcade/"}
    assert c.ArcadeLocalSpawner.arcade_url == "/services/arcade/"
    env = service_env(c)
    assert "JUPYTERHUB_COOKIE_OPTIONS" not in env and contract.SUBDOMAIN_HOST not in env


def test_subdomains_set_jupyterhubs_traits(tmp_path: Path) -> None:
    c = build(tmp_path, {"subdomain_host": "https://hub.example.org/"})
    assert c.JupyterHub.subdomain_host == "https://hub.example.org"
    # What JupyterHub derives from it: the hub's public URL and domain, users' hosts.
    app = JupyterHub(config=c)
    assert app.public_url == "https://hub.example.org/"
    assert app.domain == "hub.example.org"
    assert app.subdomain_hook("alice", app.domain, "user") == "alice.hub.example.org"
    service = "https://arcade--service.hub.example.org/services/arcade/"
    assert app.subdomain_hook(SERVICE, app.domain, "service") + "/services/arcade/" == (
        service.removeprefix("https://")
    )
    # The hub's pages and the launch form link to the service on its own host.
    assert c.JupyterHub.template_vars == {"arcade_url": service}
    assert c.ArcadeLocalSpawner.arcade_url == service
    env = service_env(c)
    assert env[contract.SUBDOMAIN_HOST] == "https://hub.example.org"
    assert json.loads(env["JUPYTERHUB_COOKIE_OPTIONS"]) == {"secure": True}
    assert c.JupyterHub.tornado_settings == {"cookie_options": {"secure": True}}
    # users' servers control subdomains: `__Host-` login cookies cannot be tossed from there
    assert c.JupyterHub.cookie_host_prefix_enabled is True
    assert app.cookie_host_prefix_enabled is True


def test_subdomains_keep_a_port(tmp_path: Path) -> None:
    c = build(tmp_path, {"subdomain_host": "http://hub.localhost:8443"})
    assert c.JupyterHub.template_vars["arcade_url"] == (
        "http://arcade--service.hub.localhost:8443/services/arcade/"
    )
    assert "tornado_settings" not in c.JupyterHub  # http: browsers would drop Secure cookies
    assert "cookie_host_prefix_enabled" not in c.JupyterHub  # `__Host-` needs Secure


def test_https_public_url_makes_cookies_secure_and_host_only(tmp_path: Path) -> None:
    c = build(tmp_path, {"public_url": "https://hub.example.org"})
    assert c.JupyterHub.public_url == "https://hub.example.org/"
    assert c.JupyterHub.tornado_settings == {
        "cookie_options": {"secure": True}
    }  # no `domain`: host-only
    app = JupyterHub(config=c)
    assert app.public_url == "https://hub.example.org/" and app.subdomain_host == ""
    # no `__Host-` without subdomains: its path `/` would send the hub's cookie to sessions
    assert app.cookie_host_prefix_enabled is False
    assert c.JupyterHub.template_vars == {"arcade_url": "/services/arcade/"}
    assert json.loads(service_env(c)["JUPYTERHUB_COOKIE_OPTIONS"]) == {"secure": True}


def test_oidc_callback_follows_the_public_url(tmp_path: Path) -> None:
    c = build(tmp_path, {"public_url": "https://hub.example.org/"}, method=OIDC)
    assert c.ArcadeOIDCAuthenticator.oauth_callback_url == (
        "https://hub.example.org/hub/oauth_callback"
    )
    c = build(tmp_path, method={**OIDC, "callback_url": "https://other.example.org/cb"})
    assert c.ArcadeOIDCAuthenticator.oauth_callback_url == "https://other.example.org/cb"
    assert c.JupyterHub.tornado_settings == {
        "cookie_options": {"secure": True}
    }  # the callback is https


class Page(HubOAuthenticated, RequestHandler):
    """A page of the arcade service (they are HubOAuthenticated)."""


def proxied_request(path: str) -> HTTPServerRequest:
    """A GET of `path` that reached the service over plain http behind a TLS-terminating
    proxy for hub.example.org."""
    return HTTPServerRequest(
        headers=HTTPHeaders({"Host": "hub.example.org"}),
        start_line=RequestStartLine("GET", path, "HTTP/1.1"),
        connection=Mock(context=SimpleNamespace(remote_ip="127.0.0.1", protocol="http")),
    )


def use_service_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, https: bool) -> None:
    """The arcade service's environment for a public URL over https or http."""
    web = {"public_url": "https://hub.example.org/" if https else "http://hub.example.org/"}
    for key, value in service_env(build(tmp_path, web)).items():
        monkeypatch.setenv(key, value)


def set_cookie_header(auth: HubOAuth) -> str:
    """The Set-Cookie header the arcade service's login (HubOAuth) sends after OAuth, for a
    request that reached it over plain http behind a TLS-terminating proxy."""
    app = Application([], cookie_secret="x" * 32, hub_auth=auth)
    handler = Page(app, proxied_request("/services/arcade/oauth_callback"))
    auth.set_cookie(handler, "the-access-token")
    header: str = handler._new_cookie[auth.cookie_name].OutputString()
    return header


@pytest.mark.parametrize("https", [True, False])
def test_the_services_login_cookie_is_secure_over_https(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, https: bool
) -> None:
    use_service_env(tmp_path, monkeypatch, https)
    auth = HubOAuth(
        api_token="t",
        api_url="http://127.0.0.1:1/hub/api/",
        oauth_client_id="service-arcade",
        base_url="/services/arcade/",
    )
    header = set_cookie_header(auth)
    assert ("; Secure" in header) is https, header
    assert "Domain=" not in header and "; HttpOnly" in header, header
    assert "Path=/services/arcade/" in header, header


@pytest.mark.parametrize(
    ("web", "error"),
    [
        ({"subdomain_host": "http://127.0.0.1:8000"}, "IP address, which has no subdomains"),
        ({"subdomain_host": "https://hub.example.org/prefix"}, "has a path \\(/prefix\\)"),
        ({"subdomain_host": "hub.example.org"}, "not an http\\(s\\) address"),
        ({"public_url": "https://hub.example.org/jupyter/"},
         "has a path \\(/jupyter/\\).*cannot be served under a prefix: write "
         "https://hub.example.org/ and"),
        ({"public_url": "https://hub.example.org/?next=/hub/"}, "has a query or fragment"),
        ({"public_url": "https://hub.example.org/#top"}, "has a query or fragment"),
        ({"public_url": "https://admin:pw@hub.example.org/"}, "no user name or password"),
        ({"public_url": "https://hub.example.org:99999/"}, "port is not a number"),
        ({"public_url": "ftp://hub.example.org/"}, "not an http\\(s\\) address"),
        ({"public_url": "https:// hub.example.org/"}, "has a space"),
        (
            {"public_url": "https://a.example.org/", "subdomain_host": "https://b.example.org"},
            "must name the same scheme, host and port",
        ),
        (
            {"public_url": "http://hub.example.org/", "subdomain_host": "https://hub.example.org"},
            "must name the same scheme, host and port",
        ),
        ({"subdomains": True}, "Extra inputs are not permitted"),
    ],
)
def test_web_refuses(web: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        platform(web)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "http://127.0.0.1:8000"),  # from the request, as it came
        ({"JUPYTERHUB_HOST": ""}, "http://127.0.0.1:8000"),
        # web.public_url: JupyterHub passes its origin; the proxy's http does not count
        ({"JUPYTERHUB_HOST": "https://hub.example.org"}, "https://hub.example.org"),
        # subdomains: the hub's session URLs are absolute already
        (
            {"JUPYTERHUB_HOST": "https://hub.example.org", contract.SUBDOMAIN_HOST: "https://x.org"},
            "",
        ),
    ],
)
def test_session_links_start_from_the_public_origin(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    monkeypatch.delenv("JUPYTERHUB_HOST", raising=False)
    monkeypatch.delenv(contract.SUBDOMAIN_HOST, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    handler = SimpleNamespace(request=SimpleNamespace(protocol="http", host="127.0.0.1:8000"))
    assert browser_base(handler) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("https", [True, False])
def test_the_services_xsrf_cookie_is_secure_over_https(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, https: bool
) -> None:
    use_service_env(tmp_path, monkeypatch, https)
    settings = ServiceSettings(
        name="arcade", prefix="/services/arcade/", port=1, hub_api_url="http://127.0.0.1:1/hub/api/",
        api_token="t", config_file="", data_dir=tmp_path,
    )  # fmt: skip
    HubOAuth.clear_instance()  # a singleton: this test's environment must reach it
    try:
        app = make_app(settings, cast(Sessions, SimpleNamespace(hub=None)))
        handler = RequestHandler(app, proxied_request("/services/arcade/jobs/new"))
        assert handler.xsrf_token  # sets the cookie, as every page with a form does
        header = handler._new_cookie["_xsrf"].OutputString()
        # the login and OAuth state cookies: Secure kept, SameSite added
        options = app.settings["hub_auth"].cookie_options
    finally:
        HubOAuth.clear_instance()
    assert ("; Secure" in header) is https, header
    assert "Domain=" not in header and "; SameSite=Lax" in header, header
    assert options == ({"secure": True} if https else {}) | {"samesite": "Lax"}


@pytest.mark.parametrize(
    "web",
    [
        {},
        {"public_url": "https://hub.example.org/"},
        {"public_url": "https://hub.example.org/", "subdomain_host": "https://hub.example.org"},
    ],
)
def test_every_jupyterhub_setting_is_one_jupyterhub_knows(
    tmp_path: Path, web: dict[str, Any]
) -> None:
    """JupyterHub only warns about settings it does not have (e.g. a misspelt cookie option)."""
    c = build(tmp_path, web)
    known = set(JupyterHub.class_traits(config=True))
    assert set(c.JupyterHub) <= known, set(c.JupyterHub) - known

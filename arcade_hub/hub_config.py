"""Build the JupyterHub configuration of the embedded platform from the platform document."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jupyterhub.utils import subdomain_hook_idna
from traitlets.config import Config

from arcade_hub import contract
from arcade_hub.auth.log_scrub import hub_logging_config
from arcade_hub.config import OidcAuth, PlatformConfig, SharedPasswordAuth
from arcade_hub.launch.storage import expand
from arcade_hub.secret_files import kept_secret

ADMIN_SERVICE = "arcade-admin"
CULLER = "arcade-idle-culler"
CULLER_SCOPES = ["list:users", "read:users:activity", "read:servers", "delete:servers"]
"""jupyterhub-idle-culler's documented scopes for culling servers (not users)."""
PODMAN_ENV = ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "XDG_RUNTIME_DIR", "HOME")
"""Passed to the arcade service, which runs podman for desktop apps in containers."""
SERVICE = "arcade"
SERVICE_PREFIX = f"/services/{SERVICE}/"
STORAGE = "vospace"
"""The storage service (`arcade_hub.storage`): VOSpace over homes and project spaces."""
STORAGE_SCOPES = ["read:users"]
"""What the storage service asks the hub: the groups of the users whose tokens it checked."""
REGISTRY_PATH = "/reg/"
"""Where `vos` clients look up resource IDs on a host (`VOSPACE_WEBSERVICE`): the proxy
sends it to the storage service."""
SERVICE_SCOPES = ["list:users", "read:users", "servers", "admin:server_state"]
"""What the arcade service needs from the hub: users, their servers and server state (to read
launch specs), and `servers` to start and delete the named servers the sessions API creates.
No `admin:users` and no `tokens`: it only starts servers for the caller whose token it checked."""
SESSION_TOKEN_SCOPES = [
    "users:activity!user",
    "access:servers!server",
    f"access:services!service={SERVICE}",
    f"access:services!service={STORAGE}",
]
"""A session's own token: JupyterHub's server scopes, plus the arcade API (`arcade-launch`)
and the storage service (`vos` commands inside a session)."""
ADMIN_SCOPES = [
    "admin:users",
    "admin:servers",
    "admin:groups",
    "tokens",
    "list:users",
    "read:users",
    "access:servers",
    "read:hub",
]
"""What `ARCADE_ADMIN_TOKEN` may do: manage users, their servers and their API tokens."""


class SetupError(Exception):
    """Something the machine lacks to run the platform; the message says how to fix it."""


@dataclass(frozen=True)
class RunOptions:
    data_dir: Path
    config_file: str | None
    ip: str = "127.0.0.1"
    port: int = 8000
    admin_token: str | None = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def proxy_command() -> str:
    """configurable-http-proxy: next to this Python (the setup script puts it there) or on PATH."""
    local = Path(sys.executable).parent / "configurable-http-proxy"
    found = str(local) if local.exists() else shutil.which("configurable-http-proxy")
    if not found:
        raise SetupError(
            "configurable-http-proxy was not found; run scripts/setup.sh, or "
            "`npm install -g configurable-http-proxy`"
        )
    return found


def shared_password(platform: PlatformConfig, data_dir: Path) -> str:
    """The embedded login's password: read from its file, generated there on first start."""
    method = platform.auth.method
    if not isinstance(method, SharedPasswordAuth):
        return ""
    path = expand(method.password_file, data_dir)
    return kept_secret(path, lambda: secrets.token_urlsafe(12), min_length=8)


def hub_config(platform: PlatformConfig, opts: RunOptions) -> Config:
    """The complete JupyterHub configuration for the embedded platform."""
    data = opts.data_dir
    c = Config()
    c.JupyterHub.config_file = str(_empty_config_file(data))
    # No secret of a URL in the log (JupyterHub writes some warnings with the full URL)
    c.JupyterHub.logging_config = hub_logging_config()
    web = platform.web
    scheme = "https" if web.tls_cert_file else "http"
    c.JupyterHub.bind_url = f"{scheme}://{opts.ip}:{opts.port}"
    if web.tls_cert_file and web.tls_key_file:
        # the proxy answers https itself (no TLS-terminating proxy in front)
        c.JupyterHub.ssl_cert = web.tls_cert_file
        c.JupyterHub.ssl_key = web.tls_key_file
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = free_port()
    c.JupyterHub.db_url = f"sqlite:///{data / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(data / "jupyterhub_cookie_secret")
    hub_pages(c, platform)
    c.JupyterHub.allow_named_servers = True
    # No limit from JupyterHub: it counts stopped servers too (a refused launch leaves one).
    # The policy counts running sessions against `policy.max_sessions` and the group policy.
    c.JupyterHub.named_server_limit_per_user = 0
    c.ConfigurableHTTPProxy.command = [proxy_command()]
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{free_port()}"
    c.ConfigurableHTTPProxy.pid_file = str(data / "proxy.pid")

    from arcade_hub.spawners.local import ArcadeLocalSpawner

    c.JupyterHub.spawner_class = ArcadeLocalSpawner
    c.ArcadeLocalSpawner.platform_config_file = opts.config_file or ""
    c.ArcadeLocalSpawner.data_dir = str(data)
    service_port = free_port()
    c.ArcadeLocalSpawner.arcade_api_url = (
        f"http://127.0.0.1:{service_port}/services/{SERVICE}/api/v1"
    )
    c.Spawner.server_token_scopes = SESSION_TOKEN_SCOPES

    _web(c, platform)
    _authenticator(c, platform, data)
    if (
        isinstance(platform.auth.method, SharedPasswordAuth)
        or not platform.auth.method.manage_groups
    ):
        c.JupyterHub.load_groups = {
            group: {"users": members} for group, members in platform.auth.groups.items()
        }
    # else the provider's claims set the hub groups at every login (JupyterHub refuses
    # load_groups then); the launch policy still adds `auth.groups` (policy.user_groups).
    c.JupyterHub.services, c.JupyterHub.load_roles = _services(platform, opts, service_port)
    if platform.vospace.enabled:
        storage_port = free_port()
        c.JupyterHub.services.append(_storage_service(platform, opts, storage_port))
        c.JupyterHub.load_roles.append(
            {"name": STORAGE, "scopes": STORAGE_SCOPES, "services": [STORAGE]}
        )
        c.Proxy.extra_routes = {registry_route(platform): f"http://127.0.0.1:{storage_port}"}
    return c


def _storage_service(platform: PlatformConfig, opts: RunOptions, port: int) -> dict[str, Any]:
    """The storage service: a process of its own, so that long transfers share neither an
    event loop nor a process with the sessions API; it starts workers as the users it acts
    for (docs/how-to/secure-the-deployment.md)."""
    env = {
        contract.PLATFORM_CONFIG: opts.config_file or "",
        contract.DATA_DIR: str(opts.data_dir),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    if platform.web.origin:
        env[contract.STORAGE_URL] = service_url(platform, STORAGE).rstrip("/")
    return {
        "name": STORAGE,
        "url": f"http://127.0.0.1:{port}",
        "command": [sys.executable, "-m", "arcade_hub.storage"],
        "environment": env,
        "display": False,
    }


def registry_route(platform: PlatformConfig) -> str:
    """`/reg/` on the hub's host (with subdomains the route names the host)."""
    host = platform.web.subdomain_host
    return f"{urlsplit(host).netloc}{REGISTRY_PATH}" if host else REGISTRY_PATH


def _services(
    platform: PlatformConfig, opts: RunOptions, service_port: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The hub's managed services and their roles: the arcade service, the idle culler (when
    sessions are culled) and the admin token's service (when one is given)."""
    data = opts.data_dir
    services: list[dict[str, Any]] = [
        {
            "name": SERVICE,
            "url": f"http://127.0.0.1:{service_port}",
            "command": [sys.executable, "-m", "arcade_hub.service"],
            "environment": {
                contract.PLATFORM_CONFIG: opts.config_file or "",
                contract.DATA_DIR: str(data),
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                # podman, for desktop apps in containers, finds its storage and settings so
                **{k: os.environ[k] for k in PODMAN_ENV if k in os.environ},
                **_service_web_environment(platform),
            },
            "display": False,
            "oauth_no_confirm": True,  # our own job list page: no "authorize" prompt
        }
    ]
    roles: list[dict[str, Any]] = [
        {
            "name": "user",
            "scopes": [
                "self",
                f"access:services!service={SERVICE}",
                f"access:services!service={STORAGE}",
            ],
        },
        {"name": SERVICE, "scopes": SERVICE_SCOPES, "services": [SERVICE]},
    ]
    idle = platform.sessions.idle_timeout_minutes
    if idle > 0:
        services.append(
            {
                "name": CULLER,
                "command": [
                    sys.executable,
                    "-m",
                    "jupyterhub_idle_culler",
                    f"--timeout={round(idle * 60)}",
                    f"--cull-every={platform.sessions.idle_check_seconds}",
                    "--remove-named-servers=true",  # a culled session frees its session slot
                ],
            }
        )
        roles.append({"name": CULLER, "scopes": CULLER_SCOPES, "services": [CULLER]})
    if opts.admin_token:
        services.append({"name": ADMIN_SERVICE, "api_token": opts.admin_token})
        roles.append({"name": ADMIN_SERVICE, "scopes": ADMIN_SCOPES, "services": [ADMIN_SERVICE]})
    return services, roles


def served_over_https(platform: PlatformConfig) -> bool:
    """Whether browsers reach the platform over https (`web.*`, or the OIDC callback URL)."""
    method = platform.auth.method
    callback = method.callback_url if isinstance(method, OidcAuth) else None
    return platform.web.https or (callback or "").startswith("https://")


def service_url(platform: PlatformConfig, name: str = SERVICE) -> str:
    """Where browsers reach a service (the arcade service by default): its own subdomain with
    `web.subdomain_host` (JupyterHub puts every service there), else its prefix under the
    hub's host (absolute when `web.public_url` says where that is)."""
    prefix = f"/services/{name}/"
    host = platform.web.subdomain_host
    if not host:
        origin = platform.web.origin if name != SERVICE else None
        return f"{origin or ''}{prefix}"
    parts = urlsplit(host)
    domain = subdomain_hook_idna(name, parts.hostname, kind="service")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{domain}{port}{prefix}"


def _web(c: Config, platform: PlatformConfig) -> None:
    """The public URL, per-user subdomains and cookie flags
    (docs/how-to/secure-the-deployment.md).

    Cookies stay host-only (JupyterHub sets no Domain on login cookies, also with subdomains;
    only the non-secret `jupyterhub-session-id` is shared with subdomains) and, over https,
    `Secure`: `tornado_settings.cookie_options` reaches the hub's cookies and XSRF cookie, and
    every session's cookies through `JUPYTERHUB_COOKIE_OPTIONS`. The `__Host-` prefix only
    with subdomains: without them it would widen the hub cookie's path to `/`, sending it to
    every user's server on the hub's host.
    """
    web = platform.web
    if web.public_url:
        c.JupyterHub.public_url = web.public_url.rstrip("/") + "/"
    if web.subdomain_host:
        c.JupyterHub.subdomain_host = web.subdomain_host
        # `<user>.<host>`, services at `<name>--service.<host>` (JupyterHub 5's default)
        c.JupyterHub.subdomain_hook = subdomain_hook_idna
    if served_over_https(platform):
        # JupyterHub reads its cookie options from `tornado_settings` (there is no
        # `JupyterHub.cookie_options` setting); it passes them on to sessions as
        # `JUPYTERHUB_COOKIE_OPTIONS` and to its own `_xsrf` cookie.
        c.JupyterHub.tornado_settings = {"cookie_options": {"secure": True}}
        if web.subdomain_host:
            # Users' servers control subdomains of the hub's host: `__Host-` cookies cannot be
            # set for the hub's host from there (cookie tossing). Their path `/` is harmless
            # here, as no user's server is served on the hub's host.
            c.JupyterHub.cookie_host_prefix_enabled = True
    c.ArcadeLocalSpawner.arcade_url = service_url(platform)


PACKAGE_DIR = Path(__file__).parent


def hub_pages(c: Config, platform: PlatformConfig, package: Path = PACKAGE_DIR) -> None:
    """The hub's pages in Arcade Hub's look (the templates in templates/hub, which include
    templates/shared like the service's pages), linking the arcade service; its Sessions page
    is where a login lands and what the hub's home shows. `package` is where the hub finds
    the arcade_hub package (on zero-to-jupyterhub: where the hub image links it)."""
    templates = package / "templates"
    c.JupyterHub.template_paths = [str(templates / "hub"), str(templates)]
    c.JupyterHub.template_vars = {"arcade_url": service_url(platform)}
    c.JupyterHub.logo_file = str(package / "static" / "logo.svg")
    c.JupyterHub.default_url = service_url(platform) + "jobs"


def _service_web_environment(platform: PlatformConfig) -> dict[str, str]:
    """What the arcade service needs to know of `web`: secure cookies (its OAuth login cookie
    reads `JUPYTERHUB_COOKIE_OPTIONS`) and whether session URLs are on users' subdomains."""
    env: dict[str, str] = {}
    if served_over_https(platform):
        env["JUPYTERHUB_COOKIE_OPTIONS"] = json.dumps({"secure": True})
    if platform.web.subdomain_host:
        env[contract.SUBDOMAIN_HOST] = platform.web.subdomain_host
    return env


def _authenticator(c: Config, platform: PlatformConfig, data: Path) -> None:
    """The login of the document's `auth.method`; XSRF checks stay on (JupyterHub's default)."""
    method = platform.auth.method
    if isinstance(method, SharedPasswordAuth):
        c.JupyterHub.authenticator_class = "shared-password"
        c.SharedPasswordAuthenticator.user_password = shared_password(platform, data)
        c.Authenticator.allow_all = True
        if platform.auth.admin_users:
            c.Authenticator.admin_users = set(platform.auth.admin_users)
            c.SharedPasswordAuthenticator.admin_password = _admin_password(data)
        return

    from arcade_hub.auth.oidc import ArcadeOIDCAuthenticator

    c.JupyterHub.authenticator_class = ArcadeOIDCAuthenticator
    a = c.ArcadeOIDCAuthenticator
    a.issuer = method.issuer
    a.client_id = method.client_id
    a.client_secret_env = method.client_secret_env
    a.scope = list(method.scopes)
    a.username_claim = method.username_claim
    a.groups_claim = method.groups_claim
    a.manage_groups = method.manage_groups
    a.allow_all = method.allow_any_user
    a.allowed_groups = set(method.allowed_groups)
    a.admin_groups = set(method.admin_groups)
    a.admin_users = set(platform.auth.admin_users)
    a.login_service = method.login_service
    a.auth_refresh_age = method.refresh_age_seconds
    a.refresh_pre_spawn = method.refresh_age_seconds > 0
    callback = method.callback_url
    if not callback and platform.web.origin:
        callback = f"{platform.web.origin}/hub/oauth_callback"
    if callback:
        a.oauth_callback_url = callback
    if method.logout_url is not None:
        a.logout_redirect_url = method.logout_url
    c.CryptKeeper["keys"] = [_secret_file(data / "auth-state-key", 32)]  # .keys is dict.keys


def _secret_file(path: Path, nbytes: int) -> bytes:
    """Random bytes kept (hex) in a private file, generated on first start."""
    return bytes.fromhex(kept_secret(path, lambda: secrets.token_hex(nbytes), 2 * nbytes))


def _empty_config_file(data_dir: Path) -> Path:
    """JupyterHub insists on a config file; ours is empty: the platform document is the config."""
    path = data_dir / "jupyterhub_config.py"
    path.write_text("# Written by arcade-hub at every start; configure the platform document.\n")
    return path


def _admin_password(data_dir: Path) -> str:
    """The admins' password, generated on first start; JupyterHub needs >= 32 characters."""
    return kept_secret(data_dir / "admin-password", lambda: secrets.token_urlsafe(32), 32)

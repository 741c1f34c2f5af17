"""`arcade-hub render-values`: z2jh Helm values carrying the platform document.

The platform document goes into `hub.extraFiles.arcade-platform.data` (z2jh writes it as YAML
into the hub pod, where `ArcadeKubeSpawner.platform_config_file` points); `prePuller.extraImages`
lists every catalogue image; `cull.maxAge` follows `sessions.lifetime_hours`; the document's
`web` section becomes the hub's public URL, per-user subdomains, cookie flags, the arcade
service's environment and the ingress hosts (as `arcade_hub.hub_config` configures the
embedded hub); the hub's pages are Arcade's, as on the embedded hub (`hub_pages`: templates,
their variables, logo, where a login lands). No Python goes into the values.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from traitlets.config import Config

from arcade_hub import __version__, contract
from arcade_hub.auth.log_scrub import hub_logging_config
from arcade_hub.config import ConfigError, Kind, PlatformConfig, is_ip_address
from arcade_hub.config.loader import parse_config
from arcade_hub.hub_config import (
    SERVICE,
    SERVICE_SCOPES,
    SESSION_TOKEN_SCOPES,
    STORAGE,
    STORAGE_SCOPES,
    hub_pages,
    registry_route,
    served_over_https,
    service_url,
)
from arcade_hub.quoting import shown

PLATFORM_FILE_KEY = "arcade-platform"
PLATFORM_MOUNT = "/usr/local/etc/arcade/platform.yaml"
HUB_DATA_DIR = "/srv/jupyterhub/arcade"
HUB_IMAGE = "ghcr.io/arcade-hub/hub"
HUB_PACKAGE = Path("/usr/local/share/arcade-hub")
"""Where the hub image links the installed arcade_hub package (images/hub/Dockerfile): the
hub's templates and logo, at a path that does not depend on the image's Python."""
HUB_PAGES = ("template_paths", "template_vars", "logo_file", "default_url")
"""`hub.config.JupyterHub` keys that `hub_pages` decides (set by `render_values`)."""
SPAWNER = "arcade_hub.spawners.kube.ArcadeKubeSpawner"
SERVICE_PORT = 10101
SESSION_API_URL = f"http://proxy-public/services/{SERVICE}/api/v1"
"""The arcade service as session pods reach it: through the proxy (z2jh's singleuser policy
lets sessions reach the proxy, not the hub pod's port 10101)."""
HUB_POD = {"app": "jupyterhub", "component": "hub"}
"""z2jh's labels of the hub pod (what its own policies select it by)."""
Z2JH_TORNADO_SETTINGS = {"slow_spawn_timeout": 0}
"""What z2jh's jupyterhub_config.py puts in `JupyterHub.tornado_settings`; `hub.config`
replaces that dict as a whole, so values that set tornado settings carry these too."""

Values = dict[str, Any]


class RenderError(Exception):
    """The document and base values cannot be rendered; the message says what to change."""


def base_values() -> Values:
    """What Arcade needs on z2jh whatever the site: the hub image with arcade-hub, the spawner,
    the arcade service in the hub pod and the network paths to it (sessions and the proxy,
    by pod selectors). helm-values/values.yaml is the full example."""
    return {
        "hub": {
            "image": {"name": HUB_IMAGE, "tag": __version__},
            "allowNamedServers": True,
            "config": {
                # no secret of a URL in the hub's log (as on the embedded hub)
                "JupyterHub": {"spawner_class": SPAWNER,
                               "logging_config": hub_logging_config()},
                # a session's own token may also call the arcade service (arcade-launch)
                "Spawner": {"server_token_scopes": list(SESSION_TOKEN_SCOPES)},
                "ArcadeKubeSpawner": {"platform_config_file": PLATFORM_MOUNT,
                                      "data_dir": HUB_DATA_DIR,
                                      "arcade_api_url": SESSION_API_URL},
            },
            "services": {SERVICE: {
                "url": f"http://hub:{SERVICE_PORT}",
                "command": ["python3", "-m", "arcade_hub.service"],
                "display": False,
                "oauth_no_confirm": True,
                "environment": {contract.PLATFORM_CONFIG: PLATFORM_MOUNT,
                                contract.DATA_DIR: HUB_DATA_DIR,
                                contract.SERVICE_BIND: "0.0.0.0"},
            }},
            "loadRoles": {
                "user": {"scopes": ["self", f"access:services!service={SERVICE}"]},
                SERVICE: {"scopes": list(SERVICE_SCOPES), "services": [SERVICE]},
            },
            "service": {"extraPorts": [{"name": SERVICE, "port": SERVICE_PORT,
                                        "targetPort": SERVICE_PORT}]},
            # the proxy reaches the arcade service in the hub pod (sessions through it)
            "networkPolicy": {"ingress": [{
                "ports": [{"port": SERVICE_PORT, "protocol": "TCP"}],
                "from": [{"podSelector": {"matchLabels": {
                    "hub.jupyter.org/network-access-hub": "true"}}}],
            }]},
        },
        # by pod selector, not IP ranges (which policy engines such as Cilium do not apply to
        # pods of the cluster)
        "proxy": {"chp": {"networkPolicy": {"egress": [{
            "to": [{"podSelector": {"matchLabels": dict(HUB_POD)}}],
            "ports": [{"port": SERVICE_PORT, "protocol": "TCP"}],
        }]}}},
        "singleuser": {
            "storage": {"type": "none"},
            # a privileged init container: session pods must meet Pod Security `restricted`
            "cloudMetadata": {"blockWithIptables": False},
        },
    }


def deep_merge(base: Any, overlay: Any) -> Any:
    """Helm's merge of values files: maps merge key by key, everything else is replaced."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = dict(base)
        for key, value in overlay.items():
            out[key] = deep_merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(overlay)


def split_image(reference: str) -> tuple[str, str]:
    """`name:tag` / `name@sha256:…` as z2jh's (name, tag); a digest tag renders as `@`."""
    if "@" in reference:
        name, digest = reference.split("@", 1)
        return name, digest
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        return reference[:colon], reference[colon + 1:]
    return reference, "latest"


def singleuser_image(config: PlatformConfig) -> Values:
    """`singleuser.image`: the first notebook (else first) catalogue image. Sessions run the
    image of their entry; this only keeps z2jh's prepullers from pulling its sample image."""
    entries = [e for e in config.catalogue if e.kind == Kind.notebook] or config.catalogue
    name, tag = split_image(entries[0].image)
    return {"name": name, "tag": tag}


def prepull_images(config: PlatformConfig) -> Values:
    """`prePuller.extraImages`: each catalogue image once, keyed by its first entry."""
    images: Values = {}
    seen: set[str] = set()
    for entry in config.catalogue:
        if entry.image in seen:
            continue
        seen.add(entry.image)
        name, tag = split_image(entry.image)
        key = re.sub(r"[^a-z0-9-]", "-", entry.name)
        images[key] = {"name": name, "tag": tag}
    return images


WEB_HUB_CONFIG = ("public_url", "subdomain_host", "cookie_host_prefix_enabled")
"""`hub.config.JupyterHub` keys that `web` decides (set or removed by `render_values`), and
`tornado_settings.cookie_options`."""
WEB_SERVICE_ENV = ("JUPYTERHUB_COOKIE_OPTIONS", contract.SUBDOMAIN_HOST)
"""The arcade service's environment that `web` decides."""


def web_values(config: PlatformConfig) -> Values:
    """What the document's `web` section sets in the values, like `hub_config._web` sets
    it on the embedded hub (docs/how-to/secure-the-deployment.md):

    - `hub.config.JupyterHub`: `public_url`, `subdomain_host` (users at `<user>.<host>`,
      services at `<name>--service.<host>`: JupyterHub 5's default `idna` subdomain hook),
      and over https `tornado_settings.cookie_options: {secure: true}` (the hub's cookies;
      JupyterHub passes it on to every session) plus, with subdomains,
      `cookie_host_prefix_enabled`;
    - `hub.config.ArcadeKubeSpawner.arcade_url`: the service's own subdomain (the launch
      form's link to the Batch page);
    - the arcade service's environment (when the base defines the service): its login
      cookie `Secure` over https, and session URLs on users' subdomains;
    - `ingress.hosts`: the hub's host, and `*.<host>` for users' and the service's
      subdomains (an IP address is no Ingress host: then none).
    """
    web = config.web
    hub: Values = {}
    env: Values = {}
    spawner: Values = {}
    if web.public_url:
        hub["public_url"] = web.public_url.rstrip("/") + "/"
    if web.subdomain_host:
        hub["subdomain_host"] = web.subdomain_host
        spawner["arcade_url"] = service_url(config)
        env[contract.SUBDOMAIN_HOST] = web.subdomain_host
    if served_over_https(config):
        # JupyterHub reads cookie options from its tornado settings (it has no trait of
        # that name)
        hub["tornado_settings"] = {"cookie_options": {"secure": True}}
        env["JUPYTERHUB_COOKIE_OPTIONS"] = json.dumps({"secure": True})
        if web.subdomain_host:
            hub["cookie_host_prefix_enabled"] = True
    values: Values = {}
    if hub or spawner:
        values["hub"] = {"config": {}}
        if hub:
            values["hub"]["config"]["JupyterHub"] = hub
        if spawner:
            values["hub"]["config"]["ArcadeKubeSpawner"] = spawner
    if env:
        values.setdefault("hub", {})["services"] = {SERVICE: {"environment": env}}
    host = urlsplit(web.origin).hostname if web.origin else None
    if host and not is_ip_address(host):
        values["ingress"] = {"hosts": [host, f"*.{host}"] if web.subdomain_host else [host]}
    return values


DEFAULT_SERVER_TOKEN_SCOPES = ["users:activity!user", "access:servers!server"]
"""JupyterHub's own scopes of a session's token (when the base sets none)."""


def storage_values(config: PlatformConfig, base: Values) -> Values:
    """What the storage service (`vospace.enabled`) adds to `base`, as on the embedded
    platform (`arcade_hub.hub_config`): the service at `/services/vospace/` (its own
    Deployment, `storage_manifests`, at `STORAGE_URL`; z2jh generates its token), its role,
    users' and sessions' access to it, and the proxy's route of the registry path `/reg/`."""
    if not config.vospace.enabled:
        return {}
    # (imported here: the kube modules need the kube extra, and `arcade-hub` must start
    # without it, e.g. in the session images)
    from arcade_hub.kube.storage_service import STORAGE_URL
    from arcade_hub.kube.volumes import storage_service_problem

    problem = storage_service_problem(config.backend.kubernetes)
    if problem:
        raise RenderError(problem)
    access = f"access:services!service={STORAGE}"
    hub = base.get("hub") or {}
    user = (hub.get("loadRoles") or {}).get("user") or {}
    user_scopes = list(user.get("scopes") or ["self"])
    token_scopes = list(((hub.get("config") or {}).get("Spawner") or {}).get(
        "server_token_scopes") or DEFAULT_SERVER_TOKEN_SCOPES)
    return {"hub": {
        "services": {STORAGE: {"url": STORAGE_URL, "display": False}},
        "loadRoles": {
            "user": {"scopes": user_scopes + [access] * (access not in user_scopes)},
            STORAGE: {"scopes": list(STORAGE_SCOPES), "services": [STORAGE]},
        },
        "config": {
            "Spawner": {"server_token_scopes":
                        token_scopes + [access] * (access not in token_scopes)},
            "Proxy": {"extra_routes": {registry_route(config): STORAGE_URL}},
        },
    }}


def _without_storage(values: Values) -> Values:
    """`values` without what `storage_values` derives (it sets it again from the document)."""
    out: Values = copy.deepcopy(values)
    hub = out.get("hub") or {}
    access = f"access:services!service={STORAGE}"
    service = (hub.get("services") or {}).pop(STORAGE, None) or {}
    roles = hub.get("loadRoles") or {}
    roles.pop(STORAGE, None)
    user = roles.get("user") or {}
    if access in (user.get("scopes") or []):
        user["scopes"] = [s for s in user["scopes"] if s != access]
    config = hub.get("config") or {}
    spawner = config.get("Spawner") or {}
    if access in (spawner.get("server_token_scopes") or []):
        spawner["server_token_scopes"] = [
            s for s in spawner["server_token_scopes"] if s != access]
    routes = (config.get("Proxy") or {}).get("extra_routes") or {}
    for route in [r for r, target in routes.items() if target == service.get("url")]:
        del routes[route]
    return out


def storage_manifests(document: Values, values: Values) -> list[Values]:
    """The storage service's Deployment, Service and NetworkPolicy for rendered `values`
    (`render_values`): the hub's image, which carries arcade_hub, and the platform document
    from the hub's Secret (`hub.extraFiles`)."""
    from arcade_hub.kube.storage_service import StorageService, build_storage_service

    config = PlatformConfig.model_validate(document)
    image = (values.get("hub") or {}).get("image") or {}
    if not image.get("name") or not config.vospace.enabled:
        raise RenderError(
            "the storage service needs `vospace.enabled` and the Arcade hub image "
            "(`hub.image` in the base values, e.g. helm-values/values.yaml)"
        )
    tag = str(image.get("tag") or "latest")
    service = StorageService(
        image=f"{image['name']}{tag if tag.startswith('@') else ':' + tag}",
        name=STORAGE,
        platform_file=PLATFORM_MOUNT,
        platform_key=PLATFORM_FILE_KEY,
        public_url=service_url(config, STORAGE).rstrip("/") if config.web.origin else None,
    )
    return build_storage_service(service, config.backend.kubernetes)


def _without_web(values: Values) -> Values:
    """`values` without what `web` decides (`web_values` sets it again from the document)."""
    out: Values = copy.deepcopy(values)
    hub_config = out.get("hub", {}).get("config", {})
    jupyterhub = hub_config.get("JupyterHub") or {}
    for key in WEB_HUB_CONFIG:
        jupyterhub.pop(key, None)
    tornado = jupyterhub.get("tornado_settings")
    if isinstance(tornado, dict):
        tornado.pop("cookie_options", None)
        if all(Z2JH_TORNADO_SETTINGS.get(k, k) == v for k, v in tornado.items()):
            del jupyterhub["tornado_settings"]  # nothing but z2jh's own
    (hub_config.get("ArcadeKubeSpawner") or {}).pop("arcade_url", None)
    service = (out.get("hub", {}).get("services") or {}).get(SERVICE) or {}
    for key in WEB_SERVICE_ENV:
        (service.get("environment") or {}).pop(key, None)
    return out


def _served_at_the_root(values: Values) -> None:
    """Refuse base values that would serve the hub under a prefix (`hub.baseUrl`), which the
    platform does not support (`web.public_url` may have no path either)."""
    hub = values.get("hub") or {}
    jupyterhub = (hub.get("config") or {}).get("JupyterHub") or {}
    for key, value in (("hub.baseUrl", hub.get("baseUrl")),
                       ("hub.config.JupyterHub.base_url", jupyterhub.get("base_url"))):
        if value is not None and str(value).strip("/"):
            raise RenderError(
                f"the base values set {key}: {shown(str(value))}, but Arcade Hub is served at "
                "the root of its host (the hub at /hub/, the arcade service at "
                f"/services/arcade/) and cannot be served under a prefix: remove {key} and give "
                "the platform a host of its own (web.public_url, e.g. https://arcade.example.org/)"
            )


def page_values(config: PlatformConfig) -> Values:
    """`hub.config.JupyterHub`'s pages: what `hub_pages` sets on the embedded hub, with the
    package where the hub image has it."""
    c = Config()
    hub_pages(c, config, HUB_PACKAGE)
    return {key: copy.deepcopy(c.JupyterHub[key]) for key in HUB_PAGES}


def render_values(document: Values, base: Values | None = None) -> Values:
    """`base` (default: `base_values()`) with `document` embedded and the derived values."""
    config = PlatformConfig.model_validate(document)
    values = _without_web(deep_merge(base_values(), base or {}))
    _served_at_the_root(values)
    derived: Values = {
        "hub": {
            "extraFiles": {PLATFORM_FILE_KEY: {"mountPath": PLATFORM_MOUNT, "data": document}},
            # none from JupyterHub, which counts stopped servers too: the launch policy
            # counts running sessions against `policy.max_sessions` and the groups' limits
            "namedServerLimitPerUser": 0,
        },
        "prePuller": {"extraImages": prepull_images(config)},
        "cull": {
            "enabled": config.sessions.idle_timeout_minutes > 0,
            "timeout": round(config.sessions.idle_timeout_minutes * 60) or 3600,
            "every": config.sessions.idle_check_seconds,
            "removeNamedServers": True,
            "maxAge": round(config.sessions.lifetime_hours * 3600),
        },
    }
    web = web_values(config)
    values = deep_merge(deep_merge(values, derived), web)
    values = _without_storage(values)
    values = deep_merge(values, storage_values(config, values))
    # the document replaces what the base carried, rather than merging into it
    values["hub"]["extraFiles"][PLATFORM_FILE_KEY]["data"] = copy.deepcopy(document)
    values["prePuller"]["extraImages"] = prepull_images(config)
    values["singleuser"]["image"] = singleuser_image(config)
    values["hub"]["config"].setdefault("JupyterHub", {}).update(page_values(config))
    tornado = values["hub"]["config"].get("JupyterHub", {}).get("tornado_settings")
    if isinstance(tornado, dict):
        values["hub"]["config"]["JupyterHub"]["tornado_settings"] = {
            **Z2JH_TORNADO_SETTINGS, **tornado}
    return values


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "render-values",
        help="print z2jh Helm values with the platform document and the prepuller list",
    )
    p.add_argument("--config", required=True, help="the platform document (YAML)")
    p.add_argument("--base", help="values to start from, e.g. helm-values/values.yaml")
    p.add_argument(
        "--storage-manifests",
        metavar="FILE",
        help="also write the storage service's Deployment, Service and NetworkPolicy there "
        "(kubectl apply -f FILE)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        # read once: the path may be a pipe (`--config <(...)`)
        text = Path(args.config).read_text()
        config = parse_config(text, args.config)  # the loader's own checks and messages
        document = yaml.safe_load(text)
        base = yaml.safe_load(Path(args.base).read_text()) if args.base else None
    except (OSError, yaml.YAMLError, ConfigError) as e:
        print(f"render-values: {e}", file=sys.stderr)
        return 1
    if config.backend.kind != "kubernetes":
        print(f"render-values: {args.config} says backend.kind: {config.backend.kind}; "
              "values for zero-to-jupyterhub need backend.kind: kubernetes (with its "
              "backend.kubernetes settings, see docs/how-to/deploy-on-kubernetes.md)",
              file=sys.stderr)
        return 1
    try:
        values = render_values(document, base)
        if args.storage_manifests:
            objects = storage_manifests(document, values)
            Path(args.storage_manifests).write_text(
                yaml.safe_dump_all(objects, sort_keys=False))
    except (OSError, RenderError) as e:
        print(f"render-values: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(yaml.safe_dump(values, sort_keys=False))
    return 0

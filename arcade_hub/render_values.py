"""`arcade-hub render-values`: z2jh Helm values carrying the platform document.

The platform document goes into `hub.extraFiles.arcade-platform.data` (z2jh writes it as YAML
into the hub pod, where `ArcadeKubeSpawner.platform_config_file` points); `prePuller.extraImages`
lists every catalogue image; `cull.maxAge` follows `sessions.lifetime_hours`; the document's
`web` section becomes the hub's public URL, per-user subdomains, cookie flags, the arcade
service's environment and the ingress hosts (as `arcade_hub.hub_config` configures the
embedded hub). No Python goes into the values.
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

from arcade_hub import contract
from arcade_hub.auth.log_scrub import hub_logging_config
from arcade_hub.config import ConfigError, PlatformConfig, is_ip_address, load_config
from arcade_hub.hub_config import SERVICE, served_over_https, service_url

PLATFORM_FILE_KEY = "arcade-platform"
PLATFORM_MOUNT = "/usr/local/etc/arcade/platform.yaml"
HUB_DATA_DIR = "/srv/jupyterhub/arcade"
SPAWNER = "arcade_hub.spawners.kube.ArcadeKubeSpawner"

Values = dict[str, Any]


def base_values() -> Values:
    """The minimum for Arcade on z2jh (helm-values/values.yaml is the full example)."""
    return {
        "hub": {
            "allowNamedServers": True,
            "config": {
                # no secret of a URL in the hub's log (as on the embedded hub)
                "JupyterHub": {"spawner_class": SPAWNER,
                               "logging_config": hub_logging_config()},
                "ArcadeKubeSpawner": {"platform_config_file": PLATFORM_MOUNT,
                                      "data_dir": HUB_DATA_DIR},
            },
        },
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
        if not tornado:
            del jupyterhub["tornado_settings"]
    (hub_config.get("ArcadeKubeSpawner") or {}).pop("arcade_url", None)
    service = (out.get("hub", {}).get("services") or {}).get(SERVICE) or {}
    for key in WEB_SERVICE_ENV:
        (service.get("environment") or {}).pop(key, None)
    return out


def render_values(document: Values, base: Values | None = None) -> Values:
    """`base` (default: `base_values()`) with `document` embedded and the derived values."""
    config = PlatformConfig.model_validate(document)
    values = _without_web(deep_merge(base_values(), base or {}))
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
    if SERVICE not in (values["hub"].get("services") or {}):
        # the arcade service is the base's to define (helm-values/values.yaml does); an
        # environment alone would make z2jh register a service without a URL
        web.get("hub", {}).pop("services", None)
    values = deep_merge(deep_merge(values, derived), web)
    # the document replaces what the base carried, rather than merging into it
    values["hub"]["extraFiles"][PLATFORM_FILE_KEY]["data"] = copy.deepcopy(document)
    values["prePuller"]["extraImages"] = prepull_images(config)
    return values


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "render-values",
        help="print z2jh Helm values with the platform document and the prepuller list",
    )
    p.add_argument("--config", required=True, help="the platform document (YAML)")
    p.add_argument("--base", help="values to start from, e.g. helm-values/values.yaml")


def run(args: argparse.Namespace) -> int:
    try:
        load_config(args.config)  # the loader's own checks and messages
        document = yaml.safe_load(Path(args.config).read_text())
        base = yaml.safe_load(Path(args.base).read_text()) if args.base else None
    except (OSError, yaml.YAMLError, ConfigError) as e:
        print(f"render-values: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(yaml.safe_dump(render_values(document, base), sort_keys=False))
    return 0

"""`arcade-hub render-values`: z2jh Helm values carrying the platform document.

The platform document goes into `hub.extraFiles.arcade-platform.data` (z2jh writes it as YAML
into the hub pod, where `ArcadeKubeSpawner.platform_config_file` points); `prePuller.extraImages`
lists every catalogue image; `cull.maxAge` follows `sessions.lifetime_hours`. No Python goes
into the values.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from arcade_hub.config import ConfigError, load_config
from arcade_hub.config.models import PlatformConfig

PLATFORM_FILE_KEY = "arcade-platform"
PLATFORM_MOUNT = "/usr/local/etc/arcade/platform.yaml"
HUB_DATA_DIR = "/srv/jupyterhub/arcade"
SPAWNER = "arcade_hub.kube.spawner.ArcadeKubeSpawner"

Values = dict[str, Any]


def base_values() -> Values:
    """The minimum for Arcade on z2jh (helm-values/values.yaml is the full example)."""
    return {
        "hub": {
            "allowNamedServers": True,
            "config": {
                "JupyterHub": {"spawner_class": SPAWNER},
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


def render_values(document: Values, base: Values | None = None) -> Values:
    """`base` (default: `base_values()`) with `document` embedded and the derived values."""
    config = PlatformConfig.model_validate(document)
    values = deep_merge(base_values(), base or {})
    derived: Values = {
        "hub": {
            "extraFiles": {PLATFORM_FILE_KEY: {"mountPath": PLATFORM_MOUNT, "data": document}},
            "namedServerLimitPerUser": config.policy.max_sessions,
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
    values = deep_merge(values, derived)
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

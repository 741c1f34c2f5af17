"""Installable application environments for the embedded backend (`arcade-hub apps`)."""

from arcade_hub.apps.install import install, list_installed, uninstall
from arcade_hub.apps.layout import AppsError, IndexOptions, InstalledApp, default_prefix
from arcade_hub.apps.registry import APPS, AppEnv, get_app

__all__ = [
    "APPS",
    "AppEnv",
    "AppsError",
    "IndexOptions",
    "InstalledApp",
    "default_prefix",
    "get_app",
    "install",
    "list_installed",
    "uninstall",
]

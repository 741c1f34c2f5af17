"""Where an application environment's files are, what its record says, and the defaults of
`arcade-hub apps install` (see `arcade_hub.apps.install`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from arcade_hub.apps.registry import AppEnv
from arcade_hub.casa import kernels, siteconfig

MARKER = "arcade-app.json"
CASA_SITE_CONFIG = siteconfig.FILE_NAME
CASA_SITE_CONFIG_VARIABLE = siteconfig.VARIABLE
_Say = Callable[[str], None]
PIP_SHOWN = ("Collecting ", "Downloading ", "Installing collected", "Successfully", "ERROR")


class AppsError(Exception):
    """A failure to report as one clear message, without a traceback."""


@dataclass(frozen=True)
class IndexOptions:
    """Where pip looks for packages (default: pip's own configuration)."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()

    def pip_args(self) -> list[str]:
        args = ["--index-url", self.index_url] if self.index_url else []
        for url in self.extra_index_urls:
            args += ["--extra-index-url", url]
        for url in self.find_links:
            args += ["--find-links", url]
        return args


@dataclass(frozen=True)
class Layout:
    """Where the files of an installed application are."""

    env: Path
    command: str

    @property
    def python(self) -> Path:
        return self.env / "bin" / "python"

    @property
    def wrapper(self) -> Path:
        return self.env / "bin" / self.command

    @property
    def site_config(self) -> Path:
        return self.env / "etc" / CASA_SITE_CONFIG

    @property
    def marker(self) -> Path:
        return self.env / MARKER

    @property
    def log(self) -> Path:
        return self.env / "install.log"


@dataclass(frozen=True)
class InstalledApp:
    name: str
    env: Path
    command: str
    title: str = ""
    complete: bool = True
    python: str = ""
    installed_at: str = ""
    links: tuple[str, ...] = field(default=())
    kernels: tuple[str, ...] = field(default=())  # kernel spec directories written


def default_prefix() -> Path:
    """/opt/arcade-hub/apps for root (every session uid must read it), else per user."""
    if os.geteuid() == 0:
        return Path("/opt/arcade-hub/apps")
    return Path(platformdirs.user_data_dir("arcade-hub")) / "apps"


def default_python() -> str:
    """The system python, which unprivileged session uids can run; else our own."""
    return "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


def default_bin_dir() -> Path:
    """The directory of our interpreter: sessions search it first (`local_search_path`)."""
    return Path(sys.executable).parent  # not resolved: a venv's bin, not /usr/bin


def default_kernel_dir() -> Path:
    """share/jupyter/kernels of our installation: the sessions' Jupyter finds kernels there."""
    return kernels.default_kernel_dir()


def layout(app: AppEnv, prefix: Path) -> Layout:
    return Layout(env=Path(prefix).absolute() / app.name, command=app.command)


# --- install --------------------------------------------------------------------------------



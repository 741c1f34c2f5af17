"""Jupyter kernels of the CASA environments: one per installed version ("CASA 6.7.0" in the
JupyterLab launcher), and which one a session opens by default.

`arcade-hub apps install casa-<version>` writes the kernel spec where the sessions' Jupyter
looks (`<sys.prefix>/share/jupyter/kernels`, on the embedded backend and in the images alike).
The kernel runs the environment's own Python with `CASASITECONFIG` set, so a notebook can call
casatasks. Its metadata says which CASA it is: `default_kernel` picks the one a dataset
needs, and `singleuser_args` makes it the session's default.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from arcade_hub.config.casa_versions import nearest

METADATA_KEY = "arcade-hub"


@dataclass(frozen=True)
class Kernel:
    """A CASA kernel spec found on disk."""

    name: str  # the kernel name: the app's name, e.g. casa-6.7.0
    display_name: str
    casa_version: str


def default_kernel_dir() -> Path:
    """Where the Jupyter of this installation (and so of embedded sessions) finds kernels."""
    return Path(sys.executable).parent.parent / "share" / "jupyter" / "kernels"


def search_dirs() -> list[Path]:
    """Where Jupyter looks for kernels here: `$JUPYTER_PATH`'s, then this installation's."""
    extra = [Path(p) / "kernels" for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    return [*extra, default_kernel_dir()]


def kernel_spec(
    *, title: str, python: Path, site_config: Path, casa_version: str, app: str
) -> dict[str, object]:
    """kernel.json of a CASA environment."""
    return {
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": title,
        "language": "python",
        "env": {"CASASITECONFIG": str(site_config)},
        "metadata": {METADATA_KEY: {"app": app, "casa_version": casa_version}},
    }


def installed_kernels(kernel_dirs: Iterable[Path] | None = None) -> list[Kernel]:
    """CASA kernels (those with Arcade Hub metadata) in `kernel_dirs`, sorted by name."""
    found: dict[str, Kernel] = {}
    for root in kernel_dirs if kernel_dirs is not None else search_dirs():
        if not root.is_dir():
            continue
        for spec in sorted(root.glob("*/kernel.json")):
            with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
                data = json.loads(spec.read_text())
                meta = data.get("metadata", {}).get(METADATA_KEY, {})
                if meta.get("casa_version"):
                    name = spec.parent.name
                    found.setdefault(
                        name, Kernel(name, str(data["display_name"]), str(meta["casa_version"]))
                    )
    return [found[n] for n in sorted(found)]


def default_kernel(casa_version: str | None, kernels: Iterable[Kernel]) -> str | None:
    """The kernel a session launched with a dataset of `casa_version` opens by default: the
    kernel of that version, else of the nearest version there is; None without a version or
    without CASA kernels (the session keeps Jupyter's own default)."""
    if not casa_version:
        return None
    by_version: Mapping[str, str] = {k.casa_version: k.name for k in sorted(
        kernels, key=lambda k: k.name, reverse=True)}  # fmt: skip
    best = nearest(casa_version, by_version)
    return by_version[best] if best else None


def singleuser_args(kernel: str | None) -> list[str]:
    """Arguments for `jupyterhub-singleuser` (a Jupyter server) that make `kernel` the default
    kernel of new notebooks and consoles."""
    return [f"--MappingKernelManager.default_kernel_name={kernel}"] if kernel else []

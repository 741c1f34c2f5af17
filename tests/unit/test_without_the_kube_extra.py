"""`arcade-hub` runs where the kube extra (kubespawner, the Kubernetes client) is not
installed: in the session and CASA images (`arcade-hub apps install` in their build) and on
an embedded platform. The storage service's Kubernetes manifests once made the CLI import
kubespawner at start, and every CASA image failed to build."""

from __future__ import annotations

import subprocess
import sys

import pytest

MODULES = [
    "arcade_hub.cli",
    "arcade_hub.hub_config",
    "arcade_hub.service.app",
    "arcade_hub.storage.app",
    "arcade_hub.spawners.local",
    "arcade_hub.desktop",
]
BLOCK = ("import sys\n"
         "for name in ('kubespawner', 'kubernetes_asyncio'):\n"
         "    sys.modules[name] = None  # an import of it raises ImportError\n")  # fmt: skip


@pytest.mark.parametrize("module", MODULES)
def test_imports_without_kubespawner(module: str) -> None:
    run = subprocess.run([sys.executable, "-c", f"{BLOCK}import {module}"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]


def test_the_cli_answers_without_kubespawner() -> None:
    code = (f"{BLOCK}from arcade_hub.cli import main\n"
            "sys.argv = ['arcade-hub', '--help']\nmain()")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert run.returncode == 0 and "render-values" in run.stdout, run.stderr[-2000:]

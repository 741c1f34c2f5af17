"""The CASA environments `arcade-hub apps install casa-<version>` makes, for real: CASA starts
offline under another uid with an empty home, the site configuration is the one the installer
writes, and the Jupyter kernel of each version runs that version in a real Jupyter."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
from jupyter_client.manager import KernelManager

from arcade_hub.casa.kernels import default_kernel, installed_kernels, singleuser_args
from arcade_hub.casa.recipes import CasaRecipe
from arcade_hub.casa.siteconfig import site_config_text
from arcade_hub.hub_config import free_port
from tests.hub import wait_for

from .conftest import RECIPE_PARAMS, CasaCache, run_casa

PROBE = (
    "import casatools, casatasks, os; print(casatools.version_string()); "
    "print(casatools.ctsys.measurespath()); print(os.environ['CASASITECONFIG'])"
)


@pytest.mark.parametrize("recipe", RECIPE_PARAMS)
def test_casa_starts_offline_as_another_user_with_an_empty_home(
    casa_cache: CasaCache, recipe: CasaRecipe
) -> None:
    casa = casa_cache.get(recipe.name)
    with tempfile.TemporaryDirectory(prefix="casa-home-") as home:
        os.chmod(home, 0o777)
        user = "nobody" if os.geteuid() == 0 else None
        env = {"PATH": "/usr/bin:/bin", "HOME": home}
        version, measures, site = run_casa(casa, "-c", PROBE, user=user, env=env,
                                           cwd=home).split()[-3:]  # fmt: skip
        assert not (Path(home) / ".casa").exists(), "nothing downloaded into the home"
    assert version.replace("-", ".") == recipe.build
    assert measures.startswith(str(casa.where.env)) and measures.endswith("casadata/__data__")
    assert site == str(casa.where.site_config)
    assert casa.where.site_config.read_text() == site_config_text(recipe.name, Path(measures))


@pytest.mark.parametrize("recipe", RECIPE_PARAMS)
def test_the_kernel_of_each_version_runs_that_version(
    casa_cache: CasaCache, recipe: CasaRecipe, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What a notebook with the kernel "CASA <version>" does: casatools.version()."""
    casa_cache.get(recipe.name)
    monkeypatch.setenv("JUPYTER_PATH", str(casa_cache.root))
    listed = subprocess.run([sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    spec = json.loads(listed)["kernelspecs"][recipe.name]["spec"]
    assert spec["display_name"] == recipe.title  # what the JupyterLab launcher shows
    km = KernelManager(kernel_name=recipe.name)
    km.start_kernel(cwd=str(tmp_path))  # CASA writes its log there
    try:
        client = km.client()
        client.start_channels()
        client.wait_for_ready(timeout=120)
        out: list[str] = []
        reply = client.execute_interactive(
            "import casatools; print('.'.join(map(str, casatools.version())))",
            timeout=120,
            output_hook=lambda m: out.append(m["content"].get("text", "")),
        )
        client.stop_channels()
    finally:
        km.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "ok", reply["content"]
    assert "".join(out).strip() == recipe.build


def test_the_dataset_version_picks_the_default_kernel_of_a_real_jupyter_server(
    casa_cache: CasaCache, tmp_path: Path
) -> None:
    """`default_kernel` chooses by version; `singleuser_args` makes Jupyter use it."""
    kernels = installed_kernels([casa_cache.root / "kernels"])
    assert {k.name for k in kernels} >= set(casa_cache.installed)
    assert all(k.display_name == f"CASA {k.casa_version}" for k in kernels)
    newest = max(casa_cache.installed)
    wanted = casa_cache.installed[newest].recipe.build  # as the data records it
    chosen = default_kernel(wanted, kernels)
    assert chosen == newest
    port = free_port()
    argv = [sys.executable, "-m", "jupyter", "server", "--no-browser", f"--port={port}",
            "--ServerApp.token=t", f"--ServerApp.root_dir={tmp_path}",
            *(["--allow-root"] if os.geteuid() == 0 else []), *singleuser_args(chosen)]  # fmt: skip
    env = {**os.environ, "JUPYTER_PATH": str(casa_cache.root)}
    with subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as p:
        try:
            url = f"http://127.0.0.1:{port}/api/kernelspecs?token=t"

            def listed() -> dict | None:
                with contextlib.suppress(httpx.HTTPError):
                    return httpx.get(url, timeout=5).json()
                return None

            specs = wait_for(listed, 60, "the Jupyter server to answer")
        finally:
            p.terminate()
            p.wait(timeout=30)
    assert specs["default"] == chosen
    assert specs["kernelspecs"][chosen]["spec"]["display_name"] == f"CASA {newest[5:]}"

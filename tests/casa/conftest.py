"""Real CASA environments for the tests, installed once into a cache outside the repository
and reused between runs: `$ARCADE_CASA_CACHE` (default /var/tmp/arcade-casa-cache), with
    apps/casa-<version>/   the environments (`arcade-hub apps install --prefix`)
    bin/casa-<version>     their commands
    kernels/casa-<version> their Jupyter kernels (JUPYTER_PATH=$ARCADE_CASA_CACHE finds them)

The first install takes about 2 minutes per version here (112 s for casa-6.6.5 with an empty
pip cache, 65-70 s with a warm one: about 530 MB of wheels from PyPI, 2 GB installed; longer on
a slow link); a later run finds it complete and reuses it in well under a second. Every recipe
whose Python this machine has is installed: on Debian 12 (Python 3.11) casa-6.6.5 and
casa-6.7.0; casa-6.7.6 needs Python 3.12 or 3.13 (Debian 13) and is skipped here with that
reason — its recipe is installed and checked in the casa-6.7.6 image (tests/images).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from arcade_hub.apps.install import install
from arcade_hub.apps.layout import Layout, layout
from arcade_hub.apps.registry import get_app
from arcade_hub.casa.recipes import RECIPES, CasaRecipe

DEFAULT_CACHE = "/var/tmp/arcade-casa-cache"


def cache_dir() -> Path:
    return Path(os.environ.get("ARCADE_CASA_CACHE") or DEFAULT_CACHE)


def python_for(recipe: CasaRecipe) -> str | None:
    """A system interpreter (one every session uid can run: not a per-user pyenv) that the
    recipe has wheels for, its OS base's first."""
    for version in (recipe.python, *recipe.pythons):
        if os.access(exe := f"/usr/bin/python{version}", os.X_OK):
            return exe
    return None


@dataclass(frozen=True)
class Casa:
    recipe: CasaRecipe
    where: Layout
    link: Path  # the command in the cache's bin directory

    @property
    def name(self) -> str:
        return self.recipe.name


@dataclass
class CasaCache:
    root: Path
    installed: dict[str, Casa]
    missing: dict[str, str]  # name -> why it is not installed here

    def get(self, name: str) -> Casa:
        if name not in self.installed:
            pytest.skip(self.missing[name])
        return self.installed[name]


def _current(casa: Casa, kernels: Path) -> bool:
    """Installed completely from this recipe, kernel spec included."""
    with contextlib.suppress(OSError, ValueError):
        marker = json.loads(casa.where.marker.read_text())
        app = get_app(casa.name)
        return (
            marker.get("requirements") == [*app.requirements, *app.data_requirements]
            and (kernels / casa.name / "kernel.json").is_file()
            and casa.link.resolve() == casa.where.wrapper.resolve()
        )
    return False


@pytest.fixture(scope="session")
def casa_cache() -> Iterator[CasaCache]:
    root = cache_dir()
    root.mkdir(mode=0o755, parents=True, exist_ok=True)
    root.chmod(0o755)  # session uids run the environments
    prefix, bin_dir, kernels = root / "apps", root / "bin", root / "kernels"
    installed, missing = {}, {}
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one installer at a time per cache
        for recipe in RECIPES:
            python = python_for(recipe)
            if python is None:
                missing[recipe.name] = (
                    f"{recipe.title} needs Python {' or '.join(recipe.pythons)} (Debian "
                    f"{recipe.os_base.debian}), which this machine does not have; its recipe is "
                    f"checked in the {recipe.name} image (tests/images/test_casa_images.py)"
                )
                continue
            casa = Casa(recipe, layout(get_app(recipe.name), prefix), bin_dir / recipe.name)
            if not _current(casa, kernels):
                install(recipe.name, prefix, python=python, bin_dir=bin_dir, kernel_dir=kernels)
            installed[recipe.name] = casa
    yield CasaCache(root, installed, missing)


def run_casa(casa: Casa, *args: str, user: str | None = None, **kwargs: object) -> str:
    """`casa-<version> --python ARGS`; as `user` (runuser) when given. Returns stdout."""
    argv = [str(casa.link), "--python", *args]
    if user is not None:
        runuser = shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin:/bin") or "runuser"
        argv = [runuser, "-u", user, "--", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return str(done.stdout)


RECIPE_PARAMS = [pytest.param(r, id=r.name) for r in RECIPES]

"""The real images of `images/`, built once per test session with `scripts/build-images.sh`.

The chain starts from a Debian bookworm made here with debootstrap, so no container registry
is needed. Podman's storage and the debootstrap tarball are kept in ``$ARCADE_IMAGES_CACHE``
(the script's default, /var/tmp/arcade-images), so a second session only rebuilds the layers
whose sources changed. The script pushes the built images to the tests' loopback registry
(``--push-to``); they are checked from there, the way a site checks an image before adding it
to its catalogue.

The CASA images are built and checked too: casa-6.6.5 and casa-6.7.0 on the Debian 12 chain,
casa-6.7.6 on the Debian 13 one (base-trixie -> notebook-trixie -> desktop-trixie, the same
Dockerfiles); each about a minute and a half to build (500 MB of wheels), 3-4 GB.
``ARCADE_TEST_CASA=0`` leaves them out. See docs/reference/images.md for the figures.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from arcade_hub.casa.recipes import BOOKWORM, RECIPES
from arcade_hub.images.conformance.podman import Podman

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "build-images.sh"
DEFAULT_CACHE = "/var/tmp/arcade-images"
BUILD_TIMEOUT = 2400.0  # a cold build of both chains with CASA takes about 15 minutes here
CASA = tuple(r.name for r in RECIPES)
CASA_ON_BOOKWORM = tuple(r.name for r in RECIPES if r.os_base == BOOKWORM)
CASA_ON_TRIXIE = tuple(r.name for r in RECIPES if r.os_base != BOOKWORM)
TRIXIE = ("base-trixie", "notebook-trixie", "desktop-trixie")
CATALOGUE_ENTRIES = {  # built image -> default catalogue entries that name it
    "notebook": ("notebook",),
    "desktop": ("desktop", "xterm"),
    "headless": ("batch",),
    **{name: (name,) for name in CASA},
}
BUILT_FROM = {  # image -> itself and the images built from it, which its tests also run for
    "base": ("notebook", "desktop", "headless", "hub", *CASA_ON_BOOKWORM, *TRIXIE[1:],
             *CASA_ON_TRIXIE),  # the trixie chain is the same Dockerfiles
    "notebook": ("notebook", "desktop", *CASA_ON_BOOKWORM, *TRIXIE[1:], *CASA_ON_TRIXIE),
    "desktop": ("desktop", *CASA_ON_BOOKWORM, "desktop-trixie", *CASA_ON_TRIXIE),
}
NEEDS_CASA = {*CASA, *TRIXIE}  # built only with --casa


def build_casa() -> bool:
    return os.environ.get("ARCADE_TEST_CASA", "1") not in ("", "0")


def cache_dir() -> Path:
    return Path(os.environ.get("ARCADE_IMAGES_CACHE") or DEFAULT_CACHE)


@dataclass
class BuiltChain:
    """Images built by the script: name -> local reference, in the script's podman storage."""

    refs: dict[str, str]
    podman: Podman
    seconds: float
    log: Path
    pushed: dict[str, str] = field(default_factory=dict)
    """name -> reference in the loopback registry."""


def script_env(containers_conf: str, runtime: str | None) -> dict[str, str]:
    env = {**os.environ, "CONTAINERS_CONF": containers_conf}
    env["ARCADE_IMAGES_CACHE"] = str(cache_dir())
    if runtime:
        env["ARCADE_PODMAN_RUNTIME"] = runtime
    return env


def listed(args: list[str], env: dict[str, str]) -> dict[str, str]:
    """``build-images.sh --list``: what the script builds and how it tags it."""
    out = subprocess.run(
        [str(SCRIPT), "--list", *args], env=env, capture_output=True, text=True, check=True
    ).stdout
    return dict(line.split("\t", 1) for line in out.splitlines())


def pushed_as(refs: dict[str, str], prefix: str) -> dict[str, str]:
    """Where ``build-images.sh --push-to PREFIX`` pushes each image (a hub on the local base
    is not pushed)."""
    return {
        name: f"{prefix}/{ref.rsplit('/', 1)[1]}"
        for name, ref in refs.items()
        if not (name == "hub" and ref.endswith("-localbase"))
    }


def build(args: list[str], env: dict[str, str], log: Path) -> float:
    """Run the script; raise with the end of its output when it fails. Returns its duration."""
    started = time.monotonic()
    with log.open("wb") as out:
        done = subprocess.run(
            [str(SCRIPT), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=BUILD_TIMEOUT,
        )
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"scripts/build-images.sh {' '.join(args)} failed:\n{tail}")
    return time.monotonic() - started


def storage_podman(env: dict[str, str], runtime: str | None) -> Podman:
    cache = cache_dir()
    return Podman(
        root=os.environ.get("ARCADE_PODMAN_ROOT") or str(cache / "storage"),
        runroot=os.environ.get("ARCADE_PODMAN_RUNROOT") or str(cache / "runroot"),
        runtime=runtime,
        env=env,
    )

"""The CASA versions Arcade Hub builds: one recipe per version, used by both the embedded
backend's installer (`arcade-hub apps install casa-<version>`) and the container images
(`images/casa-<version>/Dockerfile` runs that same installer).

Modular CASA is a set of wheels on PyPI (`casatools`, `casatasks`, `casadata`). casatools is
compiled per Python version, so each CASA version runs on the operating systems whose Python
it has wheels for: CASA 6.6.5 and 6.7.0 on Debian 12 (Python 3.11), CASA 6.7.2 and newer on
Debian 13 (Python 3.13). The wheels that exist were checked with
`pip index versions casatools --python-version 3.11 --only-binary=:all:` (and 3.13).
To add a version: append a `CasaRecipe` and a catalogue entry. The image is built from the one
generic images/casa/Dockerfile with this recipe's `build_args` (scripts/build-images.sh asks
this module: `python3 -m arcade_hub.casa.recipes list|build-args NAME`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

CASADATA_FLOOR = "2025.9.22"
"""The oldest casadata (measures, ephemerides) an install accepts; pip takes the newest."""


@dataclass(frozen=True)
class OsBase:
    """A Debian release an image chain starts from, and the Python it has."""

    codename: str
    debian: str
    python: str


BOOKWORM = OsBase(codename="bookworm", debian="12", python="3.11")
TRIXIE = OsBase(codename="trixie", debian="13", python="3.13")
OS_BASES = (BOOKWORM, TRIXIE)


@dataclass(frozen=True)
class CasaRecipe:
    """Everything that makes one CASA version, in one place."""

    version: str
    """What the catalogue, datasets and users say: `6.7.0`."""
    build: str
    """The version of the casatools and casatasks wheels: `6.7.0.31`."""
    os_base: OsBase
    """The Debian release of its image; its Python is the one the install is made with."""
    pythons: tuple[str, ...]
    """Every Python with casatools wheels of this version on PyPI (x86_64)."""
    extra: tuple[str, ...] = ()
    """Further requirements the wheels forget: `six`, which casatasks imports."""
    casadata: str = CASADATA_FLOOR

    @property
    def name(self) -> str:
        return f"casa-{self.version}"

    @property
    def title(self) -> str:
        return f"CASA {self.version}"

    @property
    def python(self) -> str:
        return self.os_base.python

    @property
    def description(self) -> str:
        return (
            f"Modular CASA {self.version} (casatools + casatasks) on Debian {self.os_base.debian}"
            f" (Python {self.python}), for ALMA and VLA data."
        )

    @property
    def requirements(self) -> tuple[str, ...]:
        """The environment: CASA itself and ipykernel, so it can be a Jupyter kernel."""
        return (f"casatools=={self.build}", f"casatasks=={self.build}", *self.extra, "ipykernel")

    @property
    def data_requirements(self) -> tuple[str, ...]:
        return (f"casadata>={self.casadata}",)

    @property
    def image_tag(self) -> str:
        return self.version


RECIPES: tuple[CasaRecipe, ...] = (
    CasaRecipe(
        version="6.6.5",
        build="6.6.5.31",
        os_base=BOOKWORM,
        pythons=("3.10", "3.11"),
        extra=("six",),
    ),
    CasaRecipe(
        version="6.7.0",
        build="6.7.0.31",
        os_base=BOOKWORM,
        pythons=("3.10", "3.11", "3.12"),
        extra=("six",),
    ),
    CasaRecipe(
        version="6.7.6",
        build="6.7.6.14",
        os_base=TRIXIE,
        pythons=("3.12", "3.13"),
        extra=("six",),  # casatasks imports it (plotbandpass) without requiring it
    ),
)


def recipe(name: str) -> CasaRecipe:
    """The recipe called `name` (`casa-6.7.0`); KeyError when there is none."""
    for r in RECIPES:
        if r.name == name:
            return r
    raise KeyError(name)


def build_args(r: CasaRecipe) -> dict[str, str]:
    """The `--build-arg`s of images/casa/Dockerfile for recipe `r` (its labels and install)."""
    return {
        "CASA_APP": r.name,
        "CASA_VERSION": r.version,
        "CASA_TITLE": r.title,
        "CASA_DESCRIPTION": r.description,
    }


def main(argv: list[str]) -> int:
    """For scripts/build-images.sh, with nothing but the standard library:
    `python3 -m arcade_hub.casa.recipes list`: `<name> <Debian codename>` per recipe;
    `python3 -m arcade_hub.casa.recipes build-args NAME`: `KEY=VALUE` per line."""
    if argv == ["list"]:
        for r in RECIPES:
            print(r.name, r.os_base.codename)
        return 0
    if len(argv) == 2 and argv[0] == "build-args":
        try:
            r = recipe(argv[1])
        except KeyError:
            print(f"no CASA recipe {argv[1]!r}", file=sys.stderr)
            return 1
        for key, value in build_args(r).items():
            print(f"{key}={value}")
        return 0
    print("usage: python3 -m arcade_hub.casa.recipes list | build-args NAME", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

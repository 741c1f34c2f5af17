"""Application environments `arcade-hub apps install` knows how to build.

Each one is a Python virtual environment with pinned requirements, plus a command (a small
wrapper script) that the embedded backend finds on the session PATH and, for CASA, a Jupyter
kernel. The CASA environments come from `arcade_hub.casa.recipes`, one per version; the
images of `images/casa-<version>/` are made by the same installer. The catalogue entry's
`local.requires` names the `command`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from arcade_hub.casa.recipes import RECIPES, CasaRecipe


class SiteConfig(StrEnum):
    """How an environment is configured for offline, multi-user use."""

    none = "none"
    casa = "casa"  # casaconfig site file via CASASITECONFIG, measures from the casadata wheel


@dataclass(frozen=True)
class AppEnv:
    name: str
    title: str
    command: str  # the wrapper put on the session PATH
    requirements: tuple[str, ...]
    data_requirements: tuple[str, ...] = ()  # large data wheels, installed in a second step
    pythons: tuple[str, ...] = ()  # supported "major.minor" versions; empty: any
    machines: tuple[str, ...] = ()  # supported platform.machine() values; empty: any
    imports: tuple[str, ...] = ()  # modules the terminal imports at start
    star_imports: tuple[str, ...] = ()  # modules whose names the terminal puts in scope
    site_config: SiteConfig = SiteConfig.none
    size_hint: str = ""
    kernel: bool = False  # also a Jupyter kernel (the environment has ipykernel)
    casa_version: str = ""  # the CASA version it provides, for kernels and the catalogue


def casa_app(recipe: CasaRecipe) -> AppEnv:
    """The environment of one CASA recipe."""
    return AppEnv(
        name=recipe.name,
        title=recipe.title,
        command=recipe.name,
        requirements=recipe.requirements,
        data_requirements=recipe.data_requirements,
        pythons=recipe.pythons,
        machines=("x86_64",),  # casatools has wheels for x86_64 Linux only
        imports=("casatools", "casatasks"),
        star_imports=("casatasks",),
        site_config=SiteConfig.casa,
        size_hint="about 2 GB",
        kernel=True,
        casa_version=recipe.version,
    )


APPS: tuple[AppEnv, ...] = tuple(casa_app(r) for r in RECIPES)


class UnknownApp(LookupError):
    pass


def known_names() -> list[str]:
    return [a.name for a in APPS]


def get_app(name: str) -> AppEnv:
    for app in APPS:
        if app.name == name:
            return app
    raise UnknownApp(f"unknown application {name!r}; known: {', '.join(known_names())}")

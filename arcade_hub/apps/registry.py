"""Application environments `arcade-hub apps install` knows how to build.

Each one is a Python virtual environment with pinned requirements, plus a command (a small
wrapper script) that the embedded backend finds on the session PATH. To add one, append an
`AppEnv` to `APPS`; the catalogue entry's `local.requires` names its `command`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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


APPS: tuple[AppEnv, ...] = (
    AppEnv(
        name="casa-6.7",
        title="CASA 6.7",
        command="casa-6.7",
        requirements=("casatools==6.7.0.31", "casatasks==6.7.0.31", "six"),
        data_requirements=("casadata",),
        pythons=("3.10", "3.11", "3.12"),  # the casatools 6.7.0.31 wheels on PyPI
        machines=("x86_64",),
        imports=("casatools", "casatasks"),
        star_imports=("casatasks",),
        site_config=SiteConfig.casa,
        size_hint="about 1.9 GB",
    ),
)


class UnknownApp(LookupError):
    pass


def known_names() -> list[str]:
    return [a.name for a in APPS]


def get_app(name: str) -> AppEnv:
    for app in APPS:
        if app.name == name:
            return app
    raise UnknownApp(f"unknown application {name!r}; known: {', '.join(known_names())}")

"""CASA version numbers: which version satisfies which, and the nearest one there is.

Versions are dotted numbers of any length: `6.7` (a dataset that needs any 6.7), `6.7.0` (a
catalogue entry), `6.7.0.31` (what CASA itself reports, with its build number), or ALMA's
`6.5.4-9`. Pure functions, no I/O: the launch planner and the form call them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_VERSION = re.compile(r"\d+(?:[.-]\d+)*")


def parse(version: str) -> tuple[int, ...]:
    """`6.5.4-9` -> (6, 5, 4, 9); ValueError for anything else."""
    text = version.strip()
    if not _VERSION.fullmatch(text):
        raise ValueError(f"not a CASA version: {version!r}")
    return tuple(int(p) for p in re.split(r"[.-]", text))


def normalise(version: str) -> str:
    """`6.5.4-9` -> `6.5.4.9`."""
    return ".".join(map(str, parse(version)))


def satisfies(provided: str, wanted: str) -> bool:
    """Does a CASA of version `provided` serve data that needs `wanted`? They agree on every
    number both state: `6.7.0` serves `6.7` and `6.7.0.31`, not `6.7.6`."""
    a, b = parse(provided), parse(wanted)
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def nearest(wanted: str, provided: Iterable[str]) -> str | None:
    """The version of `provided` closest to `wanted`: one that satisfies it (the newest such),
    else the nearest in the same major.minor series preferring newer (CASA reads data of
    older versions, not always of newer ones), else the nearest newer, else the nearest
    older. None when `provided` is empty."""
    want = parse(wanted)
    choices = list(dict.fromkeys(provided))
    if not choices:
        return None

    def rank(version: str) -> tuple[int, int, int, tuple[int, ...]]:
        have = parse(version)
        ok = satisfies(version, wanted)
        newer = have >= want
        return (
            0 if ok else 1,
            0 if have[:2] == want[:2] else 1,  # the same major.minor series
            0 if newer else 1,
            have if newer and not ok else tuple(-x for x in have),  # the nearest newer, or
        )  # the newest that satisfies it, or the nearest (newest) older

    return min(choices, key=rank)


@dataclass(frozen=True)
class Candidate:
    """A catalogue entry that provides CASA: its name, CASA version, and why it cannot run
    here (None: it can)."""

    name: str
    title: str
    version: str
    unavailable: str | None = None


@dataclass(frozen=True)
class CasaChoice:
    """What to preselect for a dataset, and what to tell the user next to it."""

    wanted: str
    selected: str | None
    """The catalogue entry to preselect; None when no CASA can run here."""
    exact: bool
    """True when the selected entry satisfies the dataset's version."""
    note: str
    """One line in a user's words for the form (empty when the exact version is selected)."""


def choose(wanted: str, candidates: Iterable[Candidate], source: str = "") -> CasaChoice:
    """The CASA entry to preselect for a dataset that needs `wanted` (`source`: how that is
    known, e.g. "recorded in the data"). Prefers an entry that satisfies it and can run here,
    else the nearest that can run, and says why."""
    entries = list(candidates)
    runnable = [c for c in entries if c.unavailable is None]
    said = f"This dataset needs CASA {wanted}" + (f" ({source})" if source else "")
    best = nearest(wanted, [c.version for c in runnable])
    if best is not None and satisfies(best, wanted):
        chosen = _newest_named(runnable, best)
        return CasaChoice(wanted, chosen.name, True, "")
    exact = [c for c in entries if satisfies(c.version, wanted)]
    why = (
        f"{exact[0].title} cannot run here: {exact[0].unavailable}"
        if exact
        else "this platform has no such version"
    )
    if best is None:
        return CasaChoice(wanted, None, False, f"{said}; {why}. No CASA can run here.")
    chosen = _newest_named(runnable, best)
    return CasaChoice(
        wanted, chosen.name, False, f"{said}; {why}. The nearest that can is {chosen.title}."
    )


def _newest_named(candidates: list[Candidate], version: str) -> Candidate:
    return sorted((c for c in candidates if c.version == version), key=lambda c: c.name)[0]

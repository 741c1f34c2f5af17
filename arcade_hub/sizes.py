"""Memory sizes as users write them: `8` (GiB), `8G`, `8GiB`, `512M`, `1.5T`."""

from __future__ import annotations

import re

_UNITS = {"": 1.0, "k": 1 / 1024**2, "m": 1 / 1024, "g": 1.0, "t": 1024.0}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)


def parse_gib(value: str) -> float:
    """Parse a size into GiB. A bare number is GiB. Raise ValueError with a readable message."""
    m = _SIZE.fullmatch(value)
    if not m:
        raise ValueError(f"{value!r} is not a size; write a number of GiB such as 8, or 8G, 512M")
    return float(m.group(1)) * _UNITS[m.group(2).lower()]


def format_gib(gib: float) -> str:
    """Format GiB for people: `8 GiB`, `512 MiB`, `1.5 GiB`."""
    if gib < 1:
        return f"{gib * 1024:g} MiB"
    return f"{gib:g} GiB"


def gib_to_bytes(gib: float) -> int:
    return int(gib * 1024**3)

"""The platform document as a running process sees it: read once, read again when the file
changes (an operator's edit applies to the next launch without a restart)."""

from __future__ import annotations

from pathlib import Path

from arcade_hub.config.loader import load_config
from arcade_hub.config.platform import PlatformConfig

_LOADED: dict[str, tuple[float, PlatformConfig]] = {}
"""Per document path: its modification time when read, and what it said."""


def platform_config(path: str) -> PlatformConfig:
    """The platform document at `path` (or the built-in default for ""), reloaded when the
    file changes."""
    mtime = Path(path).stat().st_mtime if path else 0.0
    cached = _LOADED.get(path)
    if cached is None or cached[0] != mtime:
        cached = (mtime, load_config(path or None))
        _LOADED[path] = cached
    return cached[1]

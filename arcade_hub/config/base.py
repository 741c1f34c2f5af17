"""What every part of the platform document shares: the base model, names and kinds."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

NAME_PATTERN = r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$"


class Model(BaseModel):
    """Base for every configuration model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Kind(StrEnum):
    """What a catalogue entry is."""

    notebook = "notebook"
    desktop = "desktop"
    desktop_app = "desktop-app"
    headless = "headless"


SESSION_KINDS = frozenset({Kind.notebook, Kind.desktop})
"""Kinds that run as an interactive session of their own (a JupyterHub named server)."""

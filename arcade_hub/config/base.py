"""What every part of the platform document shares: the base model, names and kinds."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

NAME_PATTERN = r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$"

ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
"""A setting that names an environment variable (the one holding a secret, which itself never
goes into the document)."""

SECRET_NAME = re.compile(r"secret|passw|token|credential|api_?key|private_?key", re.IGNORECASE)
"""Settings, and keys of mappings (a catalogue entry's `env`), whose values may be secrets:
configuration errors about them never repeat the value."""


HOLDS_A_SECRET = "value_holds_a_secret"
"""The type of a validation error whose value holds a secret (a password in an image
reference): its message never repeats the value."""


def holds_a_secret(message: str) -> PydanticCustomError:
    """The error a validator raises for a value that holds a secret."""
    return PydanticCustomError(HOLDS_A_SECRET, message)


def may_hold_a_secret(name: str) -> bool:
    """Whether the setting or key `name` may hold a secret (`client_secret_env`, where an
    operator may write the secret instead of its variable; `env.API_TOKEN`)."""
    return SECRET_NAME.search(name) is not None


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

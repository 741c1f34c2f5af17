"""How messages quote what a user sent: at most `ECHO_LIMIT` characters of it, so that a
megabyte-long name costs a refusal nothing (every layer's messages use these)."""

from __future__ import annotations

ECHO_LIMIT = 80
"""How much of a value a message quotes (an id, a name, a command)."""


def shorten(value: str, limit: int = ECHO_LIMIT) -> str:
    """`value` cut to `limit` characters, with an ellipsis when it was longer."""
    return value if len(value) <= limit else value[:limit] + "…"


def shown(value: str) -> str:
    """How a message quotes a user's value: shortened, in quotes (`repr`)."""
    return repr(shorten(value))

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


REASON_LIMIT = 300
"""The longest reason phrase an HTTP answer carries."""
REASON_SWAPS = str.maketrans("<>", "()")


def reason_phrase(message: str, limit: int = REASON_LIMIT) -> str:
    """`message` as an HTTP status line's reason phrase (`404 no session 'x'`), for clients
    that show the status line and not the body (the `canfar` client's errors): one line of
    printable ASCII, other characters as `?` (an ellipsis as `...`; `<` and `>`, which tornado
    refuses there, as `(` and `)`), at most `limit` characters. The body keeps the message as
    it is."""
    text = " ".join(message.replace("…", "...").split()).translate(REASON_SWAPS)
    text = "".join(c if " " <= c <= "~" else "?" for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."

"""How messages quote what a user sent: at most `ECHO_LIMIT` characters of it, so that a
megabyte-long name costs a refusal nothing (every layer's messages use these)."""

from __future__ import annotations

import re

ECHO_LIMIT = 80
"""How much of a value a message quotes (an id, a name, a command)."""


def shorten(value: str, limit: int = ECHO_LIMIT) -> str:
    """`value` cut to `limit` characters, with an ellipsis when it was longer."""
    return value if len(value) <= limit else value[:limit] + "…"


USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\r\n]*@")
"""`scheme://user:password@` in a URL: everything up to the last `@` before the path (a
password may hold `@`, or a space an operator did not encode)."""


def without_userinfo(text: str) -> str:
    """`text` with the user name and password of every URL in it replaced by `***`
    (`https://***@host/`), so that no message or log line repeats a password written into one."""
    return USERINFO.sub(r"\1***@", text)


def shown(value: str) -> str:
    """How a message quotes a user's value: without a URL's password, shortened (the password
    goes before the cut, so that no part of it stays), in quotes (`repr`)."""
    return repr(shorten(without_userinfo(value)))


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

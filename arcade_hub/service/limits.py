"""What one request to the arcade service may carry, in one place.

Every request has a bounded cost: the body is refused beyond `BODY_LIMIT` (413) before it is
read into memory, each field is refused beyond its limit (400) before it is parsed, and what a
message quotes of a user's input is cut to `ECHO_LIMIT`. The figures are documented for
operators (docs/how-to/secure-the-deployment.md) and clients
(docs/how-to/use-the-sessions-api.md). Lengths are in characters, sizes in bytes.
"""

from __future__ import annotations

from arcade_hub.quoting import ECHO_LIMIT, shorten, shown

__all__ = ["ECHO_LIMIT", "shorten", "shown"]

KiB = 1024
MiB = 1024 * KiB

PARAM_FILE_LIMIT = 1 * MiB
"""A parameter file uploaded on the Batch page, and the `params` text of a job."""
BODY_LIMIT = PARAM_FILE_LIMIT + 64 * KiB
"""A request body: the largest parameter file and the other fields of the Batch form."""
DRAIN_LIMIT = 64 * MiB
"""A larger body is read (and thrown away) before its 413 is sent, so that a browser or proxy
still sending it gets the answer; beyond this the connection is cut."""

NAME_LIMIT = 63
"""A session's or job's name (the name rule allows no more)."""
IMAGE_LIMIT = 512
"""An image: a catalogue name or an image reference."""
CMD_LIMIT = 32 * KiB
"""A job's `cmd`, one string split into words like a shell line."""
ARGS_LIMIT = 32 * KiB
"""A job's `args`, the same."""
ENV_COUNT_LIMIT = 64
"""`env` variables of one job."""
ENV_KEY_LIMIT = 128
ENV_VALUE_LIMIT = 32 * KiB
PARAM_LINES_LIMIT = 10_000
"""Parameter lines of one job (`params` lines or repeated `param`); `jobs.max_replicas` of the
platform document (64 by default) refuses more instances than that anyway."""
PARAM_LINE_LIMIT = 16 * KiB
"""One parameter line: one instance's extra arguments."""
FIELD_LIMIT = 256
"""Any other field: cores, ram, gpus, type, replicas, dataset, and query words (view, status,
action, owner)."""

FIELD_LIMITS = {
    "name": NAME_LIMIT,
    "image": IMAGE_LIMIT,
    "cmd": CMD_LIMIT,
    "args": ARGS_LIMIT,
    "params": PARAM_FILE_LIMIT,
    "param": PARAM_LINE_LIMIT,
}
"""The limit of each field with its own; `field_limit` gives FIELD_LIMIT to the others."""

PARSE_INLINE_LIMIT = 16 * KiB
"""A create with more characters in its fields is parsed in the service's worker process
(`arcade_hub.service.parsing`)."""

MESSAGE_LIMIT = 2000
"""The longest error message the service sends, whatever produced it."""


def field_limit(key: str) -> int:
    return FIELD_LIMITS.get(key, FIELD_LIMIT)


def too_long(key: str, value: str, limit: int | None = None) -> str | None:
    """Why `value` of field `key` is refused for its length, or None."""
    limit = field_limit(key) if limit is None else limit
    if len(value) <= limit:
        return None
    return f"{key} is {len(value):,} characters long; the limit is {limit:,}"


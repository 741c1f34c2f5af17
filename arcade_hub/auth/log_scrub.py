"""Keep credentials out of the arcade service's and the hub's logs.

JupyterHub and jupyter-server scrub URLs in their request logs; a plain tornado application
(the arcade service) logs every request's full URL, and with it the OAuth code of its login
(`oauth_callback?code=...&state=...`) or a `?token=` a client put in the URL. JupyterHub
itself writes a request's full URL in some warnings: "Stream closed while handling
/hub/api/users/<user>/servers/<name>/progress?_xsrf=<token>" when a user leaves the page of
a starting session. This filter, on the handlers of the root logger (`install`: the service)
or of JupyterHub's console (`hub_logging_config`: the hub), replaces the values of such query
parameters with `[secret]` in every record before it is written.
"""

from __future__ import annotations

import logging
import re
from typing import Any

SECRET_KEYS = ("token", "auth", "key", "code", "state", "xsrf", "password", "secret")
"""A query parameter whose name contains one of these has its value scrubbed (as JupyterHub's
and jupyter-server's request logs do, plus `password` and `secret`)."""
SCRUBBED = "[secret]"
_PARAM = re.compile(r"(?P<sep>[?&;])(?P<key>[^=&#\s?;]+)=(?P<value>[^&#\s;]*)")


def scrub(text: str) -> str:
    """`text` with the values of secret-looking URL query parameters replaced."""

    def replace(m: re.Match[str]) -> str:
        key = m["key"]
        if any(word in key.lower() for word in SECRET_KEYS) and m["value"]:
            return f"{m['sep']}{key}={SCRUBBED}"
        return m.group(0)

    return _PARAM.sub(replace, text) if "=" in text else text


class ScrubSecrets(logging.Filter):
    """Scrub the message and string arguments of every record (see `scrub`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = scrub(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(scrub(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: scrub(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Put the filter on the handlers of `logger` (default: the root logger), so it applies
    to records of every logger that propagates there (tornado.access among them)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, ScrubSecrets) for f in handler.filters):
            handler.addFilter(ScrubSecrets())


def hub_logging_config() -> dict[str, Any]:
    """JupyterHub's `logging_config` (traitlets' `Application.logging_config`, merged into
    its default dictConfig): the filter on the hub's `console` handler, which writes the
    records of JupyterHub's own loggers and of tornado's and oauthlib's (JupyterHub hooks
    them up to its log). Plain configuration, so the z2jh values carry it as well."""
    return {
        "filters": {"arcade-scrub-secrets": {"()": f"{__name__}.{ScrubSecrets.__name__}"}},
        "handlers": {"console": {"filters": ["arcade-scrub-secrets"]}},
    }

"""The arcade service's log filter: secret-looking URL parameters are scrubbed from every
record, the rest of the line is kept."""

from __future__ import annotations

import logging

import pytest

from arcade_hub.auth.log_scrub import ScrubSecrets, install, scrub


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "302 GET /services/arcade/oauth_callback?code=5DQ2DF4g&state=wNcc-E-lQ (127.0.0.1)",
            "302 GET /services/arcade/oauth_callback?code=[secret]&state=[secret] (127.0.0.1)",
        ),
        (
            "200 GET /services/arcade/skaha/v1/session?view=stats&token=abc123 (::1) 3.1ms",
            "200 GET /services/arcade/skaha/v1/session?view=stats&token=[secret] (::1) 3.1ms",
        ),
        (
            "GET /x?access_token=a&api_key=b&password=c&client_secret=d&_xsrf=e&name=nb",
            "GET /x?access_token=[secret]&api_key=[secret]&password=[secret]"
            "&client_secret=[secret]&_xsrf=[secret]&name=nb",
        ),
        ("200 GET /services/arcade/jobs?view=all (127.0.0.1)", None),
        ("no URL here, a = b", None),
        ("GET /x?token= (empty value)", None),
    ],
)
def test_scrub(line: str, expected: str | None) -> None:
    assert scrub(line) == (expected or line)


def test_filter_on_the_root_handlers_scrubs_tornado_access_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = logging.getLogger()
    install()
    install()  # once is enough: no second filter
    assert sum(isinstance(f, ScrubSecrets) for f in caplog.handler.filters) == 1
    try:
        with caplog.at_level(logging.INFO):
            logging.getLogger("tornado.access").info(
                "%d %s %.2fms", 302, "GET /oauth_callback?code=XYZ123&state=S1 (127.0.0.1)", 1.5
            )
        assert caplog.messages == [
            "302 GET /oauth_callback?code=[secret]&state=[secret] (127.0.0.1) 1.50ms"
        ]
    finally:
        for handler in root.handlers:
            for f in [f for f in handler.filters if isinstance(f, ScrubSecrets)]:
                handler.removeFilter(f)

"""OpenID Connect secrets stay out of URLs and logs: after a login through the provider's page
in Debian Chromium, neither the client secret, nor the
provider's access, refresh and ID tokens, nor the authorization code appear in any URL the
browser was sent to or in the hub's log. The tokens are kept, encrypted, in the hub's
database only."""

from __future__ import annotations

import sqlite3
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.auth.browser import login
from tests.auth.conftest import OidcPlatform
from tests.desktop.conftest import CHROMIUM, CHROMIUM_ARGS

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = pytest.mark.e2e


def auth_state(oidc: OidcPlatform, user: str) -> dict[str, Any]:
    r = oidc.hub.api("GET", f"/users/{user}")
    assert r.status_code == 200, r.text
    state: dict[str, Any] = r.json()["auth_state"]
    return state


async def test_no_oidc_secret_in_urls_or_logs(oidc: OidcPlatform) -> None:
    urls: list[str] = []
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            page.on("request", lambda request: urls.append(request.url))
            await login(page, oidc, "alice")
            await page.goto(f"{oidc.hub.url}/hub/spawn/alice/look")
        finally:
            await browser.close()

    secrets = {"client secret": oidc.provider.client_secret}
    state = auth_state(oidc, "alice")
    for key in ("access_token", "refresh_token", "id_token"):
        assert state.get(key), f"no {key} in the auth state: {sorted(state)}"
        secrets[key] = state[key]
    callbacks = [u for u in urls if urlsplit(u).path == "/hub/oauth_callback"]
    assert callbacks, urls
    secrets["authorization code"] = parse_qs(urlsplit(callbacks[0]).query)["code"][0]

    log = oidc.hub.log.read_text(errors="replace")
    for what, secret in secrets.items():
        assert secret not in log, f"{what} in the hub's log"
        for url in urls:
            if what == "authorization code" and url in callbacks:
                continue  # the code is OAuth's own: in the callback URL, single-use
            assert secret not in url, f"{what} in {url}"
    # the tokens are in the database only encrypted
    db = sqlite3.connect(oidc.hub.data_dir / "jupyterhub.sqlite")
    try:
        blob = b"".join(
            row[0] or b"" for row in db.execute("select encrypted_auth_state from users")
        )
    finally:
        db.close()
    assert blob and not any(s.encode() in blob for s in secrets.values())

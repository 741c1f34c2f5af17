"""Browser steps shared by the OpenID Connect tests: log in through the provider's own login
page, log out through its end-session page, and what the hub and its form then show."""

from __future__ import annotations

from typing import Any

import pytest

from tests.auth.conftest import OidcPlatform

playwright_api = pytest.importorskip("playwright.async_api")


def hub_user(oidc: OidcPlatform, name: str) -> dict[str, Any]:
    r = oidc.hub.api("GET", f"/users/{name}")
    assert r.status_code == 200, r.text
    user: dict[str, Any] = r.json()
    return user


def sessions_url(oidc: OidcPlatform) -> str:
    """Where a login lands: the user's Sessions page."""
    return f"{oidc.hub.url}/services/arcade/jobs"


async def open_home(page: Any, oidc: OidcPlatform) -> None:
    """Open the hub's home as a user does: logged in, it forwards to Sessions (a refresh of
    the page, awaited here so that it cannot cut the next navigation short); logged out, the
    hub answers with its login page."""
    await page.goto(f"{oidc.hub.url}/hub/home")
    if "/hub/login" not in page.url:
        await page.wait_for_url(sessions_url(oidc))


async def login(page: Any, oidc: OidcPlatform, user: str) -> None:
    """From the hub's login page through the provider's own login form, back into the hub,
    where the login lands on the user's Sessions page."""
    await page.goto(f"{oidc.hub.url}/hub/home")
    await page.click("text=Sign in with Arcade Test IdP")
    await page.wait_for_url(f"{oidc.provider.url}/**")
    await page.fill("input[name=login]", user)
    await page.fill("input[name=password]", "any password")
    await page.click("button[type=submit]")
    try:
        await page.wait_for_url(sessions_url(oidc), timeout=20_000)
    except playwright_api.TimeoutError as e:
        body = (await page.inner_text("body"))[:500]
        raise AssertionError(
            f"login of {user} ended at {page.url}: {body}\n{oidc.hub.tail()}"
        ) from e


async def logout(page: Any, oidc: OidcPlatform) -> None:
    """Log out of the hub and, at the provider's end-session page, of the provider: the next
    login asks for credentials again."""
    await page.goto(f"{oidc.hub.url}/hub/logout")
    await page.wait_for_url(f"{oidc.provider.url}/session/end**")
    await page.click("text=Yes, sign me out")
    await page.wait_for_load_state()
    await open_home(page, oidc)
    assert "/hub/login" in page.url


async def dataset_options(page: Any, oidc: OidcPlatform, user: str) -> list[str]:
    await page.goto(f"{oidc.hub.url}/hub/spawn/{user}/look")
    values: list[str] = await page.eval_on_selector_all(
        "#dataset option", "els => els.map(e => e.value).filter(v => v)"
    )
    return values

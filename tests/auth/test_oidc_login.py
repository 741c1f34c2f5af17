"""OpenID Connect login through a real provider's login page, in Debian Chromium: groups come
from the provider's claims, follow it at every login, gate datasets and login itself; logout
ends the provider session; a user the provider drops must log in again."""

from __future__ import annotations

import pytest

from tests.auth.browser import dataset_options, hub_user, login, logout, open_home, sessions_url
from tests.auth.conftest import USERS, OidcPlatform
from tests.desktop.conftest import CHROMIUM, CHROMIUM_ARGS

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = pytest.mark.e2e


async def test_login_groups_and_datasets(oidc: OidcPlatform) -> None:
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            alice = await (await browser.new_context()).new_page()
            await login(alice, oidc, "alice")
            assert alice.url == sessions_url(oidc)  # the login lands on her sessions
            assert await alice.inner_text("h1") == "Your sessions"
            assert hub_user(oidc, "alice")["groups"] == ["astro"]
            assert "secret-survey" not in await dataset_options(alice, oidc, "alice")
            assert "public-sky" in await dataset_options(alice, oidc, "alice")

            carol = await (await browser.new_context()).new_page()
            await login(carol, oidc, "carol")
            assert sorted(hub_user(oidc, "carol")["groups"]) == ["astro", "survey-team"]
            assert "secret-survey" in await dataset_options(carol, oidc, "carol")

            # admin_groups: admin from the provider's claim, though not in any allowed group
            dave = await (await browser.new_context()).new_page()
            await login(dave, oidc, "dave")
            assert hub_user(oidc, "dave")["admin"] is True
            assert hub_user(oidc, "alice")["admin"] is False
        finally:
            await browser.close()


async def test_user_without_an_allowed_group_is_refused(oidc: OidcPlatform) -> None:
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await open_home(page, oidc)
            await page.click("text=Sign in with Arcade Test IdP")
            await page.fill("input[name=login]", "mallory")
            await page.fill("input[name=password]", "any password")
            async with page.expect_response("**/hub/oauth_callback?**") as info:
                await page.click("button[type=submit]")
            assert (await info.value).status == 403
            await page.get_by_text("reports your groups as").wait_for(timeout=15_000)
            text = await page.inner_text("body")
            assert "open to members of astro, survey-team" in text, text
            assert "reports your groups as: visitors" in text, text
            assert oidc.hub.api("GET", "/users/mallory").status_code == 404
        finally:
            await browser.close()


async def test_group_changes_at_the_provider_apply_at_next_login_and_logout(
    oidc: OidcPlatform,
) -> None:
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await login(page, oidc, "erin")
            assert hub_user(oidc, "erin")["groups"] == ["astro"]
            assert "secret-survey" not in await dataset_options(page, oidc, "erin")

            oidc.provider.set_user("erin", groups=["astro", "survey-team"])
            # Logout ends the hub session and, at the provider's end-session page, the
            # provider's session: the next login asks for credentials again.
            await logout(page, oidc)
            await login(page, oidc, "erin")
            assert sorted(hub_user(oidc, "erin")["groups"]) == ["astro", "survey-team"]
            assert "secret-survey" in await dataset_options(page, oidc, "erin")
        finally:
            oidc.provider.set_user("erin", groups=USERS["erin"]["groups"])
            await browser.close()


async def test_groups_refresh_and_dropped_users_must_log_in_again(oidc: OidcPlatform) -> None:
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await login(page, oidc, "alice")

            # While logged in, the refresh (every refresh_age_seconds) follows the provider.
            oidc.provider.set_user("alice", groups=["astro", "survey-team"])

            async def groups_now() -> list[str]:
                await open_home(page, oidc)
                return sorted(hub_user(oidc, "alice")["groups"])

            for _ in range(100):
                if await groups_now() == ["astro", "survey-team"]:
                    break
                await page.wait_for_timeout(200)
            assert await groups_now() == ["astro", "survey-team"]

            # Out of every allowed group: the next refresh logs her out, and logging in
            # again (the provider session is still there) ends on the refusal page.
            oidc.provider.set_user("alice", groups=["visitors"])
            for _ in range(100):
                await open_home(page, oidc)
                if "/hub/login" in page.url:
                    break
                await page.wait_for_timeout(200)
            assert "/hub/login" in page.url
            async with page.expect_response("**/hub/oauth_callback?**") as info:
                await page.click("text=Sign in with Arcade Test IdP")
            assert (await info.value).status == 403
            # the refusal page may still be rendering when the response arrives
            await page.get_by_text("reports your groups as: visitors").wait_for(timeout=15_000)

            await open_home(page, oidc)
            assert "/hub/login" in page.url  # stays out while the provider says so
            # Back in an allowed group: the next refresh with the provider succeeds.
            oidc.provider.set_user("alice", groups=USERS["alice"]["groups"])
            await open_home(page, oidc)
            assert "/hub/login" not in page.url
            assert hub_user(oidc, "alice")["groups"] == ["astro"]

            # The provider no longer accepts alice's tokens (account disabled): the next
            # refresh fails and the hub sends her to log in again instead of a broken session.
            oidc.provider.set_user("alice", disabled=True)
            for _ in range(100):
                await open_home(page, oidc)
                if "/hub/login" in page.url:
                    break
                await page.wait_for_timeout(200)
            assert "/hub/login" in page.url
            log = oidc.hub.log.read_text()
            assert "Error using refresh_token for alice" in log  # the refresh token was tried
            assert oidc.hub.api("GET", "/users/alice").status_code == 200  # user kept
        finally:
            oidc.provider.set_user("alice", groups=USERS["alice"]["groups"], disabled=False)
            await browser.close()

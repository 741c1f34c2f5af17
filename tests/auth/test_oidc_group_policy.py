"""The group policy as users of an OpenID provider meet it, in Debian Chromium: two users whose
provider groups differ log in through the provider's login page, each sees in the launch form
only what the groups allow (the rest greyed out with the reason), launches a session within
the limits and is refused beyond them next to the field; a group added at the provider
changes the form at the next login; logout.

(A user in no allowed group cannot log in and is told why: test_oidc_login.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from arcade_hub.service.hub_client import spec_of
from tests.auth.browser import hub_user, login, logout
from tests.auth.conftest import OidcPlatform, oidc_running
from tests.desktop.conftest import CHROMIUM, CHROMIUM_ARGS

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = pytest.mark.e2e

GROUPS: dict[str, Any] = {
    # everyone: notebooks, one core per session and one core in total
    "default": {"kinds": ["notebook"], "max_cores": 1, "max_ram": 1, "max_total_cores": 1},
    # the survey team: desktops too, two cores per session and three in total
    "survey-team": {
        "kinds": ["notebook", "desktop"],
        "max_cores": 2,
        "max_ram": 2,
        "max_total_cores": 3,
    },
}
NINA = ["astro"]  # the provider's groups of the two users of this test
OMAR = ["survey-team"]
SUBMIT = "#spawn_form input[type=submit], #spawn_form button[type=submit]"


@pytest.fixture(scope="module")
def policy() -> Iterator[OidcPlatform]:
    with oidc_running(GROUPS) as platform:
        platform.provider.set_user("nina", groups=NINA)
        platform.provider.set_user("omar", groups=OMAR)
        yield platform


async def form(page: Any, oidc: OidcPlatform, user: str, server: str) -> dict[str, Any]:
    """What the launch form offers: enabled entries, greyed-out entries with their reason,
    datasets and the cores and RAM choices."""
    await page.goto(f"{oidc.hub.url}/hub/spawn/{user}/{server}")
    entries = await page.eval_on_selector_all(
        "input[name=image]",
        """els => els.map(e => {
            const note = e.parentElement.querySelector('.arcade-unavailable');
            return [e.value, e.disabled ? note.textContent.trim() : null];
        })""",
    )
    values = "els => els.map(e => e.value).filter(v => v)"
    return {
        "allowed": {name for name, reason in entries if reason is None},
        "greyed": {name: reason for name, reason in entries if reason is not None},
        "datasets": await page.eval_on_selector_all("#dataset option", values),
        "cores": await page.eval_on_selector_all("#cores option", values),
        "ram": await page.eval_on_selector_all("#ram option", values),
    }


async def launch(page: Any, oidc: OidcPlatform, user: str, server: str, cores: str) -> None:
    """Submit the form for a notebook; the session starts and the browser lands in it."""
    await page.goto(f"{oidc.hub.url}/hub/spawn/{user}/{server}")
    await page.check("#image-notebook")
    await page.select_option("#cores", cores)
    await page.click(SUBMIT)
    await page.wait_for_url(f"{oidc.hub.url}/user/{user}/{server}/**", timeout=90_000)
    spec = spec_of(oidc.hub.wait_ready(user, server))
    assert spec is not None and spec.cores == float(cores) and spec.entry == "notebook"


async def refused(
    page: Any, oidc: OidcPlatform, user: str, server: str, cores: str, *, offer: bool = False
) -> str:
    """Submit the form for a notebook with `cores`; return the error shown next to the field.
    `offer`: add the value to the select first, as a hand-made form post would send it."""
    await page.goto(f"{oidc.hub.url}/hub/spawn/{user}/{server}")
    await page.check("#image-notebook")
    if offer:
        await page.eval_on_selector("#cores", "(s, v) => s.add(new Option(v, v))", cores)
    await page.select_option("#cores", cores)
    await page.click(SUBMIT)
    error = page.locator("#error-cores")
    await error.wait_for(timeout=30_000)
    assert "This session was not started" in await page.inner_text("#arcade-errors")
    assert not (oidc.hub.server(user, server) or {}).get("ready")  # nothing started
    text: str = await error.inner_text()
    return text


async def test_each_user_launches_what_their_groups_allow(policy: OidcPlatform) -> None:
    oidc = policy
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            nina = await (await browser.new_context()).new_page()
            await login(nina, oidc, "nina")
            assert hub_user(oidc, "nina")["groups"] == ["astro"]
            seen = await form(nina, oidc, "nina", "first")
            assert "notebook" in seen["allowed"]
            assert seen["greyed"]["desktop"] == (
                "Linux desktop is for members of survey-team (group policy)"
            )
            assert seen["greyed"]["xterm"] == (
                "your groups may use notebooks only (group policy)"
            )
            assert "secret-survey" not in seen["datasets"] and "public-sky" in seen["datasets"]
            assert seen["cores"] == ["1"] and seen["ram"] == ["1"]

            # More cores than her groups allow per session: refused next to the field.
            message = await refused(nina, oidc, "nina", "big", "2", offer=True)
            assert message == (
                "2 is above the maximum of 1 core per session for your groups "
                "(group policy: default)"
            )
            # Within the limits: a real session starts.
            await launch(nina, oidc, "nina", "first", "1")
            # A second core in total is beyond her groups' total.
            message = await refused(nina, oidc, "nina", "second", "1")
            assert message.startswith("1 more would make 2 cores in use, above the total of 1")
            assert "(group policy: default)" in message

            omar = await (await browser.new_context()).new_page()
            await login(omar, oidc, "omar")
            assert hub_user(oidc, "omar")["groups"] == ["survey-team"]
            seen = await form(omar, oidc, "omar", "first")
            assert {"notebook", "desktop"} <= seen["allowed"] | _unavailable_here(seen)
            assert "group policy" not in seen["greyed"].get("desktop", "")
            assert seen["greyed"]["xterm"] == (
                "your groups may use notebooks and desktops only (group policy)"
            )
            assert "secret-survey" in seen["datasets"]
            assert seen["cores"] == ["1", "2"] and seen["ram"] == ["1", "2"]
            await launch(omar, oidc, "omar", "first", "2")
            message = await refused(omar, oidc, "omar", "second", "2")
            assert message.startswith("2 more would make 4 cores in use, above the total of 3")
            assert "(group policy: survey-team)" in message

            # The provider adds nina to the survey team: at her next login the hub's groups
            # and her form follow.
            oidc.provider.set_user("nina", groups=[*NINA, "survey-team"])
            await logout(nina, oidc)
            await login(nina, oidc, "nina")
            assert hub_user(oidc, "nina")["groups"] == ["astro", "survey-team"]
            seen = await form(nina, oidc, "nina", "second")
            assert "group policy" not in seen["greyed"].get("desktop", "")
            assert "secret-survey" in seen["datasets"]
            assert seen["cores"] == ["1", "2"]
            # ...and so does what she may launch: a second core in total is fine now.
            await launch(nina, oidc, "nina", "second", "1")

            await logout(nina, oidc)
            await logout(omar, oidc)
        finally:
            await browser.close()
            for user, server in (("nina", "first"), ("nina", "second"), ("omar", "first")):
                if oidc.hub.server(user, server) is not None:
                    oidc.hub.stop_server(user, server)
            oidc.provider.set_user("nina", groups=NINA)


def _unavailable_here(seen: dict[str, Any]) -> set[str]:
    """Entries greyed out because this machine lacks their tools, not by the policy."""
    return {n for n, reason in seen["greyed"].items() if "group policy" not in reason}

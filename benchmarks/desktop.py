"""Desktop sessions on the embedded platform, in Debian Chromium, measured end to end.

For each round: log in through the hub page, pick the desktop in the form, wait for desktop
pixels on the noVNC canvas (login -> desktop), launch xterm through the platform API with the
session's own token and wait for its window (app -> window), record the RSS of the session's
processes, stop the session. The baseline in the same run is a warm reload of the same desktop
(the part of "login -> desktop" that is the desktop itself, not the session start).

    python benchmarks/desktop.py [--rounds 5]       prints one JSON document
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
from playwright.async_api import async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.desktop.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.desktop.test_desktop_e2e import DESKTOP_VISIBLE, XTERM_VISIBLE
from tests.hub import RunningHub, env_of, processes_mentioning, running_hub

TARGETS = {"login_to_desktop_median_s": 6.0, "app_to_window_median_s": 1.5}


async def one_round(browser: Any, hub: RunningHub, n: int) -> dict[str, float]:
    user, server = f"bench{n}", "desk"
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    start = time.monotonic()
    await page.goto(f"{hub.url}/hub/login")
    await page.fill("#username_input", user)
    await page.fill("#password_input", hub.password)
    await page.click("#login_submit")
    await page.wait_for_url("**/hub/**")
    await page.goto(f"{hub.url}/hub/spawn/{user}/{server}")
    await page.check("#image-desktop")
    await page.click("#spawn_form [type=submit]")
    await page.wait_for_function(DESKTOP_VISIBLE, polling=50, timeout=90_000)
    login_to_desktop = time.monotonic() - start

    reload_start = time.monotonic()
    await page.reload()
    await page.wait_for_function(DESKTOP_VISIBLE, polling=50, timeout=60_000)
    warm_reload = time.monotonic() - reload_start

    env = env_of(hub, user, server)
    url = f"{env['ARCADE_API_URL']}/users/{user}/sessions/{server}/apps"
    start = time.monotonic()
    r = httpx.post(
        url,
        headers={"Authorization": f"token {env['JUPYTERHUB_API_TOKEN']}"},
        json={"app": "xterm"},
        timeout=30,
    )
    r.raise_for_status()
    await page.wait_for_function(XTERM_VISIBLE, polling=50, timeout=30_000)
    app_to_window = time.monotonic() - start

    rss = 0
    for pid in processes_mentioning(env["ARCADE_SESSION_ID"]):
        try:
            rss += psutil.Process(pid).memory_info().rss
        except psutil.Error:
            continue
    await page.close()
    hub.stop_server(user, server)
    return {
        "login_to_desktop_s": login_to_desktop,
        "warm_reload_s": warm_reload,
        "app_to_window_s": app_to_window,
        "session_rss_mib": rss / 2**20,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="arcade-bench-", dir="/tmp"))
    tmp.chmod(0o711)
    rounds: list[dict[str, float]] = []
    try:
        with running_hub(tmp, config=None) as hub:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for n in range(args.rounds):
                    rounds.append(await one_round(browser, hub, n))
                    print(f"round {n}: {rounds[-1]}", file=sys.stderr)
                await browser.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def med(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    result: dict[str, Any] = {
        "benchmark": "desktop",
        "rounds": len(rounds),
        "login_to_desktop_median_s": med("login_to_desktop_s"),
        "warm_reload_median_s (baseline: the desktop alone)": med("warm_reload_s"),
        "app_to_window_median_s": med("app_to_window_s"),
        "session_rss_median_mib": med("session_rss_mib"),
        "targets": TARGETS,
        "samples": rounds,
        "machine": {"nproc": os.cpu_count(), "python": sys.version.split()[0]},
    }
    result["targets_met"] = {k: result[k] <= v for k, v in TARGETS.items()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())

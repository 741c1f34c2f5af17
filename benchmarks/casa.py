"""CASA batch imaging, per version: the ALMA demo dataset made and imaged (reduce.py: tclean ->
exportfits), for every CASA environment installed on this machine and, with --images, every
CASA image built by scripts/build-images.sh (which covers casa-6.7.6, Debian 13, on a Debian 12
machine). The baseline in the same run is CASA's own start (`casa --python -c "import
casatasks"`): imaging minus start is what tclean and exportfits cost.

    python benchmarks/casa.py [--rounds 3] [--prefix DIR] [--images] [--menu]   prints JSON

With --menu, also the desktop: the embedded platform with the installed CASA and the demo
dataset, a desktop session started with it in Debian Chromium, and per round a click on the
menu's Terminal (the baseline: a plain xterm) and on the dataset's CASA (a CASA prompt in an
xterm) until the window is on the canvas, alternated; what the test
tests/e2e/test_casa_workflow.py does once.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arcade_hub.apps.demo import REDUCE, SIMULATE, casa_apps, make_demo, script
from arcade_hub.apps.layout import layout
from arcade_hub.apps.registry import get_app
from arcade_hub.casa.recipes import RECIPES
from tests.casa_image import measure

START = ["-c", "import casatasks"]
CACHE = Path(os.environ.get("ARCADE_CASA_CACHE") or "/var/tmp/arcade-casa-cache")
IMAGES = Path(os.environ.get("ARCADE_IMAGES_CACHE") or "/var/tmp/arcade-images")


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    started = time.monotonic()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return time.monotonic() - started


def summary(samples: list[float]) -> dict[str, Any]:
    return {
        "median_s": round(statistics.median(samples), 2),
        "samples_s": [round(s, 2) for s in samples],
    }


def image_figures(out: Path, demo: Path) -> dict[str, float]:
    image = measure(out / "alma-demo.fits", demo / "sky-model.json")
    return {"peak_jy_per_beam": round(image.peak_jy_per_beam, 4),
            "flux_error": round(image.flux_error, 4),
            "position_error_arcsec": round(image.offset_arcsec, 3),
            "pixel_arcsec": round(image.pixel_arcsec, 3)}  # fmt: skip


def installed(prefix: Path, rounds: int, work: Path) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for app in casa_apps(prefix):
        wrapper = str(layout(get_app(app.name), app.env.parent).wrapper)
        print(f"{app.name}: installed environment", file=sys.stderr)
        starts, images, demos = [], [], []
        figures: dict[str, float] = {}
        demo = work / app.name / "alma-demo"
        for n in range(rounds):
            shutil.rmtree(work / app.name, ignore_errors=True)
            made = make_demo(demo, app.name, prefix, out=open(os.devnull, "w"))  # noqa: SIM115
            demos.append(made.seconds)
            starts.append(timed([wrapper, "--python", *START], work))
            out = work / app.name / f"out-{n}"
            images.append(timed([wrapper, "--python", str(demo / "reduce.py"), str(out)], work))
            figures = image_figures(out, demo)
        rows[app.name] = {"where": "embedded (apps install)", "demo_dataset": summary(demos),
                          "demo_dataset_bytes": made.bytes, "casa_start": summary(starts),
                          "batch_imaging": summary(images), **figures}  # fmt: skip
    return rows


def in_images(rounds: int, work: Path) -> dict[str, Any]:
    root = os.environ.get("ARCADE_PODMAN_ROOT", str(IMAGES / "storage"))
    runroot = os.environ.get("ARCADE_PODMAN_RUNROOT", str(IMAGES / "runroot"))
    podman = ["podman", "--root", root, "--runroot", runroot]
    if runtime := os.environ.get("ARCADE_PODMAN_RUNTIME", "runc" if shutil.which("runc") else ""):
        podman += ["--runtime", runtime]
    env = dict(os.environ)
    if "CONTAINERS_CONF" not in env:  # podman's default ulimits cannot be raised in a sandbox
        conf = work / "containers.conf"
        limits = '"nofile=1024:1024", "nproc=32768:32768"'
        conf.write_text(f"[containers]\ndefault_ulimits = [{limits}]\n")
        env["CONTAINERS_CONF"] = str(conf)
    rows: dict[str, Any] = {}
    for recipe in RECIPES:
        ref = f"ghcr.io/arcade-hub/casa:{recipe.version}"
        if subprocess.run([*podman, "image", "exists", ref], env=env).returncode != 0:
            continue
        print(f"{recipe.name}: image {ref}", file=sys.stderr)
        home = work / f"image-{recipe.name}"
        home.mkdir(mode=0o777)
        home.chmod(0o777)
        (home / SIMULATE).write_text(script(SIMULATE))
        run = [*podman, "run", "--rm", "--network", "none", "--user", "54321:100",
               "-e", "HOME=/home/arcade", "-v", f"{home}:/home/arcade:rw", "-w", "/home/arcade",
               ref, "casa", "--python"]  # fmt: skip
        starts, images, demos = [], [], []
        figures: dict[str, float] = {}
        for n in range(rounds):
            shutil.rmtree(home / "demo", ignore_errors=True)
            demos.append(timed([*run, SIMULATE, "demo"], work, env))
            (home / "demo" / "reduce.py").write_text(script(REDUCE))
            starts.append(timed([*run, *START], work, env))
            images.append(timed([*run, "demo/reduce.py", f"out-{n}"], work, env))
            figures = image_figures(home / f"out-{n}", home / "demo")
        rows[recipe.name] = {"where": f"image {ref} (podman run)", "demo_dataset": summary(demos),
                             "casa_start": summary(starts), "batch_imaging": summary(images),
                             **figures}  # fmt: skip
    return rows


def menu_to_window(rounds: int) -> dict[str, Any]:
    """Menu click -> window, the dataset's CASA against Terminal, in one desktop session."""
    import asyncio

    from tests.casa.conftest import open_cache
    from tests.e2e.casa_desktop import casa_platform

    with casa_platform(open_cache()) as hub:
        return asyncio.run(_menu_rounds(hub, rounds))


async def _menu_rounds(hub: Any, rounds: int) -> dict[str, Any]:
    import signal

    from playwright.async_api import async_playwright

    from tests.desktop.conftest import CHROMIUM, CHROMIUM_ARGS
    from tests.desktop.test_desktop_e2e import CANVAS_STATS, DESKTOP_VISIBLE
    from tests.e2e.browser import login
    from tests.e2e.casa_desktop import (
        casa_item,
        click_until_window,
        open_menu,
        stats,
        terminal_item,
        xterms,
    )
    from tests.e2e.test_casa_workflow import Demo, new_session, start
    from tests.hub import env_of

    demo = Demo(hub)
    samples: dict[str, list[float]] = {"terminal": [], demo.entry.name: []}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            await login(page, hub, "alice")
            await new_session(page, hub, demo)
            name = await start(page, "desktop", "desktop/")
        except BaseException:
            await browser.close()
            raise
        try:
            await page.wait_for_function(DESKTOP_VISIBLE, polling=50, timeout=60_000)
            session_id = env_of(hub, "alice", name)["ARCADE_SESSION_ID"]
            bare = (await stats(page))["white"]
            for n in range(rounds):
                for row in (("terminal", demo.entry.name) if n % 2 else
                            (demo.entry.name, "terminal")):  # fmt: skip
                    await open_menu(page)
                    point = await (terminal_item(page) if row == "terminal" else
                                   casa_item(page, demo.menu_index))  # fmt: skip
                    samples[row].append(await click_until_window(page, point, bare))
                    print(f"round {n + 1}: {row} {samples[row][-1]:.2f} s", file=sys.stderr)
                    for pid in xterms(session_id):  # close the window again
                        os.kill(pid, signal.SIGTERM)
                    gone = f"() => ({CANVAS_STATS})().white < {bare} + 5000"
                    await page.wait_for_function(gone, polling=50, timeout=30_000)
        finally:
            await browser.close()
            hub.stop_server("alice", name)
    result: dict[str, Any] = {k: summary(v) for k, v in samples.items()}
    result["casa_over_terminal"] = round(
        statistics.median(samples[demo.entry.name]) / statistics.median(samples["terminal"]), 2
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--prefix",
        type=Path,
        default=CACHE / "apps",
        help="where CASA environments are installed (default: the tests' cache)",
    )
    parser.add_argument("--images", action="store_true", help="also the built CASA images")
    parser.add_argument(
        "--menu",
        action="store_true",
        help="also menu click -> window on a desktop: CASA against Terminal",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="arcade-bench-casa-", dir="/tmp"))
    work.chmod(0o755)
    try:
        result: dict[str, Any] = {
            "rounds": args.rounds,
            "embedded": installed(args.prefix, args.rounds, work),
            "images": in_images(args.rounds, work) if args.images else {},
            "menu_click_to_window": menu_to_window(args.rounds) if args.menu else None,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

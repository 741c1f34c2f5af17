"""The ALMA workflow as a user does it, in Debian Chromium, on the real embedded platform with
real CASA (the tests' install cache) and the demo dataset made by `arcade-hub datasets demo`:
pick the dataset and see its CASA version selected and said; a Linux desktop with the dataset,
its menu, CASA of that version in a window, the dataset's reduce.py typed at its prompt and the
FITS image in the home; a JupyterLab session with the dataset whose notebooks open in that
version's kernel, running the tutorial's cells; the same reduction as a batch job from the
Batch page. It takes the screenshots of docs/tutorial/reduce-alma-data.md, in its order."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from arcade_hub.config import Kind, load_config
from arcade_hub.config.casa_versions import normalise, satisfies
from tests.casa import conftest as casa_conftest
from tests.casa.conftest import CasaCache
from tests.casa_image import measure
from tests.desktop.conftest import CHROMIUM, CHROMIUM_ARGS, artifacts_dir
from tests.desktop.test_desktop_e2e import DESKTOP_VISIBLE
from tests.e2e.browser import accessibility_problems, login, screenshot
from tests.e2e.casa_desktop import (
    casa_item,
    casa_platform,
    chars_read,
    children,
    click_until_window,
    open_menu,
    ran_at_prompt,
    stats,
    waits_at_its_prompt,
    window_processes,
)
from tests.hub import RunningHub, env_of, processes_mentioning, wait_for
from tests.service.conftest import Api

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = pytest.mark.e2e

casa_cache = casa_conftest.casa_cache  # the shared install cache, through its locking fixture
USER = "alice"
SUBMIT = "#spawn_form input[type=submit], #spawn_form button[type=submit]"
# What the tutorial types at the CASA prompt, line by line.
PROMPT_LINES = [
    "import os",
    'demo = os.path.join(os.environ["ARCADE_DATASETS"], "alma-demo")',
    'obs = listobs(vis=f"{demo}/alma-demo.ms")',
    'obs["nfields"], obs["numrecords"]',
    'exec(open(f"{demo}/reduce.py").read())',
]
# The tutorial's notebook cells, and what each prints.
NOTEBOOK_CELLS = [
    "import casatools\nprint(casatools.version_string())",
    'import os\ndemo = os.path.join(os.environ["ARCADE_DATASETS"], "alma-demo")\n'
    'exec(open(f"{demo}/reduce.py").read())',
    "from casatasks import imstat\n"
    "stats = imstat(imagename=fits)\n"
    'print(stats["max"][0], stats["maxposf"])',
]


@pytest.fixture(scope="module")
def casa_hub(casa_cache: CasaCache) -> Iterator[RunningHub]:
    if not casa_cache.installed:
        pytest.fail("no CASA could be installed on this machine: " + "; ".join(
            casa_cache.missing.values()))  # fmt: skip
    with casa_platform(casa_cache) as hub:
        yield hub


@pytest.fixture
async def page(casa_hub: RunningHub) -> Any:
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            await login(page, casa_hub, USER)
            yield page
        finally:
            await browser.close()


class Demo:
    """What the dataset needs (read back from what `arcade-hub datasets demo` wrote) and the
    catalogue's CASA entry that serves it, with its place in the desktop's CASA menu."""

    def __init__(self, hub: RunningHub) -> None:
        self.path = hub.data_dir / "datasets" / "alma-demo"
        truth = json.loads((self.path / "sky-model.json").read_text())
        self.version = normalise(str(truth["casa_version"]))
        menu = [e for e in load_config(None).catalogue
                if e.kind == Kind.desktop_app and e.group == "CASA"]  # fmt: skip
        self.entry = next(e for e in menu if satisfies(e.casa_version or "", self.version))
        self.menu_index = menu.index(self.entry)
        self.home = hub.data_dir / "home" / USER
        self.fits = self.home / "alma-demo-images" / "alma-demo.fits"


async def new_session(page: Any, hub: RunningHub, demo: Demo) -> None:
    """New session from Sessions; choosing the dataset selects its CASA and says so."""
    await page.goto(f"{hub.url}/services/arcade/jobs")
    await page.click("#new-session")
    await page.wait_for_url(f"**/hub/spawn/{USER}/*")
    await page.select_option("#dataset", "alma-demo")
    checked = page.locator("input[name=image]:checked")
    assert await checked.get_attribute("value") == demo.entry.name
    note = await page.inner_text("#casa-note")
    assert note == (f"This dataset needs CASA {demo.version} (recorded in the history of "
                    f"alma-demo.ms): {demo.entry.title} is selected.")  # fmt: skip


async def start(page: Any, entry: str, url: str) -> str:
    """Start the form's session with `entry`; the session's name once its page opens."""
    await page.check(f'[id="image-{entry}"]')
    name = page.url.rsplit("/", 1)[1]
    await page.click(SUBMIT)
    await page.wait_for_url(f"**/user/{USER}/{name}/{url}**", timeout=120_000)
    return str(name)


async def test_reduce_alma_data_with_the_right_casa(
    casa_hub: RunningHub, page: Any, casa_cache: CasaCache
) -> None:
    demo = Demo(casa_hub)
    figures: dict[str, float] = {}
    await new_session(page, casa_hub, demo)
    problems = await accessibility_problems(page)
    assert not problems, "the form with the dataset's note: " + "\n".join(problems)
    await screenshot(page, "casa-form-dataset")

    desktop, notebook_session = await start(page, "desktop", "desktop/"), None
    try:
        await on_the_desktop(page, casa_hub, demo, desktop, figures)
        await new_session(page, casa_hub, demo)
        notebook_session = await start(page, "notebook", "lab")
        await in_a_notebook(page, demo)
        await as_a_batch_job(page, casa_hub, demo, figures)
    except Exception:  # what the page showed, for whoever reads the failure
        await page.screenshot(path=artifacts_dir("casa-workflow") / "failed.png", full_page=True)
        raise
    finally:
        for name in (desktop, notebook_session):
            if name:
                casa_hub.stop_server(USER, name)
    (artifacts_dir("casa-workflow") / "figures.json").write_text(json.dumps(figures, indent=1))
    print("CASA workflow figures:", json.dumps(figures))


async def on_the_desktop(
    page: Any, hub: RunningHub, demo: Demo, session: str, figures: dict[str, float]
) -> None:
    """Menu -> CASA -> the dataset's version: its window; reduce.py typed at its prompt."""
    await page.wait_for_function(DESKTOP_VISIBLE, polling=50, timeout=60_000)
    session_id = env_of(hub, USER, session)["ARCADE_SESSION_ID"]
    canvas, bare = page.locator("#screen canvas"), await stats(page)
    await open_menu(page)
    point = await casa_item(page, demo.menu_index)
    await screenshot(canvas, "casa-desktop-menu")
    figures["menu_click_to_casa_window_s"] = await click_until_window(page, point, bare["white"])
    (xterm,) = window_processes(session_id, demo.entry.title)
    (python,) = children(xterm)
    assert f"/{demo.entry.name}/bin/python" in Path(f"/proc/{python}/cmdline").read_text()
    started = time.monotonic()
    wait_for(lambda: waits_at_its_prompt(python), 120, f"the {demo.entry.title} prompt")
    figures["casa_window_to_prompt_s"] = time.monotonic() - started

    started = time.monotonic()
    for line in PROMPT_LINES:
        read = chars_read(python)
        await page.keyboard.type(line + "\n")
        wait_for(partial(ran_at_prompt, python, line, read), 300, f"{line!r} to run")
    figures["reduce_py_at_the_prompt_s"] = time.monotonic() - started
    image = measure(demo.fits, demo.path / "sky-model.json")
    assert image.offset_arcsec <= image.pixel_arcsec, "the peak is on the simulated source"
    assert image.flux_error < 0.10
    assert demo.fits.stat().st_uid == demo.home.stat().st_uid  # written as the session's user
    await screenshot(canvas, "casa-reduced")
    assert python in processes_mentioning(session_id)


async def in_a_notebook(page: Any, demo: Demo) -> None:
    """The launcher offers the dataset's CASA kernel first; a notebook opened with it runs
    the tutorial's cells: the version, the reduction, the image's peak."""
    await page.wait_for_selector(".jp-Launcher-section .jp-LauncherCard", timeout=120_000)
    cards = page.locator(".jp-Launcher-section").first.locator(".jp-LauncherCard")
    assert await cards.first.get_attribute("title") == demo.entry.title
    await screenshot(page, "casa-launcher")
    await cards.first.click()
    kernel = page.locator(".jp-NotebookPanel-toolbar .jp-KernelName")
    await kernel.filter(has_text=demo.entry.title).wait_for(timeout=60_000)
    idle = page.locator(".jp-StatusBar-Widget", has_text=f"{demo.entry.title} | Idle")
    await idle.wait_for(timeout=120_000)  # the kernel has started
    outputs = []
    for n, cell in enumerate(NOTEBOOK_CELLS, start=1):
        editor = page.locator(".jp-Notebook .jp-Cell.jp-mod-active .cm-content")
        await editor.click()
        await page.keyboard.insert_text(cell)  # as pasted: no bracket completion
        await editor.filter(has_text=cell.splitlines()[-1]).wait_for(timeout=20_000)
        await page.keyboard.press("Shift+Enter")
        ran = page.locator(".jp-Notebook .jp-CodeCell").nth(n - 1)
        prompt = ran.locator(".jp-InputPrompt", has_text=f"[{n}]")
        await prompt.wait_for(timeout=300_000)  # the number comes when it has finished
        outputs.append(await ran.locator(".jp-OutputArea").inner_text())
    assert outputs[0].startswith(demo.version.rsplit(".", 1)[0]), outputs[0]
    assert f"wrote {demo.fits}" in outputs[1], outputs[1]
    peak, where = outputs[2].split(" ", 1)
    assert abs(float(peak) - 1.0) < 0.1 and "15:00:00" in where, outputs[2]
    await screenshot(page, "casa-notebook")


async def as_a_batch_job(page: Any, hub: RunningHub, demo: Demo, figures: dict[str, float]) -> None:
    """New batch job: the dataset's CASA batch entry runs reduce.py; Sessions shows it
    Succeeded and its image in the home has the source where it was made."""
    fits = demo.home / "alma-demo-batch" / "alma-demo.fits"
    await page.goto(f"{hub.url}/services/arcade/jobs")
    await page.click("#new-batch-job")
    await page.wait_for_url("**/services/arcade/jobs/new")
    await page.fill("#name", "image-demo")
    await page.select_option("#image", f"{demo.entry.name}-batch")
    await page.fill("#cmd", f"{demo.path}/reduce.py alma-demo-batch")  # in the home
    await page.select_option("#dataset", "alma-demo")
    problems = await accessibility_problems(page)
    assert not problems, "the Batch page: " + "\n".join(problems)
    await screenshot(page, "casa-batch-form")
    started = time.monotonic()
    await page.click("#submit")
    await page.wait_for_url("**/services/arcade/jobs")
    row = page.locator("#jobs tbody tr", has_text="image-demo")
    job = await row.locator(".arcade-id").inner_text()
    # The job's end is awaited in the sessions API, then the user refreshes the list at
    # once rather than after its own 10 s (tests/e2e/test_pages_in_browser.py checks that).
    Api(hub, USER).wait_status(job, ("Succeeded", "Failed", "Error"), timeout=180)
    figures["batch_submit_to_finished_s"] = time.monotonic() - started
    async with page.expect_navigation():
        await page.click("#refresh")
    assert await row.locator(".arcade-status").inner_text() == "Succeeded", await row.inner_text()
    image = measure(fits, demo.path / "sky-model.json")
    assert image.offset_arcsec <= image.pixel_arcsec and image.flux_error < 0.10
    assert demo.entry.title in await row.inner_text()
    await screenshot(page, "casa-batch-done")

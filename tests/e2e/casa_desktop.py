"""The embedded platform with real CASA and the ALMA demo dataset, and the desktop's menu driven
as a user drives it in Chromium (right-click, the CASA submenu, a click on an item): shared by
tests/e2e/test_casa_workflow.py and benchmarks/casa.py."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.casa.conftest import CasaCache
from tests.desktop.test_desktop_e2e import CANVAS_STATS
from tests.hub import RunningHub, processes_mentioning, running_hub, shared_tmp

WINDOW_WHITE = 20_000
"""Sampled white pixels an 80x24 xterm adds to the canvas (about 30,000; an open menu about
1,300): CASA's window is an xterm too."""


@contextlib.contextmanager
def casa_platform(cache: CasaCache) -> Iterator[RunningHub]:
    """`arcade-hub run` on the built-in platform document (its CASA entries, the alma-demo
    dataset) with the cache's CASA commands on PATH and its kernels on JUPYTER_PATH, as
    `arcade-hub apps install` leaves them; the demo dataset made as an operator makes it,
    with `arcade-hub datasets demo` (by the newest CASA installed)."""
    tmp = shared_tmp()
    try:
        data = tmp / "data"
        demo = [sys.executable, "-m", "arcade_hub", "datasets", "demo", "--data-dir", str(data),
                "--prefix", str(cache.root / "apps")]  # fmt: skip
        made = subprocess.run(demo, capture_output=True, text=True, timeout=600)
        assert made.returncode == 0, made.stderr
        for path in (data, data / "datasets"):
            path.chmod(0o755)
        env = {"PATH": f"{cache.root / 'bin'}{os.pathsep}{os.environ['PATH']}",
               "JUPYTER_PATH": str(cache.root)}  # fmt: skip
        with running_hub(tmp, config=None, extra_env=env) as hub:
            yield hub
    finally:
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


# --- the desktop's menu -----------------------------------------------------------------------

HIGHLIGHT = """(mode) => {
  // Openbox marks the chosen menu item light blue. 'snap' remembers which pixels are that blue;
  // 'diff' gives the boxes of pixels that became blue since (added) and stopped being (removed).
  const c = document.querySelector('#screen canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const blue = new Uint8Array(c.width * c.height);
  for (let p = 0, i = 0; i < d.length; i += 4, p++) {
    const r = d[i], g = d[i + 1], b = d[i + 2];
    blue[p] = b >= 180 && b - r >= 50 && g > r ? 1 : 0;
  }
  if (mode === 'snap') { window.__arcadeBlue = blue; return null; }
  const before = window.__arcadeBlue;
  const box = () => ({x0: 1e9, y0: 1e9, x1: -1, y1: -1, n: 0});
  const added = box(), removed = box();
  for (let p = 0; p < blue.length; p++) {
    if (blue[p] === before[p]) continue;
    const b = blue[p] ? added : removed, x = p % c.width, y = Math.floor(p / c.width);
    b.x0 = Math.min(b.x0, x); b.y0 = Math.min(b.y0, y);
    b.x1 = Math.max(b.x1, x); b.y1 = Math.max(b.y1, y); b.n++;
  }
  return {added: added.n > 50 ? added : null, removed: removed.n > 50 ? removed : null};
}"""


BLUE_AT = """([x, y]) => {
  const d = document.querySelector('#screen canvas').getContext('2d')
    .getImageData(Math.round(x), Math.round(y), 1, 1).data;
  return d[2] >= 180 && d[2] - d[0] >= 50 && d[1] > d[0];
}"""


@dataclass(frozen=True)
class Box:
    """A highlighted menu row on the canvas (canvas pixels)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2


def _box(found: dict[str, int] | None) -> Box | None:
    return Box(found["x0"], found["y0"], found["x1"], found["y1"]) if found else None


async def stats(page: Any) -> dict[str, int]:
    result: dict[str, int] = await page.evaluate(CANVAS_STATS)
    return result


async def open_menu(page: Any, at: tuple[int, int] = (400, 300)) -> None:
    """Right-click on the desktop's background (off its hint) and wait for the menu."""
    colours = (await stats(page))["colours"]
    await page.locator("#screen canvas").click(button="right", position={"x": at[0], "y": at[1]})
    shown = f"() => ({CANVAS_STATS})().colours > {colours} + 2"
    await page.wait_for_function(shown, polling=50, timeout=20_000)


SETTLED = """(frames) => {
  // True once the canvas has not changed for `frames` polls in a row: noVNC draws an update
  // rectangle by rectangle, so a half-drawn menu is never taken for the menu.
  const c = document.querySelector('#screen canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let h = 0;
  for (let i = 0; i < d.length; i++) h = (Math.imul(h, 31) + d[i]) | 0;
  const s = window.__arcadeSettled || {h: null, n: 0};
  s.n = s.h === h ? s.n + 1 : 0; s.h = h;
  window.__arcadeSettled = s;
  return s.n >= frames;
}"""


async def settled(page: Any) -> None:
    """Wait until the canvas stays the same for 4 polls (200 ms)."""
    await page.evaluate("() => { window.__arcadeSettled = null; }")
    await page.wait_for_function(SETTLED, arg=4, polling=50, timeout=20_000)


async def press_and_follow(page: Any, key: str, moves: bool) -> tuple[Box | None, Box | None]:
    """Press `key` in the open menu and wait for the highlight to appear (`moves`: to leave
    the row it was on as well) and the canvas to settle: the rows newly and no longer
    highlighted."""
    await settled(page)
    await page.evaluate(HIGHLIGHT, "snap")
    await page.keyboard.press(key)
    done = "d.added && d.removed" if moves else "d.added"
    moved = f"() => {{ const d = ({HIGHLIGHT})('diff'); return {done} && d; }}"
    await page.wait_for_function(moved, polling=50, timeout=20_000)
    await settled(page)
    found = await page.evaluate(HIGHLIGHT, "diff")
    return _box(found["added"]), _box(found["removed"])


CANVAS_TO_PAGE = """([x, y]) => {
  const c = document.querySelector('#screen canvas'), r = c.getBoundingClientRect();
  return [r.x + x * r.width / c.width, r.y + y * r.height / c.height];
}"""


async def on_page(page: Any, point: tuple[float, float]) -> tuple[float, float]:
    """Where a point of the canvas (its pixels) is on the page (below noVNC's bar, scaled)."""
    x, y = await page.evaluate(CANVAS_TO_PAGE, list(point))
    return float(x), float(y)


async def casa_item(page: Any, index: int) -> tuple[float, float]:
    """Open the CASA submenu of the open menu (its first letter, as openbox offers) and
    return where its item `index` is on the page (0: the first version). Follows the
    highlight down one row to learn the rows' height; the pointer then moves onto the item,
    highlighting it (and only it: checked)."""
    white = (await stats(page))["white"]
    await page.keyboard.press("c")  # the submenu opens with its first item highlighted
    shown = f"() => ({CANVAS_STATS})().white > {white} + 500"
    await page.wait_for_function(shown, polling=50, timeout=20_000)
    second, first = await press_and_follow(page, "ArrowDown", moves=True)
    assert first is not None and second is not None, "the CASA submenu did not open"
    x, y = first.centre
    row = x, y + index * (second.y0 - first.y0)
    point = await on_page(page, row)
    await page.mouse.move(*point)
    edge = first.x1 - 1, row[1]  # the row's right padding: highlight, never text
    await page.wait_for_function(BLUE_AT, arg=edge, polling=50, timeout=20_000)
    await settled(page)
    rows = [await page.evaluate(BLUE_AT, [edge[0], first.centre[1] + n * (second.y0 - first.y0)])
            for n in range(index + 2)]  # fmt: skip
    assert rows == [n == index for n in range(index + 2)], f"highlighted rows: {rows}"
    return point


async def terminal_item(page: Any) -> tuple[float, float]:
    """Where the open menu's first item, Terminal, is on the page (highlighted by the down
    arrow)."""
    row, _ = await press_and_follow(page, "ArrowDown", moves=False)
    assert row is not None, "the menu has no Terminal item"
    point = await on_page(page, row.centre)
    await page.mouse.move(*point)
    return point


async def click_until_window(page: Any, point: tuple[float, float], white_before: int) -> float:
    """Click the menu item at `point` (on the page); seconds until an xterm-sized window is
    on the canvas."""
    appeared = f"() => ({CANVAS_STATS})().white > {white_before + WINDOW_WHITE}"
    started = time.monotonic()
    await page.mouse.click(*point)
    await page.wait_for_function(appeared, polling="raf", timeout=60_000)
    return time.monotonic() - started


# --- the processes behind the windows ---------------------------------------------------------

SELECT_CALLS = {"x86_64": ("23", "270"), "aarch64": ("72",)}.get(platform.machine(), ())
"""select/pselect6: where Python's interactive prompt (readline) waits for a line."""


def window_processes(session_id: str, title: str) -> list[int]:
    """The session's xterms whose title is `title` (`xterm -T TITLE ...`)."""
    found = []
    for pid in processes_mentioning(session_id):
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if Path(argv[0].decode()).name == "xterm" and argv[1:3] == [b"-T", title.encode()]:
                found.append(pid)
    return found


def xterms(session_id: str) -> list[int]:
    """The session's xterms (its windows: Terminal's and the CASA prompts')."""
    found = []
    for pid in processes_mentioning(session_id):
        with contextlib.suppress(OSError):
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            if Path(argv0.decode()).name == "xterm":
                found.append(pid)
    return found


def children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def waits_at_its_prompt(pid: int) -> bool:
    """Is the process (an interactive Python) waiting for a line on its terminal: blocked in
    select on one file descriptor, its standard input, a pseudo-terminal?"""
    try:
        call = Path(f"/proc/{pid}/syscall").read_text().split()
        stdin = os.readlink(f"/proc/{pid}/fd/0")
    except OSError:
        return False
    return stdin.startswith("/dev/pts/") and call[:1] != [] and call[0] in SELECT_CALLS and (
        call[1:2] == ["0x1"])  # fmt: skip


def chars_read(pid: int) -> int:
    """Characters the process has read so far (its terminal's input included)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError(f"no rchar in /proc/{pid}/io")


def ran_at_prompt(pid: int, line: str, read_before: int) -> bool:
    """Has the interactive Python run `line`, typed after it had read `read_before`
    characters: read all of it (so it ran) and waiting at its prompt again (so it finished)?"""
    return chars_read(pid) > read_before + len(line) and waits_at_its_prompt(pid)

"""The docs' screenshots are the browser tests' own: every image a page shows is in docs/images,
and every image there is one a test takes (`screenshot(..., NAME)`), refreshed by
scripts/screenshots.sh. A renamed or dropped screenshot fails here, not in a reader's browser."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
DOCS = ROOT / "docs"
IMAGES = DOCS / "images"


def test_every_image_the_docs_show_exists() -> None:
    shown = {
        (page.parent / target).resolve()
        for page in DOCS.rglob("*.md")
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", page.read_text())
    }
    assert shown, "the docs show no screenshots"
    missing = sorted(str(p.relative_to(ROOT)) for p in shown if not p.is_file())
    assert not missing, f"docs show images that are not there: {missing}"


def test_every_image_is_taken_by_a_test() -> None:
    taken = {
        name
        for test in (ROOT / "tests").rglob("test_*.py")
        for name in re.findall(r'screenshot\([^)]*?"([a-z0-9-]+)"\)', test.read_text())
    }
    kept = {p.stem for p in IMAGES.glob("*.png")}
    assert kept <= taken, f"no test takes {sorted(kept - taken)} (scripts/screenshots.sh)"

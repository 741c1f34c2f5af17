"""Every `arcade-hub ...` command the documentation shows is one the CLI accepts (the
Kubernetes guide once said `check-config --config FILE`, which fails)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from arcade_hub.cli import _parser

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
INLINE = re.compile(r"`(arcade-hub [^`]+)`")
BLOCK_LINE = re.compile(r"^\s*(?:\$ )?(arcade-hub .+)$", re.MULTILINE)


def commands(text: str) -> list[str]:
    found = [" ".join(m.split()) for m in INLINE.findall(text)]
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    for block in blocks:
        block = block.replace("\\\n", " ")
        found += BLOCK_LINE.findall(block)
    # what the shell does with the rest is not the CLI's: redirections, pipes, comments
    found = [re.split(r"\s[>|#]|\s2>", c)[0].strip() for c in found]
    return [c for c in found if "[" not in c and any(  # not a usage synopsis or a mere name
        t.startswith("-") or "." in t or "/" in t or t.isupper() for t in c.split()[2:])]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_documented_commands_parse(page: Path) -> None:
    parser = _parser()
    bad = []
    for command in commands(page.read_text()):
        try:
            parser.parse_args(shlex.split(command)[1:])
        except SystemExit:
            bad.append(command)
    assert not bad, f"{page.name}: the CLI refuses {bad}"


def test_the_check_finds_commands() -> None:
    guide = (ROOT / "docs" / "how-to" / "deploy-on-kubernetes.md").read_text()
    assert "arcade-hub check-config platform.yaml" in commands(guide)

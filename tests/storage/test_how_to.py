"""docs/how-to/move-and-share-data-with-vos.md, run: every block marked `<!-- run: USER -->`
runs in bash as USER (alice, bob, or `anyone` without a token) with the released `vos`
commands, in order; then what a person would check: the files, their owners, what others
may not do."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.storage.conftest import VosPlatform

HOW_TO = Path(__file__).parents[2] / "docs" / "how-to" / "move-and-share-data-with-vos.md"
BLOCK = re.compile(r"<!-- run: (\w+) -->\n```sh\n(.*?)```", re.S)

pytestmark = pytest.mark.integration


def blocks() -> list[tuple[str, str]]:
    found = BLOCK.findall(HOW_TO.read_text())
    assert len(found) >= 6, "the how-to lost its runnable blocks"
    return found


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_the_how_to_runs_as_written(vos_platform: VosPlatform) -> None:
    p = vos_platform
    original = p.work / "m31.fits"
    original.write_bytes(b"SIMPLE  =                    T" + os.urandom(200_000))
    for user, script in blocks():
        who = None if user == "anyone" else user
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            env=p.env(who),
            cwd=p.work,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"as {user}:\n{script}\n{done.stdout}\n{done.stderr}"

    for copy in (
        "m31-copy.fits",
        "latest.fits",
        "from-project.fits",
        "shared.fits",
        "public.fits",
        "public-curl.fits",
    ):
        assert md5(p.work / copy) == md5(original), copy

    uids = p.hub.api("GET", "/users/alice").json()  # noqa: F841  (the user exists)
    alice = p.home("alice")
    moved = alice / "results" / "m31-v1.fits"
    assert moved.read_bytes() == original.read_bytes()
    assert not (alice / "results" / "m31.fits").exists()
    assert not (alice / "latest.fits").exists(), "vrm of the link removed the link"
    owner = alice.stat().st_uid
    assert owner != 0 and moved.stat().st_uid == owner, "files belong to alice, never root"
    in_project = p.project("survey-team") / "m31.fits"
    assert in_project.stat().st_uid == owner
    assert in_project.stat().st_gid == p.project("survey-team").stat().st_gid


def test_others_get_nothing_unshared(vos_platform: VosPlatform) -> None:
    p = vos_platform
    (p.work / "secret.txt").write_text("alice's secret\n")
    assert p.vos("alice", "vcp", "secret.txt", "arcade:home/alice/secret.txt").returncode == 0
    for who in ("bob", "carol", None):
        got = p.vos(who, "vcp", "arcade:home/alice/secret.txt", f"stolen-{who}.txt")
        assert got.returncode != 0, who
        assert not (p.work / f"stolen-{who}.txt").exists()
    wrote = p.vos("bob", "vcp", "secret.txt", "arcade:home/alice/by-bob.txt")
    assert wrote.returncode != 0 and not (p.home("alice") / "by-bob.txt").exists()
    assert p.vos("carol", "vls", "arcade:projects/survey-team").returncode != 0
    listing = p.vos("bob", "vls", "arcade:home")
    assert listing.stdout.split() == ["bob"], listing

"""Storage paths: every user and group gets a directory of its own, whatever its name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from arcade_hub.launch.storage import legacy_path_name, path_name
from arcade_hub.local.paths import adopt_legacy_dir


def test_plain_names_are_kept() -> None:
    assert path_name("alice") == "alice"
    assert path_name("a.b_c-d@x") == "a.b_c-d@x"


def test_names_differing_in_case_or_punctuation_never_share_a_directory() -> None:
    names = [
        "alice",
        "Alice",
        "ALICE",
        "al ice",
        "al/ice",
        "al-ice",
        "al_ice",
        "..",
        ".",
        "alice--" + path_name("Alice").split("--")[1],
        "",
        "ünïcode",
        "a" * 80,
        "alice\n",  # a plain name with a newline is not plain
    ]
    dirs = [path_name(n) for n in names]
    assert len(set(dirs)) == len(names)
    assert all("/" not in d and d not in (".", "..", "") for d in dirs)


def test_hashed_names_carry_64_bits_and_trailing_newlines_are_not_plain() -> None:
    slug, digest = path_name("Alice@Example.org").split("--")
    assert slug == "alice-example-org" and len(digest) == 16
    assert int(digest, 16) >= 0  # hex
    assert path_name("alice\n") != "alice\n" and "\n" not in path_name("alice\n")


@pytest.mark.skipif(os.geteuid() != 0, reason="owners of other uids need root")
def test_a_home_made_under_the_old_name_is_found_after_the_upgrade(tmp_path: Path) -> None:
    homes = tmp_path / "home"
    homes.mkdir()
    name = "Alice@Example.org"
    legacy = homes / legacy_path_name(name)
    assert len(legacy.name.split("--")[1]) == 8
    legacy.mkdir()
    (legacy / "thesis.tex").write_text("chapter 1\n")
    os.chown(legacy, 200001, 200001)
    current = homes / path_name(name)
    # another user's old home that would collide under the old name stays where it is
    adopt_legacy_dir(current, legacy.name, uid=200002)
    assert legacy.exists() and not current.exists()
    adopt_legacy_dir(current, legacy.name, uid=200001)
    assert (current / "thesis.tex").read_text() == "chapter 1\n" and not legacy.exists()
    adopt_legacy_dir(current, legacy.name, uid=200001)  # once moved, nothing more happens
    assert current.is_dir()

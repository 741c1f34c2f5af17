"""Storage paths: every user and group gets a directory of its own, whatever its name."""

from __future__ import annotations

from arcade_hub.storage import path_name


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
    ]
    dirs = [path_name(n) for n in names]
    assert len(set(dirs)) == len(names)
    assert all("/" not in d and d not in (".", "..", "") for d in dirs)

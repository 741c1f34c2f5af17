"""Generated secrets are kept private and stable, and replaced when too short."""

from __future__ import annotations

import stat
from pathlib import Path

from arcade_hub.secret_files import kept_secret


def test_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "password"
    first = kept_secret(path, lambda: "s3cret-value", min_length=8)
    again = kept_secret(path, lambda: "other-value", min_length=8)
    assert first == again == "s3cret-value"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_too_short_secret_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "admin-password"
    path.write_text("short\n")
    assert kept_secret(path, lambda: "x" * 32, min_length=32) == "x" * 32


def test_a_symlink_planted_at_the_path_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("keep me\n")
    (tmp_path / "key").symlink_to(target)
    kept_secret(tmp_path / "key", lambda: "ab" * 32, min_length=64)
    assert target.read_text() == "keep me\n"
    assert not (tmp_path / "key").is_symlink()

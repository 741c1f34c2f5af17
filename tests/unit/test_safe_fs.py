"""The root side's file operations in places a user controls (arcade_hub.local.safe_fs)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from arcade_hub.local.safe_fs import (
    TooLarge,
    Unreadable,
    UnsafePath,
    create_file,
    list_beneath,
    make_dir,
    read_beneath,
    read_text_beneath,
    replace_file,
    root_dir,
)


def test_reads_go_through_no_symlink_fifo_or_other_owners_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "jobs").mkdir(parents=True)
    (home / "jobs" / "a.log").write_text("mine\n")
    assert read_text_beneath(home, home / "jobs" / "a.log") == "mine\n"
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "a.log").write_text("not yours\n")
    os.symlink(secret, home / "link")
    os.symlink(secret / "a.log", home / "jobs" / "b.log")
    os.mkfifo(home / "jobs" / "fifo")  # would block a plain open() for reading forever
    refused = [
        home / "link" / "a.log", home / "jobs" / "b.log", tmp_path / "x.log",
        home / "jobs" / "fifo", home / "jobs", home / ".." / "secret" / "a.log",
    ]  # fmt: skip
    for path in refused:
        with pytest.raises(Unreadable):
            read_beneath(home, path)


def test_reads_take_only_the_end_up_to_the_limit(tmp_path: Path) -> None:
    (tmp_path / "big.log").write_bytes(b"x" * 100_000 + b"the end")
    assert read_beneath(tmp_path, tmp_path / "big.log", limit=7) == b"the end"


def test_whole_reads_refuse_larger_files(tmp_path: Path) -> None:
    """A job's result file is served whole or not at all (its size said)."""
    (tmp_path / "big").write_bytes(b"x" * 100)
    assert read_beneath(tmp_path, tmp_path / "big", 100, tail=False) == b"x" * 100
    with pytest.raises(TooLarge) as refused:
        read_beneath(tmp_path, tmp_path / "big", 99, tail=False)
    assert refused.value.size == 100


def test_listing_shows_only_the_owners_regular_files_and_is_bounded(tmp_path: Path) -> None:
    home = tmp_path / "home"
    results = home / "jobs" / "results"
    results.mkdir(parents=True)
    for name in ("b.txt", "a.txt"):
        (results / name).write_text(name)
    (results / "sub").mkdir()
    os.mkfifo(results / "fifo")
    os.symlink("/etc/passwd", results / "passwd")
    os.symlink(tmp_path, home / "link")
    assert list_beneath(home, results, 10) == [("a.txt", 5), ("b.txt", 5)]
    assert len(list_beneath(home, results, 1)) == 1
    with pytest.raises(Unreadable):
        list_beneath(home, home / "link", 10)  # through a symlink: refused
    many = home / "many"
    many.mkdir()
    for n in range(50):
        (many / f"{n:02d}").touch()
    assert len(list_beneath(home, many, 5)) == 5  # read at most 4 x 5 entries


@pytest.mark.skipif(os.geteuid() != 0, reason="files of another owner need root")
def test_a_file_of_another_owner_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "planted").write_text("root's, planted by nobody")
    os.chown(tmp_path, 200001, 200001)
    with pytest.raises(Unreadable):
        read_beneath(tmp_path, tmp_path / "planted")


def test_directories_are_changed_through_their_descriptor(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    os.symlink(target, tmp_path / "planted")
    with pytest.raises(UnsafePath):  # an existing symlink is not a directory to use
        make_dir(tmp_path / "planted", 0o777, 200001, 200001, exist_ok=True)
    assert stat.S_IMODE(target.stat().st_mode) == 0o700 and target.stat().st_uid == os.geteuid()
    with pytest.raises(FileExistsError):
        make_dir(tmp_path / "planted", 0o777, exist_ok=False)
    assert make_dir(tmp_path / "new", 0o750, exist_ok=False)
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o750


def test_files_are_new_or_replaced_never_written_through_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    os.symlink(victim, tmp_path / "log")
    with pytest.raises(FileExistsError):
        os.close(create_file(tmp_path, "log", 0o640))
    replace_file(tmp_path, "log", b"new", 0o644)  # replaces the link itself
    assert victim.read_text() == "keep" and (tmp_path / "log").read_text() == "new"
    assert not (tmp_path / "log").is_symlink()
    fd = create_file(tmp_path, "fresh", 0o640)
    os.close(fd)
    assert stat.S_IMODE((tmp_path / "fresh").stat().st_mode) == 0o640


@pytest.mark.skipif(os.geteuid() != 0, reason="ownership checks apply to a root hub")
def test_state_directories_must_be_roots(tmp_path: Path) -> None:
    mine = tmp_path / "sessions"
    root_dir(mine, 0o711)  # made now
    root_dir(mine, 0o711)  # and accepted again
    os.chown(mine, 200001, 200001)
    with pytest.raises(UnsafePath, match="must belong to root"):
        root_dir(mine, 0o711)
    os.symlink(tmp_path, tmp_path / "link")
    with pytest.raises(UnsafePath, match="not a symlink"):
        root_dir(tmp_path / "link", 0o711)

"""Two platforms on one machine never hand the same uid to different users."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arcade_hub.local.identity import UidRangeTaken, claim_uid_range


def test_overlapping_ranges_of_two_data_directories_are_refused(tmp_path: Path) -> None:
    claims = tmp_path / "claims.json"
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    claim_uid_range(one, (200000, 299999), claims)
    claim_uid_range(one, (200000, 299999), claims)  # the same platform again: fine
    with pytest.raises(UidRangeTaken) as refused:
        claim_uid_range(two, (250000, 350000), claims)
    message = str(refused.value)
    assert "overlaps 200000..299999" in message and str(one) in message
    claim_uid_range(two, (300000, 399999), claims)  # next to it: fine
    assert json.loads(claims.read_text()) == {
        str(one): [200000, 299999], str(two): [300000, 399999]
    }


def test_claims_of_removed_data_directories_are_dropped(tmp_path: Path) -> None:
    claims = tmp_path / "claims.json"
    gone = tmp_path / "gone"
    gone.mkdir()
    claim_uid_range(gone, (200000, 299999), claims)
    gone.rmdir()
    here = tmp_path / "here"
    here.mkdir()
    claim_uid_range(here, (200000, 299999), claims)
    assert list(json.loads(claims.read_text())) == [str(here)]

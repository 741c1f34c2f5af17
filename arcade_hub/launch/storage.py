"""Where a user's storage lives on the host, and the ARCADE_* environment that points at it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from arcade_hub import contract
from arcade_hub.config import StorageRoots
from arcade_hub.config.storage import expand
from arcade_hub.launch.spec import LaunchSpec

_SAFE = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")


HASH_DIGITS = 16
"""64 bits of SHA-256 in a directory name: finding another name for someone's directory would
take about 2**64 tries."""
LEGACY_HASH_DIGITS = 8
"""Before 0.2: 32 bits, few enough to search for a colliding username."""


def path_name(name: str, digits: int = HASH_DIGITS) -> str:
    """A directory name for a username or group: the name itself when it is plainly safe,
    otherwise a readable slug, `--` and a hash. Plain names never contain `--`, so no two
    names share a directory."""
    if _SAFE.fullmatch(name) and "--" not in name and name not in (".", ".."):
        return name
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "x"
    digest = hashlib.sha256(name.encode()).hexdigest()[:digits]
    return f"{slug}--{digest}"


def legacy_path_name(name: str) -> str:
    """The directory name `name` had before hashes grew to 64 bits (for moving it)."""
    return path_name(name, LEGACY_HASH_DIGITS)


def home_dir(roots: StorageRoots, data_dir: Path, username: str) -> Path:
    return expand(roots.home, data_dir) / path_name(username)


def project_dir(roots: StorageRoots, data_dir: Path, group: str) -> Path:
    return expand(roots.projects, data_dir) / path_name(group)


def scratch_dir(roots: StorageRoots, data_dir: Path, session_id: str) -> Path:
    return expand(roots.scratch, data_dir) / session_id


def session_environment(
    spec: LaunchSpec, *, home: str, projects: str, datasets: str, scratch: str
) -> dict[str, str]:
    """`arcade_environment` for a launch spec, with the paths as the backend lays them out."""
    return contract.arcade_environment(
        home=home,
        projects=projects,
        datasets=datasets,
        scratch=scratch,
        session_id=spec.session_id,
        kind=spec.kind.value,
        image=spec.image,
        cores=spec.cores,
        ram_gib=spec.ram_gib,
        dataset=spec.dataset,
    )

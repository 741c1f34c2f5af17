"""Which CASA version a dataset needs, from what the data itself records.

Where the data says it, in order of trust:
1. an ALMA delivery's pipeline manifest (`*pipeline_manifest.xml`): `<casaversion name=...>`;
2. a MeasurementSet's HISTORY table: CASA tasks (and `arcade-hub datasets demo`) write a row
   `version: 6.7.0-31 ...` each time they change the MS; the last one is the version that
   wrote it last (read with python-casacore, `pip install arcade-hub[casa]`);
3. an ALMA delivery's README: "CASA version 6.5.4-9" and the like.

The parsers (`from_manifest`, `from_history`, `from_readme`) are pure functions of the text;
`detect_casa_version(path)` looks for those files in a dataset directory, reading at most
a bounded amount. `dataset_casa_version` applies the platform document's override.
"""

from __future__ import annotations

import contextlib
import functools
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from arcade_hub.config import Dataset
from arcade_hub.config.casa_versions import normalise

MAX_TEXT = 1 << 20  # bytes read from a README or manifest
MAX_DEPTH = 5  # levels searched below the root (ALMA: science_goal/group/member/qa)
MAX_ENTRIES = 2000  # directory entries looked at, at most

_NUMBER = r"(\d+\.\d+(?:\.\d+)?(?:[.-]\d+)?)"
_HISTORY = re.compile(r"^\s*version:\s*" + _NUMBER)
_README = (
    re.compile(r"CASA\s+version\s*(?:used)?[^0-9\n]{0,40}" + _NUMBER, re.IGNORECASE),
    re.compile(r"\bCASA\s+" + _NUMBER + r"(?![\d.])"),
    re.compile(r"casa-(?:release-|pipeline-release-)?" + _NUMBER, re.IGNORECASE),
)


@dataclass(frozen=True)
class Detected:
    """A CASA version and where it was found (for the form: "recorded in ...")."""

    version: str
    source: str


def from_manifest(text: str) -> str | None:
    """`<casaversion name="6.5.4.9"/>` of an ALMA pipeline manifest."""
    with contextlib.suppress(ET.ParseError):
        root = ET.fromstring(text)
        for element in root.iter():
            if element.tag.rsplit("}", 1)[-1].lower() == "casaversion":
                name = element.get("name") or (element.text or "").strip()
                if re.fullmatch(_NUMBER, name.strip()):
                    return normalise(name.strip())
    return None


def from_history(messages: Iterable[str]) -> str | None:
    """The last `version: X` row of a MeasurementSet's HISTORY (rows are appended in time)."""
    found = None
    for message in messages:
        if m := _HISTORY.match(message):
            found = m.group(1)
    return normalise(found) if found else None


def from_readme(text: str) -> str | None:
    """The CASA version an ALMA delivery's README names (the first such mention)."""
    for pattern in _README:
        if m := pattern.search(text):
            return normalise(m.group(1))
    return None


HistoryReader = Callable[[Path], Sequence[str]]


def read_history(ms: Path) -> Sequence[str]:
    """The MESSAGE column of `ms`/HISTORY, with python-casacore; empty when it is absent or
    the table cannot be read."""
    try:
        from casacore.tables import table  # the `casa` extra
    except ImportError:
        return []
    try:
        with table(str(ms / "HISTORY"), ack=False, readonly=True) as history:
            return [str(m) for m in history.getcol("MESSAGE")] if history.nrows() else []
    except (RuntimeError, OSError):
        return []


def can_read_history() -> bool:
    """Whether MeasurementSets can be read here (python-casacore is installed)."""
    try:
        import casacore.tables  # noqa: F401
    except ImportError:
        return False
    return True


def detect_casa_version(path: Path, history: HistoryReader = read_history) -> Detected | None:
    """The CASA version recorded in the dataset at `path`, or None when nothing says it."""
    manifests, mss, readmes = _candidates(Path(path))
    for manifest in manifests:
        if (version := from_manifest(_read(manifest))) is not None:
            return Detected(version, f"the pipeline manifest {manifest.name}")
    for ms in mss:
        if (version := from_history(history(ms))) is not None:
            return Detected(version, f"the history of {ms.name}")
    for readme in readmes:
        if (version := from_readme(_read(readme))) is not None:
            return Detected(version, f"the {readme.name}")
    return None


def _candidates(root: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """Manifests, MeasurementSets and READMEs under `root`, shallowest first, bounded."""
    manifests: list[Path] = []
    mss: list[Path] = []
    readmes: list[Path] = []
    level, seen = [root], 0
    for _ in range(MAX_DEPTH + 1):
        below = []
        for directory in level:
            with contextlib.suppress(OSError):
                for entry in sorted(directory.iterdir()):
                    seen += 1
                    if seen > MAX_ENTRIES:
                        return manifests, mss, readmes
                    name = entry.name.lower()
                    if entry.is_symlink():
                        continue
                    if entry.is_dir():
                        if (entry / "table.dat").is_file() and (entry / "HISTORY").is_dir():
                            mss.append(entry)
                        elif not name.endswith((".ms", ".image", ".cl")):
                            below.append(entry)
                    elif name.endswith("pipeline_manifest.xml"):
                        manifests.append(entry)
                    elif name.startswith("readme"):
                        readmes.append(entry)
        level = below
    return manifests, mss, readmes


def _read(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(MAX_TEXT).decode("utf-8", errors="replace")
    except OSError:
        return ""


@functools.lru_cache(maxsize=64)
def _detected_at(path: str, changed: int) -> Detected | None:
    """What `detect_casa_version` found at `path`, as long as it has not changed since."""
    return detect_casa_version(Path(path))


def cached_casa_version(path: Path) -> Detected | None:
    """`detect_casa_version` of `path`, read again only when the directory changed (the
    planner asks at every launch with the dataset)."""
    try:
        changed = path.stat().st_mtime_ns
    except OSError:
        return None
    return _detected_at(str(path), changed)


def dataset_casa_version(
    dataset: Dataset, path: Path, history: HistoryReader = read_history
) -> Detected | None:
    """The CASA version dataset `dataset` (whose files are at `path`) needs: the platform
    document's `casa_version` when set, else what the data records when
    `casa_version_from_data` is on, else None."""
    if dataset.casa_version:
        return Detected(dataset.casa_version, "the platform configuration")
    if dataset.casa_version_from_data:
        return detect_casa_version(path, history)
    return None

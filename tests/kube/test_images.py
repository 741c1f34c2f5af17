"""images/*/Dockerfile (not buildable here: no container engine or base images): `ARG
BASE_IMAGE` / `FROM $BASE_IMAGE` chain, root only around installs, a non-root final user, and
`org.arcade-hub.*` labels agreeing with the default catalogue entry of the image."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from arcade_hub.config import load_config
from arcade_hub.images import labels as image_labels

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "images"
DOCS = ROOT / "docs" / "reference" / "images.md"
ENTRY_OF = {  # image folder -> default catalogue entry it builds
    "notebook": "notebook",
    "desktop": "desktop",
    "casa-6.7": "casa-6.7",
    "casa-5.4": "casa-5.4",
    "casa-4.7": "casa-4.7",
    "headless": "batch",
}
ROOT_USERS = {"root", "0", "0:0", "root:root"}


@dataclass
class Dockerfile:
    instructions: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, path: Path) -> Dockerfile:
        text = re.sub(r"\\\n", " ", "\n".join(
            line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")))
        out = cls()
        for line in text.splitlines():
            if line.strip():
                op, _, rest = line.strip().partition(" ")
                out.instructions.append((op.upper(), rest.strip()))
        return out

    def all(self, op: str) -> list[str]:
        return [rest for o, rest in self.instructions if o == op]

    @property
    def labels(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for rest in self.all("LABEL"):
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                found[key] = value
        return found


FOLDERS = sorted(p.name for p in IMAGES.iterdir() if (p / "Dockerfile").exists())


def test_every_image_folder_is_known() -> None:
    assert set(FOLDERS) == {*ENTRY_OF, "hub"}


@pytest.mark.parametrize("folder", FOLDERS)
def test_base_image_chain(folder: str) -> None:
    df = Dockerfile.parse(IMAGES / folder / "Dockerfile")
    first_op, first = df.instructions[0]
    assert first_op == "ARG" and first.startswith("BASE_IMAGE="), "start with ARG BASE_IMAGE="
    assert df.all("FROM") in (["$BASE_IMAGE"], ["${BASE_IMAGE}"]), "one FROM $BASE_IMAGE"


@pytest.mark.parametrize("folder", FOLDERS)
def test_root_only_around_installs_and_ends_non_root(folder: str) -> None:
    df = Dockerfile.parse(IMAGES / folder / "Dockerfile")
    users = df.all("USER")
    assert users and users[-1] not in ROOT_USERS, "must end on a non-root USER"
    as_root = False
    for op, rest in df.instructions:
        if op == "USER":
            as_root = rest in ROOT_USERS
        elif op == "RUN" and as_root:
            assert re.search(r"apt-get|yum|pip install|useradd|chmod|sed -i", rest), (
                f"runs as root for something other than installing: {rest[:80]}")
        elif op in ("CMD", "ENTRYPOINT"):
            assert not as_root, f"{op} while USER is root"


@pytest.mark.parametrize("folder", sorted(ENTRY_OF))
def test_labels_match_the_catalogue(folder: str) -> None:
    entry = load_config().entry(ENTRY_OF[folder])
    labels = Dockerfile.parse(IMAGES / folder / "Dockerfile").labels
    assert image_labels.kind_of(labels) == entry.kind.value
    assert labels[image_labels.TITLE] == entry.title
    assert labels[image_labels.DESCRIPTION] == entry.description
    assert image_labels.versions_of(labels) == entry.versions
    if entry.group:
        assert labels[image_labels.GROUP] == entry.group
    unknown = {k for k in labels if not k.startswith((image_labels.PREFIX,
                                                      "org.opencontainers.image."))}
    assert not unknown, f"labels outside the documented namespaces: {unknown}"


def test_hub_image_installs_arcade_hub_on_z2jh() -> None:
    df = Dockerfile.parse(IMAGES / "hub" / "Dockerfile")
    assert df.instructions[0][1].startswith("BASE_IMAGE=quay.io/jupyterhub/k8s-hub:4.")
    assert any("pip install" in r and "arcade-hub" in r for r in df.all("RUN"))


def test_legacy_casa_says_where_its_tarball_comes_from() -> None:
    for folder, os_name in (("casa-5.4", "centos:7"), ("casa-4.7", "centos:6")):
        text = (IMAGES / folder / "Dockerfile").read_text()
        assert os_name in text and "casa.nrao.edu" in text and "CASA_SHA256" in text


def test_every_image_has_a_docs_section() -> None:
    text = DOCS.read_text()
    for folder in FOLDERS:
        assert f"`images/{folder}/`" in text, f"docs/reference/images.md lacks {folder}"
    assert "org.arcade-hub.kind" in text

"""images/*/Dockerfile, statically: `ARG BASE_IMAGE` / `FROM $BASE_IMAGE` chain whose defaults
are the images `scripts/build-images.sh` builds them on, root only around installs, a non-root
final user, and `org.arcade-hub.*` labels agreeing with the default catalogue entry of the image.
Every casa-<version> image is images/casa built with the build arguments of its recipe
(arcade_hub/casa/recipes.py), on the desktop image of the Debian release the recipe names.
tests/images/test_built_images.py builds the chain and runs the conformance suite on it, and
builds casa-tarball from a local tarball."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from arcade_hub.casa.recipes import BOOKWORM, RECIPES, CasaRecipe, build_args
from arcade_hub.config import load_config
from arcade_hub.images import labels as image_labels

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "images"
DOCS = ROOT / "docs" / "reference" / "images.md"
ENTRY_OF = {  # image folder -> default catalogue entry it builds
    "notebook": "notebook",
    "desktop": "desktop",
    "headless": "batch",
}
ROOT_USERS = {"root", "0", "0:0", "root:root"}
CHAIN = {  # image folder -> the default BASE_IMAGE of its Dockerfile
    "base": "docker.io/library/debian:bookworm-slim",
    "notebook": "base",
    "desktop": "notebook",
    "casa": "desktop",  # casa-<version> of Debian 13 recipes: desktop-trixie (the script's)
    "headless": "base",
    "hub": "quay.io/jupyterhub/k8s-hub:4.4.0",
    "casa-tarball": "desktop",
}


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
    assert set(FOLDERS) == {*ENTRY_OF, "hub", "base", "casa", "casa-tarball"} == set(CHAIN)


def test_base_image_defaults_are_the_built_chain() -> None:
    """Each Dockerfile's default base is the tag the build script gives its parent image."""
    out = subprocess.run([str(ROOT / "scripts" / "build-images.sh"), "--list", "--casa",
                          "--upstream"], capture_output=True, text=True, check=True).stdout
    tags = dict(line.split("\t") for line in out.splitlines())
    for folder, parent in CHAIN.items():
        first = Dockerfile.parse(IMAGES / folder / "Dockerfile").instructions[0][1]
        assert first == f"BASE_IMAGE={tags.get(parent, parent)}", folder


def test_base_sets_the_docker_stacks_conventions() -> None:
    """notebook/desktop/casa-6.7/headless use NB_USER, NB_UID, NB_GID and pip on PATH, as on
    the docker-stacks images: the Arcade base defines them, for user arcade (1000:100)."""
    df = Dockerfile.parse(IMAGES / "base" / "Dockerfile")
    env = " ".join(df.all("ENV"))
    for setting in ("NB_USER=arcade", "NB_UID=1000", "NB_GID=100", "VIRTUAL_ENV=/opt/venv",
                    "PATH=${VIRTUAL_ENV}/bin:${PATH}"):
        assert setting in env, setting
    assert df.all("USER")[-1] == "${NB_UID}"
    assert df.all("ENTRYPOINT") == ['["tini", "-g", "--"]']
    assert "org.arcade-hub.kind" not in df.labels, "the base is not a launchable image"


@pytest.mark.parametrize("folder", FOLDERS)
def test_base_image_chain(folder: str) -> None:
    df = Dockerfile.parse(IMAGES / folder / "Dockerfile")
    first_op, first = df.instructions[0]
    assert first_op == "ARG" and first.startswith("BASE_IMAGE="), "start with ARG BASE_IMAGE="
    assert df.all("FROM") in (["$BASE_IMAGE"], ["${BASE_IMAGE}"]), "one FROM $BASE_IMAGE"


@pytest.mark.parametrize("folder", FOLDERS)
def test_root_only_around_installs_and_ends_non_root(folder: str) -> None:
    """As in docker-stacks: `USER root` only around installs, then back to the user."""
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


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: r.name)
def test_casa_images_are_made_by_their_recipe(recipe: CasaRecipe) -> None:
    """images/casa with a recipe's build arguments: labels that agree with the catalogue entry,
    and the environment from `arcade-hub apps install <name>`. Wheel versions, Python and the
    site configuration live in the recipe only, never in images/ (one copy)."""
    df = Dockerfile.parse(IMAGES / "casa" / "Dockerfile")
    args = build_args(recipe)
    labels = {k: re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], v)
              for k, v in df.labels.items()}  # fmt: skip
    entry = load_config().entry(recipe.name)
    assert labels[image_labels.TITLE] == entry.title
    assert labels[image_labels.DESCRIPTION] == entry.description
    assert image_labels.versions_of(labels) == entry.versions == {"casa": recipe.version}
    assert labels[image_labels.GROUP] == entry.group
    assert image_labels.kind_of(labels) == "desktop-app"
    assert entry.local is not None and entry.local.cmd == [recipe.name]
    assert labels[image_labels.COMMAND] == recipe.name
    assert set(args) == {a.split("=")[0] for a in df.all("ARG")} - {"BASE_IMAGE"}
    [run] = [r for r in df.all("RUN") if "arcade-hub apps install" in r]
    assert 'arcade-hub apps install "${CASA_APP}"' in run
    text = "\n".join(os.listdir(IMAGES / "casa")) + (IMAGES / "casa" / "Dockerfile").read_text()
    assert recipe.build not in text and "measurespath" not in text
    assert sorted(os.listdir(IMAGES / "casa")) == ["Dockerfile"], "no site config copy here"
    out = subprocess.run([str(ROOT / "scripts" / "build-images.sh"), "--list", recipe.name],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    desktop = "desktop" if recipe.os_base == BOOKWORM else f"desktop-{recipe.os_base.codename}"
    assert f"{desktop}\t" in out
    assert f"{recipe.name}\tghcr.io/arcade-hub/casa:{recipe.version}" in out


def test_tarball_casa_checks_the_tarball_it_is_given() -> None:
    """images/casa-tarball: CASA from an operator's own release tarball, in the build context,
    refused unless its SHA-256 matches (tests/images builds it from a local tarball)."""
    df = Dockerfile.parse(IMAGES / "casa-tarball" / "Dockerfile")
    args = {a.split("=")[0] for a in df.all("ARG")}
    assert {"CASA_TARBALL", "CASA_SHA256", "CASA_VERSION"} <= args
    assert "${CASA_TARBALL} /tmp/casa-release.tar" in df.all("COPY")
    [run] = [r for r in df.all("RUN") if "sha256sum -c" in r]
    assert "/tmp/casa-release.tar" in run and "test -x /opt/casa/bin/casa" in run
    assert df.labels["org.arcade-hub.casa-version"] == "${CASA_VERSION}"


def test_every_image_has_a_docs_section() -> None:
    text = DOCS.read_text()
    for folder in FOLDERS:
        assert f"`images/{folder}/`" in text, f"docs/reference/images.md lacks {folder}"
    assert "org.arcade-hub.kind" in text

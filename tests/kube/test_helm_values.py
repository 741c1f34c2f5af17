"""helm-values/: every values file, merged onto the z2jh chart's defaults, validates against the
chart's values schema (ARCADE_Z2JH_DIR, set by scripts/test.sh); the embedded platform document
is valid; the hub config names real traits; derived values match `render-values`."""

from __future__ import annotations

import argparse
import importlib
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from jupyterhub.spawner import Spawner
from traitlets import HasTraits

from arcade_hub.config.models import PlatformConfig
from arcade_hub.kube import render
from arcade_hub.kube.spawner import ArcadeKubeSpawner

ROOT = Path(__file__).resolve().parents[2]
VALUES = ROOT / "helm-values"
OVERLAYS = sorted(p.name for p in VALUES.glob("*.yaml") if p.name != "values.yaml")
MANIFESTS = sorted((VALUES / "manifests").glob("*.yaml"))


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def values_stack(overlay: str | None) -> dict[str, Any]:
    values: dict[str, Any] = load(VALUES / "values.yaml")
    if overlay:
        values = render.deep_merge(values, load(VALUES / overlay))
    return values


@pytest.fixture(scope="module")
def z2jh() -> tuple[dict[str, Any], dict[str, Any]]:
    where = os.environ.get("ARCADE_Z2JH_DIR")
    if not where or not (Path(where) / "values.schema.json").exists():
        pytest.skip("the z2jh chart's values.yaml and values.schema.json are needed: set "
                    "ARCADE_Z2JH_DIR to their folder (scripts/test.sh uses ../shared/z2jh)")
    return load(Path(where) / "values.yaml"), json.loads(
        (Path(where) / "values.schema.json").read_text())


@pytest.mark.parametrize("overlay", [None, *OVERLAYS])
def test_values_validate_against_the_chart_schema(
    z2jh: tuple[dict[str, Any], dict[str, Any]], overlay: str | None
) -> None:
    defaults, schema = z2jh
    merged = render.deep_merge(defaults, values_stack(overlay))
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(merged), key=str)
    assert not errors, "\n".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_rendered_values_validate_against_the_chart_schema(
    z2jh: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    defaults, schema = z2jh
    document = values_stack(None)["hub"]["extraFiles"]["arcade-platform"]["data"]
    for base in (None, values_stack(None)):
        merged = render.deep_merge(defaults, render.render_values(document, base))
        jsonschema.Draft7Validator(schema).validate(merged)


def test_schema_catches_mistakes(z2jh: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """The check has teeth: a misspelt key fails."""
    defaults, schema = z2jh
    bad = render.deep_merge(defaults, {"hub": {"extraFile": {}}})
    assert list(jsonschema.Draft7Validator(schema).iter_errors(bad))


@pytest.mark.parametrize("overlay", [None, *OVERLAYS])
def test_platform_document_is_valid(overlay: str | None) -> None:
    values = values_stack(overlay)
    files = values["hub"]["extraFiles"]["arcade-platform"]
    config = PlatformConfig.model_validate(files["data"])
    assert config.backend.kind == "kubernetes"
    assert files["mountPath"] == values["hub"]["config"]["ArcadeKubeSpawner"][
        "platform_config_file"]
    assert values["hub"]["services"]["arcade"]["environment"]["ARCADE_PLATFORM_CONFIG"] == \
        files["mountPath"]
    assert config.backend.kubernetes.security.pod_security == "restricted"


def config_traits(cls: type[HasTraits]) -> set[str]:
    return set(cls.class_traits(config=True))


def test_hub_config_names_real_traits() -> None:
    config = values_stack(None)["hub"]["config"]
    module, _, name = config["JupyterHub"]["spawner_class"].rpartition(".")
    assert getattr(importlib.import_module(module), name) is ArcadeKubeSpawner
    unknown = set(config["ArcadeKubeSpawner"]) - config_traits(ArcadeKubeSpawner)
    assert not unknown, f"not configurable traits of ArcadeKubeSpawner: {unknown}"
    unknown = set(config["Spawner"]) - config_traits(Spawner)
    assert not unknown, f"not configurable traits of Spawner: {unknown}"


def test_derived_values_match_render_values() -> None:
    """What the file carries is what `arcade-hub render-values` derives from its document."""
    values = values_stack(None)
    document = values["hub"]["extraFiles"]["arcade-platform"]["data"]
    assert render.render_values(document, values) == values


def test_render_values_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = values_stack(None)["hub"]["extraFiles"]["arcade-platform"]["data"]
    document["catalogue"].append({"name": "pinned", "title": "Pinned", "kind": "notebook",
                                  "image": "reg.example.org:5000/nb@sha256:" + "a" * 64})
    document["sessions"] = {"lifetime_hours": 2}
    config = tmp_path / "platform.yaml"
    config.write_text(yaml.safe_dump(document))
    parser = argparse.ArgumentParser()
    render.add_parser(parser.add_subparsers(dest="command"))
    assert render.run(parser.parse_args(["render-values", "--config", str(config)])) == 0
    out = yaml.safe_load(capsys.readouterr().out)
    assert out["hub"]["extraFiles"]["arcade-platform"]["data"] == document
    assert out["hub"]["config"]["JupyterHub"]["spawner_class"] == render.SPAWNER
    images = out["prePuller"]["extraImages"]
    assert images["pinned"] == {"name": "reg.example.org:5000/nb", "tag": "sha256:" + "a" * 64}
    assert images["casa-6-7"] == {"name": "ghcr.io/arcade-hub/casa", "tag": "6.7"}
    assert "xterm" not in images  # same image as the desktop: pulled once
    assert out["cull"]["maxAge"] == 7200
    args = ["render-values", "--config", str(config), "--base", str(VALUES / "values.yaml")]
    assert render.run(parser.parse_args(args)) == 0
    based = yaml.safe_load(capsys.readouterr().out)
    assert based["hub"]["services"]["arcade"]["url"] == "http://hub:10101"


def test_render_values_reports_bad_documents(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "platform.yaml"
    config.write_text("catalogue: []\n")
    args = argparse.Namespace(config=str(config), base=None)
    assert render.run(args) == 1
    assert "not a valid Arcade Hub configuration" in capsys.readouterr().err


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifests_are_valid_kubernetes(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs
    for doc in docs:
        for version in ("1.29", "1.34"):
            kubernetes_validate.validate(doc, version, strict=True)

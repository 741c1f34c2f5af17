"""Pure CASA functions: version matching and the nearest version, what to preselect for a
dataset (and what to say), the version recorded in ALMA deliveries' text files, the default
kernel, and the recipes agreeing with the default catalogue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arcade_hub.apps.registry import APPS
from arcade_hub.casa import detect, kernels, recipes
from arcade_hub.config import load_config
from arcade_hub.config.casa_versions import Candidate, choose, nearest, normalise, parse, satisfies

HERE = ["6.6.5", "6.7.0", "6.7.6"]


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ("6.7.0.31", "6.7.0"),  # what CASA reports: the entry with its release
        ("6.7.0-31", "6.7.0"),
        ("6.7", "6.7.6"),  # any 6.7: the newest
        ("6.7.3", "6.7.6"),  # none: the nearest newer in the series
        ("6.7.9", "6.7.6"),  # none newer in the series: the newest older in it
        ("6.5.4-9", "6.6.5"),  # an older series: the nearest newer
        ("6.8", "6.7.6"),  # a newer series: the newest older
        ("5.4.1", "6.6.5"),
    ],
)
def test_nearest_version(wanted: str, expected: str) -> None:
    assert nearest(wanted, HERE) == expected
    assert nearest(wanted, []) is None


def test_versions_parse_and_satisfy() -> None:
    assert parse("6.5.4-9") == (6, 5, 4, 9) and normalise("6.5.4-9") == "6.5.4.9"
    assert satisfies("6.7.0", "6.7") and satisfies("6.7.0", "6.7.0.31")
    assert not satisfies("6.7.6", "6.7.0") and not satisfies("6.6.5", "6.7")
    for bad in ("", "6.x", "latest", "6..7"):
        with pytest.raises(ValueError, match="not a CASA version"):
            parse(bad)


def test_choose_preselects_the_version_or_says_which_instead() -> None:
    entries = [
        Candidate("casa-6.6.5", "CASA 6.6.5", "6.6.5"),
        Candidate("casa-6.7.0", "CASA 6.7.0", "6.7.0", "run `arcade-hub apps install casa-6.7.0`"),
        Candidate("casa-6.7.6", "CASA 6.7.6", "6.7.6"),
    ]
    exact = choose("6.6.5.31", entries)
    assert (exact.selected, exact.exact, exact.note) == ("casa-6.6.5", True, "")
    near = choose("6.7.0.31", entries, "recorded in the data")
    assert (near.selected, near.exact) == ("casa-6.7.6", False)
    assert near.note == (
        "This dataset needs CASA 6.7.0.31 (recorded in the data); CASA 6.7.0 cannot run here: "
        "run `arcade-hub apps install casa-6.7.0`. The nearest that can is CASA 6.7.6."
    )
    unknown = choose("5.4", entries)
    assert unknown.selected == "casa-6.6.5"
    assert "this platform has no such version" in unknown.note
    nothing = choose("6.7", [Candidate("casa-6.7.0", "CASA 6.7.0", "6.7.0", "not installed")])
    assert nothing.selected is None and nothing.note.endswith("No CASA can run here.")


README = """
            ALMA Cycle 10 data delivery
  This delivery was calibrated and imaged by the ALMA Science Pipeline.
  Pipeline version 2023.1.0.124 running on CASA version 6.5.4-9.
"""
MANIFEST = """<?xml version="1.0" ?>
<piperesults name="uid___A001_X3621_X1b5f">
  <casaversion name="6.5.4.9"/>
  <pipeline_version name="2023.1.0.124"/>
</piperesults>
"""


def test_versions_in_alma_delivery_files() -> None:
    assert detect.from_readme(README) == "6.5.4.9"
    assert detect.from_readme("Reduced with CASA 5.6.1 by hand.") == "5.6.1"
    assert detect.from_readme("casa-release-5.4.1-31.el7 was used") == "5.4.1.31"
    assert detect.from_readme("no version here, CASA is great") is None
    assert detect.from_manifest(MANIFEST) == "6.5.4.9"
    assert detect.from_manifest("<not xml") is None
    assert detect.from_manifest("<a><casaversion name='junk'/></a>") is None
    history = ["taskname=importasdm", "version: 6.5.4-9 CASA", "asdm = 'x'",
               "taskname=tclean", "version: 6.6.1-17 CASAtools:v1.0.0"]  # fmt: skip
    assert detect.from_history(history) == "6.6.1.17", "the last writer counts"
    assert detect.from_history(["nothing"]) is None


def test_detect_in_a_delivery_tree_prefers_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "README").write_text(README.replace("6.5.4-9", "6.4.1-12"))
    deep = tmp_path / "science_goal.uid" / "group.uid" / "member.uid" / "qa"
    deep.mkdir(parents=True)
    assert detect.detect_casa_version(tmp_path, history=lambda ms: []) == detect.Detected(
        "6.4.1.12", "the README")
    (deep / "member.uid.pipeline_manifest.xml").write_text(MANIFEST)
    found = detect.detect_casa_version(tmp_path, history=lambda ms: [])
    source = "the pipeline manifest member.uid.pipeline_manifest.xml"
    assert found == detect.Detected("6.5.4.9", source)
    (tmp_path / "README").unlink()
    (deep / "member.uid.pipeline_manifest.xml").unlink()
    assert detect.detect_casa_version(tmp_path, history=lambda ms: []) is None
    assert detect.detect_casa_version(tmp_path / "absent") is None


def test_the_document_overrides_what_the_data_says(tmp_path: Path) -> None:
    (tmp_path / "README.txt").write_text(README)
    demo = load_config().dataset("alma-demo")
    found = detect.dataset_casa_version(demo, tmp_path)
    assert found == detect.Detected("6.5.4.9", "the README.txt")
    pinned = demo.model_copy(update={"casa_version": "6.7.0"})
    assert detect.dataset_casa_version(pinned, tmp_path) == detect.Detected(
        "6.7.0", "the platform configuration")
    off = demo.model_copy(update={"casa_version_from_data": False})
    assert detect.dataset_casa_version(off, tmp_path) is None


def test_default_kernel_follows_the_dataset(tmp_path: Path) -> None:
    for name, version in (("casa-6.6.5", "6.6.5"), ("casa-6.7.0", "6.7.0"), ("other", "")):
        spec = kernels.kernel_spec(title=f"CASA {version}", python=Path("/x/bin/python"),
                                   site_config=Path("/x/etc/s.py"), casa_version=version,
                                   app=name)  # fmt: skip
        (tmp_path / name).mkdir()
        (tmp_path / name / "kernel.json").write_text(json.dumps(spec))
    (tmp_path / "python3").mkdir()
    (tmp_path / "python3" / "kernel.json").write_text('{"argv": [], "display_name": "Python 3"}')
    found = kernels.installed_kernels([tmp_path])
    assert [k.name for k in found] == ["casa-6.6.5", "casa-6.7.0"]
    assert kernels.default_kernel("6.7.0.31", found) == "casa-6.7.0"
    assert kernels.default_kernel("6.7.6", found) == "casa-6.7.0"  # the nearest there is
    assert kernels.default_kernel(None, found) is None
    assert kernels.default_kernel("6.7", []) is None
    assert kernels.singleuser_args("casa-6.7.0") == [
        "--MappingKernelManager.default_kernel_name=casa-6.7.0"]
    assert kernels.singleuser_args(None) == []


def test_every_recipe_is_an_app_and_a_catalogue_entry() -> None:
    config = load_config()
    assert [a.name for a in APPS] == [r.name for r in recipes.RECIPES]
    for r in recipes.RECIPES:
        app = next(a for a in APPS if a.name == r.name)
        assert app.requirements[:2] == (f"casatools=={r.build}", f"casatasks=={r.build}")
        assert "ipykernel" in app.requirements and app.kernel
        assert r.python in r.pythons, "the OS base's Python has wheels"
        entry = config.entry(r.name)
        assert entry.versions == {"casa": r.version} and entry.image.endswith(f"casa:{r.version}")
        assert entry.local is not None and entry.local.requires == [r.name]
        assert f"arcade-hub apps install {r.name}" in entry.local.missing_hint

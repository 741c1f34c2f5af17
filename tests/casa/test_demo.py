"""`arcade-hub datasets demo`: a simulated ALMA MeasurementSet made by each installed CASA,
small and quick, whose HISTORY says which CASA wrote it; the version is read back from the
data (and the platform document can override it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from arcade_hub.apps.demo import DemoError, make_demo
from arcade_hub.casa.detect import dataset_casa_version, detect_casa_version, read_history
from arcade_hub.casa.recipes import CasaRecipe
from arcade_hub.config import load_config

from .conftest import RECIPE_PARAMS, CasaCache


@pytest.mark.parametrize("recipe", RECIPE_PARAMS)
def test_each_version_writes_a_small_ms_that_records_it(
    casa_cache: CasaCache, recipe: CasaRecipe, tmp_path: Path
) -> None:
    casa_cache.get(recipe.name)
    dest = tmp_path / "alma-demo"
    demo = make_demo(dest, recipe.name, casa_cache.root / "apps")
    print(f"{recipe.name}: demo dataset in {demo.seconds:.1f} s, {demo.bytes / 1e6:.2f} MB")
    assert demo.bytes < 5e6, "a few MB at most"
    assert sorted(p.name for p in dest.iterdir()) == [
        "README.txt", "alma-demo.ms", "reduce.py", "sky-model.cl", "sky-model.json"]  # fmt: skip
    assert all(oct(p.stat().st_mode & 0o777) in ("0o755", "0o644") for p in dest.rglob("*"))
    history = read_history(dest / "alma-demo.ms")
    assert f"version: {recipe.build.rsplit('.', 1)[0]}-{recipe.build.rsplit('.', 1)[1]}" in (
        " ".join(history))
    found = detect_casa_version(dest)
    assert found is not None and found.version == recipe.build
    assert found.source == "the history of alma-demo.ms"
    model = json.loads((dest / "sky-model.json").read_text())
    assert model["antennas"] == 16 and model["channels"] == 4
    assert model["configuration"].startswith("alma/simmos/alma.cycle")
    assert model["casa_version"].replace("-", ".") == recipe.build


def test_the_cli_makes_the_default_documents_demo_and_reads_its_version(
    casa_cache: CasaCache, tmp_path: Path
) -> None:
    newest = max(casa_cache.installed)
    data_dir = tmp_path / "data"
    placeholder = data_dir / "datasets" / "alma-demo"
    placeholder.mkdir(parents=True)
    (placeholder / "README.txt").write_text("what `arcade-hub run` leaves\n")
    base = [sys.executable, "-m", "arcade_hub", "datasets"]
    apps = str(casa_cache.root / "apps")
    demo_cmd = [*base, "demo", "--data-dir", str(data_dir), "--prefix", apps]
    made = subprocess.run(demo_cmd, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert f"written by CASA {newest[5:]}" in made.stderr
    assert (placeholder / "alma-demo.ms" / "HISTORY").is_dir()
    again = subprocess.run(demo_cmd, capture_output=True, text=True)
    assert again.returncode == 1 and "exists; pass --force" in again.stderr
    shown = subprocess.run([*base, "casa-version", "--data-dir", str(data_dir)],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    build = casa_cache.installed[newest].recipe.build
    assert f"alma-demo: CASA {build} (the history of alma-demo.ms)" in shown

    demo = load_config().dataset("alma-demo")
    assert dataset_casa_version(demo, placeholder).version == build  # type: ignore[union-attr]
    pinned = demo.model_copy(update={"casa_version": "6.6.5"})  # the document overrides it
    assert dataset_casa_version(pinned, placeholder).version == "6.6.5"  # type: ignore[union-attr]


def test_without_casa_the_demo_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(DemoError, match=r"no CASA environment is installed; run e\.g\. "):
        make_demo(tmp_path / "demo", prefix=tmp_path / "no-apps")
    with pytest.raises(DemoError, match=r"casa-6\.7\.0 is not installed; run `arcade-hub apps"):
        make_demo(tmp_path / "demo", "casa-6.7.0", prefix=tmp_path / "no-apps")
    assert not (tmp_path / "demo").exists() and os.listdir(tmp_path) == []

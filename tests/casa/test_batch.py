"""A batch job through the real skaha API of a real embedded hub images the ALMA demo dataset
with an installed CASA environment (tclean -> exportfits into the user's home), for every CASA
version installed here; the FITS image has its peak at the simulated point source and its
flux within 10% of the simulated 1 Jy."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import pytest
import yaml

from arcade_hub.apps.demo import make_demo
from arcade_hub.casa.recipes import CasaRecipe
from tests.casa_image import measure
from tests.hub import PLATFORM, RunningHub, running_hub, shared_tmp
from tests.service.conftest import FINAL, Api

from .conftest import RECIPE_PARAMS, CasaCache

DEMO = {
    "id": "alma-demo",
    "title": "ALMA demo (simulated)",
    "path": "{data_dir}/datasets/alma-demo",
    "casa_version_from_data": True,
}


@pytest.fixture(scope="module")
def hub(casa_cache: CasaCache) -> Iterator[RunningHub]:
    """The tests' platform plus the demo dataset, made by the newest CASA installed here."""
    tmp = shared_tmp()
    try:
        datasets = tmp / "data" / "datasets"
        make_demo(datasets / "alma-demo", prefix=casa_cache.root / "apps")
        for path in (tmp / "data", datasets):
            path.chmod(0o755)
        document = yaml.safe_load(PLATFORM.read_text())
        document["datasets"].append(DEMO)
        config = tmp / "platform.yaml"
        config.write_text(yaml.safe_dump(document))
        with running_hub(tmp, config=config) as h:
            yield h
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.parametrize("recipe", RECIPE_PARAMS)
def test_a_batch_job_images_the_demo_into_the_home(
    hub: RunningHub, casa_cache: CasaCache, recipe: CasaRecipe
) -> None:
    casa = casa_cache.get(recipe.name)
    alice = Api(hub, "alice")
    dataset = hub.data_dir / "datasets" / "alma-demo"
    out = hub.data_dir / "home" / "alice" / f"images-{recipe.version}"
    started = time.monotonic()
    job = alice.create(
        name=f"image-{recipe.version.replace('.', '-')}",
        image="batch",
        type="headless",
        dataset="alma-demo",
        cmd=str(casa.link),
        args=f"--python {dataset}/reduce.py {out}",
    )
    done = alice.wait_status(job, FINAL, timeout=600)
    seconds = time.monotonic() - started
    log = alice.request("GET", f"session/{job}", params={"view": "logs"}).text
    assert done["status"] == "Succeeded", log[-3000:]
    assert f"wrote {out}/alma-demo.fits" in log
    image = measure(out / "alma-demo.fits", dataset / "sky-model.json")
    print(f"{recipe.name}: batch job {seconds:.1f} s; peak {image.peak_jy_per_beam:.4f} Jy/beam "
          f"({image.flux_error:.1%} off), {image.offset_arcsec:.2f}\" from the source")  # fmt: skip
    assert image.offset_arcsec <= image.pixel_arcsec, "the peak is on the simulated source"
    assert image.flux_error < 0.10
    assert (out / "alma-demo.fits").stat().st_uid == (hub.data_dir / "home" / "alice").stat().st_uid
    alice.request("DELETE", f"session/{job}")

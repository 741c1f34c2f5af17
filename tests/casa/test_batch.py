"""A batch job through the real skaha API of a real embedded hub images the ALMA demo dataset
with an installed CASA environment (tclean -> exportfits into the user's home), for every CASA
version installed here; the FITS image has its peak at the simulated point source and its
flux within 10% of the simulated 1 Jy."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from arcade_hub.apps.demo import make_demo
from arcade_hub.casa.recipes import RECIPES, CasaRecipe
from arcade_hub.config.casa_versions import normalise, satisfies
from tests.casa_image import measure
from tests.hub import PLATFORM, RunningHub, env_of, running_hub, shared_tmp
from tests.service.conftest import FINAL, Api

from .conftest import RECIPE_PARAMS, Casa, CasaCache

DEMO = {
    "id": "alma-demo",
    "title": "ALMA demo (simulated)",
    "path": "{data_dir}/datasets/alma-demo",
    "casa_version_from_data": True,
}


def batch_entry(casa: Casa) -> dict[str, object]:
    """A CASA batch entry as the default catalogue has, running the cached environment."""
    v = casa.recipe.version
    return {
        "name": f"{casa.name}-batch", "title": f"CASA {v} (batch)", "kind": "headless",
        "image": f"ghcr.io/arcade-hub/casa:{v}", "versions": {"casa": v},
        "local": {"cmd": [str(casa.link), "--python"], "requires": [str(casa.link)]},
    }  # fmt: skip


@pytest.fixture(scope="module")
def hub(casa_cache: CasaCache) -> Iterator[RunningHub]:
    """The tests' platform plus the demo dataset, made by the newest CASA installed here, and
    a batch entry per CASA installed; the hub finds the CASA kernels (JUPYTER_PATH)."""
    tmp = shared_tmp()
    try:
        datasets = tmp / "data" / "datasets"
        make_demo(datasets / "alma-demo", prefix=casa_cache.root / "apps")
        for path in (tmp / "data", datasets):
            path.chmod(0o755)
        document = yaml.safe_load(PLATFORM.read_text())
        document["datasets"].append(DEMO)
        document["catalogue"] += [batch_entry(c) for c in casa_cache.installed.values()]
        config = tmp / "platform.yaml"
        config.write_text(yaml.safe_dump(document))
        env = {"JUPYTER_PATH": str(casa_cache.root)}
        with running_hub(tmp, config=config, extra_env=env) as h:
            yield h
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def demo_version(hub: RunningHub) -> str:
    """The CASA version that wrote the demo (recorded in it), as the platform writes it."""
    truth = json.loads((hub.data_dir / "datasets" / "alma-demo" / "sky-model.json").read_text())
    return normalise(str(truth["casa_version"]))


@pytest.mark.parametrize("recipe", RECIPE_PARAMS)
def test_a_batch_job_in_the_datasets_casa_images_the_demo_into_the_home(
    hub: RunningHub, casa_cache: CasaCache, recipe: CasaRecipe
) -> None:
    """The CASA batch entry that serves the dataset's version images it; another version's
    entry is refused, naming the one to choose."""
    casa_cache.get(recipe.name)
    alice = Api(hub, "alice")
    dataset = hub.data_dir / "datasets" / "alma-demo"
    out = hub.data_dir / "home" / "alice" / f"images-{recipe.version}"
    fields = {"name": f"image-{recipe.version.replace('.', '-')}", "image": f"{recipe.name}-batch",
              "type": "headless", "dataset": "alma-demo", "cmd": f"{dataset}/reduce.py",
              "args": str(out)}  # fmt: skip
    if not satisfies(recipe.version, demo_version(hub)):
        r = alice.request("POST", "session", params=fields)
        assert r.status_code == 400, r.text
        assert f"needs CASA {demo_version(hub)}, but CASA {recipe.version} (batch)" in r.text
        return
    started = time.monotonic()
    job = alice.create(**fields)
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


def test_a_session_with_the_dataset_opens_notebooks_in_its_casa_kernel(hub: RunningHub) -> None:
    hub.api("POST", "/users/alice")
    r = hub.api("POST", "/users/alice/servers/casa-nb",
                json={"image": "notebook", "dataset": "alma-demo"})  # fmt: skip
    assert r.status_code in (201, 202), r.text
    hub.wait_ready("alice", "casa-nb")
    try:
        env = env_of(hub, "alice", "casa-nb")
        cmdline = Path(f"/proc/{env['_pid']}/cmdline").read_bytes().split(b"\0")
        wanted = demo_version(hub)
        kernel = next(n for n in (f"casa-{r.version}" for r in RECIPES)
                      if satisfies(n.removeprefix("casa-"), wanted))  # fmt: skip
        assert f"--MappingKernelManager.default_kernel_name={kernel}".encode() in cmdline
    finally:
        hub.stop_server("alice", "casa-nb")

"""The CASA images, built by scripts/build-images.sh (see test_built_images.py, which also runs
the conformance suite on each): every recipe's CASA starts offline under another uid with an
empty home, its Jupyter kernel runs that version, and it images the ALMA demo dataset
headless (simulate with casatools, then reduce.py: tclean -> exportfits) with the peak at the
simulated source and the flux within 10%. casa-6.7.6 is the only check of the Debian 13
recipe on a Debian 12 machine. Also: images/casa-tarball builds from a local tarball and
refuses one whose checksum differs.
ARCADE_TEST_CASA=0 leaves all of it out (the images are not built then)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from arcade_hub.apps.demo import REDUCE, SIMULATE, script
from arcade_hub.casa.recipes import RECIPES, CasaRecipe
from arcade_hub.images.conformance.podman import Podman
from tests.casa_image import measure

from .built_images import ROOT, BuiltChain, build_casa
from .test_built_images import conformance_cli

pytestmark = pytest.mark.skipif(not build_casa(), reason="ARCADE_TEST_CASA=0: no CASA images")
RECIPE_PARAMS = [pytest.param(r, id=r.name) for r in RECIPES]
PROBE = (
    "import casatools, casatasks, sys; print(casatools.version_string(), sys.version_info[:2]); "
    "print(casatools.ctsys.measurespath())"
)
KERNEL_PROBE = """
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name={name!r}, startup_timeout=120)
out = []
reply = kc.execute_interactive(
    "import casatools; print('.'.join(map(str, casatools.version())))", timeout=120,
    output_hook=lambda m: out.append(m["content"].get("text", "")))
kc.stop_channels(); km.shutdown_kernel(now=True)
print(reply["content"]["status"], "".join(out).strip())
"""


def run_as_other_uid(chain: BuiltChain, image: str, home: Path, *argv: str) -> str:
    """Run in the image as uid 54321 with `home` (empty, writable) mounted as the home, as a
    session does; no network."""
    home.chmod(0o777)
    done = chain.podman.call(
        ["run", "--rm", "--network", "none", "--user", "54321:100", "-e", "HOME=/home/arcade",
         "-e", "ARCADE_HOME=/home/arcade", "-v", f"{home}:/home/arcade:rw", "-w", "/home/arcade",
         chain.refs[image], *argv],
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, f"{image}: {argv} -> {done.returncode}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.parametrize("recipe", RECIPE_PARAMS)
def test_casa_opens_offline_with_the_image_measures(
    chain: BuiltChain, recipe: CasaRecipe, tmp_path: Path
) -> None:
    out = run_as_other_uid(chain, recipe.name, tmp_path, "casa", "--python", "-c", PROBE)
    version, measures = out.strip().splitlines()[-2:]
    assert version.startswith(recipe.build.rsplit(".", 1)[0] + "-")
    assert version.endswith(str(tuple(int(x) for x in recipe.python.split("."))))
    assert measures == (f"/opt/arcade-hub/apps/{recipe.name}/lib/python{recipe.python}"
                        "/site-packages/casadata/__data__")  # fmt: skip
    assert not (tmp_path / ".casa").exists(), "nothing downloaded into the home"


@pytest.mark.parametrize("recipe", RECIPE_PARAMS)
def test_the_images_jupyter_lists_and_runs_the_casa_kernel(
    chain: BuiltChain, recipe: CasaRecipe, tmp_path: Path
) -> None:
    listed = run_as_other_uid(chain, recipe.name, tmp_path, "jupyter", "kernelspec", "list")
    assert f"/opt/venv/share/jupyter/kernels/{recipe.name}" in listed
    out = run_as_other_uid(chain, recipe.name, tmp_path, "python3", "-c",
                           KERNEL_PROBE.format(name=recipe.name))  # fmt: skip
    assert out.strip().splitlines()[-1] == f"ok {recipe.build}"


@pytest.mark.parametrize("recipe", RECIPE_PARAMS)
def test_the_image_reduces_the_demo_dataset_headless(
    chain: BuiltChain, recipe: CasaRecipe, tmp_path: Path
) -> None:
    """What a batch job of the image runs: `casa --python reduce.py OUT`."""
    home = tmp_path / "home"
    home.mkdir()
    (home / SIMULATE).write_text(script(SIMULATE))
    started = time.monotonic()
    run_as_other_uid(chain, recipe.name, home, "casa", "--python", SIMULATE, "demo")
    made = time.monotonic()
    (home / "demo" / "reduce.py").write_text(script(REDUCE))
    out = run_as_other_uid(chain, recipe.name, home, "casa", "--python", "demo/reduce.py", "out")
    done = time.monotonic()
    assert "wrote /home/arcade/out/alma-demo.fits" in out
    image = measure(home / "out" / "alma-demo.fits", home / "demo" / "sky-model.json")
    print(f"{recipe.name} image: demo {made - started:.1f} s, imaging {done - made:.1f} s; peak "
          f"{image.peak_jy_per_beam:.4f} Jy/beam ({image.flux_error:.1%} off), "
          f"{image.offset_arcsec:.2f}\" from the source")  # fmt: skip
    assert image.offset_arcsec <= image.pixel_arcsec
    assert image.flux_error < 0.10


def test_casa_tarball_builds_from_a_local_tarball(
    chain: BuiltChain, podman: Podman, registry: object, tmp_path: Path
) -> None:
    """An operator's own release tarball in the build context, checked against its SHA-256;
    the image passes the conformance suite as a desktop-app with that CASA version."""
    context = tmp_path / "context"
    shutil.copytree(ROOT / "images" / "casa-tarball", context)
    release = tmp_path / "casa-9.1.2-7-site"
    (release / "bin").mkdir(parents=True)
    (release / "bin" / "casa").write_text('#!/bin/sh\necho "site CASA 9.1.2-7: $*"\n')
    (release / "bin" / "casa").chmod(0o755)
    tarball = context / "casa-9.1.2-7-site.tar.xz"
    with tarfile.open(tarball, "w:xz") as tar:
        tar.add(release, arcname=release.name)
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    tag = "localhost/arcade-test/casa:9.1.2"

    def build(sha256: str) -> subprocess.CompletedProcess[str]:
        return chain.podman.call(
            ["build", "--network", "host", "--pull=never", "-t", tag,  # apt, as build-images.sh
             "--build-arg", f"BASE_IMAGE={chain.refs['desktop']}",
             "--build-arg", f"CASA_TARBALL={tarball.name}", "--build-arg", f"CASA_SHA256={sha256}",
             "--build-arg", "CASA_VERSION=9.1.2", str(context)],
            timeout=600,
        )  # fmt: skip

    refused = build("0" * 64)
    assert refused.returncode != 0 and "FAILED" in refused.stdout + refused.stderr
    built = build(digest)
    assert built.returncode == 0, built.stderr[-3000:]
    try:
        info = chain.podman.inspect_image(tag)
        assert info.labels["org.arcade-hub.casa-version"] == "9.1.2"
        assert info.labels["org.arcade-hub.title"] == "CASA 9.1.2"
        out = chain.podman.call(["run", "--rm", "--network", "none", "--user", "54321:100", tag,
                                 "casa-launch", "-c", "x.py"], timeout=120)  # fmt: skip
        assert out.stdout.strip() == "site CASA 9.1.2-7: --nologger --log2term -c x.py"
        pushed = f"{registry.host}/arcade-test/casa:9.1.2"  # type: ignore[attr-defined]
        assert chain.podman.call(["push", "-q", "--tls-verify=false", tag,
                                  f"docker://{pushed}"], timeout=300).returncode == 0  # fmt: skip
        status, report, stderr = conformance_cli(pushed, podman)
        assert status == 0 and report["ok"], f"{report['checks']}\n{stderr}"
        assert report["kind"] == "desktop-app"
    finally:
        chain.podman.call(["rmi", "-f", tag], timeout=120)

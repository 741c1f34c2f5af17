"""CASA batch imaging, per version: the ALMA demo dataset made and imaged (reduce.py: tclean ->
exportfits), for every CASA environment installed on this machine and, with --images, every
CASA image built by scripts/build-images.sh (which covers casa-6.7.6, Debian 13, on a Debian 12
machine). The baseline in the same run is CASA's own start (`casa --python -c "import
casatasks"`): imaging minus start is what tclean and exportfits cost.

    python benchmarks/casa.py [--rounds 3] [--prefix DIR] [--images]   prints one JSON document

Not measured yet: menu click -> CASA window on the desktop (it needs the desktop's Chromium
harness of benchmarks/desktop.py and the form/menu wiring of the launch planner).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arcade_hub.apps.demo import REDUCE, SIMULATE, casa_apps, make_demo, script
from arcade_hub.apps.layout import layout
from arcade_hub.apps.registry import get_app
from arcade_hub.casa.recipes import RECIPES
from tests.casa_image import measure

START = ["-c", "import casatasks"]
CACHE = Path(os.environ.get("ARCADE_CASA_CACHE") or "/var/tmp/arcade-casa-cache")
IMAGES = Path(os.environ.get("ARCADE_IMAGES_CACHE") or "/var/tmp/arcade-images")


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    started = time.monotonic()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return time.monotonic() - started


def summary(samples: list[float]) -> dict[str, Any]:
    return {
        "median_s": round(statistics.median(samples), 2),
        "samples_s": [round(s, 2) for s in samples],
    }


def image_figures(out: Path, demo: Path) -> dict[str, float]:
    image = measure(out / "alma-demo.fits", demo / "sky-model.json")
    return {"peak_jy_per_beam": round(image.peak_jy_per_beam, 4),
            "flux_error": round(image.flux_error, 4),
            "position_error_arcsec": round(image.offset_arcsec, 3),
            "pixel_arcsec": round(image.pixel_arcsec, 3)}  # fmt: skip


def installed(prefix: Path, rounds: int, work: Path) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for app in casa_apps(prefix):
        wrapper = str(layout(get_app(app.name), app.env.parent).wrapper)
        print(f"{app.name}: installed environment", file=sys.stderr)
        starts, images, demos = [], [], []
        figures: dict[str, float] = {}
        demo = work / app.name / "alma-demo"
        for n in range(rounds):
            shutil.rmtree(work / app.name, ignore_errors=True)
            made = make_demo(demo, app.name, prefix, out=open(os.devnull, "w"))  # noqa: SIM115
            demos.append(made.seconds)
            starts.append(timed([wrapper, "--python", *START], work))
            out = work / app.name / f"out-{n}"
            images.append(timed([wrapper, "--python", str(demo / "reduce.py"), str(out)], work))
            figures = image_figures(out, demo)
        rows[app.name] = {"where": "embedded (apps install)", "demo_dataset": summary(demos),
                          "demo_dataset_bytes": made.bytes, "casa_start": summary(starts),
                          "batch_imaging": summary(images), **figures}  # fmt: skip
    return rows


def in_images(rounds: int, work: Path) -> dict[str, Any]:
    root = os.environ.get("ARCADE_PODMAN_ROOT", str(IMAGES / "storage"))
    runroot = os.environ.get("ARCADE_PODMAN_RUNROOT", str(IMAGES / "runroot"))
    podman = ["podman", "--root", root, "--runroot", runroot]
    if runtime := os.environ.get("ARCADE_PODMAN_RUNTIME", "runc" if shutil.which("runc") else ""):
        podman += ["--runtime", runtime]
    env = dict(os.environ)
    if "CONTAINERS_CONF" not in env:  # podman's default ulimits cannot be raised in a sandbox
        conf = work / "containers.conf"
        limits = '"nofile=1024:1024", "nproc=32768:32768"'
        conf.write_text(f"[containers]\ndefault_ulimits = [{limits}]\n")
        env["CONTAINERS_CONF"] = str(conf)
    rows: dict[str, Any] = {}
    for recipe in RECIPES:
        ref = f"ghcr.io/arcade-hub/casa:{recipe.version}"
        if subprocess.run([*podman, "image", "exists", ref], env=env).returncode != 0:
            continue
        print(f"{recipe.name}: image {ref}", file=sys.stderr)
        home = work / f"image-{recipe.name}"
        home.mkdir(mode=0o777)
        home.chmod(0o777)
        (home / SIMULATE).write_text(script(SIMULATE))
        run = [*podman, "run", "--rm", "--network", "none", "--user", "54321:100",
               "-e", "HOME=/home/arcade", "-v", f"{home}:/home/arcade:rw", "-w", "/home/arcade",
               ref, "casa", "--python"]  # fmt: skip
        starts, images, demos = [], [], []
        figures: dict[str, float] = {}
        for n in range(rounds):
            shutil.rmtree(home / "demo", ignore_errors=True)
            demos.append(timed([*run, SIMULATE, "demo"], work, env))
            (home / "demo" / "reduce.py").write_text(script(REDUCE))
            starts.append(timed([*run, *START], work, env))
            images.append(timed([*run, "demo/reduce.py", f"out-{n}"], work, env))
            figures = image_figures(home / f"out-{n}", home / "demo")
        rows[recipe.name] = {"where": f"image {ref} (podman run)", "demo_dataset": summary(demos),
                             "casa_start": summary(starts), "batch_imaging": summary(images),
                             **figures}  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prefix", type=Path, default=CACHE / "apps",
                        help="where CASA environments are installed (default: the tests' cache)")
    parser.add_argument("--images", action="store_true", help="also the built CASA images")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="arcade-bench-casa-", dir="/tmp"))
    work.chmod(0o755)
    try:
        result: dict[str, Any] = {
            "rounds": args.rounds,
            "embedded": installed(args.prefix, args.rounds, work),
            "images": in_images(args.rounds, work) if args.images else {},
            "menu_click_to_window": None,
            "not_measured": "menu click -> CASA window needs the desktop harness and the "
            "launch planner's menu wiring (issue 12); batch imaging only",
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

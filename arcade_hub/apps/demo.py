"""`arcade-hub datasets demo`: a small simulated ALMA dataset, made by CASA itself.

The dataset directory holds
    alma-demo.ms/     a MeasurementSet simulated with casatools (ALMA 12 m configuration, a
                      point source at the phase centre and an extended Gaussian, 4 channels at
                      230 GHz, noise); its HISTORY records the CASA version that wrote it
    reduce.py         the reduction: tclean -> exportfits into ~/alma-demo-images
    sky-model.json    what was simulated (positions, fluxes), to check an image against
    sky-model.cl/     the same as a CASA component list
    README.txt
It is made by the Python of an installed CASA environment (`arcade-hub apps install`), in a
temporary directory beside the destination that replaces it whole at the end, readable by
every session uid and writable by none.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TextIO

from arcade_hub.apps.install import list_installed
from arcade_hub.apps.layout import InstalledApp, layout
from arcade_hub.apps.registry import SiteConfig, get_app
from arcade_hub.config.casa_versions import parse

DEMO_ID = "alma-demo"
SIMULATE = "simulate_alma.py"
REDUCE = "reduce_alma.py"
TIMEOUT = 600.0


class DemoError(Exception):
    """A failure to report as one line."""


@dataclass(frozen=True)
class Demo:
    path: Path
    casa_version: str
    app: str
    seconds: float
    bytes: int


def script(name: str) -> str:
    return resources.files("arcade_hub.casa").joinpath("scripts", name).read_text()


def casa_apps(prefix: Path | None = None) -> list[InstalledApp]:
    """Complete CASA environments under `prefix`, newest CASA first."""
    found = []
    for app in list_installed(prefix):
        try:
            env = get_app(app.name)
        except LookupError:
            continue
        if app.complete and env.site_config is SiteConfig.casa:
            found.append((parse(env.casa_version), app))
    return [a for _, a in sorted(found, key=lambda x: x[0], reverse=True)]


def readme(version: str, app: str) -> str:
    return f"""ALMA demo dataset (simulated)

A small simulated ALMA 12 m observation, written by CASA {version} ({app}) with
`arcade-hub datasets demo`: a 1 Jy point source at the phase centre (15h00m00s -30d00m00s)
and a 0.5 Jy extended Gaussian 7" to the north-east, 4 channels at 230 GHz, with noise.
The version is also recorded in the HISTORY table of alma-demo.ms; Arcade Hub reads it from
there to pick the CASA that reduces it.

Reduce it (images go to ~/alma-demo-images, this directory stays read-only):
    {app} --python reduce.py                # in a terminal or as a batch job
    exec(open("reduce.py").read())          # at a CASA prompt or in a "CASA" notebook

sky-model.json lists what was simulated, to compare the image with.
"""


def make_demo(
    dest: Path,
    app: str | None = None,
    prefix: Path | None = None,
    *,
    force: bool = False,
    out: TextIO | None = None,
) -> Demo:
    """Create the demo dataset at `dest` with CASA environment `app` (default: the newest
    installed). An existing dataset is kept unless `force`; a directory holding only the
    placeholder README that `arcade-hub run` leaves is replaced."""
    err = out or sys.stderr
    dest = Path(dest).absolute()
    chosen = _environment(app, prefix)
    if dest.exists() and not force and not _placeholder(dest):
        raise DemoError(f"{dest} exists; pass --force to make the demo dataset again")
    where = layout(get_app(chosen.name), chosen.env.parent)
    started = time.monotonic()
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    scratch = Path(tempfile.mkdtemp(prefix="arcade-demo-"))
    try:
        (scratch / SIMULATE).write_text(script(SIMULATE))
        print(f"simulating an ALMA observation with {chosen.title} ...", file=err, flush=True)
        done = subprocess.run(
            [str(where.wrapper), "--python", str(scratch / SIMULATE), str(work)],
            cwd=scratch,  # CASA's log goes here, not into the dataset
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env=_env(),
        )
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
            raise DemoError(f"the simulation failed with {chosen.title}:\n{tail}")
        version = json.loads((work / "sky-model.json").read_text())["casa_version"]
        (work / "reduce.py").write_text(script(REDUCE))
        (work / "README.txt").write_text(readme(version, chosen.name))
        size = _publish(work, dest)
    except (OSError, subprocess.SubprocessError, ValueError, KeyError) as e:
        raise DemoError(f"making the demo dataset failed: {e}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.monotonic() - started
    print(
        f"{dest}: written by CASA {version} in {seconds:.1f} s, {size / 1e6:.1f} MB",
        file=err,
        flush=True,
    )
    return Demo(dest, version, chosen.name, seconds, size)


def _environment(name: str | None, prefix: Path | None) -> InstalledApp:
    apps = casa_apps(prefix)
    if name is None:
        if not apps:
            raise DemoError(
                "no CASA environment is installed; run e.g. `arcade-hub apps install casa-6.7.0`"
            )
        return apps[0]
    for a in apps:
        if a.name == name:
            return a
    try:
        get_app(name)
    except LookupError as e:
        raise DemoError(str(e)) from None
    raise DemoError(f"{name} is not installed; run `arcade-hub apps install {name}`")


def _placeholder(path: Path) -> bool:
    """An empty directory, or one with only the README `arcade-hub run` writes."""
    try:
        return {p.name for p in path.iterdir()} <= {"README.txt"} and not (
            path / "reduce.py"
        ).exists()
    except NotADirectoryError:
        return False


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def _publish(work: Path, dest: Path) -> int:
    """Make `work` readable by everyone, writable by its owner only, and put it at `dest`."""
    size = 0
    for dirpath, _dirs, filenames in os.walk(work):
        os.chmod(dirpath, 0o755)
        for n in filenames:
            os.chmod(os.path.join(dirpath, n), 0o644)
            size += os.lstat(os.path.join(dirpath, n)).st_size
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.replace(dest, old)
        os.replace(work, dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(work, dest)
    return size

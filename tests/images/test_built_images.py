"""The real images of `images/`, built here with `scripts/build-images.sh` (from a debootstrap
Debian, no container registry needed), pushed to the loopback registry and checked with the
real conformance suite, `arcade-hub image check --json`, as a site would before adding them to
its catalogue. Also: their tags and labels agree with the default catalogue, the hub image
imports the Kubernetes spawner, and what each image promises beyond the contract works.

Tests written for an image also run for the images built from it (notebook -> desktop ->
casa-<version>, and the same Dockerfiles on Debian 13: notebook-trixie -> desktop-trixie ->
casa-6.7.6), as in the Jupyter docker-stacks. ARCADE_TEST_CASA=0 leaves the CASA images and
the trixie chain out. The CASA images' own promises (CASA offline as another uid, the Jupyter
kernel, imaging the demo dataset) are in test_casa_images.py; casa-tarball is built there
from a local tarball.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from typing import Any

import pytest

from arcade_hub.config import load_config
from arcade_hub.config.references import parse_reference
from arcade_hub.images import labels as image_labels
from arcade_hub.images.conformance.podman import Podman
from arcade_hub.images.discovery import entry_from_image
from arcade_hub.images.registry import RegistryClient
from arcade_hub.local.podman_apps import oci_runtime
from tests.lab_settings import EXPECTED as LAB_EXPECTED
from tests.lab_settings import SNIPPET as LAB_SNIPPET

from .built_images import (
    BUILT_FROM,
    CASA,
    CATALOGUE_ENTRIES,
    NEEDS_CASA,
    ROOT,
    BuiltChain,
    build_casa,
    listed,
)

CHECKED = ["notebook", "desktop", "headless", *(CASA if build_casa() else [])]
EXPECTED_CHECKS = {  # every one must be present and pass
    "notebook": {"runtime: jupyter server", "runtime: $HOME writable",
                 "runtime: listening ports", "exposed ports"},
    "desktop": {"runtime: jupyter server", "runtime: $HOME writable", "runtime: Xvnc",
                "runtime: desktop proxy", "runtime: listening ports", "exposed ports"},
    "desktop-app": {"app command", "runtime: app command", "runtime: X client",
                    "runtime: $HOME writable"},
    "headless": {"runtime: exit status", "runtime: $HOME writable", "exposed ports"},
}  # fmt: skip
COMMON_CHECKS = {"image found", "label: kind", "label: title", "non-root user"}


def run_in(chain: BuiltChain, name: str, *argv: str) -> str:
    """Run a command in a built image as its own user; fail with its output on error."""
    done = chain.podman.call(
        ["run", "--rm", "--network", "none", chain.refs[name], *argv], timeout=300
    )
    assert done.returncode == 0, f"{name}: {' '.join(argv)} -> {done.returncode}\n{done.stderr}"
    return done.stdout


def conformance_cli(ref: str, podman: Podman) -> tuple[int, dict[str, Any], str]:
    argv = [sys.executable, "-m", "arcade_hub", "image", "check", ref, "--json",
            "--podman-root", str(podman.root), "--podman-runroot", str(podman.runroot),
            "--timeout", "120"]  # fmt: skip
    if runtime := oci_runtime():
        argv += ["--podman-runtime", runtime]
    done = subprocess.run(argv, env=dict(podman.env or {}), capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    try:
        report = json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"no JSON report (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.returncode, report, done.stderr


def params(*names: str) -> list[Any]:
    """Parameters for the images named and those built from them (skipped when not built)."""
    out = []
    for name in names:
        for image in BUILT_FROM.get(name, (name,)):
            marks = (
                []
                if image not in NEEDS_CASA or build_casa()
                else [pytest.mark.skip(reason=f"ARCADE_TEST_CASA=0: {image} not built")]
            )
            out.append(pytest.param(image, id=image, marks=marks))
    return out


def test_script_tags_are_the_catalogue_images() -> None:
    """With its default prefix and version, the script tags what the default catalogue names."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("ARCADE_IMAGE_PREFIX", "ARCADE_IMAGE_VERSION")}  # fmt: skip
    refs = listed(["--casa"], env)
    config = load_config()
    for name, entries in CATALOGUE_ENTRIES.items():
        for entry in entries:
            assert config.entry(entry).image == refs[name], (name, entry)
    assert list(refs) == ["base", "notebook", "desktop", "headless", "hub", "casa-6.6.5",
                          "casa-6.7.0", "base-trixie", "notebook-trixie", "desktop-trixie",
                          "casa-6.7.6"]  # fmt: skip
    # each CASA on the Debian release of its recipe
    assert set(listed(["casa-6.7.6"], env)) == {"base-trixie", "notebook-trixie",
                                                "desktop-trixie", "casa-6.7.6"}  # fmt: skip
    assert set(listed(["casa-6.6.5"], env)) == {"base", "notebook", "desktop", "casa-6.6.5"}
    assert refs["notebook-trixie"] == "ghcr.io/arcade-hub/notebook:0.1.0-trixie"
    assert refs["hub"].endswith("-localbase"), "the hub built here is not the z2jh one"
    # upstream: the hub is z2jh's k8s-hub plus arcade-hub, with nothing of the Arcade base
    assert listed(["--upstream", "hub"], env) == {"hub": "ghcr.io/arcade-hub/hub:0.1.0"}
    assert set(listed(["desktop"], env)) == {"base", "notebook", "desktop"}


def test_script_refuses_unknown_images() -> None:
    done = subprocess.run([str(ROOT / "scripts" / "build-images.sh"), "--list", "casa-9"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 1
    assert "unknown image casa-9" in done.stderr


@pytest.mark.parametrize("name", CHECKED)
def test_conformance_suite_passes(chain: BuiltChain, podman: Podman, name: str) -> None:
    started = time.monotonic()
    status, report, stderr = conformance_cli(chain.pushed[name], podman)
    table = json.dumps(report["checks"], indent=1)
    assert status == 0 and report["ok"], f"{name} fails the conformance suite:\n{table}\n{stderr}"
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    kind = load_config().entry(CATALOGUE_ENTRIES[name][0]).kind.value
    assert report["kind"] == kind
    assert set(statuses) >= COMMON_CHECKS | EXPECTED_CHECKS[kind], table
    assert set(statuses.values()) == {"pass"}, f"a check was skipped or failed:\n{table}"
    assert report["pinned"].startswith(f"{chain.pushed[name].rsplit(':', 1)[0]}@sha256:")
    print(f"conformance {name}: {time.monotonic() - started:.1f} s")


@pytest.mark.parametrize("name", CHECKED)
async def test_labels_agree_with_the_catalogue(chain: BuiltChain, name: str) -> None:
    """What catalogue discovery makes of the pushed image is the default catalogue's entry."""
    ref = parse_reference(chain.pushed[name])
    async with RegistryClient([]) as client:
        info = await client.image_info(chain.pushed[name])
    found = entry_from_image(info, f"{ref.registry}/{ref.repository}", ref.tag or "")
    entry = load_config().entry(CATALOGUE_ENTRIES[name][0])
    assert found is not None, info.labels
    assert (found.kind, found.title, found.description, found.versions) == (
        entry.kind, entry.title, entry.description, entry.versions)  # fmt: skip
    if entry.group:  # an entry without a group takes none from the label (static entries win)
        assert found.group == entry.group


def test_hub_image_imports_the_kube_spawner(chain: BuiltChain) -> None:
    code = ("import arcade_hub, arcade_hub.spawners.kube as s; "
            "print(arcade_hub.__name__, s.ArcadeKubeSpawner.__name__)")  # fmt: skip
    assert run_in(chain, "hub", "python", "-c", code).split() == ["arcade_hub", "ArcadeKubeSpawner"]
    # the hub's pages, where the Helm values (render_values.HUB_PACKAGE) point the hub
    files = ("templates/hub/home.html templates/hub/page.html templates/hub/spawn.html "
             "templates/shared/brand.html static/logo.svg")
    listed = run_in(chain, "hub", "sh", "-c", f"cd /usr/local/share/arcade-hub && ls {files}")
    assert sorted(listed.split()) == sorted(files.split())
    version = run_in(chain, "hub", "jupyterhub", "--version").strip()
    assert version.split(".")[0] in {"5", "6"}, version
    info = chain.podman.inspect_image(chain.refs["hub"])
    assert info.labels[image_labels.KIND] == "hub" and info.user == "1000"


@pytest.mark.parametrize("name", params("base"))
def test_runs_as_the_arcade_user_under_tini(chain: BuiltChain, name: str) -> None:
    """The base's promises, for every image built on it: uid 1000/gid 100, the venv's Python
    first on PATH, and tini passing the command's exit status on."""
    out = run_in(chain, name, "sh", "-c", 'id -u; id -g; echo "$NB_USER"; command -v python3')
    assert out.split() == ["1000", "100", "arcade", "/opt/venv/bin/python3"]
    assert chain.podman.inspect_image(chain.refs[name]).entrypoint == ["tini", "-g", "--"]
    done = chain.podman.call(["run", "--rm", "--network", "none", chain.refs[name],
                              "sh", "-c", "exit 3"], timeout=120)  # fmt: skip
    assert done.returncode == 3, done.stderr


@pytest.mark.parametrize("name", params("base"))
def test_pip_trusts_the_system_ca_store(chain: BuiltChain, name: str) -> None:
    """So that a site's root (added to the OS store) also works for pip inside the image."""
    out = run_in(chain, name, "pip", "config", "list")
    assert "global.cert='/etc/ssl/certs/ca-certificates.crt'" in out


@pytest.mark.parametrize("name", params("notebook"))
def test_notebook_has_jupyterlab_arcade_hub_and_the_science_stack(
    chain: BuiltChain, name: str
) -> None:
    code = ("import arcade_hub.launch.storage, astropy, numpy, scipy, matplotlib, jupyterlab; "
            "print(jupyterlab.__version__)")  # fmt: skip
    assert run_in(chain, name, "python", "-c", code).strip().startswith("4.")
    assert run_in(chain, name, "sh", "-c", "command -v jupyterhub-singleuser").strip() == (
        "/opt/venv/bin/jupyterhub-singleuser"
    )


@pytest.mark.parametrize("name", params("notebook"))
def test_the_images_own_jupyter_config_enables_the_desktop_extension(
    chain: BuiltChain, name: str
) -> None:
    """Whatever starts `jupyterhub-singleuser` in the image (the local spawner, KubeSpawner,
    another site's spawner) gets the `arcade_hub.desktop` server extension: without it a
    desktop runs jupyter-remote-desktop-proxy's own xstartup, which loops, and desktop apps
    find no desktop. It comes from the package's data files in `<venv>/etc/jupyter`."""
    out = re.sub(r"\x1b\[[0-9;]*m", "", run_in(chain, name, "sh", "-c",
                                               "jupyter server extension list 2>&1"))
    assert re.search(r"arcade_hub\.desktop\s+enabled", out), out
    assert re.search(r"arcade_hub\.desktop\s+OK", out), out  # it imports and loads
    path = "/opt/venv/etc/jupyter/jupyter_server_config.d/arcade_hub.desktop.json"
    assert json.loads(run_in(chain, name, "cat", path)) == {
        "ServerApp": {"jpserver_extensions": {"arcade_hub.desktop": True}}}


@pytest.mark.parametrize("name", params("notebook"))
def test_jupyterlab_neither_prompts_for_news_nor_checks_for_updates(
    chain: BuiltChain, name: str
) -> None:
    """A new user's first JupyterLab greets them with no "Jupyter news" prompt, as in the
    embedded sessions (tests/e2e/test_lab_in_hub.py)."""
    assert json.loads(run_in(chain, name, "python3", "-c", LAB_SNIPPET)) == LAB_EXPECTED


@pytest.mark.parametrize("name", params("desktop"))
def test_desktop_runs_the_x_relay_and_the_xterm_entry(chain: BuiltChain, name: str) -> None:
    """The desktop pod's x11-relay sidecar is `python3 -m arcade_hub.kube.xrelay` in this
    image; the catalogue's `xterm` desktop-app runs `xterm` from it; the desktop proxy starts
    TigerVNC's `vncserver` and openbox."""
    out = run_in(chain, name, "python3", "-m", "arcade_hub.kube.xrelay", "--help")
    assert "usage" in out.lower()
    assert run_in(
        chain, name, "sh", "-c", "for p in xterm openbox vncserver; do command -v $p; done"
    ).split() == [
        "/usr/bin/xterm",
        "/usr/bin/openbox",
        "/usr/bin/vncserver",
    ]


def test_headless_runs_a_python_job_with_numpy_and_astropy(chain: BuiltChain) -> None:
    code = "import astropy.units as u, numpy; print((numpy.arange(3).sum() * u.m).to(u.cm))"
    assert run_in(chain, "headless", "python3", "-c", code).strip() == "300.0 cm"

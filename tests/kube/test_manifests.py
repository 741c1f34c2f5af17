"""Every pod the builders produce: valid for Kubernetes 1.29-1.34 (strict), meets its Pod
Security level, and equals its golden file (ARCADE_UPDATE_GOLDEN=1 rewrites them)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from kubespawner.objects import make_pvc

from arcade_hub.config.kubernetes import PodSecurityLevel
from arcade_hub.kube.builders import build_pod_pieces
from arcade_hub.kube.objects import pod_manifest, serialize
from arcade_hub.kube.restricted import violations

from .conftest import launch_spec, platform

GOLDEN = Path(__file__).parent / "golden"
VERSIONS = [f"1.{minor}" for minor in range(29, 35)]
UPDATE = os.environ.get("ARCADE_UPDATE_GOLDEN") == "1"


@dataclass(frozen=True)
class Case:
    entry: str = "notebook"
    kube: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)


CASES: dict[str, Case] = {
    "notebook": Case(),
    "desktop": Case("desktop"),
    "desktop-app": Case("casa-6-7", spec={"dataset": "alma-2019", "cmd": ("casaviewer",)}),
    "headless": Case("batch", spec={"cmd": ("python", "-m", "reduce"), "args": ("--all",)}),
    "gpu": Case(spec={"gpus": 2, "cores": 0.5, "ram_gib": 0.75}),
    "home-claim-per-user": Case(kube={"home": {"mode": "claim-per-user",
                                               "storage_class": "rwx"}},
                                spec={"username": "Alice.Smith@example.org"}),
    "projects-claim-per-group": Case(kube={"projects": {"mode": "claim-per-group"}},
                                     spec={"groups": ("astro", "ALMA Users")}),
    "no-projects": Case(kube={"projects": {"enabled": False}}),
    "dataset-pvc-subpath": Case(kube={"datasets": {"alma-2019": {
        "type": "pvc", "claim": "archive", "sub_path": "alma/2019"}}},
        spec={"dataset": "alma-2019"}),
    "dataset-nfs": Case(kube={"datasets": {"alma-2019": {
        "type": "nfs", "server": "nfs.example.org", "path": "/export/alma"}},
        "security": {"pod_security": "baseline"}}, spec={"dataset": "alma-2019"}),
    "dataset-hostpath": Case(kube={"datasets": {"alma-2019": {
        "type": "hostPath", "path": "/data/alma"}},
        "security": {"pod_security": "privileged"}}, spec={"dataset": "alma-2019"}),
    "scratch-ephemeral": Case(kube={"scratch": {"mode": "ephemeral",
                                                "storage_class": "local-path"}}),
    "scratch-memory": Case(kube={"scratch": {"medium": "Memory", "size": "1Gi"}}),
    "scratch-hostpath": Case(kube={"scratch": {"mode": "hostPath"},
                                   "security": {"pod_security": "privileged"}}),
    "per-user-uid": Case(kube={"security": {"run_as": "per-user", "uids": {"alice": 20417},
                                            "gid": 20000, "fs_group": None}}),
}


def render(case: Case) -> tuple[dict[str, Any], PodSecurityLevel]:
    config = platform(**case.kube)
    spec = launch_spec(config, case.entry, **case.spec)
    desktop = config.entry(spec.desktop) if spec.desktop else None
    kube = config.backend.kubernetes
    pieces = build_pod_pieces(spec, kube, config.storage, entry=config.entry(case.entry),
                              desktop=desktop)
    pod = serialize(pod_manifest(pieces, name="jupyter-alice"))
    out: dict[str, Any] = {"pod": pod}
    if pieces.home_claim:
        c = pieces.home_claim
        out["pvc"] = serialize(make_pvc(c.name, c.storage_class, list(c.access_modes), None,
                                        c.capacity))
    return out, kube.security.pod_security


@pytest.mark.parametrize("name", sorted(CASES))
def test_manifest(name: str) -> None:
    manifests, level = render(CASES[name])
    for obj in manifests.values():
        for version in VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)
    assert violations(manifests["pod"], level) == []
    if level == "restricted":
        assert violations(manifests["pod"], "restricted") == []
    path = GOLDEN / f"{name}.json"
    text = json.dumps(manifests, indent=2, sort_keys=True) + "\n"
    if UPDATE or not path.exists():
        path.write_text(text)
        if not UPDATE:
            pytest.fail(f"wrote missing golden file {path.name}; check it and commit it")
    assert json.loads(path.read_text()) == manifests, (
        f"{name}: pod differs from {path.name} (ARCADE_UPDATE_GOLDEN=1 rewrites it)"
    )


def test_nfs_and_hostpath_cases_fail_restricted() -> None:
    """The lower levels are needed for a reason: the checker sees the forbidden volumes."""
    for name in ("dataset-nfs", "dataset-hostpath", "scratch-hostpath"):
        manifests, _ = render(CASES[name])
        assert any("forbidden type" in v or "hostPath" in v
                   for v in violations(manifests["pod"], "restricted")), name


def test_only_hostpath_scratch_has_a_root_init_container() -> None:
    """The kubelet makes a hostPath scratch directory as root (fsGroup does not apply), so
    that mode, and only that one, gets an init container making it the session uid's: root
    with CAP_CHOWN alone, mounting nothing but the scratch directory."""
    for name, case in CASES.items():
        pod = render(case)[0]["pod"]
        inits = pod["spec"].get("initContainers", [])
        if name != "scratch-hostpath":
            assert inits == [], name
            continue
        (init,) = inits
        assert init["command"] == ["chown", "1000:100", "/scratch"]
        assert init["image"] == pod["spec"]["containers"][0]["image"]
        assert init["securityContext"] == {
            "runAsUser": 0, "runAsGroup": 0, "runAsNonRoot": False,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"], "add": ["CHOWN"]}}
        assert init["volumeMounts"] == [{"name": "scratch", "mountPath": "/scratch"}]


def test_pieces_content() -> None:
    """Spot checks that the golden files cannot make obvious."""
    config = platform()
    spec = launch_spec(config, "casa-6-7", dataset="alma-2019", gpus=1, cores=3, ram_gib=8)
    pieces = build_pod_pieces(spec, config.backend.kubernetes, config.storage,
                              entry=config.entry("casa-6-7"), desktop=config.entry("desktop"))
    assert pieces.image == config.entry("desktop").image
    assert pieces.extra_containers[0]["image"] == spec.image
    assert pieces.cpu_limit == 3 and pieces.cpu_guarantee == 1.5
    assert pieces.mem_limit == 8 * 2**30 == pieces.mem_guarantee
    assert pieces.extra_resource_limits == {"nvidia.com/gpu": "1"}
    assert pieces.node_selector == {"arcade-hub.org/pool": "casa"}
    assert pieces.tolerations == [{"key": "nvidia.com/gpu", "operator": "Exists",
                                   "effect": "NoSchedule"}]
    env = pieces.environment
    assert env["ARCADE_HOME"] == env["HOME"] == "/home/alice" == pieces.working_dir
    assert env["ARCADE_DATASET"] == "alma-2019"
    assert env["ARCADE_SESSION_ID"] == "s-7f3a9c"
    mounts = {m["mountPath"]: m for m in pieces.volume_mounts}
    assert mounts["/arcade/datasets/alma-2019"]["readOnly"] is True
    assert mounts["/arcade/projects/astro"] == {
        "name": "projects", "mountPath": "/arcade/projects/astro", "subPath": "astro"}
    assert pieces.default_url == "/desktop/"


def test_the_file_browser_shows_home_projects_datasets_and_scratch_side_by_side() -> None:
    """The Jupyter server's root is /arcade, where the home is mounted again as `home` beside
    the project spaces, datasets (read-only) and scratch; JupyterLab opens on the home."""
    config = platform()
    spec = launch_spec(config, "notebook", dataset="alma-2019")
    pieces = build_pod_pieces(spec, config.backend.kubernetes, config.storage,
                              entry=config.entry("notebook"))
    assert pieces.notebook_dir == "/arcade"
    assert pieces.default_url == "/lab/tree/home"
    mounts = {m["mountPath"]: m for m in pieces.volume_mounts}
    assert {p for p in mounts if p.startswith("/arcade/")} == {
        "/arcade/home", "/arcade/projects/astro", "/arcade/datasets/alma-2019",
        "/arcade/scratch"}
    assert mounts["/arcade/home"] == {**mounts["/home/alice"], "mountPath": "/arcade/home"}
    assert mounts["/arcade/datasets/alma-2019"]["readOnly"] is True
    assert pieces.working_dir == pieces.environment["HOME"] == "/home/alice"  # `~` as before

    desktop = build_pod_pieces(launch_spec(config, "desktop"), config.backend.kubernetes,
                               config.storage, entry=config.entry("desktop"))
    assert desktop.notebook_dir == "/arcade" and desktop.default_url == "/desktop/"
    batch = build_pod_pieces(launch_spec(config, "batch", cmd=("true",)),
                             config.backend.kubernetes, config.storage,
                             entry=config.entry("batch"))
    assert batch.notebook_dir == ""
    assert "/arcade/home" not in {m["mountPath"] for m in batch.volume_mounts}


@pytest.mark.parametrize(
    ("storage", "root", "url"),
    [
        ({"home_mount": "/arcade/home/{username}"}, "/arcade", "/lab/tree/home/alice"),
        ({"scratch_mount": "/scratch"}, "/", "/lab/tree/home/alice"),
        ({"projects_mount": "/srv/projects", "datasets_mount": "/srv/datasets",
          "scratch_mount": "/srv/scratch"}, "/srv", "/lab/tree/home"),
    ],
)
def test_the_file_browser_root_follows_the_configured_mounts(
    storage: dict[str, str], root: str, url: str
) -> None:
    config = platform()
    roots = config.storage.model_copy(update=storage)
    pieces = build_pod_pieces(launch_spec(config), config.backend.kubernetes, roots,
                              entry=config.entry("notebook"))
    assert (pieces.notebook_dir, pieces.default_url) == (root, url)
    homes = [m for m in pieces.volume_mounts if m["name"] == "home"]
    assert len(homes) == (2 if url == "/lab/tree/home" else 1)

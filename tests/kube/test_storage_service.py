"""The storage service (VOSpace) on Kubernetes: its Deployment, Service and NetworkPolicy are
valid (strict), meet Pod Security `restricted` and equal their golden file; its pod mounts the
claims the sessions mount and runs as the sessions' uid, gid and fsGroup; it finds each user's
home and group's project space in the folder their sessions mount; the Helm values register it
and route the registry path; what the chart cannot serve is refused with a clear message."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from jupyterhub.proxy import Proxy

from arcade_hub import __version__
from arcade_hub import render_values as render
from arcade_hub.backends import storage_tree_roots
from arcade_hub.kube.builders import build_pod_pieces
from arcade_hub.kube.objects import pod_manifest, serialize
from arcade_hub.kube.restricted import violations
from arcade_hub.kube.storage_service import (
    STATE_CLAIM,
    STORAGE_URL,
    StorageService,
    build_storage_service,
)
from arcade_hub.kube.volumes import KubeLaunchError

from .conftest import PLATFORM, launch_spec, platform
from .test_manifests import GOLDEN, UPDATE, VERSIONS

ROOT = Path(__file__).resolve().parents[2]
SERVICE = StorageService(image="registry.example.org/arcade/hub:2026.11", name="vospace",
                         platform_file="/usr/local/etc/arcade/platform.yaml",
                         platform_key="arcade-platform")


def objects(**kube: Any) -> dict[str, dict[str, Any]]:
    built = build_storage_service(SERVICE, platform(**kube).backend.kubernetes)
    return {obj["kind"]: obj for obj in built}


def session_pod(username: str = "alice", groups: tuple[str, ...] = ("astro",),
                **kube: Any) -> dict[str, Any]:
    config = platform(**kube)
    spec = launch_spec(config, username=username, groups=groups)
    pieces = build_pod_pieces(spec, config.backend.kubernetes, config.storage,
                              entry=config.entry("notebook"))
    pod: dict[str, Any] = serialize(pod_manifest(pieces, name="jupyter-x"))
    return pod


def test_golden() -> None:
    built = objects()
    for obj in built.values():
        for version in VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)
    assert violations({"spec": built["Deployment"]["spec"]["template"]["spec"]},
                      "restricted") == []
    path = GOLDEN / "storage-service.json"
    if UPDATE or not path.exists():
        path.write_text(json.dumps(built, indent=2, sort_keys=True) + "\n")
        if not UPDATE:
            pytest.fail(f"wrote missing golden file {path.name}; check it and commit it")
    assert json.loads(path.read_text()) == built, (
        f"differs from {path.name} (ARCADE_UPDATE_GOLDEN=1 rewrites it)")


@pytest.mark.parametrize("security", [
    {},
    {"uid": 4242, "gid": 1234, "fs_group": None},
    {"uid": 30001, "gid": 30001, "fs_group": 30001},
])
def test_the_service_writes_as_the_sessions_do(security: dict[str, Any]) -> None:
    """Its pod and container run with the session pod's runAsUser, runAsGroup and fsGroup,
    so the files it writes have the owner and group of files written in sessions."""
    pod = objects(security=security)["Deployment"]["spec"]["template"]["spec"]
    session = session_pod(security=security)["spec"]
    assert pod["securityContext"] == session["securityContext"]
    (container,) = pod["containers"]
    main = next(c for c in session["containers"] if c["name"] == "notebook")
    assert container["securityContext"] == main["securityContext"]


@pytest.mark.parametrize("user,group", [("alice", "astro"),
                                        ("Alice.Smith@example.org", "ALMA Users")])
def test_the_service_finds_homes_and_projects_where_sessions_mount_them(
    user: str, group: str
) -> None:
    """The service's pod mounts the sessions' claims whole, and finds a user's home and a
    group's project space at the claim's mount plus the `subPath` the session mounts (also
    for names that are no valid path component as they are)."""
    config = platform()
    session = session_pod(username=user, groups=(group,))["spec"]
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"]
              for v in session["volumes"] if "persistentVolumeClaim" in v}
    mounts = next(c for c in session["containers"] if c["name"] == "notebook")["volumeMounts"]
    home = next(m for m in mounts if m["mountPath"] == "/home/" + m.get("subPath", "?"))
    project = next(m for m in mounts if m["mountPath"].startswith("/arcade/projects/"))

    pod = objects()["Deployment"]["spec"]["template"]["spec"]
    service_claims = {v["name"]: v["persistentVolumeClaim"]["claimName"]
                      for v in pod["volumes"] if "persistentVolumeClaim" in v}
    at = {service_claims[m["name"]]: m["mountPath"]
          for m in pod["containers"][0]["volumeMounts"] if m["name"] in service_claims}
    roots = storage_tree_roots(config, Path("/unused"))
    assert roots.home(user) == Path(at[claims[home["name"]]], home["subPath"])
    assert roots.project(group) == Path(at[claims[project["name"]]], project["subPath"])
    assert not roots.per_user  # its workers run as the pod's (the sessions') uid


def test_without_project_spaces_only_homes_are_mounted() -> None:
    pod = objects(projects={"enabled": False})["Deployment"]["spec"]["template"]["spec"]
    claims = [v["name"] for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert claims == ["home", "state"]  # the state claim is the service's own


def test_its_jobs_outlive_the_pod_on_a_claim_no_session_mounts() -> None:
    """The service keeps its UWS jobs in ARCADE_DATA_DIR: a claim of its own, so that an
    upgrade or a rescheduled pod loses none; one pod at a time (Recreate, ReadWriteOnce)."""
    built = objects()
    pod = built["Deployment"]["spec"]["template"]["spec"]
    main = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in main["env"]}
    state = next(v for v in pod["volumes"] if v["name"] == "state")
    assert state["persistentVolumeClaim"]["claimName"] == built["PersistentVolumeClaim"][
        "metadata"]["name"] == STATE_CLAIM
    assert {"name": "state", "mountPath": env["ARCADE_DATA_DIR"]} in main["volumeMounts"]
    assert built["PersistentVolumeClaim"]["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert built["Deployment"]["spec"]["strategy"] == {"type": "Recreate"}
    assert STATE_CLAIM not in json.dumps(session_pod())


@pytest.mark.parametrize("kube,words", [
    ({"home": {"mode": "claim-per-user"}}, "home.mode is claim-per-user"),
    ({"projects": {"mode": "claim-per-group"}}, "projects.mode is claim-per-group"),
    ({"security": {"run_as": "per-user", "uids": {"alice": 2000}}},
     "security.run_as is per-user"),
])
def test_what_one_pod_cannot_serve_is_refused_clearly(kube: dict[str, Any], words: str) -> None:
    with pytest.raises(KubeLaunchError, match=words):
        objects(**kube)
    document = {**PLATFORM, "backend": {"kind": "kubernetes", "kubernetes": {
        **PLATFORM["backend"]["kubernetes"], **kube}}}
    with pytest.raises(render.RenderError, match=f"{words}.*vospace: {{enabled: false}}"):
        render.render_values(document)
    # the way out the message names
    values = render.render_values({**document, "vospace": {"enabled": False}})
    assert "vospace" not in values["hub"].get("services", {})


def test_values_register_the_service_and_route_the_registry() -> None:
    """As on the embedded platform (arcade_hub.hub_config): the service at
    /services/vospace/ on the hub's host, its role, users' and sessions' access, `/reg/`."""
    values = render.render_values(PLATFORM)
    hub = values["hub"]
    assert hub["services"]["vospace"] == {"url": STORAGE_URL, "display": False}
    assert hub["loadRoles"]["vospace"] == {"scopes": ["read:users"], "services": ["vospace"]}
    assert hub["loadRoles"]["user"]["scopes"] == [
        "self", "access:services!service=arcade", "access:services!service=vospace"]
    assert "access:services!service=vospace" in hub["config"]["Spawner"]["server_token_scopes"]
    assert hub["config"]["Proxy"]["extra_routes"] == {"/reg/": STORAGE_URL}
    with_subdomains = render.render_values(
        {**PLATFORM, "web": {"subdomain_host": "https://hub.example.org"}})
    assert with_subdomains["hub"]["config"]["Proxy"]["extra_routes"] == {
        "hub.example.org/reg/": STORAGE_URL}


def test_the_committed_manifests_are_what_render_values_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """helm-values/manifests/storage-service.yaml is the `--storage-manifests` output for
    helm-values/values.yaml: the hub's image, the platform document and the service's token
    from the keys of the hub Secret that the chart writes for these values."""
    values = yaml.safe_load((ROOT / "helm-values/values.yaml").read_text())
    document = values["hub"]["extraFiles"]["arcade-platform"]["data"]
    (tmp_path / "platform.yaml").write_text(yaml.safe_dump(document))
    out = tmp_path / "storage.yaml"
    args = argparse.Namespace(config=str(tmp_path / "platform.yaml"),
                              base=str(ROOT / "helm-values/values.yaml"),
                              storage_manifests=str(out))
    assert render.run(args) == 0
    assert yaml.safe_load(capsys.readouterr().out) == values
    written = list(yaml.safe_load_all(out.read_text()))
    committed = list(yaml.safe_load_all(
        (ROOT / "helm-values/manifests/storage-service.yaml").read_text()))
    assert written == committed
    pod = written[0]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "ghcr.io/arcade-hub/hub:0.1.0"
    secret_keys = {item["key"] for v in pod["volumes"] if "secret" in v
                   for item in v["secret"]["items"]}
    assert secret_keys == set(values["hub"]["extraFiles"])
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == (
        "hub.services.vospace.apiToken")  # z2jh's key for `hub.services.vospace`
    assert env["ARCADE_STORAGE_URL"]["value"] == "https://hub.example.org/services/vospace"


def test_without_a_base_the_service_runs_the_hub_image_of_this_release(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The base values always name the hub image (this release's), which the storage pod
    runs: nothing to add for a minimal rendering."""
    (tmp_path / "platform.yaml").write_text(yaml.safe_dump(PLATFORM))
    out = tmp_path / "storage.yaml"
    args = argparse.Namespace(config=str(tmp_path / "platform.yaml"), base=None,
                              storage_manifests=str(out))
    assert render.run(args) == 0, capsys.readouterr().err
    pod = next(yaml.safe_load_all(out.read_text()))["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == f"{render.HUB_IMAGE}:{__version__}"


def test_values_follow_the_document_when_the_service_is_turned_off() -> None:
    """Rendering again from the full example with `vospace.enabled: false` leaves no service,
    role, scope or route of it behind (and turning it on again brings them back)."""
    values = yaml.safe_load((ROOT / "helm-values/values.yaml").read_text())
    document = values["hub"]["extraFiles"]["arcade-platform"]["data"]
    off = render.render_values({**document, "vospace": {"enabled": False}}, values)
    assert "vospace" not in yaml.safe_dump(off["hub"]["services"])
    assert "vospace" not in off["hub"]["loadRoles"]
    assert "vospace" not in " ".join(off["hub"]["loadRoles"]["user"]["scopes"])
    assert "vospace" not in " ".join(off["hub"]["config"]["Spawner"]["server_token_scopes"])
    assert STORAGE_URL not in off["hub"]["config"]["Proxy"]["extra_routes"].values()
    assert off["hub"]["services"]["arcade"] == values["hub"]["services"]["arcade"]
    assert render.render_values(document, off) == values


def test_the_values_name_real_jupyterhub_settings() -> None:
    """`hub.config.Proxy.extra_routes` is a setting of JupyterHub's proxy (the hub adds the
    routes at start and keeps them)."""
    config = render.render_values(PLATFORM)["hub"]["config"]
    assert set(config["Proxy"]) <= set(Proxy.class_traits(config=True))

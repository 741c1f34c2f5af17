"""Desktop-app pods, the desktop's X Secret and NetworkPolicy, and batch Jobs: valid for
Kubernetes 1.29-1.34 (strict), restricted, and equal to golden files (ARCADE_UPDATE_GOLDEN=1)."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from arcade_hub.desktop.xauth import parse_xauthority
from arcade_hub.kube.restricted import violations
from arcade_hub.kube.volumes import KubeLaunchError
from arcade_hub.kube.workloads import (
    JobSettings,
    Owner,
    build_app_pod,
    build_job,
    build_x11_network_policy,
    build_x11_secret,
)

from .conftest import launch_spec, platform

GOLDEN = Path(__file__).parent / "golden"
VERSIONS = [f"1.{minor}" for minor in range(29, 35)]
UPDATE = os.environ.get("ARCADE_UPDATE_GOLDEN") == "1"
OWNER = Owner("jupyter-alice", "0d4c4f6e-59b6-4d0e-9a43-6e0ed4bd1c55")
COOKIE = bytes(range(16))


def app_pod(**kube: Any) -> dict[str, Any]:
    config = platform(**kube)
    desktop = launch_spec(config, "desktop", dataset="alma-2019")
    return build_app_pod(desktop, config.entry("casa-6-7"), config.backend.kubernetes,
                         config.storage, name="arcade-app-s-7f3a9c-casa-6-7-a1b2c3",
                         owner=OWNER, desktop_ip="10.0.0.7")


def secret() -> dict[str, Any]:
    config = platform()
    return build_x11_secret(launch_spec(config, "desktop"), COOKIE, OWNER)


def network_policy() -> dict[str, Any]:
    config = platform()
    return build_x11_network_policy(launch_spec(config, "desktop"), OWNER)


def job(**settings: Any) -> dict[str, Any]:
    config = platform()
    spec = launch_spec(config, "batch", cmd=("python", "-m", "reduce"), args=("--all",),
                       dataset="alma-2019").model_copy(update={"replicas": 8})
    return build_job(spec, config.backend.kubernetes, config.storage, name="arcade-job-4f2a",
                     entry=config.entry("batch"), settings=JobSettings(**settings))


CASES: dict[str, Callable[[], dict[str, Any]]] = {
    "app-pod": app_pod,
    "app-pod-per-user-uid": lambda: app_pod(security={
        "run_as": "per-user", "uids": {"alice": 20417}, "fs_group": None}),
    "x11-secret": secret,
    "x11-network-policy": network_policy,
    "job": job,
    "job-limited": lambda: job(backoff_limit=3, ttl_seconds_after_finished=600,
                               active_deadline_seconds=7200, parallelism=2),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    obj = CASES[name]()
    for version in VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)
    pod = {"spec": obj["spec"]["template"]["spec"]} if obj["kind"] == "Job" else obj
    if obj["kind"] in ("Pod", "Job"):
        assert violations(pod, "restricted") == []
    path = GOLDEN / f"{name}.json"
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    if UPDATE or not path.exists():
        path.write_text(text)
        if not UPDATE:
            pytest.fail(f"wrote missing golden file {path.name}; check it and commit it")
    assert json.loads(path.read_text()) == obj, (
        f"{name}: differs from {path.name} (ARCADE_UPDATE_GOLDEN=1 rewrites it)")


def test_app_pod_content() -> None:
    pod = app_pod()
    spec = pod["spec"]
    (main,) = spec["containers"]
    env = {e["name"]: e["value"] for e in main["env"]}
    assert env["DISPLAY"] == "10.0.0.7:0"
    assert env["XAUTHORITY"] == "/arcade/x11/xauthority"
    assert env["ARCADE_KIND"] == "desktop-app" and env["ARCADE_APP"] == "casa-6-7"
    assert env["ARCADE_SESSION_ID"] == "s-7f3a9c"  # the desktop's session
    assert main["image"] == "registry.example.org/arcade/casa:6.7"
    assert "command" not in main  # the image's own X client
    mounts = {m["mountPath"]: m for m in main["volumeMounts"]}
    assert mounts["/home/alice"]["subPath"] == "alice"
    assert mounts["/arcade/datasets/alma-2019"]["readOnly"] is True
    assert pod["metadata"]["ownerReferences"] == [OWNER.reference()]
    labels = pod["metadata"]["labels"]
    assert labels["arcade-hub.org/role"] == "desktop-app"
    assert labels["arcade-hub.org/user"] == "alice"
    assert "component" not in labels  # not a session pod: the hub's reflector ignores it
    assert spec["nodeSelector"] == {"arcade-hub.org/pool": "casa"}  # the app's own pool
    assert spec["restartPolicy"] == "Never"
    assert spec["automountServiceAccountToken"] is False


def test_secret_carries_the_cookie_for_relay_and_apps() -> None:
    data = secret()["data"]
    assert base64.b64decode(data["cookie"]).decode() == COOKIE.hex()
    ((family, _, number, name, cookie),) = parse_xauthority(base64.b64decode(data["xauthority"]))
    assert (family, number, name, cookie) == (0xFFFF, b"0", b"MIT-MAGIC-COOKIE-1", COOKIE)


def test_network_policy_admits_only_the_users_app_pods() -> None:
    policy = network_policy()["spec"]
    assert policy["podSelector"]["matchLabels"] == {
        "component": "singleuser-server", "arcade-hub.org/session": "s-7f3a9c"}
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 6000}]
    assert rule["from"] == [{"podSelector": {"matchLabels": {
        "arcade-hub.org/role": "desktop-app", "arcade-hub.org/user": "alice"}}}]
    app_labels = app_pod()["metadata"]["labels"]
    assert rule["from"][0]["podSelector"]["matchLabels"].items() <= app_labels.items()
    other = platform()
    bob = build_x11_network_policy(launch_spec(other, "desktop", username="Bob"), OWNER)
    assert bob["spec"]["ingress"][0]["from"] != rule["from"]


def test_job_is_indexed_and_hardened() -> None:
    spec = job()["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == 8
    assert spec["backoffLimit"] == 0 and spec["ttlSecondsAfterFinished"] == 86400
    (main,) = spec["template"]["spec"]["containers"]
    assert main["command"] == ["python", "-m", "reduce", "--all"]
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_wrong_kinds_are_refused() -> None:
    config = platform()
    desktop = launch_spec(config, "desktop")
    with pytest.raises(KubeLaunchError, match="not a desktop app"):
        build_app_pod(desktop, config.entry("notebook"), config.backend.kubernetes,
                      config.storage, name="x", owner=OWNER, desktop_ip="10.0.0.7")
    with pytest.raises(KubeLaunchError, match="not a batch image"):
        build_job(desktop, config.backend.kubernetes, config.storage, name="x")
    with pytest.raises(KubeLaunchError, match="needs a command"):
        build_job(launch_spec(config, "batch"), config.backend.kubernetes, config.storage,
                  name="x")

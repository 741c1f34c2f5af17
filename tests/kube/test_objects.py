"""Desktop-app pods, the desktop's X Secret and NetworkPolicy, and batch Jobs: valid for
Kubernetes 1.29-1.34 (strict), restricted, and equal to golden files (ARCADE_UPDATE_GOLDEN=1)."""

from __future__ import annotations

import base64
import json
import os
import posixpath
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from arcade_hub.desktop.xauth import parse_xauthority
from arcade_hub.kube.objects import (
    PER_INSTANCE_LIMIT,
    JobSettings,
    Owner,
    build_app_pod,
    build_batch_job,
    build_home_claim,
    build_job,
    build_x11_network_policy,
    build_x11_secret,
)
from arcade_hub.kube.restricted import violations
from arcade_hub.kube.volumes import ClaimRequest, KubeLaunchError
from arcade_hub.launch.spec import LaunchSpec

from .conftest import launch_spec, platform
from .fake_api import kubelet_expand
from .service import container_env

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


PARAMS = ["--file 'a b.fits'", 'x $HOME `id` "q" $(HOME) $$', ""]


def instance_specs(params: list[str] = PARAMS, **kube: Any) -> list[LaunchSpec]:
    """The specs of a 3-instance job, as `build_job_specs` makes them."""
    config = platform(**kube)
    base = launch_spec(config, "batch", cmd=("python", "-m", "reduce"), dataset="alma-2019")
    return [
        base.model_copy(update={
            "server_name": f"j4f2a-{n}", "session_id": f"s{n}", "replicas": len(params),
            "env": {"REPLICA_ID": str(n), "REPLICA_COUNT": str(len(params)),
                    "ARCADE_JOB_ID": "j4f2a", "ARCADE_JOB_PARAM": line, "MINE": "same"},
            "args": ("--all", *shlex.split(line))})
        for n, line in enumerate(params, start=1)
    ]


def batch_job(**kube: Any) -> dict[str, Any]:
    config = platform(**kube)
    return build_batch_job(instance_specs(**kube), config.backend.kubernetes, config.storage,
                           name="arcade-job-j4f2a", job_id="j4f2a",
                           entry=config.entry("batch"),
                           settings=JobSettings(backoff_limit_per_index=0,
                                                active_deadline_seconds=86400))


CASES: dict[str, Callable[[], dict[str, Any]]] = {
    "app-pod": app_pod,
    "app-pod-per-user-uid": lambda: app_pod(security={
        "run_as": "per-user", "uids": {"alice": 20417}, "fs_group": None}),
    "x11-secret": secret,
    "x11-network-policy": network_policy,
    "job": job,
    "job-limited": lambda: job(backoff_limit=3, ttl_seconds_after_finished=600,
                               active_deadline_seconds=7200, parallelism=2),
    "batch-job": batch_job,
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
    # the image's own entrypoint (tini in Arcade's images) starts the command
    assert "command" not in main
    assert main["args"] == ["python", "-m", "reduce", "--all"]
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


def run_instance(job: dict[str, Any], index: int, program: str) -> subprocess.CompletedProcess[str]:
    """Run pod `index` of `job` here with /bin/sh, as its container would start, but with
    `program` (a shell script printing what it got) in place of the job's own command."""
    (container,) = job["spec"]["template"]["spec"]["containers"]
    pod = {"metadata": {"name": f"{job['metadata']['name']}-{index}-x7k2p", "annotations": {}}}
    # expanded in order, as the kubelet does; then the Job controller's variable
    env = {**container_env(pod, container), "JOB_COMPLETION_INDEX": str(index)}
    assert "command" not in container  # the image's own entrypoint starts it
    sh, dash_c, script, zero, *_ = (kubelet_expand(c, env) for c in container["args"])
    return subprocess.run([sh, dash_c, script, zero, "sh", "-c", program, "prog"], env=env,
                          capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize("index", range(3))
def test_batch_job_pods_get_their_instances_values(index: int) -> None:
    """Each pod of the Indexed Job runs with its own instance's variables and parameter
    arguments (quoted as given: no expansion), and none of the other instances'."""
    job = batch_job()
    spec = instance_specs()[index]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"][4:] == ["python", "-m", "reduce"]
    shown = run_instance(job, index, 'env | sort; printf "<%s>\\n" "$@"')
    assert shown.returncode == 0, shown.stderr
    env = dict(line.split("=", 1) for line in shown.stdout.splitlines() if "=" in line
               and not line.startswith("<"))
    assert env["REPLICA_ID"] == str(index + 1) and env["REPLICA_COUNT"] == "3"
    assert env["ARCADE_JOB_PARAM"] == PARAMS[index]
    assert env["ARCADE_SESSION_ID"] == spec.session_id
    assert env["MINE"] == "same" and env["ARCADE_JOB_ID"] == "j4f2a"
    assert not [k for k in env if k.startswith("ARCADE_JOB_INSTANCE_")]
    args = [line[1:-1] for line in shown.stdout.splitlines() if line.startswith("<")]
    assert args == list(spec.args)


def test_batch_job_exit_code_is_the_commands() -> None:
    job = batch_job()
    assert run_instance(job, 1, "exit 7").returncode == 7
    assert run_instance(job, 5, "exit 0").returncode == 127  # no such instance


def test_batch_job_labels_and_single_instance() -> None:
    job = batch_job()
    for meta in (job["metadata"], job["spec"]["template"]["metadata"]):
        assert meta["labels"]["arcade-hub.org/job"] == "j4f2a"
        assert "arcade-hub.org/session" not in meta["labels"]  # instances have their own
    spec = job["spec"]
    assert spec["backoffLimitPerIndex"] == 0 and "backoffLimit" not in spec
    config = platform()
    (one,) = instance_specs([""])
    single = build_batch_job([one], config.backend.kubernetes, config.storage,
                             name="arcade-job-j4f2a", job_id="j4f2a")
    (container,) = single["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["python", "-m", "reduce", "--all"]  # no wrapper
    assert "command" not in container
    assert single["metadata"]["labels"]["arcade-hub.org/session"] == "s1"


def test_batch_job_refusals() -> None:
    config = platform()
    kube, roots = config.backend.kubernetes, config.storage
    specs = instance_specs()
    mixed = [specs[0], specs[1].model_copy(update={"image": "other"}), specs[2]]
    with pytest.raises(KubeLaunchError, match="must share image"):
        build_batch_job(mixed, kube, roots, name="x", job_id="x")
    with pytest.raises(KubeLaunchError, match="3 replicas"):
        build_batch_job(specs[:2], kube, roots, name="x", job_id="x")
    huge = instance_specs(["y" * 100_000] * 3)
    with pytest.raises(KubeLaunchError, match="KiB"):
        build_batch_job(huge, kube, roots, name="x", job_id="x")


def test_home_claim_is_valid() -> None:
    claim = build_home_claim(ClaimRequest("arcade-home-alice", "10Gi", "cephfs",
                                          ("ReadWriteMany",)), "alice")
    for version in VERSIONS:
        kubernetes_validate.validate(claim, version, strict=True)
    assert claim["spec"]["storageClassName"] == "cephfs"
    assert claim["metadata"]["labels"]["arcade-hub.org/user"] == "alice"


def test_hostpath_scratch_is_one_directory_per_instance() -> None:
    """With `scratch.mode: hostPath`, the pods of a multi-instance Job (one template) do not
    share the first instance's scratch directory: each pod gets `<host_path>/<pod name>`,
    which the kubelet makes from the mount's `subPathExpr`."""
    kube = {"scratch": {"mode": "hostPath", "host_path": "/srv/scratch/"},
            "security": {"pod_security": "privileged"}}
    job = batch_job(**kube)
    for version in VERSIONS:
        kubernetes_validate.validate(job, version, strict=True)
    pod_spec = job["spec"]["template"]["spec"]
    (volume,) = [v for v in pod_spec["volumes"] if v["name"] == "scratch"]
    assert volume["hostPath"] == {"path": "/srv/scratch", "type": "DirectoryOrCreate"}
    (container,) = pod_spec["containers"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "scratch"]
    assert mount["mountPath"] == "/arcade/scratch" and "subPath" not in mount
    # the root init container gives that same per-pod directory to the session's uid
    (init,) = pod_spec["initContainers"]
    assert init["command"] == ["chown", "1000:100", "/scratch"]
    assert init["volumeMounts"] == [{**mount, "mountPath": "/scratch"}]
    assert {"name": "ARCADE_POD_NAME", "valueFrom": {"fieldRef": {
        "fieldPath": "metadata.name"}}} in init["env"]

    def node_directory(pod_name: str) -> str:
        pod = {"metadata": {"name": pod_name, "annotations": {}}}
        env = container_env(pod, container)
        return posixpath.join(volume["hostPath"]["path"],
                              kubelet_expand(mount["subPathExpr"], env))

    names = ["arcade-job-j4f2a-0-x7k2p", "arcade-job-j4f2a-1-q9d4m", "arcade-job-j4f2a-2-b3n8s"]
    assert [node_directory(n) for n in names] == [f"/srv/scratch/{n}" for n in names]
    # in the container, scratch is where it always is
    shown = run_instance(job, 1, 'printf "%s %s\\n" "$ARCADE_SCRATCH" "$ARCADE_POD_NAME"')
    assert shown.stdout == "/arcade/scratch arcade-job-j4f2a-1-x7k2p\n", shown.stderr

    # one instance: its session's directory, as a session pod's
    config = platform(**kube)
    (one,) = instance_specs([""], **kube)
    single = build_batch_job([one], config.backend.kubernetes, config.storage,
                             name="arcade-job-j4f2a", job_id="j4f2a")
    volumes = {v["name"]: v for v in single["spec"]["template"]["spec"]["volumes"]}
    assert volumes["scratch"]["hostPath"]["path"] == "/srv/scratch/s1"
    # other modes are per pod by themselves: unchanged
    (plain,) = [m for m in batch_job()["spec"]["template"]["spec"]["containers"][0][
        "volumeMounts"] if m["name"] == "scratch"]
    assert plain == {"name": "scratch", "mountPath": "/arcade/scratch"}
    assert "initContainers" not in batch_job()["spec"]["template"]["spec"]


def test_container_contract_documents_multi_instance_jobs() -> None:
    """What an image needs for multi-instance jobs on Kubernetes and what an instance finds,
    in the contract image authors read, with the limit the builder enforces."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "reference"
            / "container-contract.md").read_text()
    section = text.split("## Batch jobs", 1)[1].split("\n## ", 1)[0]
    assert "POSIX `/bin/sh`" in section
    assert f"{PER_INSTANCE_LIMIT // 1024} KiB" in section
    for variable in ("JOB_COMPLETION_INDEX", "REPLICA_ID", "REPLICA_COUNT", "ARCADE_JOB_PARAM"):
        assert f"`{variable}`" in section, variable

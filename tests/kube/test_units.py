"""Names without collisions, settings validation, the Pod Security checker, error paths."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from kubespawner.slugs import is_valid_label, is_valid_object_name
from pydantic import ValidationError

from arcade_hub.config import Jobs, PlatformConfig
from arcade_hub.config.kubernetes import KubeBackend
from arcade_hub.kube.availability import KubeAvailability
from arcade_hub.kube.builders import build_pod_pieces
from arcade_hub.kube.names import label_value, object_name, path_component
from arcade_hub.kube.objects import build_batch_job, build_job, pod_manifest, serialize
from arcade_hub.kube.restricted import PodSecurityViolation, check, violations
from arcade_hub.kube.volumes import KubeLaunchError, build_storage, home_claim_name
from arcade_hub.launch.choices import UserContext
from arcade_hub.launch.request import LaunchRefused, LaunchRequest
from arcade_hub.launch.site import Availability, Site
from arcade_hub.launch.spec import LaunchSpec
from tests.planning import AllLocal, plan_job_now

from .conftest import PLATFORM, launch_spec, platform

# differ only in case or punctuation (GHSA-v7m9-9497-p9gr), or look like a slug themselves
LOOKALIKES = ["alice", "Alice", "ALICE", "a.lice", "a-lice", "a_lice", "alice.", "alice@x",
              "alice-x", "alice--x", "alice---0123abcd", "élice", "x-alice", "1alice"]


def test_lookalike_users_never_share_storage() -> None:
    kube = KubeBackend(home={"mode": "claim-per-user"})
    config = platform()
    claims, subpaths, homes, labels = set(), set(), set(), set()
    for user in LOOKALIKES:
        claim = home_claim_name(kube, user)
        assert is_valid_object_name(claim), claim
        claims.add(claim)
        sub = path_component(user)
        assert is_valid_label(sub) and sub not in (".", ".."), sub
        subpaths.add(sub)
        storage = build_storage(launch_spec(config, username=user), config.backend.kubernetes,
                                config.storage)
        homes.add(storage.mounts[0]["subPath"])
        value = label_value(user)
        assert is_valid_label(value)
        labels.add(value)
    for seen in (claims, subpaths, homes, labels):
        assert len(seen) == len(LOOKALIKES)


def test_lookalike_groups_get_distinct_volumes_and_folders() -> None:
    config = platform(projects={"mode": "claim-per-group"})
    groups = ("Astro", "astro", "as.tro", "as-tro")
    spec = launch_spec(config, groups=groups)
    storage = build_storage(spec, config.backend.kubernetes, config.storage)
    names = [v["name"] for v in storage.volumes]
    claims = [v["persistentVolumeClaim"]["claimName"] for v in storage.volumes
              if "persistentVolumeClaim" in v]
    paths = [m["mountPath"] for m in storage.mounts]
    assert len(claims) == len(groups) + 1  # + home
    for seen in (names, claims, paths):
        assert len(seen) == len(set(seen))
    assert all(is_valid_object_name(n) for n in names + claims)


def test_long_names_stay_valid() -> None:
    long = "a" * 200
    assert len(object_name("arcade-home-", long)) <= 63
    assert is_valid_object_name(object_name("arcade-home-", long))
    assert is_valid_label(label_value("registry.example.org/" + long + ":tag"))
    with pytest.raises(ValueError):
        path_component("")


@pytest.mark.parametrize(("kube", "message"), [
    ({"datasets": {"d": {"type": "nfs", "server": "s", "path": "/p"}}}, "nfs volume"),
    ({"datasets": {"d": {"type": "hostPath", "path": "/p"}},
      "security": {"pod_security": "baseline"}}, "hostPath volume"),
    ({"scratch": {"mode": "hostPath"}}, "scratch.mode is hostPath"),
    ({"security": {"uids": {"root": 0}}}, "root is not allowed"),
    ({"security": {"uid": 0}}, "greater than or equal to 1"),
    ({"cpu_guarantee": 1.5}, "less than or equal to 1"),
    ({"unknown": 1}, "Extra inputs are not permitted"),
    ({"home": {"claim_prefix": "Bad_Prefix"}}, "should match pattern"),
])
def test_settings_refused(kube: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        KubeBackend.model_validate(kube)


def test_every_setting_has_title_and_description() -> None:
    from pydantic import BaseModel

    seen: set[type[BaseModel]] = set()

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, info in model.model_fields.items():
            assert info.title and info.description, f"{model.__name__}.{name}"
            for arg in _types(info.annotation):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    walk(arg)

    walk(KubeBackend)
    assert len(seen) >= 8


def _types(annotation: Any) -> list[Any]:
    from typing import get_args

    args = list(get_args(annotation))
    out = [annotation]
    for a in args:
        out += _types(a)
    return out


def test_per_user_uid_missing_is_refused() -> None:
    config = platform(security={"run_as": "per-user", "uids": {"bob": 5000}})
    with pytest.raises(KubeLaunchError, match="no uid is configured for 'alice'"):
        build_pod_pieces(launch_spec(config), config.backend.kubernetes, config.storage)


def test_unconfigured_dataset_is_refused() -> None:
    config = platform(datasets={})
    spec = launch_spec(config, "casa-6-7", dataset="alma-2019")
    with pytest.raises(KubeLaunchError, match=r"alma-2019.*backend\.kubernetes\.datasets"):
        build_pod_pieces(spec, config.backend.kubernetes, config.storage,
                         desktop=config.entry("desktop"))


def test_desktop_app_needs_desktop_and_headless_needs_command() -> None:
    config = platform()
    with pytest.raises(KubeLaunchError, match="desktop"):
        build_pod_pieces(launch_spec(config, "casa-6-7"), config.backend.kubernetes,
                         config.storage)
    with pytest.raises(KubeLaunchError, match="needs a command"):
        build_pod_pieces(launch_spec(config, "batch"), config.backend.kubernetes,
                         config.storage)


def _good_pod() -> dict[str, Any]:
    config = platform()
    pieces = build_pod_pieces(launch_spec(config), config.backend.kubernetes, config.storage)
    pod: dict[str, Any] = serialize(pod_manifest(pieces, name="p"))
    return pod


@pytest.mark.parametrize(("path", "value", "expected"), [
    (("spec", "hostNetwork"), True, "hostNetwork"),
    (("spec", "hostPID"), True, "hostPID"),
    (("spec", "securityContext", "runAsUser"), 0, "runAsUser must not be 0"),
    (("spec", "securityContext", "seccompProfile"), {"type": "Unconfined"}, "Unconfined"),
    (("c", "securityContext", "privileged"), True, "privileged"),
    (("c", "securityContext", "allowPrivilegeEscalation"), True, "allowPrivilegeEscalation"),
    (("c", "securityContext", "runAsNonRoot"), False, "runAsNonRoot"),
    (("c", "securityContext", "runAsUser"), 0, "uid 0"),
    (("c", "securityContext", "capabilities"), {"drop": ["NET_RAW"]}, "drop ALL"),
    (("c", "securityContext", "capabilities"), {"drop": ["ALL"], "add": ["SYS_ADMIN"]},
     "SYS_ADMIN"),
    (("c", "securityContext", "seccompProfile"), {"type": "Unconfined"}, "Unconfined"),
    (("c", "securityContext", "procMount"), "Unmasked", "procMount"),
    (("c", "ports"), [{"containerPort": 80, "hostPort": 80}], "hostPort"),
])
def test_checker_finds_violations(path: tuple[str, ...], value: Any, expected: str) -> None:
    pod = _good_pod()
    assert violations(pod) == []
    target = pod["spec"]["containers"][0] if path[0] == "c" else pod["spec"]
    for key in path[1:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    problems = violations(pod)
    assert any(expected in p for p in problems), problems
    with pytest.raises(PodSecurityViolation, match="restricted"):
        check(pod)


def test_checker_levels() -> None:
    pod = _good_pod()
    nfs = copy.deepcopy(pod)
    nfs["spec"]["volumes"].append({"name": "n", "nfs": {"server": "s", "path": "/"}})
    assert violations(nfs, "baseline") == []
    assert violations(nfs, "restricted")
    host = copy.deepcopy(pod)
    host["spec"]["volumes"].append({"name": "h", "hostPath": {"path": "/"}})
    assert violations(host, "baseline")
    assert violations(host, "privileged") == []
    no_seccomp = copy.deepcopy(pod)
    del no_seccomp["spec"]["securityContext"]["seccompProfile"]
    del no_seccomp["spec"]["containers"][0]["securityContext"]["seccompProfile"]
    assert any("seccompProfile" in p for p in violations(no_seccomp))
    assert violations(no_seccomp, "baseline") == []


# --- batch jobs: the command rule of each backend, the settings that apply -----------------

def _job_platform(kind: str, headless: list[str]) -> PlatformConfig:
    doc = copy.deepcopy(PLATFORM)
    for entry in doc["catalogue"]:
        if entry["name"] == "batch":
            entry["local"] = {"cmd": ["python3", "-u"]}
    doc["backend"]["kind"] = kind
    doc["backend"]["kubernetes"]["commands"] = {"headless": headless}
    return PlatformConfig.model_validate(doc)


def _job_specs(config: PlatformConfig, backend: str, cmd: tuple[str, ...] = ()) -> list[LaunchSpec]:
    availability: Availability = (
        KubeAvailability.of(config) if backend == "kubernetes" else AllLocal()
    )
    site = Site(data_dir=Path("/unused"), availability=availability, datasets_on_host=False)
    request = LaunchRequest(image="batch", cmd=cmd, args=("--all",))
    return plan_job_now(request, config, UserContext("alice"), site)


def test_job_command_depends_on_the_backend() -> None:
    """The embedded backend puts the entry's `local.cmd` first (it runs no image); on
    Kubernetes the image's entrypoint starts `commands.headless`, which the pod builders add:
    the spec carries the job's own command only, and needs none when the platform has one."""
    config = _job_platform("kubernetes", ["arcade-run"])
    (local,) = _job_specs(config, "local", cmd=("fit",))
    assert local.cmd == ("python3", "-u", "fit")
    (kube,) = _job_specs(config, "kubernetes", cmd=("fit",))
    assert kube.cmd == ("fit",) and kube.args == ("--all",)
    (bare,) = _job_specs(config, "kubernetes")  # commands.headless is the command
    assert bare.cmd == ()
    job = build_job(bare, config.backend.kubernetes, config.storage, name="arcade-job-job1")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["arcade-run", "--all"] and "command" not in container
    entry = config.entry("batch")
    assert KubeAvailability.of(config).job_prefix(entry) == ("arcade-run",)
    assert AllLocal().job_prefix(entry) == ("python3", "-u")


def test_an_entry_s_own_kubernetes_command_replaces_commands_headless() -> None:
    """A batch entry with `kubernetes.cmd` (the CASA batch entries: `casa --python`) runs the
    job's cmd after it, as the embedded backend runs it after `local.cmd`: the user gives the
    same script on both; the Batch page shows it (`job_prefix`); other entries keep
    `commands.headless`, and so does a multi-instance job's runner."""
    doc = copy.deepcopy(PLATFORM)
    (batch,) = [e for e in doc["catalogue"] if e["name"] == "batch"]
    doc["catalogue"].append({**batch, "name": "casa-batch", "title": "CASA (batch)",
                             "kubernetes": {"cmd": ["casa", "--python"]}})
    doc["backend"]["kubernetes"]["commands"] = {"headless": ["arcade-run"]}
    config = PlatformConfig.model_validate(doc)
    availability = KubeAvailability.of(config)
    assert availability.job_prefix(config.entry("casa-batch")) == ("casa", "--python")
    assert availability.job_prefix(config.entry("batch")) == ("arcade-run",)
    site = Site(data_dir=Path("/unused"), availability=availability, datasets_on_host=False)
    kube = config.backend.kubernetes
    for replicas, image, start in ((1, "casa-batch", ["casa", "--python"]),
                                   (1, "batch", ["arcade-run"]),
                                   (2, "casa-batch", ["casa", "--python"])):
        request = LaunchRequest(image=image, cmd=("reduce.py",), instances=replicas)
        specs = plan_job_now(request, config, UserContext("alice"), site)
        job = build_batch_job(specs, kube, config.storage, name="arcade-job-j1", job_id="j1",
                              entry=config.entry(image))
        (container,) = job["spec"]["template"]["spec"]["containers"]
        args = container["args"]
        if replicas == 1:
            assert args == [*start, "reduce.py"], (image, args)
        else:  # the instance script runs the prefix with each instance's own arguments
            assert args[-3:] == [*start, "reduce.py"], args


@pytest.mark.parametrize(("kind", "headless", "backend", "says", "where"), [
    ("kubernetes", [], "kubernetes", "no command of its own: give one with `cmd`",
     "backend.kubernetes.commands.headless"),
    ("local", ["arcade-run"], "local", "no command of its own here: give the command to run",
     "no `local.cmd`"),
])
def test_job_without_any_command_is_a_clear_400(kind: str, headless: list[str], backend: str,
                                                says: str, where: str) -> None:
    config = _job_platform(kind, headless)
    if backend == "local":  # an entry without `local.cmd`
        config = config.model_copy(update={"catalogue": [
            e.model_copy(update={"local": None}) if e.name == "batch" else e
            for e in config.catalogue]})
    with pytest.raises(LaunchRefused) as info:
        _job_specs(config, backend)
    assert info.value.status == 400
    message = info.value.errors["cmd"]
    # the user's words first (the same on both backends), the operators' after
    assert message.startswith("Batch has no command of its own here: give the command to run")
    assert where in message


def test_job_settings_say_what_applies_on_kubernetes() -> None:
    """The configuration reference (generated from these descriptions) tells operators of
    the Kubernetes backend which `jobs` settings it ignores and how the lifetime counts."""
    fields = Jobs.model_fields
    assert "Not used on Kubernetes" in (fields["max_concurrency"].description or "")
    assert "Does not apply on Kubernetes" in (fields["log_dir"].description or "")
    lifetime = fields["max_runtime_hours"].description or ""
    assert "activeDeadlineSeconds" in lifetime and "`Pending`" in lifetime
    assert "from when it starts running" in lifetime  # the embedded backend's count
    for name in ("max_concurrency", "log_dir"):
        assert "(embedded backend)" in (fields[name].title or ""), name

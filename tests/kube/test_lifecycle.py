"""ArcadeKubeSpawner against the fake API (and a real cluster with ARCADE_TEST_KUBECONFIG)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from kubernetes_asyncio.client.rest import ApiException

from arcade_hub.config import PlatformConfig
from arcade_hub.kube.objects import pod_manifest, serialize
from arcade_hub.kube.restricted import PodSecurityViolation, violations
from arcade_hub.launch.spec import LaunchSpec
from arcade_hub.spawners.kube import ArcadeKubeSpawner

from .conftest import PLATFORM, Cluster, build_spawner, launch_spec, platform
from .fake_api import FakeKubeAPI, kubelet_expand
from .service import container_env


def lifecycle_platform(cluster: Cluster, **kube: Any) -> PlatformConfig:
    """On a real cluster: a real image serving HTTP, and storage the cluster can provide."""
    if cluster.real is None:
        return platform(**kube)
    image = cluster.real.images["notebook"]
    doc = {**PLATFORM, "catalogue": [{**e, "image": image} for e in PLATFORM["catalogue"]]}
    doc["backend"] = {"kind": "kubernetes", "kubernetes": {
        "commands": {"notebook": ["python3", "-m", "http.server", "8888"]},
        "home": {"mode": "claim-per-user", "access_modes": ["ReadWriteOnce"], "capacity": "1Gi"},
        "projects": {"enabled": False},
        **kube,
    }}
    return PlatformConfig.model_validate(doc)


async def wait_pod(spawner: ArcadeKubeSpawner, api: FakeKubeAPI) -> dict[str, Any]:
    await api.wait_for(lambda: api.get("pods", spawner.namespace, spawner.pod_name) is not None)
    pod = api.get("pods", spawner.namespace, spawner.pod_name)
    assert pod is not None
    return pod


async def run_until_running(spawner: ArcadeKubeSpawner, cluster: Cluster) -> str:
    """start(); on the fake, play the kubelet: mark the pod Running once it exists."""
    start = asyncio.ensure_future(spawner.start())
    if cluster.fake is not None:
        await wait_pod(spawner, cluster.fake)
        await cluster.fake.mark_running(spawner.namespace, spawner.pod_name)
    url: str = await asyncio.wait_for(start, spawner.start_timeout + 5)
    return url


async def forget_real_claim(spawner: ArcadeKubeSpawner, cluster: Cluster) -> None:
    """On a real cluster, remove the home claim the test created."""
    if cluster.fake is None and spawner.storage_pvc_ensure:
        await spawner.api.delete_namespaced_persistent_volume_claim(
            spawner.pvc_name, spawner.namespace)


async def test_start_poll_stop(cluster: Cluster) -> None:
    config = lifecycle_platform(cluster)
    spec = launch_spec(config, username=f"Test.User-{os.getpid()}", server_name="lab")
    spawner = build_spawner(cluster, config, spec)
    url = await run_until_running(spawner, cluster)
    assert url.endswith(":8888")
    assert await spawner.poll() is None

    pod = spawner.pod_reflector.pods[f"{spawner.namespace}/{spawner.pod_name}"]
    assert pod["metadata"]["labels"]["arcade-hub.org/kind"] == "notebook"
    assert violations(pod) == []
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert env["ARCADE_SESSION_ID"] == spec.session_id
    assert env["JUPYTERHUB_USER"] == spec.username
    # JupyterLab's file browser: home, projects, datasets and scratch side by side
    assert env["JUPYTERHUB_ROOT_DIR"] == "/arcade"
    assert env["JUPYTERHUB_DEFAULT_URL"] == "/lab/tree/home"
    if cluster.fake is not None:
        assert url == "http://10.0.0.7:8888"
        assert cluster.fake.rejected == []
        assert cluster.fake.counts[("create", "pods")] == 1

    await spawner.stop()
    assert await spawner.poll() == 1
    if cluster.fake is not None:
        assert cluster.fake.list("pods") == []
    await forget_real_claim(spawner, cluster)


async def test_home_claim_per_user_is_created_once(cluster: Cluster) -> None:
    config = lifecycle_platform(cluster, home={"mode": "claim-per-user",
                                               "access_modes": ["ReadWriteOnce"]})
    spec = launch_spec(config, username=f"claim-user-{os.getpid()}")
    spawner = build_spawner(cluster, config, spec)
    await run_until_running(spawner, cluster)
    claim = spawner.pvc_name
    assert claim.startswith("arcade-home-")
    volumes = spawner.pod_reflector.pods[f"{spawner.namespace}/{spawner.pod_name}"]["spec"][
        "volumes"]
    assert {"name": "home", "persistentVolumeClaim": {"claimName": claim}} in volumes
    await spawner.stop()
    await spawner.delete_forever()  # homes survive
    await forget_real_claim(spawner, cluster)
    if cluster.fake is not None:
        assert cluster.fake.get("persistentvolumeclaims", spawner.namespace, claim)
        assert cluster.fake.rejected == []
        # a second session of the same user finds the claim (409 is fine)
        again = build_spawner(cluster, config, spec.model_copy(update={"server_name": "two"}))
        await run_until_running(again, cluster)
        assert again.pvc_name == claim
        assert len(cluster.fake.list("persistentvolumeclaims")) == 1
        await again.stop()


async def test_progress_reports_pod_events(fake_api: FakeKubeAPI) -> None:
    cluster = Cluster(fake_api.url, "arcade-test", fake_api)
    config = platform()
    spawner = build_spawner(cluster, config, launch_spec(config))
    start = asyncio.ensure_future(spawner.start())
    messages: list[str] = []

    async def follow() -> None:
        async for event in spawner.progress():
            messages.append(event["message"])

    follower = asyncio.ensure_future(follow())
    await wait_pod(spawner, fake_api)
    await fake_api.emit_event("arcade-test", spawner.pod_name, "Successfully assigned to node-1")
    await fake_api.emit_event("arcade-test", spawner.pod_name, "Pulling image", reason="Pulling")
    await fake_api.wait_for(lambda: len(spawner.events) == 2)
    await fake_api.mark_running("arcade-test", spawner.pod_name)
    await start
    await asyncio.wait_for(follower, 5)
    assert any("Successfully assigned to node-1" in m for m in messages)
    assert any("[Normal] Pulling image" in m for m in messages)
    await spawner.stop()


async def test_conflicting_pod_is_replaced(fake_api: FakeKubeAPI) -> None:
    cluster = Cluster(fake_api.url, "arcade-test", fake_api)
    config = platform()
    spawner = build_spawner(cluster, config, launch_spec(config))
    stale = await fake_api.put("pods", "arcade-test", {
        "metadata": {"name": spawner.pod_name, "labels": {"component": "singleuser-server"}},
        "spec": {"containers": [{"name": "notebook", "image": "old"}]},
        "status": {"phase": "Running"},
    })
    stale_uid = stale["metadata"]["uid"]
    start = asyncio.ensure_future(spawner.start())
    await fake_api.wait_for(lambda: (
        (pod := fake_api.get("pods", "arcade-test", spawner.pod_name)) is not None
        and pod["metadata"]["uid"] != stale_uid))
    await fake_api.mark_running("arcade-test", spawner.pod_name)
    await start
    assert fake_api.counts[("create", "pods")] >= 2  # 409, delete, create again
    assert fake_api.counts[("delete", "pods")] >= 1
    await spawner.stop()


async def test_start_timeout_then_stop_cleans_up(fake_api: FakeKubeAPI) -> None:
    cluster = Cluster(fake_api.url, "arcade-test", fake_api)
    config = platform()
    spawner = build_spawner(cluster, config, launch_spec(config), start_timeout=1)
    with pytest.raises(TimeoutError, match="did not start in 1 seconds"):
        await spawner.start()
    assert fake_api.list("pods")  # pending pod is left for the hub to stop
    await spawner.stop(now=True)
    assert fake_api.list("pods") == []


async def test_api_500_is_a_clear_error_and_leaks_nothing(fake_api: FakeKubeAPI) -> None:
    cluster = Cluster(fake_api.url, "arcade-test", fake_api)
    config = platform()
    spawner = build_spawner(cluster, config, launch_spec(config))
    fake_api.fail("create", "pods", status=500)
    with pytest.raises(ApiException) as info:
        await spawner.start()
    assert info.value.status == 500
    assert "injected failure for create pods" in str(info.value.body)
    assert fake_api.list("pods") == []
    assert fake_api.list("services") == [] and fake_api.list("secrets") == []


async def test_slow_api_is_retried(fake_api: FakeKubeAPI) -> None:
    cluster = Cluster(fake_api.url, "arcade-test", fake_api)
    config = platform()
    spawner = build_spawner(cluster, config, launch_spec(config), k8s_api_request_timeout=1)
    fake_api.slow("create", "pods", 1.5)
    url = await run_until_running(spawner, cluster)
    assert url == "http://10.0.0.7:8888"
    assert fake_api.counts[("create", "pods")] >= 2
    # the create that timed out lands too (a real API server finishes it as well), and is
    # refused as a conflict; a session stopped before that would get its pod back, which
    # only a start and stop quicker than the API server's answer can meet
    await fake_api.wait_for(lambda: fake_api.delayed == 0)
    await spawner.stop()
    assert fake_api.list("pods") == []


async def test_pod_security_violation_is_refused(fake_api: FakeKubeAPI) -> None:
    """An operator override that breaks `restricted` never reaches the API."""
    cluster = Cluster(fake_api.url, "arcade-test", fake_api)
    config = platform()
    spawner = build_spawner(cluster, config, launch_spec(config),
                            extra_container_config={"securityContext": {"privileged": True}})
    with pytest.raises(PodSecurityViolation, match="must not be privileged"):
        await spawner.start()
    assert fake_api.counts[("create", "pods")] == 0


async def test_invalid_manifest_gets_422(fake_api: FakeKubeAPI) -> None:
    """The fake validates strictly, so a typo in operator config fails like a real API."""
    cluster = Cluster(fake_api.url, "arcade-test", fake_api)
    config = platform()
    spawner = build_spawner(cluster, config, launch_spec(config))
    spawner.apply_pieces(spawner.render(launch_spec(config)))
    pod = await spawner.get_pod_manifest()
    pod.spec.node_selector = {"a": 1}  # type: ignore[dict-item]  # caught by the schema
    with pytest.raises(ApiException) as info:
        await spawner.api.create_namespaced_pod("arcade-test", pod)
    assert info.value.status == 422
    assert fake_api.rejected and fake_api.list("pods") == []


@pytest.mark.parametrize("entry", ["notebook", "desktop", "casa-6-7"])
async def test_spawner_pod_matches_builder_pod(fake_api: FakeKubeAPI, entry: str) -> None:
    """What the spawner sends is what the golden files pin (plus the hub's own env)."""
    cluster = Cluster(fake_api.url, "arcade-test", fake_api)
    config = platform(home={"mode": "claim-per-user"})
    spec = launch_spec(config, entry, dataset="alma-2019", gpus=1)
    spawner = build_spawner(cluster, config, spec)
    pieces = spawner.render(spec)
    spawner.apply_pieces(pieces)
    got = serialize(await spawner.get_pod_manifest())
    want = serialize(pod_manifest(pieces, name=spawner.pod_name))
    for key in ("volumes", "tolerations", "nodeSelector", "securityContext", "containers"):
        if key == "containers":
            for g, w in zip(got["spec"][key], want["spec"][key], strict=True):
                g_env = {e["name"]: e for e in g.pop("env", [])}
                assert all(g_env[e["name"]] == e for e in w.pop("env", []))
                assert g.pop("lifecycle", {}) == {}  # KubeSpawner's empty lifecycle_hooks
                assert g == w
        else:
            assert got["spec"].get(key) == want["spec"].get(key), key
    assert want["metadata"]["labels"].items() <= got["metadata"]["labels"].items()
    assert want["metadata"]["annotations"].items() <= got["metadata"]["annotations"].items()


async def test_template_braces_are_not_expanded(fake_api: FakeKubeAPI) -> None:
    cluster = Cluster(fake_api.url, "arcade-test", fake_api)
    config = platform()
    spec: LaunchSpec = launch_spec(config, env={"PATTERN": "{username}-{0}"})
    spawner = build_spawner(cluster, config, spec)
    spawner.apply_pieces(spawner.render(spec))
    pod = await spawner.get_pod_manifest()
    env = {e.name: e.value for e in pod.spec.containers[0].env}
    assert env["PATTERN"] == "{username}-{0}"


async def test_missing_launch_spec_is_refused(fake_api: FakeKubeAPI) -> None:
    cluster = Cluster(fake_api.url, "arcade-test", fake_api)
    config = platform()
    spawner = build_spawner(cluster, config, launch_spec(config))
    spawner.launch_spec = None
    with pytest.raises(ValueError, match="no launch spec"):
        spawner.start()


DOLLARS = "a $(HOME) b $$ c $(ARCADE_SESSION_ID) ${HOME} $"
"""Written as the kubelet would expand it, were `$` not escaped: `$(VAR)` of an earlier
variable becomes its value, `$$` becomes `$`."""


@pytest.mark.parametrize("entry", ["notebook", "batch", "casa-6-7"])
async def test_dollar_signs_reach_the_session_as_written(fake_api: FakeKubeAPI,
                                                        entry: str) -> None:
    """The session pod the spawner creates gives its containers the launch's env values and
    command as written, and JupyterHub's own values (here a username with `$`) too: the
    kubelet's expansion of `$(VAR)` and `$$` in env values, command and args changes
    nothing."""
    cluster = Cluster(fake_api.url, "arcade-test", fake_api)
    config = platform()
    username = "cash$(HOME)$$user"
    cmd = () if entry == "notebook" else ("echo", DOLLARS)
    spec = launch_spec(config, entry, username=username, env={"LITERAL": DOLLARS}, cmd=cmd)
    spawner = build_spawner(cluster, config, spec)
    start = asyncio.ensure_future(spawner.start())
    pod = await wait_pod(spawner, fake_api)
    assert fake_api.rejected == []
    containers = {c["name"]: c for c in pod["spec"]["containers"]}
    main = containers["notebook"]
    env = container_env(pod, main)
    assert env["LITERAL"] == DOLLARS
    assert env["JUPYTERHUB_USER"] == username
    assert env["HOME"] == env["ARCADE_HOME"] and "$" not in env["HOME"]
    args = [kubelet_expand(a, env) for a in main.get("args", [])]
    if entry == "batch":
        assert args[:2] == ["echo", DOLLARS]
    if entry == "casa-6-7":  # the app's own container, next to the desktop
        app = containers["app"]
        app_env = container_env(pod, app)
        assert app_env["LITERAL"] == DOLLARS
        assert [kubelet_expand(c, app_env) for c in app["command"]] == ["echo", DOLLARS]
    await fake_api.mark_running("arcade-test", spawner.pod_name)
    await start
    await spawner.stop()
    assert fake_api.list("pods") == []


@pytest.mark.parametrize("entry", ["notebook", "desktop"])
async def test_sessions_are_told_the_arcade_api(fake_api: FakeKubeAPI, entry: str) -> None:
    """`arcade-launch` and the desktop menu call the arcade service: session pods get its
    URL as ARCADE_API_URL (z2jh: through the proxy), as the embedded backend's sessions do."""
    cluster = Cluster(fake_api.url, "arcade-test", fake_api)
    config = platform()
    url = "http://proxy-public/services/arcade/api/v1"
    spawner = build_spawner(cluster, config, launch_spec(config, entry), arcade_api_url=url)
    spawner.apply_pieces(spawner.render(launch_spec(config, entry)))
    pod = serialize(await spawner.get_pod_manifest())
    env = container_env(pod, pod["spec"]["containers"][0])
    assert env["ARCADE_API_URL"] == url
    without = build_spawner(cluster, config, launch_spec(config, entry))
    without.apply_pieces(without.render(launch_spec(config, entry)))
    names = [e.name for e in (await without.get_pod_manifest()).spec.containers[0].env]
    assert "ARCADE_API_URL" not in names


async def test_the_hubs_own_settings_are_kept(fake_api: FakeKubeAPI) -> None:
    """What the hub's configuration gives every session pod (z2jh: the label that lets
    sessions reach the hub, the user pool's tolerations, singleuser.extraEnv, extra volumes)
    stays next to the launch's own; the launch wins where both set a key, and starting the
    same spawner again adds nothing twice."""
    cluster = Cluster(fake_api.url, "arcade-test", fake_api)
    config = platform()
    spec = launch_spec(config, "desktop", gpus=1)
    z2jh_toleration = {"key": "hub.jupyter.org/dedicated", "operator": "Equal",
                       "value": "user", "effect": "NoSchedule"}
    spawner = build_spawner(
        cluster, config, spec,
        extra_labels={"hub.jupyter.org/network-access-hub": "true"},
        tolerations=[z2jh_toleration], environment={"SITE": "yes", "HOME": "/nope"},
        volumes={"0-site": {"name": "site", "emptyDir": {}}},
        volume_mounts={"0-site": {"name": "site", "mountPath": "/site"}},
        node_selector={"pool": "users"})
    for _ in range(2):
        spawner.apply_pieces(spawner.render(spec))
        pod = serialize(await spawner.get_pod_manifest())
        assert pod["metadata"]["labels"]["hub.jupyter.org/network-access-hub"] == "true"
        assert pod["metadata"]["labels"]["arcade-hub.org/kind"] == "desktop"
        tolerations = pod["spec"]["tolerations"]
        assert tolerations.count(z2jh_toleration) == 1
        assert {"key": "nvidia.com/gpu", "operator": "Exists",
                "effect": "NoSchedule"} in tolerations
        main = pod["spec"]["containers"][0]
        env = container_env(pod, main)
        assert env["SITE"] == "yes" and env["HOME"] == "/home/alice"  # the contract wins
        names = [v["name"] for v in pod["spec"]["volumes"]]
        assert names.count("site") == 1 and "home" in names and "x11" in names
        assert {"name": "site", "mountPath": "/site"} in main["volumeMounts"]
        assert pod["spec"]["nodeSelector"] == {"pool": "users"}

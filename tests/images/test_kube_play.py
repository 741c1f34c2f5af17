"""Every pod and Job the Kubernetes builders produce, run by a real container runtime
(`podman kube play`, see kube_play.py) against the images built by scripts/build-images.sh,
without a cluster: the session process starts with the right command, uid/gid and
environment, and its mounts are writable or read-only as documented. The pods come from the
public entry points: ArcadeKubeSpawner's own manifest (with the hub's environment, a stub
Hub API answering), `build_app_pod`, `build_batch_job`.

A desktop pod that runs `jupyterhub-singleuser` without Arcade's server extension (what
happened on Kubernetes) fails here: its desktop never publishes itself for the X relay.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from kubespawner import KubeSpawner
from kubespawner.clients import load_config

from arcade_hub.config import PlatformConfig
from arcade_hub.desktop.xauth import new_cookie
from arcade_hub.images.conformance.podman import Podman
from arcade_hub.images.conformance.runtime import StubHub, wait_for
from arcade_hub.kube.objects import (
    Owner,
    build_app_pod,
    build_batch_job,
    build_x11_secret,
    serialize,
)
from arcade_hub.launch.spec import LaunchSpec
from arcade_hub.local.podman_apps import oci_runtime
from arcade_hub.spawners.kube import ArcadeKubeSpawner
from tests.kube.conftest import (
    PLATFORM,
    Cluster,
    MockHub,
    build_spawner,
    launch_spec,
    use_kubeconfig,
)

from .built_images import build, listed, script_env, storage_podman
from .kube_play import Played, get, play, unique

USER = "alice"
Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def images(podman: Podman, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[Podman, dict[str, str]]]:
    """notebook, desktop and headless, built (or found cached) by scripts/build-images.sh, and
    a podman of its own for `kube play`: its own store, run and temporary directories (podman's
    default /run/libpod is shared by every podman of the machine, and another's `system reset`
    there would make this one forget its running pods), reading the built images from the
    build's store."""
    runtime = oci_runtime()
    assert podman.env is not None
    env = script_env(podman.env["CONTAINERS_CONF"], runtime)
    names = ["notebook", "desktop", "headless"]
    build(names, env, tmp_path_factory.mktemp("kube-play-build") / "build.log")
    refs = listed(names, env)
    built = storage_podman(env, runtime)
    own = tmp_path_factory.mktemp("kube-play-podman")
    (own / "storage.conf").write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{own}/root"\nrunroot = "{own}/run"\n'
        f'[storage.options]\nadditionalimagestores = ["{built.root}"]\n')
    (own / "containers.conf").write_text(
        Path(podman.env["CONTAINERS_CONF"]).read_text()
        + f'\n[engine]\ntmp_dir = "{own}/tmp"\n')
    player = Podman(runtime=runtime, env={
        **env, "CONTAINERS_CONF": str(own / "containers.conf"),
        "CONTAINERS_STORAGE_CONF": str(own / "storage.conf")})
    yield player, refs
    # (never `system reset`: it could reach the build's store)
    pods = player.call(["pod", "ps", "-q"]).stdout.split()
    leftovers = player.call(["ps", "-aq"]).stdout.split()
    volumes = player.call(["volume", "ls", "-q"]).stdout.split()
    for pod in pods:
        player.call(["pod", "rm", "-f", pod])
    for container in leftovers:
        player.remove(container)
    for volume in volumes:
        player.call(["volume", "rm", "-f", volume])
    assert not (pods or leftovers or volumes), (
        f"left behind: pods {pods}, containers {leftovers}, volumes {volumes}")


@pytest.fixture
def hub() -> Iterator[StubHub]:
    """A stub Hub API in a network namespace of its own, which the test's pods join."""
    stub = StubHub(f"kube-play-{os.getpid()}-{time.monotonic_ns()}", user=USER)
    yield stub
    stub.stop()


@pytest_asyncio.fixture
async def kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """KubeSpawner wants a kubeconfig, though nothing here talks to an API server."""
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n")
    use_kubeconfig(monkeypatch, path)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    load_config.cache_clear()
    yield
    await KubeSpawner._stop_all_reflectors()
    load_config.cache_clear()


def platform(refs: dict[str, str], **kube: Any) -> PlatformConfig:
    """The tests' platform on the built images, with claims of this test's own (podman makes
    a volume per claim name)."""
    images = {"notebook": refs["notebook"], "desktop": refs["desktop"],
              "casa-6-7": refs["desktop"], "batch": refs["headless"]}
    catalogue = [{**e, "image": images[e["name"]]} for e in PLATFORM["catalogue"]]
    catalogue.append({"name": "xterm", "title": "Terminal", "kind": "desktop-app",
                      "image": refs["desktop"], "local": {"cmd": ["xterm"]}})
    settings = {
        "home": {"mode": "shared-claim", "claim": unique("kp-home")},
        "projects": {"enabled": True, "mode": "shared-claim", "claim": unique("kp-projects")},
        "datasets": {"alma-2019": {"type": "pvc", "claim": unique("kp-data"),
                                   "sub_path": "alma"}},
        "scratch": {"mode": "emptyDir", "size": "1Gi"},
        **kube,
    }
    return PlatformConfig.model_validate({**PLATFORM, "catalogue": catalogue, "backend": {
        "kind": "kubernetes", "kubernetes": settings}})


async def session_pod(config: PlatformConfig, spec: LaunchSpec, hub: StubHub) -> Manifest:
    """The pod ArcadeKubeSpawner sends, with the environment a hub gives it."""
    spawner: ArcadeKubeSpawner = build_spawner(
        Cluster("http://127.0.0.1:9", "arcade-test", None), config, spec,
        hub=MockHub(api_url=hub.api_url))
    spawner.api_token = hub.token
    spawner.apply_pieces(spawner.render(spec))
    pod: Manifest = serialize(await spawner.get_pod_manifest())
    pod["metadata"]["name"] = unique("kp-" + spec.kind.value)
    return pod


def env_of(played: Played, container: str) -> dict[str, str]:
    status, out = played.exec(container, "env")
    assert status == 0, out
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


WRITABLE = r"""
for d in "$@"; do
  if err=$(touch "$d/.kube-play" 2>&1); then echo "rw $d"; rm -f "$d/.kube-play"
  else echo "ro $d"; fi
done
"""


def access(played: Played, container: str, *paths: str) -> dict[str, str]:
    quoted = " ".join(f"'{p}'" for p in paths)
    status, out = played.exec(container, f"set -- {quoted}\n{WRITABLE}")
    assert status == 0, out
    return {line.split(" ", 1)[1]: line.split(" ", 1)[0] for line in out.splitlines()}


def check_storage(played: Played, container: str, uid: int, gid: int) -> None:
    """What the contract promises, as the session's own uid."""
    rows = played.processes(container)
    assert {(u, g) for _, u, g, _ in rows} == {(uid, gid)}, rows
    assert access(played, container, f"/home/{USER}", "/arcade/projects/astro",
                  "/arcade/scratch", "/arcade/datasets/alma-2019") == {
        f"/home/{USER}": "rw", "/arcade/projects/astro": "rw", "/arcade/scratch": "rw",
        "/arcade/datasets/alma-2019": "ro"}


def server_url(played: Played, container: str, path: str) -> str:
    """`path` on the session's server (under JUPYTERHUB_SERVICE_PREFIX: a spawner without
    the hub's server record gives none, and the server serves at /)."""
    prefix = env_of(played, container).get("JUPYTERHUB_SERVICE_PREFIX", "/")
    return f"http://127.0.0.1:8888{prefix}{path}"


def wait_answer(played: Played, container: str, hub: StubHub, path: str) -> tuple[int, str]:
    pid = played.pid(container)
    url = server_url(played, container, path)
    answer: list[tuple[int, str]] = []

    def answered() -> bool:
        answer[:] = [get(pid, url, hub.token)]
        return answer[0][0] == 200

    wait_for(answered, 120, interval=0.5)
    assert answer and answer[0][0] == 200, f"{answer} {played.logs(container)[-2000:]}"
    return answer[0]


# --- sessions --------------------------------------------------------------------------------

async def test_notebook_session(images: tuple[Podman, dict[str, str]], hub: StubHub,
                                kubeconfig: None, tmp_path: Path) -> None:
    podman, refs = images
    config = platform(refs)
    spec = launch_spec(config, "notebook", username=USER, dataset="alma-2019")
    pod = await session_pod(config, spec, hub)
    with play(podman, pod, hub.netns, tmp_path) as played:
        _, body = wait_answer(played, "notebook", hub, "api")
        assert "version" in json.loads(body)
        commands = [cmd for _, _, _, cmd in played.processes("notebook")]
        assert commands[0] == "tini -g -- jupyterhub-singleuser", commands
        assert any("jupyterhub-singleuser" in c and "tini" not in c for c in commands)
        env = env_of(played, "notebook")
        assert env["ARCADE_SESSION_ID"] == spec.session_id and env["HOME"] == f"/home/{USER}"
        assert env["ARCADE_DATASETS"] == "/arcade/datasets" and env["JUPYTERHUB_USER"] == USER
        check_storage(played, "notebook", 1000, 100)


async def test_desktop_session_with_an_app_through_the_relay(
    images: tuple[Podman, dict[str, str]], hub: StubHub, kubeconfig: None, tmp_path: Path
) -> None:
    """The desktop serves Arcade's desktop (the image's own Jupyter config enables the
    extension), which publishes itself for the relay sidecar; an app pod beside it draws
    on it with the session's cookie, a pod with another cookie is refused."""
    podman, refs = images
    config = platform(refs)
    spec = launch_spec(config, "desktop", username=USER, dataset="alma-2019")
    pod = await session_pod(config, spec, hub)
    cookie = new_cookie()
    secret = build_x11_secret(spec, cookie, None)
    secrets_ = {secret["metadata"]["name"]: secret}
    with play(podman, pod, hub.netns, tmp_path, secrets_) as desktop:
        wait_answer(desktop, "notebook", hub, "api")
        assert "arcade_hub.desktop: /desktop-websockify/ runs the Arcade desktop" in \
            desktop.logs("notebook")
        relay = [c for _, _, _, c in desktop.processes("x11-relay")]
        assert any("-m arcade_hub.kube.xrelay" in c for c in relay), relay
        # the first viewer starts the desktop (noVNC opens this websocket)
        get(desktop.pid("notebook"), server_url(desktop, "notebook", "desktop-websockify/"),
            hub.token)

        def published() -> bool:
            return desktop.exec("notebook", "test -s /arcade/session/desktop.json")[0] == 0

        assert wait_for(published, 60), desktop.logs("notebook")[-3000:]
        check_storage(desktop, "notebook", 1000, 100)

        entry = config.entry("xterm")
        owner = Owner(pod["metadata"]["name"], "uid-1")
        app = build_app_pod(spec, entry, config.backend.kubernetes, config.storage,
                            name=unique("kp-app"), owner=owner, desktop_ip="127.0.0.1")
        with play(podman, app, hub.netns, tmp_path, secrets_) as played:
            rows = played.processes("main")
            assert rows[0][3] == "tini -g -- xterm", rows
            assert {(u, g) for _, u, g, _ in rows} == {(1000, 100)}
            env = env_of(played, "main")
            assert env["DISPLAY"] == "127.0.0.1:0" and env["ARCADE_APP"] == "xterm"

            def xterm_shown() -> bool:
                info = json.loads(desktop.exec("notebook", "cat /arcade/session/desktop.json")[1])
                status, out = desktop.exec(
                    "notebook", f"DISPLAY={info['display']} XAUTHORITY={info['xauthority']} "
                    "xwininfo -root -tree")
                return status == 0 and '"xterm"' in out

            assert wait_for(xterm_shown, 60), played.logs("main")
            check_storage(played, "main", 1000, 100)

        other = build_x11_secret(spec.model_copy(update={"session_id": "intruder"}),
                                 new_cookie(), None)
        intruder = build_app_pod(spec, entry, config.backend.kubernetes, config.storage,
                                 name=unique("kp-intruder"), owner=owner,
                                 desktop_ip="127.0.0.1")
        for volume in intruder["spec"]["volumes"]:
            if "secret" in volume:
                volume["secret"]["secretName"] = other["metadata"]["name"]
        intruder["spec"]["containers"][0]["args"] = ["xdpyinfo"]
        with play(podman, intruder, hub.netns, tmp_path,
                  {other["metadata"]["name"]: other}) as played:
            assert played.exit_code("main") != 0
            assert "Authorization required" in played.logs("main")


# --- storage modes and identities ------------------------------------------------------------

STORAGE = {
    "home-claim-per-user": {"home": {"mode": "claim-per-user"}},
    "scratch-memory": {"scratch": {"mode": "emptyDir", "medium": "Memory", "size": "64Mi"}},
    "scratch-hostpath": {"scratch": {"mode": "hostPath"},
                         "security": {"pod_security": "privileged"}},
    "per-user-uid": {"security": {"run_as": "per-user", "uids": {USER: 54321}, "gid": 2000,
                                  "fs_group": 2000}},
    "dataset-hostpath": {"datasets": {"alma-2019": {"type": "hostPath", "path": "(tmp)"}},
                         "security": {"pod_security": "privileged"}},
}
"""Datasets on NFS need an NFS server, which is not here: their pods are checked as
manifests (tests/kube/test_manifests.py)."""


@pytest.mark.parametrize("case", sorted(STORAGE))
async def test_storage_modes(images: tuple[Podman, dict[str, str]], hub: StubHub,
                             kubeconfig: None, tmp_path: Path, case: str) -> None:
    podman, refs = images
    kube = dict(STORAGE[case])
    if case == "scratch-hostpath":
        kube["scratch"] = {**kube["scratch"], "host_path": str(tmp_path / "scratch")}
    if case == "dataset-hostpath":
        (tmp_path / "alma").mkdir()
        (tmp_path / "alma" / "README").write_text("ALMA\n")
        kube["datasets"] = {"alma-2019": {"type": "hostPath", "path": str(tmp_path / "alma")}}
    config = platform(refs, **kube)
    spec = launch_spec(config, "notebook", username=USER, dataset="alma-2019")
    pod = await session_pod(config, spec, hub)
    uid, gid = (54321, 2000) if case == "per-user-uid" else (1000, 100)
    with play(podman, pod, hub.netns, tmp_path) as played:
        wait_answer(played, "notebook", hub, "api")
        check_storage(played, "notebook", uid, gid)
        if case == "scratch-hostpath":  # the init container gave the node directory away
            node_dir = tmp_path / "scratch" / spec.session_id
            assert (node_dir.stat().st_uid, node_dir.stat().st_gid) == (uid, gid)


async def test_ephemeral_scratch(images: tuple[Podman, dict[str, str]], hub: StubHub,
                                 kubeconfig: None, tmp_path: Path) -> None:
    """Runs where podman has generic ephemeral volumes; podman 4.3 refuses them (then the
    real cluster checks this mode: tests/kube/test_real_storage.py)."""
    podman, refs = images
    config = platform(refs, scratch={"mode": "ephemeral", "size": "1Gi"})
    spec = launch_spec(config, "notebook", username=USER, dataset="alma-2019")
    pod = await session_pod(config, spec, hub)
    try:
        with play(podman, pod, hub.netns, tmp_path) as played:
            wait_answer(played, "notebook", hub, "api")
            check_storage(played, "notebook", 1000, 100)
    except AssertionError as e:
        if "supported VolumeSource" not in str(e):
            raise
        version = podman.check(["--version"]).strip()
        pytest.skip(f"{version} kube play has no generic ephemeral volumes "
                    f"({str(e).rsplit('Error: ', 1)[-1].strip()})")


# --- batch jobs ------------------------------------------------------------------------------

def job_pod(job: Manifest, name: str, index: int) -> Manifest:
    """The pod the Job controller makes from the template (an Indexed Job's pod is told its
    index in JOB_COMPLETION_INDEX)."""
    template = json.loads(json.dumps(job["spec"]["template"]))
    (container,) = template["spec"]["containers"]
    container["env"].append({"name": "JOB_COMPLETION_INDEX", "value": str(index)})
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {**template["metadata"], "name": name}, "spec": template["spec"]}


@pytest.mark.parametrize("instances", [1, 3])
async def test_batch_job_pods(images: tuple[Podman, dict[str, str]], hub: StubHub,
                              tmp_path: Path, instances: int) -> None:
    podman, refs = images
    config = platform(refs)
    script = 'echo "$ARCADE_KIND $REPLICA_ID/$REPLICA_COUNT $0 $(id -u):$(id -g)"; exit "$1"'
    specs = [launch_spec(config, "batch", username=USER, dataset="alma-2019",
                         session_id=f"job1-{n}", cmd=("sh", "-c", script),
                         env={"REPLICA_ID": str(n), "REPLICA_COUNT": str(instances)},
                         args=(f"word{n}", str(n - 1)))
             .model_copy(update={"replicas": instances}) for n in range(1, instances + 1)]
    job = build_batch_job(specs, config.backend.kubernetes, config.storage,
                          name="arcade-job-job1", job_id="job1")
    for index in range(instances):
        pod = job_pod(job, unique(f"kp-job-{index}"), index)
        with play(podman, pod, hub.netns, tmp_path) as played:
            assert played.exit_code("main") == index, played.logs("main")
            out = played.logs("main")
            assert out.strip() == f"headless {index + 1}/{instances} word{index + 1} 1000:100"

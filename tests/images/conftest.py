"""Fixtures: real docker-registry processes (anonymous, htpasswd, token) with pushed images."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from arcade_hub.images.conformance.podman import Podman
from arcade_hub.local.podman_apps import oci_runtime

from .built_images import (
    BuiltChain,
    build,
    build_casa,
    listed,
    pushed_as,
    script_env,
    storage_podman,
)
from .helpers import (
    BASIC_PASSWORD,
    BASIC_USER,
    SIMPLE,
    TOKEN_PASSWORD,
    TOKEN_USER,
    FakeClock,
    Published,
    RecordingTransport,
)
from .oci import ChallengeAuth, Pusher, build_image
from .registry_server import REGISTRY_BIN, RegistryProcess, TokenServer, htpasswd_line


def _registry_children() -> list[psutil.Process]:
    children = psutil.Process(os.getpid()).children(recursive=True)
    return [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.fixture(scope="session", autouse=True)
def _no_process_left_behind() -> Iterator[None]:
    yield
    leftovers = [p for p in _registry_children() if "docker-registry" in " ".join(p.cmdline())]
    assert not leftovers, f"registry processes left running: {leftovers}"


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    if not Path(REGISTRY_BIN).exists():
        pytest.skip("docker-registry not installed (apt-get install docker-registry)")
    server = RegistryProcess(tmp_path_factory.mktemp("registry")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def published(registry: RegistryProcess) -> Published:
    simple = build_image(**SIMPLE)
    amd64 = build_image(labels={"arch": "amd64"}, cmd=["amd64"])
    arm64 = build_image(architecture="arm64", variant="v8", labels={"arch": "arm64"})
    docker_amd64 = build_image(docker=True, labels={"format": "docker"}, user="jovyan")
    docker_arm64 = build_image(docker=True, architecture="arm64")
    tags = ["1.0", "1.1", "2.0", "latest", "rc-1"]
    with Pusher(registry.url) as pusher:
        simple_digest = pusher.push_image("arcade/notebook", "1.2.3", simple)
        for tag in tags:
            pusher.push_image("arcade/many", tag, simple)
        index_digest = pusher.push_index("arcade/multi", "2025.1", [amd64, arm64])
        docker_list_digest = pusher.push_index(
            "arcade/docker-multi", "v1", [docker_amd64, docker_arm64], docker=True
        )
    return Published(
        simple=simple,
        simple_digest=simple_digest,
        amd64=amd64,
        arm64=arm64,
        index_digest=index_digest,
        docker_list_digest=docker_list_digest,
        docker_amd64=docker_amd64,
        tags=tags,
    )


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    if not Path(REGISTRY_BIN).exists():
        pytest.skip("docker-registry not installed (apt-get install docker-registry)")
    if shutil.which("htpasswd") is None:
        pytest.skip("htpasswd not installed (apt-get install apache2-utils)")
    root = tmp_path_factory.mktemp("basic-registry")
    htpasswd = root / "htpasswd"
    htpasswd.write_text(htpasswd_line(BASIC_USER, BASIC_PASSWORD) + "\n")
    auth = {"htpasswd": {"realm": "arcade-test", "path": str(htpasswd)}}
    server = RegistryProcess(root / "registry", auth=auth).start()
    with Pusher(server.url, ChallengeAuth(BASIC_USER, BASIC_PASSWORD)) as pusher:
        pusher.push_image("private/notebook", "1.0", build_image(labels={"private": "yes"}))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    pytest.importorskip("jwt", reason="PyJWT signs the test tokens")
    pytest.importorskip("cryptography", reason="cryptography makes the test certificate")
    server = TokenServer(tmp_path_factory.mktemp("token"), TOKEN_USER, TOKEN_PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_registry(
    tmp_path_factory: pytest.TempPathFactory, token_server: TokenServer
) -> Iterator[RegistryProcess]:
    if not Path(REGISTRY_BIN).exists():
        pytest.skip("docker-registry not installed (apt-get install docker-registry)")
    root = tmp_path_factory.mktemp("token-registry")
    server = RegistryProcess(root, auth=token_server.registry_auth()).start()
    with Pusher(server.url, ChallengeAuth(TOKEN_USER, TOKEN_PASSWORD)) as pusher:
        pusher.push_image("team/casa", "6.7", build_image(labels={"casa": "6.7"}))
        pusher.push_image("team/desktop", "1.0", build_image(labels={"desktop": "1"}))
    yield server
    server.stop()


@pytest.fixture
def make_registry(tmp_path: Path) -> Iterator[Callable[..., RegistryProcess]]:
    """Start private registries for tests that stop or break them."""
    if not Path(REGISTRY_BIN).exists():
        pytest.skip("docker-registry not installed (apt-get install docker-registry)")
    started: list[RegistryProcess] = []

    def make(**kwargs: Any) -> RegistryProcess:
        server = RegistryProcess(tmp_path / f"registry-{len(started)}", **kwargs).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
        assert server.process is not None and server.process.poll() is not None


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """podman with private storage; runtime checks skip with the reason when it cannot run."""
    from arcade_hub.images.conformance.podman import Podman
    from arcade_hub.images.conformance.runtime import RuntimeChecker

    root = tmp_path_factory.mktemp("podman")
    conf = root / "containers.conf"
    # the sandbox lacks CAP_SYS_RESOURCE: podman's default ulimits cannot be raised
    conf.write_text('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=32768:32768"]\n')
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    tool = Podman(root=str(root / "root"), runroot=str(root / "runroot"), env=env)
    reason = RuntimeChecker(tool).unavailable_reason()
    if reason:
        pytest.skip(f"runtime checks cannot run here: {reason}")
    yield tool
    leftovers = tool.call(["ps", "-aq"]).stdout.split()
    for container in leftovers:
        tool.remove(container)
    tool.call(["system", "reset", "--force"], timeout=120)
    assert not leftovers, f"containers left behind: {leftovers}"


@pytest.fixture(scope="session")
def conformance_images(registry: RegistryProcess) -> dict[str, Any]:
    """Push the busybox test images; maps repository -> Case."""
    from .busybox_images import BUSYBOX, cases

    if not BUSYBOX.exists():
        pytest.skip("busybox-static is not installed (apt-get install busybox-static)")
    pushed = {}
    with Pusher(registry.url) as pusher:
        for case in cases():
            pusher.push_image(case.repository, "1.0", case.image)
            pushed[case.repository] = case
    return pushed


@pytest.fixture(scope="session")
def chain(
    podman: Podman, registry: RegistryProcess, tmp_path_factory: pytest.TempPathFactory
) -> BuiltChain:
    """Build (or find cached) the chain once and push it to the loopback registry. The
    conftest's `podman` fixture skips, with the reason, where podman cannot run, and gives the
    containers.conf this machine needs."""
    runtime = oci_runtime()
    assert podman.env is not None
    env = script_env(podman.env["CONTAINERS_CONF"], runtime)
    args = ["--casa"] if build_casa() else []
    prefix = f"{registry.host}/arcade-hub"
    log = tmp_path_factory.mktemp("build-images") / "build.log"
    seconds = build([*args, "--push-to", prefix], env, log)
    refs = listed(args, env)
    print(f"build-images.sh: {seconds:.0f} s\n{log.read_text(errors='replace')[-2500:]}")
    return BuiltChain(refs, storage_podman(env, runtime), seconds, log, pushed_as(refs, prefix))

"""RegistryClient against a real docker-registry (Distribution 2.8) on loopback."""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil
import pytest

from arcade_hub.images import (
    ImageNotFound,
    RegistryAuthError,
    RegistryClient,
    RegistryConfig,
    RegistryTimeout,
    RegistryUnavailable,
)
from arcade_hub.images.models import DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST

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
from .oci import Pusher, build_image
from .registry_server import RegistryProcess, SilentServer, TokenServer


def client(
    server: RegistryProcess | str,
    clock: FakeClock | None = None,
    transport: RecordingTransport | None = None,
    environ: dict[str, str] | None = None,
    **settings: object,
) -> RegistryClient:
    url = server.url if isinstance(server, RegistryProcess) else server
    config = RegistryConfig.model_validate({"url": url, **settings})
    return RegistryClient(
        [config],
        clock=clock or FakeClock(),
        transport=transport,
        environ=environ if environ is not None else {},
    )


async def test_list_tags_and_catalog(registry: RegistryProcess, published: Published) -> None:
    async with client(registry) as c:
        assert sorted(await c.list_tags(f"{registry.host}/arcade/many")) == published.tags
        assert await c.list_tags(f"{registry.host}/arcade/notebook:ignored") == ["1.2.3"]
        repositories = await c.catalog(registry.host)
    assert {"arcade/notebook", "arcade/many", "arcade/multi"} <= set(repositories)


async def test_list_tags_follows_link_pagination(
    registry: RegistryProcess, published: Published, transport: RecordingTransport
) -> None:
    async with client(registry, transport=transport) as c:
        tags = await c.list_tags(f"{registry.host}/arcade/many", page_size=2)
        repositories = await c.catalog(registry.host, page_size=1)
    assert sorted(tags) == published.tags
    # Distribution 2.8 ignores ?n= for tags (test_registry_unit covers tag Links); it pages
    # the catalog, one repository per page here.
    assert transport.count("/_catalog") == len(repositories) >= 4


async def test_image_info_reads_config(registry: RegistryProcess, published: Published) -> None:
    ref = f"{registry.host}/arcade/notebook:1.2.3"
    async with client(registry) as c:
        info = await c.image_info(ref)
    assert info.reference == ref
    assert info.digest == info.platform_digest == published.simple_digest
    assert info.media_type == OCI_MANIFEST
    assert info.platform == "linux/amd64"
    assert info.labels == SIMPLE["labels"]
    assert info.user == "1000:100"
    assert info.entrypoint == ["tini", "--"]
    assert info.cmd == ["jupyterhub-singleuser"]
    assert info.env == SIMPLE["env"]
    assert info.exposed_ports == ["8888/tcp"]
    assert info.working_dir == "/home/jovyan"
    assert info.pinned == f"{registry.host}/arcade/notebook@{published.simple_digest}"


async def test_resolve_digest_equals_pushed_digest(
    registry: RegistryProcess, published: Published, transport: RecordingTransport
) -> None:
    async with client(registry, transport=transport) as c:
        simple = await c.resolve_digest(f"{registry.host}/arcade/notebook:1.2.3")
        index = await c.resolve_digest(f"{registry.host}/arcade/multi:2025.1")
        pinned = await c.resolve_digest(f"{registry.host}/arcade/multi@{published.index_digest}")
        by_digest = await c.image_info(f"{registry.host}/arcade/notebook@{simple}")
    assert simple == published.simple_digest == published.simple.manifest.digest
    assert index == pinned == published.index_digest
    assert by_digest.labels == SIMPLE["labels"]
    assert transport.count("HEAD /v2/arcade/") == 2  # HEAD only, the pinned one asks nothing
    assert transport.count("GET /v2/arcade/multi/manifests") == 0


async def test_multi_arch_index_picks_platform(
    registry: RegistryProcess, published: Published
) -> None:
    ref = f"{registry.host}/arcade/multi:2025.1"
    async with client(registry) as c:
        amd64 = await c.image_info(ref)
        arm64 = await c.image_info(ref, platform="linux/arm64")
        arm64_v8 = await c.image_info(ref, platform="linux/arm64/v8")
        with pytest.raises(ImageNotFound, match=r"no linux/s390x image .*linux/amd64, linux/arm64"):
            await c.image_info(ref, platform="linux/s390x")
    assert amd64.media_type == OCI_INDEX
    assert amd64.digest == arm64.digest == published.index_digest
    assert amd64.platform_digest == published.amd64.digest
    assert (amd64.platform, amd64.labels, amd64.cmd) == (
        "linux/amd64",
        {"arch": "amd64"},
        ["amd64"],
    )
    assert arm64.platform_digest == arm64_v8.platform_digest == published.arm64.digest
    assert (arm64.platform, arm64.labels) == ("linux/arm64/v8", {"arch": "arm64"})


async def test_platform_is_configurable_per_client(
    registry: RegistryProcess, published: Published
) -> None:
    config = RegistryConfig(url=registry.url)
    async with RegistryClient([config], platform="linux/arm64") as c:
        info = await c.image_info(f"{registry.host}/arcade/multi:2025.1")
        assert info.platform_digest == published.arm64.digest
        with pytest.raises(ImageNotFound, match="is a linux/amd64 image, not linux/arm64"):
            await c.image_info(f"{registry.host}/arcade/notebook:1.2.3")


async def test_docker_manifest_list(registry: RegistryProcess, published: Published) -> None:
    async with client(registry) as c:
        info = await c.image_info(f"{registry.host}/arcade/docker-multi:v1")
    assert info.media_type == DOCKER_MANIFEST_LIST
    assert info.digest == published.docker_list_digest
    assert info.platform_digest == published.docker_amd64.digest
    assert (info.labels, info.user) == ({"format": "docker"}, "jovyan")


@pytest.mark.parametrize(
    "path", ["arcade/nothing-here:1.0", "arcade/notebook:9.9", "arcade/notebook@sha256:" + "0" * 64]
)
async def test_missing_image(registry: RegistryProcess, published: Published, path: str) -> None:
    ref = f"{registry.host}/{path}"
    async with client(registry) as c:
        with pytest.raises(ImageNotFound, match=f"not found on registry {registry.host}"):
            await c.image_info(ref)
        if "@" not in path:
            with pytest.raises(ImageNotFound):
                await c.resolve_digest(ref)
    async with client(registry) as c:
        with pytest.raises(ImageNotFound, match="NAME_UNKNOWN"):
            await c.list_tags(f"{registry.host}/arcade/nothing-here")


async def test_basic_auth(basic_registry: RegistryProcess) -> None:
    ref = f"{basic_registry.host}/private/notebook:1.0"
    good = {"PULL_SECRET": BASIC_PASSWORD}
    async with client(
        basic_registry, environ=good, username=BASIC_USER, password_env="PULL_SECRET"
    ) as c:
        assert (await c.image_info(ref)).labels == {"private": "yes"}
        assert await c.list_tags(ref) == ["1.0"]


async def test_basic_auth_wrong_password(basic_registry: RegistryProcess) -> None:
    ref = f"{basic_registry.host}/private/notebook:1.0"
    wrong = {"PULL_SECRET": "not-the-password"}
    async with client(
        basic_registry, environ=wrong, username=BASIC_USER, password_env="PULL_SECRET"
    ) as c:
        with pytest.raises(
            RegistryAuthError, match=f"rejected the credentials of user {BASIC_USER}"
        ) as info:
            await c.image_info(ref)
    assert "not-the-password" not in str(info.value)
    async with client(basic_registry) as c:
        with pytest.raises(RegistryAuthError, match="requires a username and password"):
            await c.resolve_digest(ref)
    async with client(basic_registry, username=BASIC_USER, password_env="UNSET_SECRET") as c:
        with pytest.raises(RegistryAuthError, match=r"UNSET_SECRET .* is not set"):
            await c.list_tags(ref)


async def test_bearer_token_auth(
    token_registry: RegistryProcess, token_server: TokenServer, transport: RecordingTransport
) -> None:
    env = {"TOKEN_SECRET": TOKEN_PASSWORD}
    async with client(
        token_registry,
        transport=transport,
        environ=env,
        username=TOKEN_USER,
        password_env="TOKEN_SECRET",
        cache_ttl=0,  # every call goes to the registry; only tokens are cached
    ) as c:
        before = len(token_server.requests)
        for _ in range(3):
            info = await c.image_info(f"{token_registry.host}/team/casa:6.7")
            assert info.labels == {"casa": "6.7"}
        assert await c.list_tags(f"{token_registry.host}/team/casa") == ["6.7"]
        await c.image_info(f"{token_registry.host}/team/desktop:1.0")
        catalog = await c.catalog(token_registry.host)
    assert sorted(catalog) == ["team/casa", "team/desktop"]
    scopes = token_server.requests[before:]
    # one token per scope, reused for the manifest, blob and tags requests
    assert scopes == [
        ["repository:team/casa:pull"],
        ["repository:team/desktop:pull"],
        ["registry:catalog:*"],
    ]
    assert transport.count("GET /v2/team/casa/manifests/6.7") == 4  # 1 challenge + 3


async def test_bearer_token_wrong_password(
    token_registry: RegistryProcess, token_server: TokenServer
) -> None:
    async with client(
        token_registry, environ={"S": "wrong-pw-123"}, username=TOKEN_USER, password_env="S"
    ) as c:
        with pytest.raises(RegistryAuthError, match=f"refused user {TOKEN_USER}") as info:
            await c.image_info(f"{token_registry.host}/team/casa:6.7")
    assert "wrong-pw-123" not in str(info.value)
    async with client(token_registry) as c:
        with pytest.raises(RegistryAuthError, match="refused anonymous access"):
            await c.list_tags(f"{token_registry.host}/team/casa")


async def test_stopped_registry_serves_cache(
    make_registry: Callable[..., RegistryProcess], clock: FakeClock
) -> None:
    server = make_registry()
    with Pusher(server.url) as pusher:
        digest = pusher.push_image("arcade/nb", "1", build_image(labels={"v": "1"}))
        pusher.push_image("arcade/other", "1", build_image())
    delays: list[float] = []

    async def record_sleep(delay: float) -> None:
        delays.append(delay)

    config = RegistryConfig(url=server.url, cache_ttl=60, retries=2, timeout=5)
    async with RegistryClient([config], clock=clock, sleep=record_sleep) as c:
        ref = f"{server.host}/arcade/nb:1"
        info = await c.image_info(ref)
        assert await c.resolve_digest(ref) == digest
        tags = await c.list_tags(ref)
        server.stop()
        clock.advance(3600)  # expired, but within stale_if_error

        assert await c.image_info(ref) == info
        assert await c.resolve_digest(ref) == digest
        assert await c.list_tags(ref) == tags
        with pytest.raises(RegistryUnavailable) as error:
            await c.image_info(f"{server.host}/arcade/other:1")
        message = str(error.value)
        assert f"registry {server.host}" in message and "ConnectError" in message
        assert delays[-2:] == [0.1, 0.2]  # retried with backoff

        clock.advance(config.stale_if_error)  # too old now
        with pytest.raises(RegistryUnavailable):
            await c.image_info(ref)


async def test_silent_registry_times_out_within_bound() -> None:
    silent = SilentServer()
    try:
        config = RegistryConfig(url=f"http://{silent.host}", timeout=0.5, retries=3)
        async with RegistryClient([config]) as c:
            started = time.monotonic()
            with pytest.raises(RegistryTimeout, match=f"{silent.host}.* within 0.5s"):
                await c.image_info(f"{silent.host}/arcade/nb:1")
            elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert 0.45 <= elapsed < 1.5


async def test_ttl_expiry_refreshes(
    make_registry: Callable[..., RegistryProcess],
    clock: FakeClock,
    transport: RecordingTransport,
) -> None:
    server = make_registry()
    ref = f"{server.host}/arcade/rolling:latest"
    with Pusher(server.url) as pusher:
        first = pusher.push_image("arcade/rolling", "latest", build_image(labels={"v": "1"}))
        async with client(server, clock=clock, transport=transport, cache_ttl=60) as c:
            assert (await c.image_info(ref)).digest == first
            second = pusher.push_image("arcade/rolling", "latest", build_image(labels={"v": "2"}))
            assert first != second
            clock.advance(59)
            requests = len(transport.requests)
            assert (await c.image_info(ref)).labels == {"v": "1"}  # still cached
            assert await c.resolve_digest(ref) == first
            assert len(transport.requests) == requests
            clock.advance(2)
            info = await c.image_info(ref)
            assert (info.digest, info.labels) == (second, {"v": "2"})
            assert await c.resolve_digest(ref) == second


def test_registry_process_stops_cleanly(make_registry: Callable[..., RegistryProcess]) -> None:
    server = make_registry()
    assert server.process is not None
    pid = server.process.pid
    server.stop()
    assert server.process.poll() is not None
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE

"""RegistryClient behaviour that a real registry cannot easily show, over httpx.MockTransport.

Covers Docker Hub-style bearer challenges (realm on another host, service + scope, token
expiry), retries on 5xx, Link pagination of tags, digest checks and content-type quirks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from arcade_hub.images import (
    ImageNotFound,
    RegistryAuthError,
    RegistryClient,
    RegistryConfig,
    RegistryProtocolError,
    RegistryUnavailable,
)
from arcade_hub.images.registry_auth import Challenge

from .helpers import FakeClock
from .oci import build_image

Handler = Callable[[httpx.Request], httpx.Response]
IMAGE = build_image(labels={"hub": "docker"}, user="jovyan", cmd=["start.sh"])


def make_client(
    handler: Handler,
    clock: FakeClock | None = None,
    sleeps: list[float] | None = None,
    environ: dict[str, str] | None = None,
    **settings: Any,
) -> RegistryClient:
    async def sleep(delay: float) -> None:
        if sleeps is not None:
            sleeps.append(delay)

    configs = [RegistryConfig(url="https://registry.example.org", **settings)]
    return RegistryClient(
        configs,
        transport=httpx.MockTransport(handler),
        clock=clock or FakeClock(),
        sleep=sleep,
        environ=environ or {},
    )


def serve_image(request: httpx.Request, headers: dict[str, str] | None = None) -> httpx.Response:
    """Answer manifest and config requests for IMAGE like a registry would."""
    path = request.url.path
    if "/manifests/" in path:
        extra = {"Docker-Content-Digest": IMAGE.digest} if headers is None else headers
        return httpx.Response(
            200,
            content=b"" if request.method == "HEAD" else IMAGE.manifest.data,
            headers={"Content-Type": IMAGE.manifest.media_type, **extra},
        )
    if path.endswith(f"/blobs/{IMAGE.config.digest}"):
        return httpx.Response(200, content=IMAGE.config.data)
    return httpx.Response(404, json={"errors": [{"code": "NAME_UNKNOWN", "message": "nope"}]})


def test_challenge_parse() -> None:
    challenge = Challenge.parse(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/python:pull",error="insufficient_scope"'
    )
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:library/python:pull",
        "error": "insufficient_scope",
    }
    assert Challenge.parse('Basic realm="Registry Realm"') == Challenge(
        "basic", {"realm": "Registry Realm"}
    )
    assert Challenge.parse("Bearer realm=https://x/t, service=s").params == {
        "realm": "https://x/t",
        "service": "s",
    }


async def test_bearer_challenge_docker_hub_style() -> None:
    clock = FakeClock()
    token_requests: list[httpx.Request] = []
    issued = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal issued
        if request.url.host == "auth.example.org":
            token_requests.append(request)
            issued += 1
            return httpx.Response(200, json={"token": f"t{issued}", "expires_in": 100})
        if request.headers.get("Authorization") != f"Bearer t{issued}" or not issued:
            return httpx.Response(
                401,
                headers={
                    "WWW-Authenticate": 'Bearer realm="https://auth.example.org/token",'
                    'service="registry.example.org",scope="repository:library/python:pull"'
                },
            )
        return serve_image(request)

    env = {"HUB_TOKEN": "dckr_pat_secret"}
    async with make_client(
        handler, clock, environ=env, username="me", password_env="HUB_TOKEN", cache_ttl=0
    ) as c:
        info = await c.image_info("registry.example.org/library/python:3.11")
        assert (info.labels, info.user, info.cmd) == ({"hub": "docker"}, "jovyan", ["start.sh"])
        await c.resolve_digest("registry.example.org/library/python:3.11")
        assert len(token_requests) == 1  # cached for the scope
        clock.advance(95)  # past 90% of expires_in: renewed before use
        await c.resolve_digest("registry.example.org/library/python:3.11")
        assert len(token_requests) == 2
    params = token_requests[0].url.params
    assert params["service"] == "registry.example.org"
    assert params["scope"] == "repository:library/python:pull"
    assert token_requests[0].headers["Authorization"].startswith("Basic ")


async def test_insufficient_scope_is_an_auth_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, json={"access_token": "anon"})
        return httpx.Response(
            401,
            headers={
                "WWW-Authenticate": 'Bearer realm="https://registry.example.org/token",'
                'service="s",error="insufficient_scope"'
            },
            json={"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
        )

    async with make_client(handler) as c:
        with pytest.raises(RegistryAuthError, match="may not exist or need credentials"):
            await c.image_info("registry.example.org/private/x:1")


async def test_refuses_credentials_to_plain_http_realm() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="http://evil/t"'})

    async with make_client(handler, environ={"P": "x"}, username="u", password_env="P") as c:
        with pytest.raises(RegistryAuthError, match="plain-http realm"):
            await c.resolve_digest("registry.example.org/a/b:1")


async def test_retries_5xx_then_succeeds() -> None:
    calls: list[str] = []
    sleeps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) <= 2:
            return httpx.Response(503, text="maintenance")
        return serve_image(request)

    async with make_client(handler, sleeps=sleeps, retries=2) as c:
        assert await c.resolve_digest("registry.example.org/a/b:1") == IMAGE.digest
    assert len(calls) == 3 and sleeps == [0.1, 0.2]


async def test_persistent_5xx_is_unavailable() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(502)

    async with make_client(handler, retries=3) as c:
        with pytest.raises(
            RegistryUnavailable, match=r"registry registry\.example\.org .* server error HTTP 502"
        ):
            await c.list_tags("registry.example.org/a/b")
    assert calls == 4


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, ImageNotFound), (429, RegistryUnavailable), (403, RegistryAuthError)],
)
async def test_client_errors_are_not_retried(status: int, error: type[Exception]) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(status)

    async with make_client(handler, retries=3) as c:
        with pytest.raises(error):
            await c.image_info("registry.example.org/a/b:1")
    assert calls == 1


async def test_tag_pagination_follows_link() -> None:
    pages = {
        None: (["a", "b"], '</v2/x/y/tags/list?last=b&n=2>; rel="next"'),
        "b": (["c", "d"], '</v2/x/y/tags/list?last=d&n=2>; rel="next"'),
        "d": (["e"], None),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        tags, link = pages[request.url.params.get("last")]
        return httpx.Response(
            200, json={"name": "x/y", "tags": tags}, headers={"Link": link} if link else {}
        )

    async with make_client(handler) as c:
        assert await c.list_tags("registry.example.org/x/y", page_size=2) == list("abcde")


async def test_pagination_link_must_stay_on_registry() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        link = '<https://elsewhere.example/v2/x/y/tags/list?last=b>; rel="next"'
        return httpx.Response(200, json={"tags": ["a"]}, headers={"Link": link})

    async with make_client(handler) as c:
        with pytest.raises(RegistryProtocolError, match="leaves the registry"):
            await c.list_tags("registry.example.org/x/y")


async def test_digest_without_header_is_hash_of_manifest() -> None:
    methods: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        methods.append(request.method)
        return serve_image(request, headers={})

    async with make_client(handler) as c:
        assert await c.resolve_digest("registry.example.org/a/b:1") == IMAGE.digest
        assert (await c.get_manifest("registry.example.org/a/b:2")).digest == (
            "sha256:" + hashlib.sha256(IMAGE.manifest.data).hexdigest()
        )
    assert methods == ["HEAD", "GET", "GET"]


async def test_digest_mismatch_is_rejected() -> None:
    wrong = "sha256:" + "1" * 64

    def handler(request: httpx.Request) -> httpx.Response:
        return serve_image(request, headers={"Docker-Content-Digest": wrong})

    async with make_client(handler) as c:
        with pytest.raises(RegistryProtocolError, match="digest mismatch"):
            await c.image_info("registry.example.org/a/b:1")
        with pytest.raises(RegistryProtocolError, match="digest mismatch"):
            await c.image_info(f"registry.example.org/a/b@{wrong}")


async def test_plain_json_content_type_uses_document_media_type() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        response = serve_image(request)
        if "/manifests/" in request.url.path:
            response.headers["Content-Type"] = "application/json"
        return response

    async with make_client(handler) as c:
        manifest = await c.get_manifest("registry.example.org/a/b:1")
    assert manifest.media_type == IMAGE.manifest.media_type
    assert manifest.document == json.loads(IMAGE.manifest.data)


async def test_docker_hub_references_use_registry_1() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return serve_image(request)

    async with RegistryClient(transport=httpx.MockTransport(handler)) as c:
        await c.resolve_digest("python:3.11")
    assert seen == ["https://registry-1.docker.io/v2/library/python/manifests/3.11"]


def test_allowed_repository_globs_match_per_path_component() -> None:
    from arcade_hub.images.rules import path_glob

    assert path_glob("images.example.org/x", "*.example.org/*")
    assert not path_glob("evil.com/x.example.org/pwn", "*.example.org/*")
    assert not path_glob("images.example.org/group/x", "*.example.org/*")
    assert path_glob("images.example.org/group/x", "images.example.org/**")
    assert path_glob("images.example.org/x", "images.example.org/**")
    assert not path_glob("images.example.org.evil.com/x", "images.example.org/**")
    assert not path_glob("images.example.org", "images.example.org/**")
    assert path_glob("docker.io/jupyter/scipy-notebook", "docker.io/jupyter/*")
    assert path_glob("ghcr.io/a/b/c", "ghcr.io/**/c") and not path_glob("ghcr.io/c", "ghcr.io/**/c")

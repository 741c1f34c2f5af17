"""Async client for the OCI Distribution API (Docker Registry HTTP API v2).

Reads what the hub needs to know about an image without pulling it: tags, the digest a tag
resolves to, and the image config (labels, user, entrypoint, cmd, ports, env) of one platform.

Authentication follows the registry's ``WWW-Authenticate`` challenge: none, HTTP basic, or
bearer tokens from the realm it names (Docker Hub, Harbor, GitLab, distribution ``auth.token``).
Tokens are cached per registry and scope. Results are cached with a TTL; while a registry is
unavailable, expired entries keep being served for ``stale_if_error`` seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx

from arcade_hub.config.images import RegistryConfig
from arcade_hub.config.references import ImageReference, is_digest, parse_reference
from arcade_hub.images.cache import Clock, TTLCache
from arcade_hub.images.errors import (
    ImageNotFound,
    RegistryAuthError,
    RegistryError,
    RegistryProtocolError,
    RegistryTimeout,
    RegistryUnavailable,
)
from arcade_hub.images.models import (
    IMAGE_MANIFEST_TYPES,
    INDEX_TYPES,
    MANIFEST_TYPES,
    ImageInfo,
    Manifest,
    Platform,
)
from arcade_hub.images.registry_auth import RegistryAuth, describe, error_detail

log = logging.getLogger(__name__)

T = TypeVar("T")
ImageArg = str | ImageReference

DEFAULT_PLATFORM = "linux/amd64"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_CONFIG_BYTES = 8 * 1024 * 1024
MAX_PAGES = 1000
RETRY_STATUS = frozenset({500, 502, 503, 504})

class RegistryClient:
    """Reads images from OCI Distribution registries.

    ``registries`` configures known registries (matched by :attr:`RegistryConfig.registry_name`);
    others are used anonymously over HTTPS. Use as ``async with RegistryClient(...) as client``.
    """

    def __init__(
        self,
        registries: Iterable[RegistryConfig] = (),
        *,
        platform: str | Platform = DEFAULT_PLATFORM,
        clock: Clock = time.monotonic,
        environ: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_cache_entries: int = 4096,
    ) -> None:
        self.platform = Platform.parse(platform)
        self._configs = {config.registry_name: config for config in registries}
        self._clock = clock
        self._environ = os.environ if environ is None else environ
        self._sleep = sleep
        self._cache = TTLCache(clock, max_cache_entries)
        self.stale: dict[str, str] = {}
        """Registry name -> why it is being served from cache (cleared by its next answer)."""
        self._http = httpx.AsyncClient(
            transport=transport,
            follow_redirects=True,
            headers={"User-Agent": "arcade-hub-registry-client"},
        )
        self._auth = RegistryAuth(self._http, clock, self._environ)

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def config_for(self, registry: str) -> RegistryConfig:
        """Settings for ``registry`` (a host as in references), or anonymous HTTPS defaults."""
        config = self._configs.get(registry)
        if config is None:
            config = RegistryConfig.default_for(registry)
            self._configs[registry] = config
        return config

    def clear_cache(self) -> None:
        """Forget cached results and tokens."""
        self._cache.clear()
        self._auth.tokens.clear()

    # ---- public operations -------------------------------------------------------------

    async def list_tags(self, image: ImageArg, *, page_size: int = 1000) -> list[str]:
        """All tags of the image's repository (tag/digest of ``image`` are ignored)."""
        ref = _ref(image)
        config = self.config_for(ref.registry)

        async def fetch() -> list[str]:
            url = f"{config.url}/v2/{ref.repository}/tags/list?n={page_size}"
            pages = await self._get_pages(config, url, f"repository:{ref.repository}:pull", ref)
            return [tag for page in pages for tag in (page.get("tags") or [])]

        return list(await self._cached(config, ("tags", ref.name, page_size), fetch))

    async def catalog(self, registry: str, *, page_size: int = 1000) -> list[str]:
        """Repository names from ``/v2/_catalog``; most public registries refuse this."""
        config = self.config_for(registry)

        async def fetch() -> list[str]:
            url = f"{config.url}/v2/_catalog?n={page_size}"
            pages = await self._get_pages(config, url, "registry:catalog:*", None)
            return [repo for page in pages for repo in (page.get("repositories") or [])]

        return list(await self._cached(config, ("catalog", registry, page_size), fetch))

    async def get_manifest(self, image: ImageArg) -> Manifest:
        """The manifest or index ``image`` points to (by digest if pinned, else by tag)."""
        ref = _ref(image)
        config = self.config_for(ref.registry)
        ttl = math.inf if ref.digest else config.cache_ttl
        return await self._cached(
            config,
            ("manifest", ref.name, ref.reference),
            lambda: self._fetch_manifest(config, ref),
            ttl,
        )

    async def resolve_digest(self, image: ImageArg) -> str:
        """The digest a tag points to now (a pinned reference returns its own digest).

        Uses ``HEAD`` (which Docker Hub does not count against pull limits) and the
        ``Docker-Content-Digest`` header, falling back to hashing the manifest.
        """
        ref = _ref(image)
        if ref.digest:
            return ref.digest
        config = self.config_for(ref.registry)
        manifest = self._cache.get(("manifest", ref.name, ref.reference))
        now = self._clock()
        if manifest is not None and manifest.fresh(now):
            return str(manifest.value.digest)

        async def fetch() -> str:
            response = await self._request(
                config,
                "HEAD",
                self._manifest_url(config, ref),
                _pull_scope(ref),
                accept=MANIFEST_TYPES,
            )
            self._raise_for_status(config, response, ref)
            digest = response.headers.get("Docker-Content-Digest", "")
            if is_digest(digest):
                return digest
            return (await self._fetch_manifest(config, ref)).digest

        try:
            return str(await self._cached(config, ("digest", ref.name, ref.reference), fetch))
        except RegistryUnavailable:
            if manifest is not None and manifest.usable_stale(now, config.stale_if_error):
                return str(manifest.value.digest)
            raise

    async def image_info(
        self, image: ImageArg, *, platform: str | Platform | None = None
    ) -> ImageInfo:
        """Labels, user, entrypoint, cmd, ports and env of ``image`` for one platform.

        For an index/manifest list the entry for ``platform`` (default: the client's) is used;
        :class:`ImageNotFound` names the available platforms if there is none.
        """
        ref = _ref(image)
        want = Platform.parse(platform) if platform is not None else self.platform
        top = await self.get_manifest(ref)
        manifest = top
        if top.is_index:
            child = _select_platform(top, want, ref)
            manifest = await self.get_manifest(ref.with_digest(child))
            if manifest.media_type not in IMAGE_MANIFEST_TYPES:
                raise RegistryProtocolError(
                    f"{ref}: index entry {child} is a {manifest.media_type}, not an image manifest"
                )
        config_descriptor = manifest.document.get("config")
        if not isinstance(config_descriptor, dict):
            raise RegistryProtocolError(f"{ref}: manifest {manifest.digest} has no config")
        blob = await self._get_config_blob(ref, config_descriptor)
        image_platform = Platform.from_descriptor(blob) or want
        if not top.is_index and not want.matches(image_platform):
            raise ImageNotFound(f"{ref} is a {image_platform} image, not {want}")
        return _image_info(ref, top, manifest, image_platform, blob)

    # ---- manifests and blobs -----------------------------------------------------------

    def _manifest_url(self, config: RegistryConfig, ref: ImageReference) -> str:
        return f"{config.url}/v2/{ref.repository}/manifests/{ref.reference}"

    async def _fetch_manifest(self, config: RegistryConfig, ref: ImageReference) -> Manifest:
        response = await self._request(
            config, "GET", self._manifest_url(config, ref), _pull_scope(ref), accept=MANIFEST_TYPES
        )
        self._raise_for_status(config, response, ref)
        content = response.content
        if len(content) > MAX_MANIFEST_BYTES:
            raise RegistryProtocolError(f"{ref}: manifest larger than {MAX_MANIFEST_BYTES} bytes")
        computed = "sha256:" + hashlib.sha256(content).hexdigest()
        header = response.headers.get("Docker-Content-Digest", "")
        expected = ref.digest or (header if header.startswith("sha256:") else None)
        if expected is not None and expected.startswith("sha256:") and expected != computed:
            raise RegistryProtocolError(
                f"{ref}: manifest digest mismatch (expected {expected}, content is {computed})"
            )
        digest = ref.digest or (header if is_digest(header) else computed)
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        manifest = Manifest(media_type=media_type, digest=digest, content=content)
        if media_type not in INDEX_TYPES | IMAGE_MANIFEST_TYPES:
            # Some registries send application/json; trust the document's own mediaType.
            declared = manifest.document.get("mediaType")
            if declared not in INDEX_TYPES | IMAGE_MANIFEST_TYPES:
                raise RegistryProtocolError(
                    f"{ref}: unsupported manifest type {media_type or declared!r}"
                )
            manifest = Manifest(media_type=str(declared), digest=digest, content=content)
        return manifest

    async def _get_config_blob(
        self, ref: ImageReference, descriptor: Mapping[str, Any]
    ) -> dict[str, Any]:
        digest = descriptor.get("digest")
        if not isinstance(digest, str) or not is_digest(digest):
            raise RegistryProtocolError(f"{ref}: bad config digest {digest!r}")
        size = descriptor.get("size")
        if isinstance(size, int) and size > MAX_CONFIG_BYTES:
            raise RegistryProtocolError(f"{ref}: image config of {size} bytes is too large")
        config = self.config_for(ref.registry)

        async def fetch() -> dict[str, Any]:
            url = f"{config.url}/v2/{ref.repository}/blobs/{digest}"
            response = await self._request(config, "GET", url, _pull_scope(ref))
            self._raise_for_status(config, response, ref)
            algorithm, _, _ = digest.partition(":")
            actual = f"{algorithm}:{hashlib.new(algorithm, response.content).hexdigest()}"
            if actual != digest:
                raise RegistryProtocolError(f"{ref}: config blob {digest} has content {actual}")
            try:
                data = json.loads(response.content)
            except ValueError as exc:
                raise RegistryProtocolError(f"{ref}: image config is not JSON: {exc}") from exc
            if not isinstance(data, dict):
                raise RegistryProtocolError(f"{ref}: image config is not a JSON object")
            return data

        result: dict[str, Any] = await self._cached(
            config, ("blob", ref.name, digest), fetch, math.inf
        )
        return result

    async def _get_pages(
        self, config: RegistryConfig, url: str, scope: str, ref: ImageReference | None
    ) -> list[dict[str, Any]]:
        pages: list[dict[str, Any]] = []
        origin = urlsplit(config.url)[:2]
        next_url: str | None = url
        while next_url is not None:
            if len(pages) >= MAX_PAGES:
                raise RegistryProtocolError(f"{url}: more than {MAX_PAGES} pages")
            response = await self._request(config, "GET", next_url, scope)
            self._raise_for_status(config, response, ref)
            try:
                page = response.json()
            except ValueError as exc:
                raise RegistryProtocolError(f"{next_url}: answer is not JSON: {exc}") from exc
            if not isinstance(page, dict):
                raise RegistryProtocolError(f"{next_url}: answer is not a JSON object")
            pages.append(page)
            link = response.links.get("next", {}).get("url")
            next_url = urljoin(next_url, link) if link else None
            if next_url is not None and urlsplit(next_url)[:2] != origin:
                raise RegistryProtocolError(f"{url}: pagination link leaves the registry")
        return pages

    # ---- caching -------------------------------------------------------------------------

    async def _cached(
        self,
        config: RegistryConfig,
        key: Hashable,
        fetch: Callable[[], Awaitable[T]],
        ttl: float | None = None,
    ) -> T:
        entry = self._cache.get(key)
        now = self._clock()
        if entry is not None and entry.fresh(now):
            value: T = entry.value
            return value
        try:
            value = await fetch()
        except RegistryUnavailable as exc:
            if entry is not None and entry.usable_stale(now, config.stale_if_error):
                log.warning("serving cached %s while the registry is unavailable: %s", key, exc)
                self.stale[config.registry_name] = str(exc)
                stale: T = entry.value
                return stale
            raise
        self.stale.pop(config.registry_name, None)
        self._cache.set(key, value, config.cache_ttl if ttl is None else ttl)
        return value

    # ---- HTTP, retries and authentication -----------------------------------------------

    async def _request(
        self,
        config: RegistryConfig,
        method: str,
        url: str,
        scope: str,
        *,
        accept: Iterable[str] = (),
    ) -> httpx.Response:
        """Send one logical request: authenticate on challenge, retry transient failures."""
        name = config.registry_name
        attempt = 0
        fresh_auth = False
        while True:
            headers = {"Accept": ", ".join(accept)} if accept else {}
            authorization = await self._auth.authorization(config, scope)
            if authorization:
                headers["Authorization"] = authorization
            try:
                async with asyncio.timeout(config.timeout):
                    response = await self._http.request(
                        method, url, headers=headers, timeout=config.timeout
                    )
            except (TimeoutError, httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout) as exc:
                raise RegistryTimeout(
                    f"registry {name} ({config.url}) did not answer {method} "
                    f"{urlsplit(url).path} within {config.timeout:g}s"
                ) from exc
            except httpx.TransportError as exc:
                if attempt < config.retries:
                    attempt += 1
                    await self._backoff(attempt, f"{name}: {describe(exc)}")
                    continue
                raise RegistryUnavailable(
                    f"registry {name} ({config.url}) is unavailable: {describe(exc)}"
                ) from exc
            if response.status_code == 401:
                if fresh_auth:
                    raise self._auth.error(config, response, scope)
                await self._auth.learn(config, response, scope)
                fresh_auth = True
                continue
            if response.status_code in RETRY_STATUS:
                detail = error_detail(response)
                if attempt < config.retries:
                    attempt += 1
                    await self._backoff(attempt, f"{name}: {detail}")
                    continue
                raise RegistryUnavailable(
                    f"registry {name} ({config.url}) is unavailable: server error {detail}"
                )
            return response

    async def _backoff(self, attempt: int, reason: str) -> None:
        delay = min(0.1 * 2 ** (attempt - 1), 1.0)
        log.info("retrying registry request in %.1fs (attempt %d): %s", delay, attempt, reason)
        await self._sleep(delay)

    def _raise_for_status(
        self, config: RegistryConfig, response: httpx.Response, ref: ImageReference | None
    ) -> None:
        status = response.status_code
        if status < 300:
            return
        name = config.registry_name
        what = str(ref) if ref is not None else f"{response.request.url.path}"
        detail = error_detail(response)
        if status == 404:
            raise ImageNotFound(f"{what} not found on registry {name} ({detail})")
        if status in (401, 403):
            raise RegistryAuthError(f"registry {name} denied access to {what} ({detail})")
        if status == 429:
            raise RegistryUnavailable(f"registry {name} is rate limiting requests ({detail})")
        raise RegistryError(f"registry {name} answered {what} with {detail}")


def _ref(image: ImageArg) -> ImageReference:
    return image if isinstance(image, ImageReference) else parse_reference(image)


def _pull_scope(ref: ImageReference) -> str:
    return f"repository:{ref.repository}:pull"


def _select_platform(index: Manifest, want: Platform, ref: ImageReference) -> str:
    entries = index.document.get("manifests")
    if not isinstance(entries, list):
        raise RegistryProtocolError(f"{ref}: index {index.digest} has no manifests")
    candidates: list[tuple[Platform, str]] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        platform = Platform.from_descriptor(entry.get("platform"))
        digest = entry.get("digest")
        if platform is None or platform.os == "unknown" or not isinstance(digest, str):
            continue  # attestation manifests and malformed entries
        candidates.append((platform, digest))
    exact = [d for p, d in candidates if p == want]
    matching = exact or [d for p, d in candidates if want.matches(p)]
    if not matching:
        available = ", ".join(sorted(str(p) for p, _ in candidates)) or "none"
        raise ImageNotFound(f"{ref} has no {want} image (available: {available})")
    digest = matching[0]
    if not is_digest(digest):
        raise RegistryProtocolError(f"{ref}: bad digest {digest!r} in index")
    return digest


def _str_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _image_info(
    ref: ImageReference,
    top: Manifest,
    manifest: Manifest,
    platform: Platform,
    blob: Mapping[str, Any],
) -> ImageInfo:
    config = blob.get("config") or {}
    if not isinstance(config, dict):
        config = {}
    env: dict[str, str] = {}
    for item in _str_list(config.get("Env")):
        key, _, value = item.partition("=")
        env[key] = value
    labels = config.get("Labels") or {}
    ports = config.get("ExposedPorts") or {}
    return ImageInfo(
        reference=str(ref),
        digest=top.digest,
        platform_digest=manifest.digest,
        media_type=top.media_type,
        platform=str(platform),
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
        user=config.get("User") or None,
        entrypoint=_str_list(config.get("Entrypoint")),
        cmd=_str_list(config.get("Cmd")),
        exposed_ports=sorted(str(p) for p in ports) if isinstance(ports, dict) else [],
        env=env,
        working_dir=config.get("WorkingDir") or None,
    )

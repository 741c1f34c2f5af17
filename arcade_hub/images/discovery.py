"""Catalogue discovery: labelled images in configured repositories become catalogue entries.

The last good result of every repository is kept in memory, so a registry that goes down keeps
its images in the form (launches still need the registry, or its cache, to pin a digest).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from arcade_hub.config import CatalogueEntry, Kind, PlatformConfig
from arcade_hub.config.images import ImagesConfig
from arcade_hub.config.references import parse_reference
from arcade_hub.images import labels
from arcade_hub.images.errors import InvalidReference, RegistryError
from arcade_hub.images.models import ImageInfo
from arcade_hub.images.registry import RegistryClient
from arcade_hub.images.rules import glob_any, is_root_user

log = logging.getLogger(__name__)
CONCURRENCY = 8


@dataclass(frozen=True)
class Snapshot:
    """Discovered entries and, when the last refresh failed somewhere, why."""

    entries: tuple[CatalogueEntry, ...] = ()
    errors: tuple[str, ...] = ()
    fetched_at: float | None = None

    @property
    def names(self) -> frozenset[str]:
        return frozenset(e.name for e in self.entries)

    @property
    def unavailable(self) -> str | None:
        """A sentence for the form when discovery did not fully work."""
        if not self.errors:
            return None
        return "Image discovery is unavailable right now; some images may be missing. " + (
            "; ".join(self.errors)
        )


def entry_name(repository: str, tag: str) -> str:
    """A catalogue name for ``repository:tag`` (``host/arcade/casa:6.7`` -> ``casa-6.7``)."""
    base = repository.rsplit("/", 1)[-1]
    name = re.sub(r"[^a-z0-9._-]+", "-", f"{base}-{tag}".lower()).strip("-._")
    if len(name) > 63 or not name:
        digest = hashlib.sha256(f"{repository}:{tag}".encode()).hexdigest()[:8]
        name = f"{name[:54].rstrip('-._')}-{digest}"
    return name


def entry_from_image(info: ImageInfo, repository: str, tag: str) -> CatalogueEntry | None:
    """The catalogue entry an image's labels describe, or None when it declares no Arcade kind."""
    kind = labels.kind_of(info.labels)
    if kind not in labels.KINDS:
        return None
    base = repository.rsplit("/", 1)[-1]
    return CatalogueEntry(
        name=entry_name(repository, tag),
        title=info.labels.get(labels.TITLE) or f"{base} {tag}",
        description=info.labels.get(labels.DESCRIPTION, ""),
        kind=Kind(kind),
        image=f"{repository}:{tag}",
        versions=labels.versions_of(info.labels),
        group=info.labels.get(labels.GROUP, ""),
    )


def merge_catalogue(config: PlatformConfig, discovered: Sequence[CatalogueEntry]) -> PlatformConfig:
    """``config`` with discovered entries after the static ones (static names win)."""
    if not discovered:
        return config
    static = {e.name for e in config.catalogue}
    extra = [e for e in discovered if e.name not in static]
    return config.model_copy(update={"catalogue": [*config.catalogue, *extra]})


@dataclass
class _Repo:
    entries: tuple[CatalogueEntry, ...] = ()
    error: str | None = None


@dataclass
class CatalogueDiscovery:
    """Finds labelled images in ``settings.discovery.repositories``; refreshes at most every
    ``refresh_seconds``; one refresh at a time."""

    client: RegistryClient
    settings: ImagesConfig
    clock: Callable[[], float] = time.monotonic
    _repos: dict[str, _Repo] = field(default_factory=dict)
    _fetched_at: float | None = None
    _task: asyncio.Task[None] | None = None

    def snapshot(self) -> Snapshot:
        entries: list[CatalogueEntry] = []
        seen: set[str] = set()
        for repo in self.settings.discovery.repositories:
            for e in self._repos.get(repo, _Repo()).entries:
                if e.name not in seen:
                    seen.add(e.name)
                    entries.append(e)
        errors = tuple(r.error for r in self._repos.values() if r.error)
        return Snapshot(tuple(entries), errors, self._fetched_at)

    @property
    def stale(self) -> bool:
        if self._fetched_at is None:
            return True
        return self.clock() - self._fetched_at >= self.settings.discovery.refresh_seconds

    async def current(self, wait: float | None = None) -> Snapshot:
        """The snapshot, refreshed first when stale; waits at most ``wait`` seconds for it
        (default ``discovery.form_wait_seconds``), after which the refresh goes on behind."""
        if not self.settings.discovery.repositories:
            return Snapshot()
        if self.stale and self._task is None:
            self._task = asyncio.ensure_future(self._refresh())
        if self._task is not None:
            task = self._task
            try:
                await asyncio.wait_for(
                    asyncio.shield(task), wait or self.settings.discovery.form_wait_seconds
                )
            except TimeoutError:
                snapshot = self.snapshot()
                late = "image discovery is taking longer than usual (a registry is slow)"
                return Snapshot(snapshot.entries, (*snapshot.errors, late), snapshot.fetched_at)
        return self.snapshot()

    async def refresh(self) -> Snapshot:
        """Ask the registries now."""
        await self._refresh()
        return self.snapshot()

    async def _refresh(self) -> None:
        try:
            repositories = self.settings.discovery.repositories
            results = await asyncio.gather(*(self._discover(r) for r in repositories))
            for repo, result in zip(repositories, results, strict=True):
                old = self._repos.get(repo, _Repo())
                if result.error is not None:
                    # keep what this repository offered before
                    self._repos[repo] = _Repo(old.entries, result.error)
                else:
                    self._repos[repo] = result
            self._fetched_at = self.clock()
        finally:
            self._task = None

    async def _discover(self, repository: str) -> _Repo:
        discovery, policy = self.settings.discovery, self.settings.policy
        try:
            tags = await self.client.list_tags(repository)
        except (RegistryError, InvalidReference) as exc:
            log.warning("image discovery in %s failed: %s", repository, exc)
            return _Repo(error=f"{repository}: {exc}")
        registry = parse_reference(repository).registry
        if registry in self.client.stale:
            # the client answers from its cache: keep what was found before, and say so
            return _Repo(error=f"{repository}: {self.client.stale[registry]}")
        wanted = sorted(
            t
            for t in tags
            if glob_any(t, discovery.tags) and not glob_any(t, policy.refused_tags)
        )[-discovery.max_tags :]
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(tag: str) -> CatalogueEntry | None:
            async with limit:
                try:
                    info = await self.client.image_info(f"{repository}:{tag}")
                except (RegistryError, InvalidReference) as exc:
                    log.warning("image discovery: skipping %s:%s: %s", repository, tag, exc)
                    return None
            if not policy.allow_root and is_root_user(info.user) and labels.kind_of(info.labels):
                log.warning("image discovery: skipping %s:%s, it runs as root", repository, tag)
                return None
            return entry_from_image(info, repository, tag)

        found = await asyncio.gather(*(one(t) for t in wanted))
        return _Repo(entries=tuple(e for e in found if e is not None))

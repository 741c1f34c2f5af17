"""One registry client, discovery and resolver per `images` configuration and event loop: what
the launch planner asks the registry through (`arcade_hub.launch.planner.ImageLookup`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from arcade_hub.config.images import ImagesConfig
from arcade_hub.images.discovery import CatalogueDiscovery, Snapshot
from arcade_hub.images.registry import RegistryClient
from arcade_hub.images.resolver import ImageResolver
from arcade_hub.images.rules import ImageCheck, ResolvedImage


@dataclass
class ImageServices:
    client: RegistryClient
    discovery: CatalogueDiscovery
    resolver: ImageResolver

    @classmethod
    def create(cls, settings: ImagesConfig, client: RegistryClient | None = None) -> ImageServices:
        client = client or RegistryClient(settings.registries)
        return cls(
            client=client,
            discovery=CatalogueDiscovery(client, settings),
            resolver=ImageResolver(client, settings.policy),
        )

    async def discovered(self) -> Snapshot:
        """Discovered entries (cached; never raises). No registry traffic without repositories."""
        if not self.discovery.settings.discovery.repositories:
            return Snapshot()
        return await self.discovery.current()

    async def resolve(self, check: ImageCheck) -> ResolvedImage:
        return await self.resolver.resolve(check)


_SERVICES: dict[tuple[int, str], ImageServices] = {}


def image_services(settings: ImagesConfig) -> ImageServices:
    """The shared services for ``settings`` on the running event loop (caches survive between
    launches; a changed configuration gets fresh ones)."""
    key = (id(asyncio.get_running_loop()), settings.model_dump_json())
    services = _SERVICES.get(key)
    if services is None:
        services = _SERVICES[key] = ImageServices.create(settings)
    return services


async def close_all() -> None:
    """Close every client (tests, shutdown)."""
    while _SERVICES:
        _, services = _SERVICES.popitem()
        await services.client.aclose()

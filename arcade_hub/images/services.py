"""One registry client, discovery and resolver per `images` configuration and event loop: what
the launch planner asks the registry through (`arcade_hub.launch.planner.ImageLookup`)."""

from __future__ import annotations

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


class ImageServicesScope:
    """The image services of one long-lived owner (the hub's web application, the arcade
    service): one per `images` configuration, so that caches survive between launches and a
    changed configuration gets fresh ones; closed with their owner."""

    def __init__(self) -> None:
        self._services: dict[str, ImageServices] = {}

    def get(self, settings: ImagesConfig) -> ImageServices:
        key = settings.model_dump_json()
        services = self._services.get(key)
        if services is None:
            services = self._services[key] = ImageServices.create(settings)
        return services

    async def close(self) -> None:
        while self._services:
            _, services = self._services.popitem()
            await services.client.aclose()

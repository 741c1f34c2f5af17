"""The registry step of a launch, shared by the spawners: merge discovered entries, then check
and pin the image `build_spec` will need. Keeps `build_spec` pure."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from arcade_hub.config import PlatformConfig
from arcade_hub.images.discovery import Snapshot, merge_catalogue
from arcade_hub.images.rules import ResolvedImage
from arcade_hub.images.services import ImageServices, image_services
from arcade_hub.launch.planner import Site, UserContext, image_check
from arcade_hub.launch.request import LaunchRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedLaunch:
    config: PlatformConfig
    """The platform document with discovered entries in its catalogue."""
    site: Site
    resolved: ResolvedImage | None


async def discovered(config: PlatformConfig, services: ImageServices | None = None) -> Snapshot:
    """Discovered entries (cached; never raises). No registry traffic without repositories."""
    if not config.images.discovery.repositories:
        return Snapshot()
    services = services or image_services(config.images)
    return await services.discovery.current()


async def prepare_launch(
    request: LaunchRequest,
    config: PlatformConfig,
    user: UserContext,
    site: Site,
    services: ImageServices | None = None,
) -> PreparedLaunch:
    snapshot = await discovered(config, services)
    merged = merge_catalogue(config, snapshot.entries)
    site = dataclasses.replace(site, discovered=snapshot.names)
    check = image_check(request, merged, user, site)
    resolved = None
    if check is not None:
        services = services or image_services(config.images)
        resolved = await services.resolver.resolve(check)
        if resolved.pinned:
            log.info("Image %s for %s resolved to %s", check.ref, user.name, resolved.pinned)
        else:
            log.info("Image %s for %s refused: %s", check.ref, user.name, resolved.error)
    return PreparedLaunch(merged, site, resolved)

"""The async adapter between launch policy and the registry: look an image up, check it, pin it."""

from __future__ import annotations

from arcade_hub.config.images import ImagePolicy
from arcade_hub.images import labels
from arcade_hub.images.errors import (
    ImageNotFound,
    InvalidReference,
    RegistryAuthError,
    RegistryError,
    RegistryUnavailable,
)
from arcade_hub.images.registry import RegistryClient
from arcade_hub.images.rules import ImageCheck, ResolvedImage, image_errors, parse_custom


class ImageResolver:
    """Resolves an :class:`ImageCheck` to a digest-pinned reference, or a refusal."""

    def __init__(self, client: RegistryClient, policy: ImagePolicy) -> None:
        self.client = client
        self.policy = policy

    async def resolve(self, check: ImageCheck) -> ResolvedImage:
        ref, error = parse_custom(check.ref)
        if ref is None:
            return ResolvedImage.refused(check.ref, error or "invalid image reference")
        try:
            info = await self.client.image_info(ref)
        except ImageNotFound:
            return ResolvedImage.refused(
                check.ref,
                f"the image {ref} does not exist in its registry: check the name and the tag",
            )
        except RegistryAuthError as exc:
            return ResolvedImage.refused(
                check.ref, f"the registry refused access to {ref.name}: {exc}"
            )
        except RegistryUnavailable as exc:
            return ResolvedImage.refused(
                check.ref,
                f"{ref.name} cannot be checked right now because its registry is unavailable "
                f"({exc}); try again in a few minutes",
            )
        except (RegistryError, InvalidReference) as exc:
            return ResolvedImage.refused(check.ref, f"{ref} cannot be used: {exc}")
        refusal = image_errors(info, check, self.policy)
        if refusal:
            return ResolvedImage.refused(check.ref, refusal)
        return ResolvedImage(ref=check.ref, pinned=info.pinned, kind=labels.kind_of(info.labels))

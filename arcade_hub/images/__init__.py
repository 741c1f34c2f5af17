"""Container images: references, the OCI Distribution registry client and its results."""

from arcade_hub.config.images import RegistryConfig
from arcade_hub.config.references import ImageReference, format_digest_reference, parse_reference
from arcade_hub.images.errors import (
    ImageNotFound,
    InvalidReference,
    RegistryAuthError,
    RegistryError,
    RegistryProtocolError,
    RegistryTimeout,
    RegistryUnavailable,
)
from arcade_hub.images.models import ImageInfo, Manifest, Platform
from arcade_hub.images.registry import RegistryClient

__all__ = [
    "ImageInfo",
    "ImageNotFound",
    "ImageReference",
    "InvalidReference",
    "Manifest",
    "Platform",
    "RegistryAuthError",
    "RegistryClient",
    "RegistryConfig",
    "RegistryError",
    "RegistryProtocolError",
    "RegistryTimeout",
    "RegistryUnavailable",
    "format_digest_reference",
    "parse_reference",
]

"""Typed errors raised by the registry client (and, re-exported, by the reference parser:
`InvalidReference`, a ValueError, not a RegistryError)."""

from __future__ import annotations

from arcade_hub.config.references import InvalidReference

__all__ = [
    "ImageNotFound",
    "InvalidReference",
    "RegistryAuthError",
    "RegistryError",
    "RegistryProtocolError",
    "RegistryTimeout",
    "RegistryUnavailable",
]


class RegistryError(Exception):
    """Base class of every registry client error."""


class ImageNotFound(RegistryError):
    """The repository, tag, digest or requested platform does not exist in the registry."""


class RegistryAuthError(RegistryError):
    """The registry refused the credentials, or refused access without credentials."""


class RegistryUnavailable(RegistryError):
    """The registry could not be reached or answered with a server error."""


class RegistryTimeout(RegistryUnavailable):
    """The registry accepted the connection but did not answer within the timeout."""


class RegistryProtocolError(RegistryError):
    """The registry answered something this client cannot use (bad JSON, digest mismatch...)."""

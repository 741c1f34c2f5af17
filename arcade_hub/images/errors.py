"""Typed errors raised by the image reference parser and the registry client."""

from __future__ import annotations


class RegistryError(Exception):
    """Base class of every registry client error."""


class InvalidReference(RegistryError, ValueError):
    """An image reference (``host[:port]/repo[:tag][@digest]``) could not be parsed."""


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

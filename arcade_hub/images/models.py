"""Results of the registry client: platforms, manifests and image metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from arcade_hub.config.references import format_digest_reference, parse_reference
from arcade_hub.images.errors import RegistryProtocolError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"

IMAGE_MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFEST_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
"""Accepted manifest media types, most preferred first (sent as ``Accept``)."""


class Platform(BaseModel):
    """An OS/architecture pair such as ``linux/amd64`` or ``linux/arm64/v8``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str | Platform) -> Platform:
        """Parse ``os/arch[/variant]``; raise ``ValueError`` for anything else."""
        if isinstance(text, Platform):
            return text
        parts = text.split("/")
        if not 2 <= len(parts) <= 3 or not all(parts):
            raise ValueError(f"invalid platform {text!r}: expected os/architecture[/variant]")
        return cls(
            os=parts[0], architecture=parts[1], variant=parts[2] if len(parts) == 3 else None
        )

    @classmethod
    def from_descriptor(cls, data: Any) -> Platform | None:
        if not isinstance(data, dict):
            return None
        os_, arch = data.get("os"), data.get("architecture")
        if not isinstance(os_, str) or not isinstance(arch, str):
            return None
        variant = data.get("variant")
        return cls(os=os_, architecture=arch, variant=variant if isinstance(variant, str) else None)

    def matches(self, other: Platform) -> bool:
        """Whether an image built for ``other`` satisfies a request for ``self``."""
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        if self.variant is None or self.variant == other.variant:
            return True
        # arm64 images usually omit the (only) variant v8.
        return self.architecture == "arm64" and {self.variant, other.variant} <= {"v8", None}

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class Manifest:
    """A manifest or index exactly as served, with its content digest."""

    media_type: str
    digest: str
    content: bytes

    @cached_property
    def document(self) -> dict[str, Any]:
        try:
            data = json.loads(self.content)
        except ValueError as exc:
            raise RegistryProtocolError(f"manifest {self.digest} is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise RegistryProtocolError(f"manifest {self.digest} is not a JSON object")
        return data

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


class ImageInfo(BaseModel):
    """What a registry tells about one image for one platform."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reference: str = Field(description="Normalized reference that was asked for.")
    digest: str = Field(
        description="Digest the reference resolves to (the index digest for multi-arch images)."
    )
    platform_digest: str = Field(description="Digest of the manifest of the selected platform.")
    media_type: str = Field(description="Media type of the top-level manifest or index.")
    platform: str = Field(description="Platform of the selected image, e.g. linux/amd64.")
    labels: dict[str, str] = Field(default_factory=dict)
    user: str | None = None
    entrypoint: list[str] = Field(default_factory=list)
    cmd: list[str] = Field(default_factory=list)
    exposed_ports: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    working_dir: str | None = None

    @property
    def pinned(self) -> str:
        """``registry/repository@digest``: what to run so the image cannot change underneath."""
        return format_digest_reference(parse_reference(self.reference).name, self.digest)

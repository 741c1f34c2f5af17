"""The storage service: VOSpace 2.1 over homes and project spaces (`vos` clients)."""

from __future__ import annotations

from pydantic import Field

from arcade_hub.config.base import Model

NAME = "arcade"
"""The resource name of the default resource ID (`ivo://<host>/arcade`)."""


class VospaceConfig(Model):
    """The VOSpace service users reach with CADC's `vos` client (`vls`, `vcp`, ...)."""

    enabled: bool = Field(
        True,
        title="Serve VOSpace",
        description=(
            "Run the storage service (`/services/vospace/`): users list, copy, move and share "
            "the files of their home and project spaces from outside any session."
        ),
    )
    resource_id: str | None = Field(
        None,
        title="Resource ID",
        description=(
            "The service's IVOA identifier, `ivo://<authority>/<name>`, which clients look up "
            "in the platform's registry (`/reg/resource-caps`). Node URIs are "
            "`vos://<authority>!<name>/home/<user>/...`. Default: `ivo://<host>/arcade` with the "
            "host of `web.public_url`, or of each request when that is unset."
        ),
        pattern=r"^ivo://[A-Za-z0-9][A-Za-z0-9.-]{0,252}/[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
    )
    max_file_gib: float = Field(
        256,
        title="Largest upload (GiB)",
        description=(
            "A file upload announcing more bytes is refused (413) before any byte is read. "
            "Uploads stream to disk with bounded memory whatever their size."
        ),
        gt=0,
        le=1 << 20,
    )
    max_children: int = Field(
        100_000,
        title="Most children in one listing",
        description=(
            "A container listing answers at most this many children; clients page with "
            "`limit` and `uri` (the last child they have)."
        ),
        ge=100,
        le=10_000_000,
    )

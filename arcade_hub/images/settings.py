"""The `images` section of the platform document: registries, discovery and launch policy."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from arcade_hub.images.config import RegistryConfig
from arcade_hub.images.errors import InvalidReference
from arcade_hub.images.reference import parse_reference


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Discovery(_Model):
    """Repositories whose labelled images join the catalogue."""

    repositories: list[str] = Field(
        default_factory=list,
        title="Repositories",
        description=(
            "Repositories to look in, as `host[:port]/path` without tag, e.g. "
            "`images.example.org/arcade/casa`. Every tag whose image carries an "
            "`org.arcade-hub.kind` label is offered in the launch form."
        ),
    )
    tags: list[str] = Field(
        default_factory=lambda: ["*"],
        title="Tag patterns",
        description=(
            "Shell-style patterns of the tags to consider (`policy.refused_tags` still apply)."
        ),
    )
    max_tags: int = Field(
        20,
        ge=1,
        le=500,
        title="Tags per repository",
        description=(
            "At most this many tags per repository are offered (the last ones in sort order)."
        ),
    )
    refresh_seconds: float = Field(
        300.0,
        ge=0,
        title="Refresh interval (seconds)",
        description=(
            "How long a discovered catalogue is reused before the registries are asked again."
        ),
    )
    form_wait_seconds: float = Field(
        3.0,
        gt=0,
        le=60,
        title="Form wait (seconds)",
        description=(
            "How long the launch form waits for a refresh. When a registry is slower or down, the "
            "form shows the static catalogue and the images discovered before, and says so."
        ),
    )

    @field_validator("repositories")
    @classmethod
    def _repositories(cls, values: list[str]) -> list[str]:
        out = []
        for value in values:
            try:
                ref = parse_reference(value)
            except InvalidReference as exc:
                raise ValueError(str(exc)) from None
            if ref.tag or ref.digest:
                raise ValueError(f"discovery repository {value!r} must not carry a tag or digest")
            out.append(ref.name)
        return out


class ImagePolicy(_Model):
    """What images may run, checked at every launch (form and REST alike)."""

    allowed_repositories: list[str] = Field(
        default_factory=list,
        title="Allowed repositories",
        description=(
            "Patterns over `registry/repository` that custom image references must match, "
            "component by component: `*`, `?` and `[...]` stay within one `/`-separated part, "
            "and a part `**` stands for one or more, e.g. `images.example.org/**` (a whole "
            "registry) or `docker.io/jupyter/*` (one level). Empty: any repository."
        ),
    )
    custom_image_groups: list[str] = Field(
        default_factory=list,
        title="Groups allowed custom images",
        description=(
            "Members of these groups may launch image references that are not in the catalogue. "
            "`policy.custom_images: true` allows everyone; with neither, nobody may."
        ),
    )
    refused_tags: list[str] = Field(
        default_factory=lambda: ["latest"],
        title="Refused tags",
        description=(
            "Shell-style patterns of tags custom references may not use. A reference without "
            "tag means `latest`. Pinning by digest (`repo@sha256:...`) is always accepted."
        ),
    )
    allow_root: bool = Field(
        False,
        title="Allow root images",
        description="Allow images whose configured user is root (or unset, which means root).",
    )
    require_kind_label: bool = Field(
        False,
        title="Require a kind label",
        description=(
            "Refuse custom images without an `org.arcade-hub.kind` label. Otherwise an unlabelled "
            "image runs as a notebook."
        ),
    )
    resolve_catalogue: bool = Field(
        False,
        title="Check catalogue images",
        description=(
            "Also check the statically configured catalogue's images against the registry at "
            "launch and pin them to a digest (container backends only). Discovered and custom "
            "images are always checked and pinned."
        ),
    )


class ImagesConfig(_Model):
    """Registries, image discovery and the image launch policy."""

    registries: list[RegistryConfig] = Field(
        default_factory=list,
        title="Registries",
        description=(
            "Settings of the registries images come from (URL, credentials, timeouts, cache). "
            "Registries not listed are used anonymously over HTTPS."
        ),
    )
    discovery: Discovery = Field(
        default_factory=Discovery,
        title="Discovery",
        description="Repositories whose labelled images are added to the catalogue.",
    )
    policy: ImagePolicy = Field(
        default_factory=ImagePolicy,
        title="Image policy",
        description="Rules images must pass at launch.",
    )

    @field_validator("registries")
    @classmethod
    def _unique(cls, values: list[RegistryConfig]) -> list[RegistryConfig]:
        names = [r.registry_name for r in values]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"registries {', '.join(dupes)} are configured more than once")
        return values

"""The `images` section of the platform document: registries, discovery and launch policy."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from arcade_hub.config.base import ENV_NAME_PATTERN, Model
from arcade_hub.config.references import (
    DOCKER_HUB,
    InvalidReference,
    normalize_registry,
    parse_reference,
)
from arcade_hub.quoting import shown

DOCKER_HUB_API = "https://registry-1.docker.io"
"""Where the Distribution API of ``docker.io`` references is served."""


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (without port) is ``localhost`` or a loopback IP address."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RegistryConfig(Model):
    """How to talk to one OCI Distribution registry."""

    url: str = Field(
        title="Registry URL",
        description=(
            "Base URL of the registry API, e.g. `https://images.example.org` or "
            "`http://127.0.0.1:5000`. Plain `http` needs `insecure: true` unless the host is "
            "loopback."
        ),
    )
    name: str | None = Field(
        None,
        title="Name in image references",
        description=(
            "Registry host as written in image references (`host[:port]`). Defaults to the "
            "host and port of `url`; Docker Hub's is `docker.io`."
        ),
    )
    username: str | None = Field(
        None, title="Username", description="User for HTTP basic or token authentication."
    )
    password_env: str | None = Field(
        None,
        title="Password environment variable",
        description=(
            "Name of the environment variable holding the password or access token. The secret "
            "itself never appears in the configuration or in logs."
        ),
        pattern=ENV_NAME_PATTERN,
    )
    insecure: bool = Field(
        False,
        title="Allow plain HTTP",
        description="Allow an `http://` URL for a non-loopback registry (test setups only).",
    )
    timeout: float = Field(
        10.0,
        gt=0,
        le=300,
        title="Timeout (seconds)",
        description=(
            "Bound on connecting to and waiting for one answer. A registry that stops "
            "answering fails after this long, without retries."
        ),
    )
    retries: int = Field(
        2,
        ge=0,
        le=10,
        title="Retries",
        description="Extra attempts after connection errors and 5xx answers, with short backoff.",
    )
    cache_ttl: float = Field(
        300.0,
        ge=0,
        title="Cache lifetime (seconds)",
        description="How long tag lists, digests and image metadata are reused before refreshing.",
    )
    stale_if_error: float = Field(
        86400.0,
        ge=0,
        title="Serve stale entries on error (seconds)",
        description=(
            "While the registry is unavailable, keep serving cached results up to this long "
            "after they expired."
        ),
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"registry url {shown(url)} must look like https://host[:port]")
        if parts.path.strip("/") or parts.query or parts.fragment:
            raise ValueError(f"registry url {shown(url)} must not have a path, query or fragment")
        if parts.username or parts.password:
            raise ValueError("registry url must not embed credentials; use password_env")
        return f"{parts.scheme}://{parts.netloc}"

    @model_validator(mode="after")
    def _check_http(self) -> RegistryConfig:
        host = urlsplit(self.url).hostname or ""
        if self.scheme == "http" and not (self.insecure or is_loopback_host(host)):
            raise ValueError(
                f"registry url {shown(self.url)} uses plain http for a non-loopback host; "
                "use https or set insecure: true"
            )
        if self.password_env and not self.username:
            raise ValueError("password_env is set but username is not")
        return self

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def registry_name(self) -> str:
        """The registry host as it appears in normalized image references."""
        if self.name:
            return normalize_registry(self.name)
        if self.url == DOCKER_HUB_API:
            return DOCKER_HUB
        return normalize_registry(urlsplit(self.url).netloc)

    @classmethod
    def default_for(cls, registry: str) -> RegistryConfig:
        """Anonymous settings for a registry that has no configuration of its own: HTTPS, or
        plain HTTP for loopback hosts (as docker and podman treat them)."""
        if registry == DOCKER_HUB:
            return cls(url=DOCKER_HUB_API, name=DOCKER_HUB)
        host = urlsplit(f"//{registry}").hostname or ""
        scheme = "http" if is_loopback_host(host) else "https"
        return cls(url=f"{scheme}://{registry}", name=registry)


class Discovery(Model):
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
                raise ValueError(
                    f"discovery repository {shown(value)} must not carry a tag or digest"
                )
            out.append(ref.name)
        return out


class ImagePolicy(Model):
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


class ImagesConfig(Model):
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

"""Per-registry settings of the image registry client."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from arcade_hub.images.reference import DOCKER_HUB, normalize_registry

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


class RegistryConfig(BaseModel):
    """How to talk to one OCI Distribution registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
            raise ValueError(f"registry url {url!r} must look like https://host[:port]")
        if parts.path.strip("/") or parts.query or parts.fragment:
            raise ValueError(f"registry url {url!r} must not have a path, query or fragment")
        if parts.username or parts.password:
            raise ValueError("registry url must not embed credentials; use password_env")
        return f"{parts.scheme}://{parts.netloc}"

    @model_validator(mode="after")
    def _check_http(self) -> RegistryConfig:
        host = urlsplit(self.url).hostname or ""
        if self.scheme == "http" and not (self.insecure or is_loopback_host(host)):
            raise ValueError(
                f"registry url {self.url!r} uses plain http for a non-loopback host; "
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

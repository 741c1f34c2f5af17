"""The public address: URL, per-user subdomains and what follows from them."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from arcade_hub.config.base import Model


class WebConfig(Model):
    """Where users reach the platform, and whether each user's sessions get a host of their own."""

    public_url: str | None = Field(
        None,
        title="Public URL",
        description=(
            "The address users open, e.g. `https://hub.example.org/` (no path: the hub is at "
            "`/hub/`). Links, redirects and OAuth callbacks are built from it instead of from "
            "each request's Host header, and with `https` every cookie of the hub, the sessions "
            "and the arcade service is marked `Secure`. Default: taken from each request, which "
            "suits `arcade-hub run` on one machine."
        ),
        pattern=r"^https?://[^/?#@\s]+/?$",
    )
    subdomain_host: str | None = Field(
        None,
        title="Per-user subdomains",
        description=(
            "Serve each user's sessions at `<user>.<host>` rather than under the hub's own "
            "host, e.g. `https://hub.example.org` puts alice's sessions at "
            "`https://alice.hub.example.org/user/alice/...` and the arcade service (job list, "
            "sessions API) at `https://arcade--service.hub.example.org/services/arcade/`; the "
            "hub stays "
            "at `https://hub.example.org/hub/`. Every session then runs in an origin of its "
            "user's own, so a page or notebook output one user opens cannot act with the "
            "hub's or another user's login. Needs wildcard DNS and a wildcard TLS certificate "
            "for `*.<host>` (see the how-to on securing a deployment). `public_url`, when set, "
            "must name the same host."
        ),
        pattern=r"^https?://[^/?#@\s]+/?$",
    )
    tls_cert_file: str | None = Field(
        None,
        title="TLS certificate",
        description=(
            "Serve https directly, without a reverse proxy in front: a PEM file with the "
            "certificate and its chain (`tls_key_file` holds its key). The hub's proxy then "
            "answers only https on `--ip`:`--port`. Default: plain HTTP, for a TLS-terminating "
            "proxy in front (see the how-to on securing a deployment)."
        ),
    )
    tls_key_file: str | None = Field(
        None,
        title="TLS key",
        description="The private key of `tls_cert_file` (PEM), readable by root only.",
    )

    @field_validator("subdomain_host")
    @classmethod
    def _a_dns_name(cls, value: str | None) -> str | None:
        host = urlsplit(value).hostname if value else None
        if host is not None and is_ip_address(host):
            raise ValueError(
                f"{host} is an IP address, which has no subdomains: use a DNS name whose "
                "subdomains resolve to this machine (wildcard DNS)"
            )
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _same_host(self) -> WebConfig:
        if self.public_url and self.subdomain_host:
            public = urlsplit(self.public_url)
            sub = urlsplit(self.subdomain_host)
            if (public.scheme, public.netloc) != (sub.scheme, sub.netloc):
                raise ValueError(
                    f"public_url {self.public_url!r} and subdomain_host {self.subdomain_host!r} "
                    "must name the same scheme, host and port: the hub is served at "
                    "subdomain_host, users' sessions on its subdomains"
                )
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together: set both or neither")
        return self

    @property
    def origin(self) -> str | None:
        """`scheme://host[:port]` the hub is served at, when configured."""
        url = self.subdomain_host or self.public_url
        if not url:
            return None
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def https(self) -> bool:
        return (self.origin or "").startswith("https://") or self.tls_cert_file is not None


def is_ip_address(host: str) -> bool:
    """Whether `host` is an IP address rather than a DNS name (which can have subdomains)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True

"""The public address: URL, per-user subdomains and what follows from them."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from arcade_hub.config.base import Model
from arcade_hub.quoting import shown


class WebConfig(Model):
    """Where users reach the platform, and whether each user's sessions get a host of their own."""

    public_url: str | None = Field(
        None,
        title="Public URL",
        description=(
            "The address users open, e.g. `https://hub.example.org/`: scheme, host and port "
            "only. The platform is served at the root of its host (the hub at `/hub/`, the "
            "arcade service at `/services/arcade/`, sessions at `/user/`); a path such as "
            "`https://example.org/jupyter/` is refused, as serving it under a prefix is not "
            "supported: give it a host of its own (e.g. `https://arcade.example.org/`). "
            "Links, redirects and OAuth callbacks are built from it instead of from "
            "each request's Host header, and with `https` every cookie of the hub, the sessions "
            "and the arcade service is marked `Secure`. Default: taken from each request, which "
            "suits `arcade-hub run` on one machine."
        ),
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
            "must name the same host. Scheme, host and port only, like `public_url`."
        ),
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

    @field_validator("public_url", "subdomain_host")
    @classmethod
    def _scheme_host_and_port(cls, value: str | None) -> str | None:
        if value is not None:
            problem = not_a_root_url(value)
            if problem:
                raise ValueError(problem)
        return value

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
                    f"public_url {shown(self.public_url)} and subdomain_host "
                    f"{shown(self.subdomain_host)} "
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


def not_a_root_url(url: str) -> str | None:
    """What keeps `url` from being the root of a host the platform is served at
    (`https://host[:port]/`), in words an operator can act on; None when it is one."""
    example = "e.g. https://hub.example.org/"
    if any(c.isspace() for c in url):
        return f"the address has a space in it; write the address users open, {example}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"not an http(s) address; write the address users open, {example}"
    try:
        parts.port  # noqa: B018 (urlsplit checks the port only when asked)
    except ValueError:
        return "the port is not a number from 0 to 65535"
    if not parts.hostname or "@" in parts.netloc:
        return f"the address must name a host, and no user name or password, {example}"
    if parts.path not in ("", "/"):
        root = f"{parts.scheme}://{parts.netloc}/"
        return (
            f"the address has a path ({parts.path}), but Arcade Hub is served at the root of "
            "its host (the hub at /hub/, the arcade service at /services/arcade/, sessions at "
            f"/user/) and cannot be served under a prefix: write {root} and give the platform "
            "a host of its own (e.g. https://arcade.example.org/)"
        )
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        return f"the address has a query or fragment; write only scheme, host and port, {example}"
    return None


def is_ip_address(host: str) -> bool:
    """Whether `host` is an IP address rather than a DNS name (which can have subdomains)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True

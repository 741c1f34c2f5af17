"""RegistryConfig validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from arcade_hub.images import RegistryConfig


def test_defaults_and_names() -> None:
    config = RegistryConfig(url="https://Images.Example.org:8443/")
    assert config.url == "https://Images.Example.org:8443"
    assert config.registry_name == "images.example.org:8443"
    assert config.timeout == 10 and config.retries == 2 and config.cache_ttl == 300
    assert RegistryConfig.default_for("docker.io").url == "https://registry-1.docker.io"
    assert RegistryConfig.default_for("docker.io").registry_name == "docker.io"
    assert RegistryConfig(url="https://registry-1.docker.io").registry_name == "docker.io"
    assert RegistryConfig(url="https://r.example", name="alias.example").registry_name == (
        "alias.example"
    )


@pytest.mark.parametrize("url", ["http://127.0.0.1:5000", "http://localhost:5000", "http://[::1]"])
def test_plain_http_allowed_for_loopback(url: str) -> None:
    assert RegistryConfig(url=url).scheme == "http"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"url": "http://registry.example.org"}, "plain http for a non-loopback host"),
        ({"url": "ftp://x"}, "must look like https://host"),
        ({"url": "https://x/v2/"}, "must not have a path"),
        ({"url": "https://u:p@x"}, "must not embed credentials"),
        ({"url": "https://x", "password_env": "P"}, "username is not"),
        ({"url": "https://x", "password": "secret"}, "Extra inputs are not permitted"),
        ({"url": "https://x", "timeout": 0}, "greater than 0"),
    ],
)
def test_invalid(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RegistryConfig.model_validate(data)


def test_insecure_allows_http() -> None:
    assert RegistryConfig(url="http://registry.example.org", insecure=True).scheme == "http"


def test_unconfigured_loopback_registry_uses_plain_http() -> None:
    assert RegistryConfig.default_for("127.0.0.1:5000").url == "http://127.0.0.1:5000"
    assert RegistryConfig.default_for("localhost:5000").url == "http://localhost:5000"
    assert RegistryConfig.default_for("images.example.org").url == "https://images.example.org"

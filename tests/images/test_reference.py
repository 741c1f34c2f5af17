"""Image reference parsing, normalization and formatting."""

from __future__ import annotations

import pytest

from arcade_hub.config.references import parse_reference
from arcade_hub.images import ImageReference, InvalidReference, format_digest_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest", "canonical"),
    [
        ("python", "docker.io", "library/python", None, None, "docker.io/library/python"),
        ("python:3.11", "docker.io", "library/python", "3.11", None, None),
        ("jupyter/base-notebook:lab-4", "docker.io", "jupyter/base-notebook", "lab-4", None, None),
        ("index.docker.io/library/ubuntu", "docker.io", "library/ubuntu", None, None, None),
        ("docker.io/ubuntu:24.04", "docker.io", "library/ubuntu", "24.04", None, None),
        (
            "quay.io/jupyter/scipy-notebook:2025",
            "quay.io",
            "jupyter/scipy-notebook",
            "2025",
            None,
            None,
        ),
        (
            "127.0.0.1:5000/arcade/notebook:1.0",
            "127.0.0.1:5000",
            "arcade/notebook",
            "1.0",
            None,
            None,
        ),
        ("localhost/a/b/c", "localhost", "a/b/c", None, None, None),
        ("Images.CANFAR.net/skaha/casa:6.7", "images.canfar.net", "skaha/casa", "6.7", None, None),
        (f"ghcr.io/o/i@{DIGEST}", "ghcr.io", "o/i", None, DIGEST, None),
        (f"ghcr.io/o/i:v1@{DIGEST}", "ghcr.io", "o/i", "v1", DIGEST, None),
        ("[::1]:5000/x:y", "[::1]:5000", "x", "y", None, None),
        (
            "my-registry.local:443/a__b/c.d-e:V_1.0-rc",
            "my-registry.local:443",
            "a__b/c.d-e",
            "V_1.0-rc",
            None,
            None,
        ),
    ],
)
def test_parse(
    text: str,
    registry: str,
    repository: str,
    tag: str | None,
    digest: str | None,
    canonical: str | None,
) -> None:
    ref = parse_reference(text)
    assert ref == ImageReference(registry, repository, tag, digest)
    assert parse_reference(str(ref)) == ref  # str() round-trips
    if canonical is not None:
        assert str(ref) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty image reference"),
        ("Python:3", "must be lower case"),
        ("python:", "bad tag ''"),
        ("python:bad/tag", "bad registry 'python:bad'"),
        ("python@sha256:1234", "bad digest"),
        ("python@md5:" + "a" * 32, "bad digest"),
        ("https://quay.io/a/b", "drop the URL scheme"),
        ("quay.io/", "missing repository"),
        ("quay.io//b", "bad repository component ''"),
        ("host:99999/a", "bad port 99999"),
        ("a b", "whitespace"),
        ("-lead/x", "bad repository component '-lead'"),
        ("python:" + "x" * 129, "at most 128"),
        ("quay.io/" + "a" * 300, "longer than 255"),
    ],
)
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(InvalidReference, match=r"invalid image reference|empty") as info:
        parse_reference(text)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_properties_and_pinning() -> None:
    ref = ImageReference.parse("quay.io/a/b:1.0")
    assert ref.name == "quay.io/a/b"
    assert ref.reference == "1.0"
    assert ImageReference.parse("a/b").reference == "latest"
    pinned = ref.with_digest(DIGEST)
    assert pinned.reference == DIGEST and pinned.is_pinned and not ref.is_pinned
    assert str(pinned) == f"quay.io/a/b:1.0@{DIGEST}"
    assert pinned.pinned() == f"quay.io/a/b@{DIGEST}"
    assert ref.pinned(DIGEST) == f"quay.io/a/b@{DIGEST}"
    assert format_digest_reference("quay.io/a/b", DIGEST) == f"quay.io/a/b@{DIGEST}"
    with pytest.raises(InvalidReference, match="carries no digest"):
        ref.pinned()
    with pytest.raises(InvalidReference, match="invalid digest"):
        format_digest_reference("quay.io/a/b", "sha256:abc")
    with pytest.raises(InvalidReference):
        ref.with_digest("latest")


def test_an_empty_digest_is_refused() -> None:
    with pytest.raises(InvalidReference, match="bad digest ''"):
        parse_reference("python@")

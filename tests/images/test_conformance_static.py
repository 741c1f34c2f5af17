"""Static checks on image configs alone: exposed ports per kind (no registry, no podman)."""

from __future__ import annotations

import pytest

from arcade_hub.images.conformance.results import Status
from arcade_hub.images.conformance.static import static_checks
from arcade_hub.images.models import ImageInfo


def info(kind: str, ports: list[str], **labels: str) -> ImageInfo:
    return ImageInfo(
        reference="registry.example.org/arcade/app:1",
        digest="sha256:" + "0" * 64,
        platform_digest="sha256:" + "0" * 64,
        media_type="local",
        platform="linux/amd64",
        labels={"org.arcade-hub.kind": kind, "org.arcade-hub.title": "T", **labels},
        user="1000",
        cmd=["xterm"],
        exposed_ports=ports,
    )


def ports_result(image: ImageInfo) -> tuple[Status, str]:
    result = next(r for r in static_checks(image) if r.name == "exposed ports")
    return result.status, result.detail


@pytest.mark.parametrize("kind", ["desktop-app", "headless"])
def test_a_base_images_jupyter_port_is_tolerated_where_no_server_runs(kind: str) -> None:
    """Built FROM a notebook/desktop image, a desktop-app or batch image inherits EXPOSE 8888,
    which a Dockerfile cannot undo."""
    status, detail = ports_result(info(kind, ["8888/tcp"]))
    assert status == Status.passed
    assert detail == "8888/tcp (8888/tcp: a base image's Jupyter port, not used)"


@pytest.mark.parametrize("kind", ["desktop-app", "headless"])
def test_other_ports_still_fail_where_no_server_runs(kind: str) -> None:
    status, detail = ports_result(info(kind, ["8888/tcp", "5901/tcp"]))
    assert status == Status.failed
    assert detail == f"a {kind} image should not expose 5901/tcp"


def test_a_notebook_may_expose_its_port_only() -> None:
    assert ports_result(info("notebook", ["8888/tcp"])) == (Status.passed, "8888/tcp")
    assert ports_result(info("notebook", [])) == (Status.passed, "none")
    assert ports_result(info("notebook", ["8888/tcp", "22/tcp"]))[0] == Status.failed

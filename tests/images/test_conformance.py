"""`arcade-hub image check` on a good image of each kind and on images that break one rule."""

from __future__ import annotations

import json
from typing import Any

import pytest

from arcade_hub.cli import main
from arcade_hub.images.conformance.checker import CheckOptions, check_image
from arcade_hub.images.conformance.results import Status

from .busybox_images import cases
from .registry_server import RegistryProcess

CASES = {c.repository: c.failing for c in cases()}
GOOD = sorted(r for r, failing in CASES.items() if failing is None)
BAD = sorted(r for r, failing in CASES.items() if failing is not None)


def ref(registry: RegistryProcess, repository: str) -> str:
    return f"{registry.host}/{repository}:1.0"


async def run_check(registry: RegistryProcess, podman: Any, repository: str) -> Any:
    options = CheckOptions(podman=podman, timeout=20)
    return await check_image(ref(registry, repository), options)


@pytest.mark.parametrize("repository", GOOD)
async def test_good_image_passes_every_check(
    registry: RegistryProcess, conformance_images: dict[str, Any], podman: Any, repository: str
) -> None:
    report = await run_check(registry, podman, repository)
    assert report.ok, report.table()
    names = {r.name for r in report.results}
    assert any(n.startswith("runtime: ") for n in names), report.table()
    assert all(r.status == Status.passed for r in report.results), report.table()
    assert report.pinned and "@sha256:" in report.pinned


@pytest.mark.parametrize("repository", BAD)
async def test_bad_image_fails_for_the_right_reason(
    registry: RegistryProcess, conformance_images: dict[str, Any], podman: Any, repository: str
) -> None:
    report = await run_check(registry, podman, repository)
    failed = [r.name for r in report.failed()]
    assert failed == [CASES[repository]], report.table()
    assert not report.ok


async def test_static_only_needs_no_podman(
    registry: RegistryProcess, conformance_images: dict[str, Any]
) -> None:
    options = CheckOptions(runtime=False)
    report = await check_image(ref(registry, "bad/root"), options)
    assert [r.name for r in report.failed()] == ["non-root user"]
    assert report.result("non-root user").detail.startswith("runs as root")
    assert report.result("runtime").status == Status.skipped


async def test_missing_image_is_a_failure_that_names_it(
    registry: RegistryProcess, conformance_images: dict[str, Any]
) -> None:
    report = await check_image(ref(registry, "nope/nothing"), CheckOptions(runtime=False))
    assert not report.ok
    assert report.failed()[0].name == "image found"
    assert "not found" in report.failed()[0].detail


def test_cli_json_and_exit_status(
    registry: RegistryProcess,
    conformance_images: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["image", "check", "--static-only", "--json", ref(registry, "good/batch")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["kind"] == "headless"
    assert {c["name"] for c in report["checks"]} >= {"label: kind", "non-root user"}
    assert main(["image", "check", "--static-only", ref(registry, "bad/no-kind")]) == 1
    table = capsys.readouterr().out
    assert "label: kind" in table and "FAIL" in table and "missing org.arcade-hub.kind" in table


async def test_local_image_from_podman_store(
    registry: RegistryProcess, conformance_images: dict[str, Any], podman: Any
) -> None:
    podman.pull(ref(registry, "good/batch"), tls_verify=False)
    options = CheckOptions(podman=podman, local=True, timeout=20)
    report = await check_image(ref(registry, "good/batch"), options)
    assert report.ok, report.table()
    assert report.result("runtime: exit status").status == Status.passed

"""`check_image`: static checks from the registry (or podman's store), then runtime checks."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from arcade_hub.config.images import RegistryConfig, is_loopback_host
from arcade_hub.config.references import parse_reference
from arcade_hub.images import labels
from arcade_hub.images.conformance.podman import Podman, PodmanError
from arcade_hub.images.conformance.results import CheckResult, Report
from arcade_hub.images.conformance.runtime import RuntimeChecker
from arcade_hub.images.conformance.static import static_checks
from arcade_hub.images.errors import RegistryError
from arcade_hub.images.models import ImageInfo
from arcade_hub.images.registry import RegistryClient


@dataclass
class CheckOptions:
    registries: list[RegistryConfig] = field(default_factory=list)
    local: bool = False
    """Read the image from podman's store instead of a registry (images built here)."""
    runtime: bool = True
    podman: Podman = field(default_factory=Podman)
    timeout: float = 60.0


async def registry_info(image: str, options: CheckOptions) -> ImageInfo:
    async with RegistryClient(options.registries) as client:
        return await client.image_info(image)


async def check_image(image: str, options: CheckOptions) -> Report:
    report = Report(image=image)
    try:
        if options.local:
            info = options.podman.inspect_image(image)
            run_ref = image
        else:
            info = await registry_info(image, options)
            run_ref = info.pinned
    except (RegistryError, PodmanError, ValueError) as exc:
        where = "podman's image store" if options.local else "the registry"
        report.results.append(CheckResult.fail("image found", f"{where}: {exc}"))
        return report
    report.pinned = info.pinned if not options.local else None
    report.kind = labels.kind_of(info.labels)
    report.results.append(CheckResult.ok("image found", info.digest or image))
    report.results += static_checks(info)
    if not options.runtime:
        report.results.append(CheckResult.skip("runtime", "runtime checks not requested"))
        return report
    checker = RuntimeChecker(options.podman, timeout=options.timeout)
    reason = checker.unavailable_reason()
    if reason:
        report.results.append(CheckResult.skip("runtime", reason))
        return report
    if not options.local:
        try:
            _pull(run_ref, options)
        except PodmanError as exc:
            report.results.append(CheckResult.fail("runtime: pull", str(exc)))
            return report
    report.results += checker.check(run_ref, info)
    return report


def _pull(ref: str, options: CheckOptions) -> None:
    parsed = parse_reference(ref)
    config = next(
        (r for r in options.registries if r.registry_name == parsed.registry),
        RegistryConfig.default_for(parsed.registry),
    )
    host = parsed.registry.rsplit(":", 1)[0]
    tls = config.scheme == "https" and not (config.insecure or is_loopback_host(host))
    creds = None
    if config.username:


        password = os.environ.get(config.password_env or "", "")
        creds = f"{config.username}:{password}"
    if not options.podman.exists(ref):
        options.podman.pull(ref, tls_verify=tls and config.scheme == "https", creds=creds)

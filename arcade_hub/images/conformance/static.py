"""Checks made from the image config alone (registry or local store): labels, user, command."""

from __future__ import annotations

from arcade_hub.images import labels
from arcade_hub.images.conformance.results import CheckResult
from arcade_hub.images.models import ImageInfo
from arcade_hub.images.rules import is_root_user

JUPYTER_PORT = "8888/tcp"
ALLOWED_PORTS = {
    "notebook": {JUPYTER_PORT},
    "desktop": {JUPYTER_PORT},
    "desktop-app": set(),
    "headless": set(),
}
INHERITED_PORTS = {JUPYTER_PORT}
"""Tolerated on desktop-app and headless images built from a notebook or desktop image: a
Dockerfile cannot undo its base's `EXPOSE 8888` (docker-stacks images have it), and the
platform never starts the Jupyter server of such images."""


def app_command(info: ImageInfo) -> list[str]:
    """What a desktop-app image starts: its `org.arcade-hub.command` label, else entrypoint+cmd."""
    label = info.labels.get(labels.COMMAND, "").split()
    return label or [*info.entrypoint, *info.cmd]


def static_checks(info: ImageInfo) -> list[CheckResult]:
    kind = labels.kind_of(info.labels)
    results = [
        CheckResult.expect(
            "label: kind",
            kind in labels.KINDS,
            f"{labels.KIND}={kind}",
            f"missing {labels.KIND}"
            if kind is None
            else f"{labels.KIND}={kind!r} is not one of {', '.join(labels.KINDS)}",
        ),
        CheckResult.expect(
            "label: title",
            bool(info.labels.get(labels.TITLE, "").strip()),
            info.labels.get(labels.TITLE, ""),
            f"missing {labels.TITLE} (the name shown in the launch form)",
        ),
        CheckResult.expect(
            "non-root user",
            not is_root_user(info.user),
            f"USER {info.user}",
            f"runs as {info.user or 'root (no USER set)'}; end the Dockerfile with USER <uid>",
        ),
    ]
    versions = labels.versions_of(info.labels)
    if versions:
        text = ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
        results.append(CheckResult.ok("label: versions", text))
    if kind in ALLOWED_PORTS:
        extra = sorted(set(info.exposed_ports) - ALLOWED_PORTS[kind] - INHERITED_PORTS)
        inherited = sorted(set(info.exposed_ports) & (INHERITED_PORTS - ALLOWED_PORTS[kind]))
        shown = ", ".join(info.exposed_ports) or "none"
        if inherited:
            shown += f" ({', '.join(inherited)}: a base image's Jupyter port, not used)"
        results.append(
            CheckResult.expect(
                "exposed ports",
                not extra,
                shown,
                f"a {kind} image should not expose {', '.join(extra)}",
            )
        )
    if kind == "desktop-app":
        command = app_command(info)
        results.append(
            CheckResult.expect(
                "app command",
                bool(command),
                " ".join(command),
                f"no command: set {labels.COMMAND} or the image's CMD to the X program",
            )
        )
    return results

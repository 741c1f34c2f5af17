"""`arcade-hub image check IMAGE [--json]`: the conformance suite for image authors."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from typing import Any

from arcade_hub import contract
from arcade_hub.images.conformance.checker import CheckOptions, check_image
from arcade_hub.images.conformance.podman import Podman


def add_parser(subparsers: Any) -> None:
    image = subparsers.add_parser("image", help="check container images against the contract")
    sub = image.add_subparsers(dest="image_command", required=True)
    check = sub.add_parser(
        "check",
        help="run the conformance suite on an image",
        description=(
            "Static checks from the registry (labels, non-root user, kind-specific "
            "expectations) and, where podman works, runtime checks. Exit status 1 on failure."
        ),
    )
    check.add_argument("image", help="image reference, e.g. registry.example.org/arcade/nb:1.0")
    check.add_argument("--json", action="store_true", help="print a JSON report")
    check.add_argument("--config", metavar="FILE",
                       help="platform document whose images.registries give credentials")
    check.add_argument("--local", action="store_true",
                       help="read the image from podman's local store instead of a registry")
    check.add_argument("--static-only", action="store_true", help="skip the runtime checks")
    check.add_argument("--timeout", type=float, default=60.0,
                       help="seconds a server image may take to answer (default 60)")
    check.add_argument("--podman-root", metavar="DIR", help="podman --root (image storage)")
    check.add_argument("--podman-runroot", metavar="DIR", help="podman --runroot")
    check.add_argument("--podman-runtime", metavar="NAME",
                       help="OCI runtime for podman (e.g. runc)")


def run(args: argparse.Namespace) -> int:
    registries = []
    if args.config:
        from arcade_hub.config import load_config

        registries = list(load_config(args.config).images.registries)
    options = CheckOptions(
        registries=registries,
        local=args.local,
        runtime=not args.static_only,
        podman=Podman(
            root=args.podman_root,
            runroot=args.podman_runroot,
            runtime=args.podman_runtime or os.environ.get(contract.PODMAN_RUNTIME) or None,
        ),
        timeout=args.timeout,
    )
    report = asyncio.run(check_image(args.image, options))
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.table())
    return 0 if report.ok else 1

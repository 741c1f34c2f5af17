"""A thin subprocess adapter around the podman CLI (pull, inspect, run, exec, remove)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from arcade_hub.images.models import ImageInfo

HYBRID_CGROUPS = "cgroups in hybrid mode not supported"


class PodmanError(Exception):
    """podman failed; the message carries its stderr."""


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Podman:
    """Runs ``podman [global options] ...``. ``root``/``runroot`` keep storage apart (tests);
    ``runtime`` picks the OCI runtime (``runc`` where crun refuses hybrid cgroups)."""

    binary: str = "podman"
    root: str | None = None
    runroot: str | None = None
    runtime: str | None = None
    env: Mapping[str, str] | None = None
    _fallback_tried: bool = field(default=False, repr=False)

    def unavailable_reason(self) -> str | None:
        if shutil.which(self.binary) is None:
            return f"{self.binary} is not installed (apt-get install podman)"
        result = self.call(["info", "--format", "{{.Host.OCIRuntime.Name}}"], timeout=30)
        if result.returncode != 0:
            return f"podman does not work here: {result.stderr.strip()[-300:]}"
        return None

    def _global(self) -> list[str]:
        args = [self.binary]
        if self.root:
            args += ["--root", self.root]
        if self.runroot:
            args += ["--runroot", self.runroot]
        if self.runtime:
            args += ["--runtime", self.runtime]
        return args

    def call(self, args: Sequence[str], *, timeout: float = 120) -> Completed:
        try:
            done = subprocess.run(
                [*self._global(), *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=dict(self.env) if self.env is not None else None,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise PodmanError(f"podman {' '.join(args[:2])} took longer than {timeout:g}s") from exc
        result = Completed(done.returncode, done.stdout, done.stderr)
        if (
            result.returncode != 0
            and HYBRID_CGROUPS in result.stderr
            and not self._fallback_tried
            and self.runtime is None
            and shutil.which("runc")
        ):
            self._fallback_tried = True
            self.runtime = "runc"
            return self.call(args, timeout=timeout)
        return result

    def check(self, args: Sequence[str], *, timeout: float = 120) -> str:
        result = self.call(args, timeout=timeout)
        if result.returncode != 0:
            raise PodmanError(f"podman {args[0]} failed: {result.stderr.strip()[-500:]}")
        return result.stdout

    def pull(self, ref: str, *, tls_verify: bool = True, creds: str | None = None) -> None:
        args = ["pull", "-q", f"--tls-verify={str(tls_verify).lower()}"]
        if creds:
            args += ["--creds", creds]
        self.check([*args, ref], timeout=600)

    def exists(self, ref: str) -> bool:
        return self.call(["image", "exists", ref], timeout=30).returncode == 0

    def inspect_image(self, ref: str) -> ImageInfo:
        data = json.loads(self.check(["image", "inspect", ref], timeout=30))[0]
        return image_info_from_inspect(ref, data)

    def run_detached(self, args: Sequence[str]) -> str:
        return self.check(["run", "-d", *args]).strip()

    def container_pid(self, container: str) -> int:
        return int(self.check(["inspect", "-f", "{{.State.Pid}}", container], timeout=30))

    def running(self, container: str) -> bool:
        out = self.call(["inspect", "-f", "{{.State.Running}}", container], timeout=30)
        return out.stdout.strip() == "true"

    def logs(self, container: str) -> str:
        result = self.call(["logs", container], timeout=30)
        return (result.stdout + result.stderr)[-2000:]

    def remove(self, container: str) -> None:
        self.call(["rm", "-f", "-t", "0", container], timeout=60)


def image_info_from_inspect(ref: str, data: Mapping[str, Any]) -> ImageInfo:
    """An :class:`ImageInfo` from ``podman image inspect`` output (a locally stored image)."""
    config = data.get("Config") or {}
    env: dict[str, str] = {}
    for item in config.get("Env") or []:
        key, _, value = str(item).partition("=")
        env[key] = value
    digest = str(data.get("Digest") or data.get("Id") or "")
    if digest and ":" not in digest:
        digest = f"sha256:{digest}"
    return ImageInfo(
        reference=ref,
        digest=digest,
        platform_digest=digest,
        media_type="local",
        platform=f"{data.get('Os', 'linux')}/{data.get('Architecture', 'amd64')}",
        labels={str(k): str(v) for k, v in (config.get("Labels") or {}).items()},
        user=config.get("User") or None,
        entrypoint=[str(x) for x in config.get("Entrypoint") or []],
        cmd=[str(x) for x in config.get("Cmd") or []],
        exposed_ports=sorted(str(p) for p in config.get("ExposedPorts") or {}),
        env=env,
        working_dir=config.get("WorkingDir") or None,
    )

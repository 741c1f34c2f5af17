"""A real platform serving https with a test CA, and the released `vos` commands run against
it as users do: as subprocesses, with their own home, `VOSPACE_WEBSERVICE` naming the
platform, and a trust store holding the test CA (`tests/storage/tls.py`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from tests.hub import RunningHub, hub_with_document
from tests.storage.tls import TestTls, make_tls

BIN = Path(sys.executable).parent
GROUPS = {"survey-team": ["alice", "bob"], "other-team": ["carol"]}


@dataclass
class VosPlatform:
    hub: RunningHub
    tls: TestTls
    work: Path
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return self.hub.url.removeprefix("https://")

    def token(self, user: str) -> str:
        if user not in self.tokens:
            self.tokens[user] = self.hub.user_token(user)
        return self.tokens[user]

    def env(self, user: str | None) -> dict[str, str]:
        """What a user's shell has: their own HOME (the client's caches and settings), the
        platform's host, the trust store, and their token as `ARCADE_TOKEN`."""
        home = self.work / f"client-{user or 'anyone'}"
        home.mkdir(exist_ok=True)
        env = {
            "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(home),
            "VOSPACE_WEBSERVICE": self.host,
            "PYTHONPATH": str(self.tls.trust),
            "CURL_CA_BUNDLE": str(self.tls.ca),
            "LANG": "C.UTF-8",
        }
        if user is not None:
            env["ARCADE_TOKEN"] = self.token(user)
        return env

    def vos(
        self, user: str | None, *command: str, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """A `vos` command as `user` (with `--token`), or anonymously."""
        args = [str(BIN / command[0])]
        if user is not None:
            args += ["--token", self.token(user)]
        return subprocess.run(
            [*args, *command[1:]],
            env=self.env(user),
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def home(self, user: str) -> Path:
        return self.hub.data_dir / "home" / user

    def project(self, group: str) -> Path:
        return self.hub.data_dir / "projects" / group

    def direct(self) -> tuple[str, int]:
        """The storage service's own address on loopback (behind the hub's proxy)."""
        url = self.service().environ()["JUPYTERHUB_SERVICE_URL"]
        host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
        return host, int(port)

    def service(self) -> psutil.Process:
        """The storage service's process."""
        for proc in psutil.process_iter(["cmdline", "environ"]):
            cmd = proc.info["cmdline"] or []
            if cmd[-2:] == ["-m", "arcade_hub.storage"] and str(self.hub.data_dir) in str(
                (proc.info["environ"] or {}).get("ARCADE_DATA_DIR")
            ):
                return proc
        raise AssertionError("the storage service is not running")


@pytest.fixture(scope="module")
def vos_platform() -> Iterator[VosPlatform]:
    work = Path(tempfile.mkdtemp(prefix="arcade-vos-", dir="/tmp"))
    tls = make_tls(work / "tls")
    try:
        with hub_with_document(
            {
                "web": {"tls_cert_file": str(tls.cert), "tls_key_file": str(tls.key)},
                "auth": {"groups": GROUPS},
            },
            tls_ca=tls.ca,
        ) as hub:
            yield VosPlatform(hub, tls, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

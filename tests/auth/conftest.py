"""A real OpenID provider (npm `oidc-provider`, panva) on loopback, and the platform behind it."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from arcade_hub.hub_config import free_port
from tests.conftest import shared_tmp
from tests.hub import PLATFORM, RunningHub, running_hub, wait_for

HERE = Path(__file__).parent
REPO = HERE.parents[1]
CLIENT_ID = "arcade-hub"
REFRESH_AGE = 2
USERS: dict[str, dict[str, Any]] = {
    "alice": {"groups": ["astro"]},
    "carol": {"groups": ["astro", "/survey-team"]},  # a Keycloak-style group path
    "dave": {"groups": ["hub-admins"]},
    "erin": {"groups": ["astro"]},
    "mallory": {"groups": ["visitors"]},
}


def provider_dir() -> Path | None:
    """The npm prefix holding oidc-provider (scripts/setup.sh --test puts it in $VENV/node-test)."""
    candidates = [os.environ.get("ARCADE_OIDC_PROVIDER_DIR", "")]
    candidates += [str(Path(sys.prefix) / "node-test"), str(REPO / ".venv" / "node-test")]
    for c in candidates:
        if c and (Path(c) / "node_modules/oidc-provider/lib/index.js").exists():
            return Path(c)
    return None


@dataclass
class Provider:
    url: str
    client_secret: str
    proc: subprocess.Popen[bytes]
    log: Path

    def set_user(self, name: str, **changes: Any) -> None:
        r = httpx.post(f"{self.url}/test/users/{name}", json=changes, timeout=10)
        assert r.status_code == 200, r.text


@contextlib.contextmanager
def oidc_provider(tmp: Path) -> Iterator[Provider]:
    prefix = provider_dir()
    if prefix is None or shutil.which("node") is None:
        pytest.skip("npm oidc-provider is not installed: run scripts/setup.sh --test")
    port = free_port()
    secret = secrets.token_urlsafe(24)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PORT": str(port),
        "CLIENT_ID": CLIENT_ID,
        "CLIENT_SECRET": secret,
        "USERS": json.dumps(USERS),
        "OIDC_PROVIDER_DIR": str(prefix),
    }
    log = tmp / "provider.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["node", str(HERE / "provider.mjs")], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"oidc-provider exited:\n{log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(f"{url}/.well-known/openid-configuration", timeout=2)
                return r.status_code == 200
            return False

        wait_for(up, 30, "oidc-provider to answer")
        yield Provider(url, secret, proc, log)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def oidc_platform(path: Path, issuer: str, groups: dict[str, Any] | None = None) -> Path:
    """tests/platform.yaml with OpenID Connect login; groups come only from the provider.
    `groups`: a group policy (the document's `groups`)."""
    doc = yaml.safe_load(PLATFORM.read_text())
    if groups is not None:
        doc["groups"] = groups
    doc["auth"] = {
        "method": {
            "type": "oidc",
            "issuer": issuer,
            "client_id": CLIENT_ID,
            "scopes": ["openid", "profile", "groups", "offline_access"],
            "allowed_groups": ["astro", "survey-team"],
            "admin_groups": ["hub-admins"],
            "refresh_age_seconds": REFRESH_AGE,
            "login_service": "Arcade Test IdP",
        }
    }
    path.write_text(yaml.safe_dump(doc))
    return path


@dataclass
class OidcPlatform:
    hub: RunningHub
    provider: Provider


@contextlib.contextmanager
def oidc_running(groups: dict[str, Any] | None = None) -> Iterator[OidcPlatform]:
    """The provider and the embedded platform logging in through it (with a group policy)."""
    tmp = shared_tmp()
    try:
        with oidc_provider(tmp) as provider:
            config = oidc_platform(tmp / "platform.yaml", provider.url, groups)
            env = {"ARCADE_OIDC_CLIENT_SECRET": provider.client_secret}
            with running_hub(tmp, config=config, extra_env=env) as hub:
                yield OidcPlatform(hub, provider)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def oidc() -> Iterator[OidcPlatform]:
    with oidc_running() as platform:
        yield platform

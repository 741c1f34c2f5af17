"""The storage service's settings (from the hub, through the environment) and its state: the
trees, the workers, the jobs, and who is asking (JupyterHub tokens, never cookies)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Self
from urllib.parse import quote, urlsplit

import httpx
from jupyterhub.services.auth import HubAuth
from tornado import httputil

from arcade_hub import contract
from arcade_hub.config import PlatformConfig
from arcade_hub.config.cache import platform_config
from arcade_hub.config.vospace import NAME
from arcade_hub.launch.choices import user_groups
from arcade_hub.service_env import ManagedServiceSettings
from arcade_hub.storage.access import Caller, Trees
from arcade_hub.storage.jobs import Jobs, jobs_path
from arcade_hub.storage.names import short_name_aliases, uri_authority
from arcade_hub.storage.pool import WorkerPool

USER_MAX_AGE = 2.0
"""Seconds a user's groups from the hub are reused (one hub request per user this often)."""


@dataclass(frozen=True)
class StorageSettings(ManagedServiceSettings):
    public_url: str | None = None
    """The service's own URL as users reach it (ARCADE_STORAGE_URL), when known."""

    default_name: ClassVar[str] = "vospace"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Self:
        env = dict(os.environ if env is None else env)
        return cls(**cls.fields_from(env), public_url=env.get(contract.STORAGE_URL) or None)


class HubUsers:
    """Users' groups, from the hub's REST API with the service's own token."""

    def __init__(self, api_url: str, token: str) -> None:
        self._client = httpx.AsyncClient(
            base_url=api_url.rstrip("/"), timeout=30, headers={"Authorization": f"token {token}"}
        )
        self._kept: dict[str, tuple[float, list[str]]] = {}

    async def groups(self, name: str) -> list[str]:
        now = time.monotonic()
        kept = self._kept.get(name)
        if kept is not None and now - kept[0] < USER_MAX_AGE:
            return kept[1]
        r = await self._client.get(f"/users/{quote(name, safe='')}")
        groups: list[str] = r.json().get("groups") or [] if r.status_code == 200 else []
        self._kept = {k: v for k, v in self._kept.items() if now - v[0] < USER_MAX_AGE}
        self._kept[name] = (now, groups)
        return groups

    async def aclose(self) -> None:
        await self._client.aclose()


class Storage:
    """Everything the handlers share."""

    def __init__(self, settings: StorageSettings) -> None:
        self.settings = settings
        self.trees = Trees(self.platform, settings.data_dir)
        self.pool = WorkerPool(environment={contract.DATA_DIR: str(settings.data_dir)})
        self.jobs = Jobs(jobs_path(settings.data_dir))
        self.auth = HubAuth(
            api_token=settings.api_token, api_url=settings.hub_api_url, cache_max_age=60
        )
        self.users = HubUsers(settings.hub_api_url, settings.api_token)

    def platform(self) -> PlatformConfig:
        return platform_config(self.settings.config_file)

    def base(self, request: httputil.HTTPServerRequest) -> str:
        """The service's URL as this client reaches it (no trailing slash)."""
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        return f"{request.protocol}://{request.host}{self.settings.prefix.rstrip('/')}"

    def resource_id(self, request: httputil.HTTPServerRequest) -> str:
        configured = self.platform().vospace.resource_id
        if configured:
            return configured
        host = urlsplit(self.base(request)).hostname or "localhost"
        return f"ivo://{host}/{NAME}"

    def authority(self, request: httputil.HTTPServerRequest) -> str:
        return uri_authority(self.resource_id(request))

    def aliases(self, request: httputil.HTTPServerRequest) -> tuple[str, ...]:
        """Other resource IDs of this service: what `vos` makes of its short name."""
        return short_name_aliases(self.resource_id(request))

    async def caller(self, model: dict[str, Any] | None) -> Caller:
        if model is None:
            return Caller(None)
        name = str(model["name"])
        asserted = frozenset(await self.users.groups(name))
        return Caller(name, user_groups(self.platform(), name, asserted))

    async def close(self) -> None:
        self.pool.close()
        self.jobs.close()
        await self.users.aclose()

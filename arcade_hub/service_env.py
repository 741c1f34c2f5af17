"""What JupyterHub tells a service it manages (the arcade service, the storage service)
through its environment, with the platform's own variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

from arcade_hub import contract


@dataclass(frozen=True)
class ManagedServiceSettings:
    name: str
    prefix: str
    port: int
    hub_api_url: str
    api_token: str
    config_file: str
    data_dir: Path
    bind: str = "127.0.0.1"
    """Loopback on one machine; the pod's address on Kubernetes (ARCADE_SERVICE_BIND)."""

    default_name: ClassVar[str] = ""
    """The service's name (and so its prefix) when JupyterHub does not say it."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Self:
        return cls(**cls.fields_from(dict(os.environ if env is None else env)))

    @classmethod
    def fields_from(cls, env: dict[str, str]) -> dict[str, Any]:
        url = env["JUPYTERHUB_SERVICE_URL"]
        return {
            "name": env.get("JUPYTERHUB_SERVICE_NAME", cls.default_name),
            "prefix": env.get("JUPYTERHUB_SERVICE_PREFIX", f"/services/{cls.default_name}/"),
            "port": int(url.rsplit(":", 1)[1].split("/")[0]),
            "hub_api_url": env["JUPYTERHUB_API_URL"],
            "api_token": env["JUPYTERHUB_API_TOKEN"],
            "config_file": env.get(contract.PLATFORM_CONFIG, ""),
            "data_dir": Path(env[contract.DATA_DIR]),
            "bind": env.get(contract.SERVICE_BIND, "127.0.0.1"),
        }

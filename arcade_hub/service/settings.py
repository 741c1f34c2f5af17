"""What the service is told by the hub through its environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from arcade_hub import contract


@dataclass(frozen=True)
class ServiceSettings:
    name: str
    prefix: str
    port: int
    hub_api_url: str
    api_token: str
    config_file: str
    data_dir: Path
    bind: str = "127.0.0.1"
    """Loopback on one machine; the pod's address on Kubernetes (ARCADE_SERVICE_BIND)."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ServiceSettings:
        env = dict(os.environ if env is None else env)
        url = env["JUPYTERHUB_SERVICE_URL"]
        return cls(
            name=env.get("JUPYTERHUB_SERVICE_NAME", "arcade"),
            prefix=env.get("JUPYTERHUB_SERVICE_PREFIX", "/services/arcade/"),
            port=int(url.rsplit(":", 1)[1].split("/")[0]),
            hub_api_url=env["JUPYTERHUB_API_URL"],
            api_token=env["JUPYTERHUB_API_TOKEN"],
            config_file=env.get(contract.PLATFORM_CONFIG, ""),
            data_dir=Path(env[contract.DATA_DIR]),
            bind=env.get(contract.SERVICE_BIND, "127.0.0.1"),
        )

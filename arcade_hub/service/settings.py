"""What the service is told by the hub through its environment."""

from __future__ import annotations

from typing import ClassVar

from arcade_hub.service_env import ManagedServiceSettings


class ServiceSettings(ManagedServiceSettings):
    default_name: ClassVar[str] = "arcade"

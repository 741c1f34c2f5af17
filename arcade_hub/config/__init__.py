"""Platform configuration: models and loader."""

from arcade_hub.config.loader import ConfigError, load_config, parse_config
from arcade_hub.config.models import (
    SESSION_KINDS,
    CatalogueEntry,
    Dataset,
    Kind,
    PlatformConfig,
)

__all__ = [
    "SESSION_KINDS",
    "CatalogueEntry",
    "ConfigError",
    "Dataset",
    "Kind",
    "PlatformConfig",
    "load_config",
    "parse_config",
]

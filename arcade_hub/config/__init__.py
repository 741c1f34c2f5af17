"""The platform document: every section's models (one base model, unknown keys are errors),
its loader, and the cache that reloads it when the file changes.

Layer: the bottom of the platform; nothing here imports the rest of arcade_hub (but `sizes`).
"""

from arcade_hub.config.auth import AuthConfig, OidcAuth, SharedPasswordAuth
from arcade_hub.config.backends import Backend, LocalBackend
from arcade_hub.config.base import NAME_PATTERN, SESSION_KINDS, Kind, Model
from arcade_hub.config.catalogue import (
    CatalogueEntry,
    Choices,
    Dataset,
    KubeRuntime,
    LocalRuntime,
    RamChoices,
    Resources,
)
from arcade_hub.config.images import ImagePolicy, ImagesConfig, RegistryConfig
from arcade_hub.config.kubernetes import KubeBackend
from arcade_hub.config.lifetimes import Jobs, SessionsApi
from arcade_hub.config.loader import ConfigError, load_config, parse_config
from arcade_hub.config.platform import PlatformConfig
from arcade_hub.config.policy import GroupRule, Policy
from arcade_hub.config.storage import StorageRoots
from arcade_hub.config.vospace import VospaceConfig
from arcade_hub.config.web import WebConfig, is_ip_address

__all__ = [
    "NAME_PATTERN",
    "SESSION_KINDS",
    "AuthConfig",
    "Backend",
    "CatalogueEntry",
    "Choices",
    "ConfigError",
    "Dataset",
    "GroupRule",
    "ImagePolicy",
    "ImagesConfig",
    "Jobs",
    "Kind",
    "KubeBackend",
    "KubeRuntime",
    "LocalBackend",
    "LocalRuntime",
    "Model",
    "OidcAuth",
    "PlatformConfig",
    "Policy",
    "RamChoices",
    "RegistryConfig",
    "Resources",
    "SessionsApi",
    "SharedPasswordAuth",
    "StorageRoots",
    "VospaceConfig",
    "WebConfig",
    "is_ip_address",
    "load_config",
    "parse_config",
]

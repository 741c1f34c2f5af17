"""Chooses the backend, once, at start-up: the only place that asks `backend.kind`."""

from __future__ import annotations

from pathlib import Path

from arcade_hub.backend import Backend, PlatformSource
from arcade_hub.config import PlatformConfig


class NotEmbedded(Exception):
    """`arcade-hub run` runs the embedded backend only."""


async def open_backend(
    platform: PlatformSource, data_dir: Path, kubeconfig: str | None = None, api_url: str = ""
) -> Backend:
    """The backend the platform document names, ready (on Kubernetes: connected; see
    `arcade_hub.kube.client.connect` for `kubeconfig`). `api_url`: the arcade service's API,
    which the embedded backend's apps get as ARCADE_API_URL."""
    if platform().backend.kind == "kubernetes":
        from arcade_hub.kube.backend import KubernetesBackend

        return await KubernetesBackend.connect(platform, data_dir, kubeconfig)
    from arcade_hub.local.backend import EmbeddedBackend

    return EmbeddedBackend(platform, data_dir, api_url)


def require_embedded(config: PlatformConfig) -> None:
    """Refuse, saying what to do instead, a document `arcade-hub run` cannot serve."""
    if config.backend.kind != "local":
        raise NotEmbedded(
            f"backend.kind is {config.backend.kind!r}: `arcade-hub run` runs the embedded "
            "(local) backend; deploy the Kubernetes backend with the zero-to-jupyterhub chart "
            "(docs/how-to/deploy-on-kubernetes.md)"
        )

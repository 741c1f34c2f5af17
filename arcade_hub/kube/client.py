"""The arcade service's one connection to the Kubernetes API.

`connect()` makes the `ApiClient` the service keeps for its whole life (app launches and the
batch job runner share it; `KubeClient.close()` at shutdown):

1. a kubeconfig named explicitly (the argument, or `$ARCADE_KUBECONFIG`);
2. in a pod: the pod's service account (the hub's, on z2jh). JupyterHub starts managed services
   with a trimmed environment without `KUBERNETES_SERVICE_HOST`/`_PORT`, so the API is then
   found at `kubernetes.default.svc:443`;
3. else `$KUBECONFIG` or `~/.kube/config`.

`api_error()` turns what the API answered into an HTTP status and a message for users;
`timed()` bounds a call to the API.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import aiohttp
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.client.rest import ApiException
from kubernetes_asyncio.config import ConfigException
from kubernetes_asyncio.config.incluster_config import (
    SERVICE_HOST_ENV_NAME,
    SERVICE_PORT_ENV_NAME,
    InClusterConfigLoader,
)
from kubernetes_asyncio.config.kube_config import load_kube_config

from arcade_hub import contract

log = logging.getLogger("arcade_hub.kube")

KUBECONFIG_ENV = contract.KUBECONFIG
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
IN_CLUSTER_HOST = "kubernetes.default.svc"
IN_CLUSTER_PORT = "443"
REQUEST_TIMEOUT = 30.0
"""How long a call to the API may take (seconds) before `timed` gives up."""
T = TypeVar("T")


API_ERRORS = (ApiException, aiohttp.ClientError, OSError, TimeoutError)
"""What a call to the Kubernetes API raises when the API refused or could not be reached."""


class KubeUnavailable(RuntimeError):
    """No way to reach a Kubernetes API was found (or its configuration is broken)."""


@dataclass
class KubeClient:
    """An API client and the namespace it defaults to (the pod's, or the kubeconfig's)."""

    api: ApiClient
    namespace: str
    source: str
    """Where the credentials came from: `in-cluster` or a kubeconfig path (for logs)."""

    async def close(self) -> None:
        await self.api.close()


async def connect(
    kubeconfig: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    service_account: Path = SERVICE_ACCOUNT_DIR,
) -> KubeClient:
    """The service's Kubernetes client (see the module's docstring for the order)."""
    env = os.environ if environ is None else environ
    explicit = kubeconfig or env.get(KUBECONFIG_ENV)
    try:
        if explicit:
            return await _from_kubeconfig(explicit)
        if (service_account / "token").is_file():
            return _in_cluster(env, service_account)
        default = env.get("KUBECONFIG", "").split(os.pathsep)[0] or str(
            Path.home() / ".kube" / "config"
        )
        if Path(default).is_file():
            return await _from_kubeconfig(default)
    except (ConfigException, OSError, ValueError, KeyError, TypeError) as e:
        raise KubeUnavailable(f"cannot configure the Kubernetes client: {e}") from e
    raise KubeUnavailable(
        f"no Kubernetes credentials: no service account token in {service_account} (not in a "
        f"pod?) and no kubeconfig (${KUBECONFIG_ENV}, $KUBECONFIG, ~/.kube/config)"
    )


def _in_cluster(env: Mapping[str, str], service_account: Path) -> KubeClient:
    environ = dict(env)
    if not environ.get(SERVICE_HOST_ENV_NAME) or not environ.get(SERVICE_PORT_ENV_NAME):
        environ[SERVICE_HOST_ENV_NAME] = IN_CLUSTER_HOST
        environ[SERVICE_PORT_ENV_NAME] = IN_CLUSTER_PORT
    configuration = type.__call__(Configuration)
    loader = InClusterConfigLoader(
        token_filename=str(service_account / "token"),
        cert_filename=str(service_account / "ca.crt"),
        try_refresh_token=True,  # bound service account tokens are rotated in the file
        environ=environ,
    )
    loader.load_and_set(configuration)
    namespace_file = service_account / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.is_file() else ""
    log.info("Kubernetes API at %s (in-cluster)", configuration.host)
    return KubeClient(ApiClient(configuration), namespace or "default", "in-cluster")


async def _from_kubeconfig(path: str) -> KubeClient:
    configuration = type.__call__(Configuration)
    loader = await load_kube_config(
        config_file=path, client_configuration=configuration, persist_config=False
    )
    context = (loader.current_context or {}).get("context") or {}
    namespace = context.get("namespace") or "default"
    log.info("Kubernetes API at %s (kubeconfig %s)", configuration.host, path)
    return KubeClient(ApiClient(configuration), namespace, path)


def api_message(e: ApiException) -> str:
    """The API server's own message (its Status body), else the HTTP reason."""
    try:
        body = json.loads(e.body) if e.body else {}
    except (TypeError, ValueError):
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or e.reason or f"HTTP {e.status}")


def api_error(e: Exception, doing: str) -> tuple[int, str]:
    """(HTTP status, message) for a failed call to the Kubernetes API while `doing` it."""
    if isinstance(e, ApiException):
        if e.status == 403:
            return 502, (
                f"the arcade service may not {doing} in Kubernetes (RBAC): {api_message(e)}; "
                "operators: apply helm-values/manifests/hub-rbac.yaml"
            )
        if e.status == 0:
            return 503, f"could not {doing}: the Kubernetes API could not be reached"
        return 502, f"could not {doing}: Kubernetes answered {e.status}: {api_message(e)}"
    if isinstance(e, TimeoutError):
        return 503, f"could not {doing}: the Kubernetes API did not answer in time"
    if isinstance(e, aiohttp.ClientError | OSError):
        return 503, f"could not {doing}: the Kubernetes API could not be reached ({e})"
    return 502, f"could not {doing}: {e}"


async def timed(call: Awaitable[T], seconds: float | None = None) -> T:
    """A call to the API that gives up (TimeoutError) rather than hang a request."""
    return await asyncio.wait_for(call, seconds or REQUEST_TIMEOUT)

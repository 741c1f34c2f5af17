"""Pure builders: the storage service (VOSpace, `arcade_hub.storage`) on Kubernetes, as a
Deployment of one pod beside the z2jh chart, its Service, its NetworkPolicy and the claim
that keeps its state (its UWS jobs) when the pod is replaced.

The pod mounts the sessions' shared claims whole and runs with the sessions' own security
contexts (`arcade_hub.kube.builders.security_contexts`: their runAsUser, runAsGroup and
fsGroup), so that what it writes belongs to the sessions' uid and gid, and each user's or
group's folder is the `subPath` their sessions mount (`arcade_hub.kube.volumes.service_storage`).
No I/O; every function returns the JSON the API server receives.
"""

from __future__ import annotations

from dataclasses import dataclass

from arcade_hub import contract
from arcade_hub.config.kubernetes import KubeBackend
from arcade_hub.kube.builders import literal, posix_ids, security_contexts
from arcade_hub.kube.volumes import Manifest, service_storage

STORAGE_NAME = "arcade-vospace"
"""The storage service's Deployment, Service and NetworkPolicy (and its pod's label)."""
STORAGE_PORT = 8080
STORAGE_URL = f"http://{STORAGE_NAME}:{STORAGE_PORT}"
"""Where the hub's proxy reaches the storage service (its Service in the hub's namespace)."""
STORAGE_STATE = "/arcade/storage-state"
STATE_CLAIM = f"{STORAGE_NAME}-state"
"""The service's own claim (the cluster's default StorageClass), mounted at STORAGE_STATE:
its jobs outlive the pod (an upgrade, a rescheduling). No session mounts it."""
STATE_SIZE = "1Gi"
PROXY_SELECTOR = {"component": "proxy"}
"""z2jh's label on the proxy pod, the one client of the storage service."""
HUB_ACCESS = {"hub.jupyter.org/network-access-hub": "true"}
"""z2jh's label for pods its hub NetworkPolicy lets in (the service asks the hub's API)."""


@dataclass(frozen=True)
class StorageService:
    """What the storage service's objects take from the Helm values and the hub."""

    image: str
    name: str
    """Its JupyterHub service name (`hub.services.<name>`; its URL prefix)."""
    platform_file: str
    platform_key: str
    """The hub Secret's key holding the platform document (`hub.extraFiles.<key>`)."""
    hub_secret: str = "hub"
    hub_api_url: str = "http://hub:8081/hub/api"
    public_url: str | None = None
    """The service's URL as users reach it (ARCADE_STORAGE_URL), when the document says."""


def _env(values: dict[str, str]) -> list[Manifest]:
    return [{"name": k, "value": literal(v)} for k, v in sorted(values.items())]


def storage_pod_spec(service: StorageService, kube: KubeBackend) -> Manifest:
    """The storage service's pod: the claims, the platform document and the service's token
    from the hub's Secret (z2jh generates the token of `hub.services.<name>` and keeps it
    there, beside `hub.extraFiles`), the sessions' security contexts."""
    volumes, mounts = service_storage(kube)
    pod_sc, container_sc = security_contexts(posix_ids(kube.security, ""))
    prefix = f"/services/{service.name}/"
    env = {
        "JUPYTERHUB_SERVICE_NAME": service.name,
        "JUPYTERHUB_SERVICE_PREFIX": prefix,
        "JUPYTERHUB_SERVICE_URL": f"http://0.0.0.0:{STORAGE_PORT}",
        "JUPYTERHUB_API_URL": service.hub_api_url,
        contract.PLATFORM_CONFIG: service.platform_file,
        contract.DATA_DIR: STORAGE_STATE,
        contract.SERVICE_BIND: "0.0.0.0",
    }
    if service.public_url:
        env[contract.STORAGE_URL] = service.public_url
    folder, _, filename = service.platform_file.rpartition("/")
    container: Manifest = {
        "name": "vospace",
        "image": service.image,
        "command": ["python3", "-m", "arcade_hub.storage"],
        "env": [*_env(env), {"name": "JUPYTERHUB_API_TOKEN", "valueFrom": {"secretKeyRef": {
            "name": service.hub_secret, "key": f"hub.services.{service.name}.apiToken"}}}],
        "ports": [{"name": "http", "containerPort": STORAGE_PORT}],
        "readinessProbe": {"httpGet": {"path": f"{prefix}availability", "port": "http"}},
        "volumeMounts": [
            *mounts,
            {"name": "platform", "mountPath": folder, "readOnly": True},
            {"name": "state", "mountPath": STORAGE_STATE},
        ],
        "securityContext": container_sc,
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                      "limits": {"memory": "2Gi"}},
    }
    if kube.image_pull_policy:
        container["imagePullPolicy"] = kube.image_pull_policy
    pod: Manifest = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_sc,
        "containers": [container],
        "volumes": [
            *volumes,
            {"name": "platform", "secret": {"secretName": service.hub_secret, "items": [
                {"key": service.platform_key, "path": filename}]}},
            {"name": "state", "persistentVolumeClaim": {"claimName": STATE_CLAIM}},
        ],
    }
    if kube.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": n} for n in kube.image_pull_secrets]
    return pod


def build_storage_service(service: StorageService, kube: KubeBackend) -> list[Manifest]:
    """The storage service as a Deployment of one pod, its Service, a NetworkPolicy that
    lets only the hub's proxy in, and its state claim. One replica, replaced rather than
    rolled: one pod at a time uses the state (ReadWriteOnce)."""
    pod = storage_pod_spec(service, kube)
    select = {"app.kubernetes.io/name": STORAGE_NAME}
    labels = {**select, "app.kubernetes.io/part-of": "arcade-hub",
              "app.kubernetes.io/component": "storage"}

    def metadata() -> Manifest:
        meta: Manifest = {"name": STORAGE_NAME, "labels": dict(labels)}
        if kube.namespace:
            meta["namespace"] = kube.namespace
        return meta

    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": select},
            "template": {"metadata": {"labels": {**labels, **HUB_ACCESS}}, "spec": pod},
        },
    }
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(),
        "spec": {"selector": select, "ports": [
            {"name": "http", "port": STORAGE_PORT, "targetPort": "http"}]},
    }
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(),
        "spec": {
            "podSelector": {"matchLabels": select},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": PROXY_SELECTOR}}],
                         "ports": [{"port": "http", "protocol": "TCP"}]}],
        },
    }
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {**metadata(), "name": STATE_CLAIM},
        "spec": {"accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": STATE_SIZE}}},
    }
    return [deployment, svc, policy, claim]

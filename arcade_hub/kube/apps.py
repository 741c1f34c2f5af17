"""Launch a desktop app into a running desktop session on Kubernetes, as a pod of its own.

The Kubernetes twin of `arcade_hub.local.apps`: same call shape and result, same errors
(`AppNotRunnable` with an HTTP status). The app pod mounts the session's home, projects and
datasets, draws on the desktop pod's X relay with the session's cookie (a Secret), and is owned
by the desktop pod, so Kubernetes removes it when the desktop goes.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio.client import CoreV1Api, NetworkingV1Api
from kubernetes_asyncio.client.rest import ApiException

from arcade_hub.backend import AppNotRunnable
from arcade_hub.config import CatalogueEntry, Kind, PlatformConfig
from arcade_hub.desktop.xauth import new_cookie
from arcade_hub.kube.builders import SESSION, X_DISPLAY, user_selector, x11_secret_name
from arcade_hub.kube.names import label_value, object_name
from arcade_hub.kube.objects import Owner, build_app_pod, build_x11_network_policy, build_x11_secret
from arcade_hub.kube.restricted import PodSecurityViolation, check
from arcade_hub.kube.volumes import KubeLaunchError, Manifest
from arcade_hub.launch.spec import LaunchSpec

log = logging.getLogger("arcade_hub.launch")

DESKTOP_KINDS = (Kind.desktop, Kind.desktop_app)


@dataclass(frozen=True)
class KubeDesktopSession:
    """A desktop session's pod, as the hub knows it (its spec and KubeSpawner state)."""

    spec: LaunchSpec
    platform: PlatformConfig
    namespace: str
    pod_name: str

    @classmethod
    def from_state(
        cls, spec: LaunchSpec, platform: PlatformConfig, state: dict[str, Any],
        default_namespace: str = "default",
    ) -> KubeDesktopSession:
        """From the spawner state the hub keeps (KubeSpawner saves `pod_name`, `namespace`)."""
        pod_name = state.get("pod_name")
        if not pod_name:
            raise AppNotRunnable("the session has no pod: it is not running on Kubernetes")
        namespace = (state.get("namespace") or platform.backend.kubernetes.namespace
                     or default_namespace)
        return cls(spec=spec, platform=platform, namespace=namespace, pod_name=pod_name)


async def ensure_desktop_x11(
    api: CoreV1Api, namespace: str, desktop: LaunchSpec, owner: Owner,
    cookie: bytes | None = None,
) -> None:
    """Create the session's X cookie Secret and NetworkPolicy, owned by the desktop pod.

    Leftovers of an earlier pod with the same session id (not yet collected) are replaced.
    """
    networking = NetworkingV1Api(api.api_client)  # type: ignore[attr-defined]
    secret: Any = build_x11_secret(desktop, cookie or new_cookie(), owner)
    policy: Any = build_x11_network_policy(desktop, owner)
    await _create_or_replace(
        lambda: api.create_namespaced_secret(namespace, secret),
        lambda: api.delete_namespaced_secret(secret["metadata"]["name"], namespace),
    )
    await _create_or_replace(
        lambda: networking.create_namespaced_network_policy(namespace, policy),
        lambda: networking.delete_namespaced_network_policy(policy["metadata"]["name"],
                                                            namespace),
    )


async def _create_or_replace(create: Any, delete: Any) -> None:
    try:
        await create()
    except ApiException as e:
        if e.status != 409:
            raise
        await delete()
        await create()


async def launch_app(
    session: KubeDesktopSession, entry: CatalogueEntry, api: CoreV1Api
) -> dict[str, Any]:
    """Start `entry` on the session's desktop as a pod; return what was started."""
    if entry.kind != Kind.desktop_app:
        raise AppNotRunnable(f"{entry.title} is a {entry.kind.value}, not a desktop app", 400)
    if session.spec.kind not in DESKTOP_KINDS:
        raise AppNotRunnable("this session is not a desktop session")
    try:
        desktop = await api.read_namespaced_pod(session.pod_name, session.namespace)
    except ApiException as e:
        if e.status == 404:
            raise AppNotRunnable("the desktop of this session is not running") from None
        raise
    status, meta = desktop.status, desktop.metadata
    if meta.deletion_timestamp or status is None or status.phase != "Running" \
            or not status.pod_ip:
        raise AppNotRunnable(
            "the desktop of this session is not running yet: open it in your browser first"
        )
    owner = Owner(session.pod_name, meta.uid)
    await _check_desktop_x11(api, session, owner)
    config = session.platform
    kube = config.backend.kubernetes
    name = object_name("arcade-app-", f"{session.spec.session_id}-{entry.name}-"
                       f"{secrets.token_hex(3)}")
    try:
        pod: Any = build_app_pod(session.spec, entry, kube, config.storage, name=name,
                                 owner=owner, desktop_ip=status.pod_ip)
        check(pod, kube.security.pod_security)
    except (KubeLaunchError, PodSecurityViolation) as e:
        raise AppNotRunnable(f"{entry.title} cannot run here: {e}", 400) from None
    await api.create_namespaced_pod(session.namespace, pod)
    log.info("Launched %s (pod %s) onto %s for %s", entry.name, name, session.pod_name,
             session.spec.username)
    return {
        "app": entry.name,
        "title": entry.title,
        "pod": name,
        "display": f"{status.pod_ip}:{X_DISPLAY}",
        "session_id": session.spec.session_id,
    }


async def _check_desktop_x11(api: CoreV1Api, session: KubeDesktopSession, owner: Owner) -> None:
    """App pods mount the session's X cookie Secret (made with the desktop pod): without it
    they would never start, so refuse. The NetworkPolicy that admits only the user's app pods
    to the desktop's X port is made again if it went missing."""
    secret = x11_secret_name(session.spec.session_id)
    try:
        await api.read_namespaced_secret(secret, session.namespace)
    except ApiException as e:
        if e.status == 404:
            raise AppNotRunnable(
                f"the X cookie of this desktop (Secret {secret}) is missing, so apps cannot "
                "draw on it: stop the session and start it again"
            ) from None
        raise
    networking = NetworkingV1Api(api.api_client)  # type: ignore[attr-defined]
    try:
        await networking.read_namespaced_network_policy(secret, session.namespace)
    except ApiException as e:
        if e.status != 404:
            raise
        policy: Any = build_x11_network_policy(session.spec, owner)
        try:
            await networking.create_namespaced_network_policy(session.namespace, policy)
        except ApiException as again:
            if again.status != 409:
                raise
        log.warning("Made the missing NetworkPolicy %s of %s's desktop again", secret,
                    session.spec.username)


def app_pods_selector(session: KubeDesktopSession) -> str:
    """Label selector of the app pods launched into `session`."""
    terms: Manifest = {**user_selector(session.spec.username),
                       SESSION: label_value(session.spec.session_id)}
    return ",".join(f"{k}={v}" for k, v in sorted(terms.items()))

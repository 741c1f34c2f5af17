"""What the cluster enforces, where it can: Pod Security admission of session pods, and the
desktop's NetworkPolicy (only the user's app pods reach the X port). Each skips, naming the
server's version, on a cluster that lacks the feature (the shared v1.20 cluster has neither:
Pod Security admission is 1.23+, its bridge CNI enforces no NetworkPolicy).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from kubernetes_asyncio.client.rest import ApiException

from arcade_hub.kube.builders import SESSION, SESSION_SELECTOR, build_pod_pieces
from arcade_hub.kube.builders import user_selector as app_labels
from arcade_hub.kube.objects import Owner, build_x11_network_policy, pod_manifest, serialize

from .conftest import launch_spec, platform
from .real_cluster import Kube, RealCluster, real_cluster

BUSYBOX = "localhost/busybox:test"
Manifest = dict[str, Any]


def busybox(name: str, labels: dict[str, str], script: str) -> Manifest:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {
                "app.kubernetes.io/part-of": "arcade-hub", **labels}},
            "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "main", "image": BUSYBOX,
                                     "imagePullPolicy": "IfNotPresent",
                                     "command": ["/bin/sh", "-c", script]}]}}


async def connects(kube: Kube, name: str, labels: dict[str, str], ip: str, port: int) -> bool:
    """Whether a pod labelled `labels` opens a TCP connection to ip:port."""
    pod = busybox(name, labels, f"nc -w 5 {ip} {port} </dev/null && echo open || echo closed")
    await kube.core.create_namespaced_pod(kube.namespace, pod)
    try:
        await kube.wait_pod(name, ("Succeeded", "Failed"))
        return "open" in await kube.logs(name)
    finally:
        await kube.core.delete_namespaced_pod(name, kube.namespace, grace_period_seconds=0)


async def test_pod_security_admission_admits_session_pods() -> None:
    """In a namespace that enforces `restricted`, the API server admits session pods as
    the builders make them, and refuses a privileged one."""
    real: RealCluster = real_cluster()
    real.require("Pod Security admission", (1, 23))
    config = platform()
    namespace = f"arcade-psa-{os.getpid()}"
    async with Kube(real) as kube:
        await kube.core.create_namespace({"metadata": {"name": namespace, "labels": {
            "pod-security.kubernetes.io/enforce": "restricted"}}})
        try:
            for entry in ("notebook", "desktop", "casa-6-7"):
                spec = launch_spec(config, entry)
                desktop = config.entry(spec.desktop) if spec.desktop else None
                pieces = build_pod_pieces(spec, config.backend.kubernetes, config.storage,
                                          entry=config.entry(entry), desktop=desktop)
                pod = serialize(pod_manifest(pieces, name=f"psa-{entry}"))
                await kube.core.create_namespaced_pod(namespace, pod, dry_run="All")
            bad = busybox("psa-privileged", {}, "true")
            bad["spec"]["containers"][0]["securityContext"] = {"privileged": True}
            with pytest.raises(ApiException) as refused:
                await kube.core.create_namespaced_pod(namespace, bad, dry_run="All")
            assert refused.value.status == 403 and "PodSecurity" in str(refused.value.body)
        finally:
            await kube.core.delete_namespace(namespace)


async def test_only_the_users_apps_reach_the_desktops_x_port() -> None:
    """The spawner's NetworkPolicy on a pod labelled as a desktop session of alice (a busybox
    listening on the X port): alice's app pods connect, other pods do not. Skipped where a
    deny-all policy does not stop a connection (no policy engine)."""
    real = real_cluster()
    spec = launch_spec(platform(), "desktop", username="alice", session_id=f"np-{os.getpid()}")
    desktop_labels = {**SESSION_SELECTOR, SESSION: spec.session_id}
    async with Kube(real) as kube:
        name = f"arcade-np-desktop-{os.getpid()}"
        await kube.core.create_namespaced_pod(
            kube.namespace, busybox(name, desktop_labels, "exec httpd -f -p 6000"))
        try:
            desktop = await kube.wait_pod(name)
            ip = desktop.status.pod_ip
            deny = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                    "metadata": {"name": f"{name}-deny", "labels": {
                        "app.kubernetes.io/part-of": "arcade-hub"}},
                    "spec": {"podSelector": {"matchLabels": desktop_labels},
                             "policyTypes": ["Ingress"], "ingress": []}}
            await kube.net.create_namespaced_network_policy(kube.namespace, deny)
            enforced = not await connects(kube, f"{name}-canary", {}, ip, 6000)
            await kube.net.delete_namespaced_network_policy(f"{name}-deny", kube.namespace)
            if not enforced:
                pytest.skip(f"NetworkPolicy is not enforced on this cluster ({real.version}: "
                            "a deny-all policy let a connection through; its CNI has no "
                            "policy engine)")
            policy = build_x11_network_policy(spec, Owner(name, desktop.metadata.uid))
            await kube.net.create_namespaced_network_policy(kube.namespace, policy)
            assert await connects(kube, f"{name}-app", app_labels("alice"), ip, 6000)
            assert not await connects(kube, f"{name}-other", app_labels("bob"), ip, 6000)
        finally:
            await kube.core.delete_namespaced_pod(name, kube.namespace, grace_period_seconds=0)

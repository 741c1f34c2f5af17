"""Storage on the real cluster, as the session's uid: the session pods ArcadeKubeSpawner makes,
with the home (one shared claim with a sub-folder per user, or a claim per user), a project
space, a dataset (read-only) and every scratch mode, are writable or not as documented
(docs/reference/container-contract.md, docs/how-to/deploy-on-kubernetes.md).

The pods run the notebook image with a plain HTTP server (no hub needed); the checks run in
them with `kubectl exec`, which runs as the container's user.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from kubespawner import KubeSpawner
from kubespawner.clients import load_config

from arcade_hub.config import PlatformConfig

from .conftest import PLATFORM, Cluster, build_spawner, launch_spec, use_kubeconfig
from .real_cluster import Kube, RealCluster, real_cluster
from .test_lifecycle import run_until_running

PART_OF = {"app.kubernetes.io/part-of": "arcade-hub", "arcade-hub.org/test": "storage"}
DATASET_FILE = "README"
PROBE = """
id -u; id -g
for d in "$ARCADE_HOME" "$ARCADE_PROJECTS/astro" "$ARCADE_SCRATCH" "$ARCADE_DATASETS/alma-2019"
do
  if err=$(touch "$d/.arcade-probe" 2>&1); then echo "rw $d"; rm "$d/.arcade-probe"
  else echo "ro $d: $err"; fi
done
cat "$ARCADE_DATASETS/alma-2019/README"
"""


@dataclass
class Case:
    kube: dict[str, Any]
    uid: int = 1000
    shared: bool = True
    """Uses the shared home, projects and datasets claims."""
    minimum: tuple[int, int] = (1, 0)
    feature: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


SHARED = {
    "home": {"mode": "shared-claim", "claim": "arcade-home-shared"},
    "projects": {"enabled": True, "mode": "shared-claim", "claim": "arcade-projects-shared"},
    "datasets": {"alma-2019": {"type": "pvc", "claim": "arcade-datasets-shared",
                               "sub_path": "alma/2019"}},
}
CASES = {
    # one home claim, a sub-folder per user; a uid of the user's own (not the image's)
    "shared-claims-per-user-uid": Case({**SHARED, "security": {
        "run_as": "per-user", "uids": {"store-user": 54321}}}, uid=54321),
    "home-claim-per-user": Case({"home": {"mode": "claim-per-user",
                                          "access_modes": ["ReadWriteOnce"], "capacity": "1Gi"},
                                 "projects": SHARED["projects"],
                                 "datasets": SHARED["datasets"]}),
    "scratch-memory": Case({**SHARED, "scratch": {"mode": "emptyDir", "medium": "Memory",
                                                  "size": "64Mi"}}),
    "scratch-ephemeral": Case({**SHARED, "scratch": {"mode": "ephemeral", "size": "1Gi"}},
                              minimum=(1, 21), feature="Generic ephemeral volumes"),
    "scratch-hostpath": Case({**SHARED, "scratch": {"mode": "hostPath"},
                              "security": {"pod_security": "privileged"}}),
}


@pytest_asyncio.fixture
async def real(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RealCluster]:
    cluster = real_cluster()
    load_config.cache_clear()
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    use_kubeconfig(monkeypatch, Path(cluster.kubeconfig))
    try:
        yield cluster
    finally:
        await KubeSpawner._stop_all_reflectors()
        load_config.cache_clear()


async def shared_claims(kube: Kube) -> None:
    """The shared home, projects and datasets claims; the dataset holds a file (written by
    a root pod, as operators fill datasets)."""
    from kubernetes_asyncio.client.rest import ApiException

    for name in ("arcade-home-shared", "arcade-projects-shared", "arcade-datasets-shared"):
        claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                 "metadata": {"name": name, "labels": PART_OF},
                 "spec": {"accessModes": ["ReadWriteOnce"],
                          "resources": {"requests": {"storage": "1Gi"}}}}
        try:
            await kube.core.create_namespaced_persistent_volume_claim(kube.namespace, claim)
        except ApiException as e:
            if e.status != 409:
                raise
    fill = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "arcade-dataset-fill", "labels": PART_OF},
            "spec": {"restartPolicy": "Never", "containers": [{
                "name": "fill", "image": "localhost/busybox:test", "imagePullPolicy": "Never",
                "command": ["/bin/sh", "-c", "mkdir -p /data/alma/2019 && "
                            f"echo 'ALMA 2019' > /data/alma/2019/{DATASET_FILE}"],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                "volumes": [{"name": "data", "persistentVolumeClaim": {
                    "claimName": "arcade-datasets-shared"}}]}}
    if await kube.pod("arcade-dataset-fill") is None:
        await kube.core.create_namespaced_pod(kube.namespace, fill)
    done = await kube.wait_pod("arcade-dataset-fill", ("Succeeded", "Failed"))
    assert done.status.phase == "Succeeded", await kube.logs("arcade-dataset-fill")


@pytest.fixture(scope="module")
def shared_storage() -> Iterator[None]:
    """The shared claims, made once for the module and removed after it."""
    cluster = real_cluster()

    async def make() -> None:
        async with Kube(cluster) as kube:
            await shared_claims(kube)

    async def remove() -> None:
        async with Kube(cluster) as kube:
            await kube.core.delete_namespaced_pod("arcade-dataset-fill", kube.namespace)
            await kube.core.delete_collection_namespaced_persistent_volume_claim(
                kube.namespace, label_selector="arcade-hub.org/test=storage")

    asyncio.run(make())
    yield
    asyncio.run(remove())


@pytest.mark.parametrize("name", sorted(CASES))
async def test_storage_as_the_session_uid(real: RealCluster, shared_storage: None,
                                          name: str) -> None:
    case = CASES[name]
    if case.feature:
        real.require(case.feature, case.minimum)
    kube_settings = {**case.kube}
    host_scratch = None
    if kube_settings.get("scratch", {}).get("mode") == "hostPath":
        host_scratch = Path(f"/var/tmp/arcade-test-scratch-{os.getpid()}")
        kube_settings["scratch"] = {**kube_settings["scratch"], "host_path": str(host_scratch)}
    doc = {**PLATFORM, "catalogue": [{**e, "image": real.images["notebook"]}
                                     for e in PLATFORM["catalogue"]]}
    doc["backend"] = {"kind": "kubernetes", "kubernetes": {
        "namespace": real.namespace, "cpu_guarantee": 0.2,
        "commands": {"notebook": ["python3", "-m", "http.server", "8888"]},
        **kube_settings}}
    config = PlatformConfig.model_validate(doc)
    # a server (so a pod name) of each case's own: an exec never reaches the pod of the case
    # before, should it still be there
    spec = launch_spec(config, username="store-user", dataset="alma-2019", cores=0.5,
                       ram_gib=0.5, session_id=f"st-{name[:20]}-{os.getpid()}",
                       server_name=name[:20])
    cluster = Cluster("", real.namespace, None, real)
    spawner = build_spawner(cluster, config, spec)
    async with Kube(real) as kube:
        try:
            await run_until_running(spawner, cluster)
            status, out = await kube.exec(spawner.pod_name, PROBE, "notebook")
        finally:
            await spawner.stop(now=True)
            if spawner.storage_pvc_ensure:
                await kube.core.delete_namespaced_persistent_volume_claim(
                    spawner.pvc_name, kube.namespace)
            if host_scratch is not None:
                shutil.rmtree(host_scratch, ignore_errors=True)
    assert status == 0, out
    lines = out.splitlines()
    assert lines[:2] == [str(case.uid), "100"], out
    paths = {line.split(" ", 2)[1].rstrip(":"): line.split(" ", 1)[0] for line in lines[2:6]}
    assert paths == {
        "/home/store-user": "rw",
        "/arcade/projects/astro": "rw",
        "/arcade/scratch": "rw",
        "/arcade/datasets/alma-2019": "ro",
    }, out
    assert "Read-only file system" in out, out
    assert lines[6:] == ["ALMA 2019"], out

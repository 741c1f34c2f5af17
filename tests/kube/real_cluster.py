"""The real Kubernetes cluster that the `[real]` variants and `test_real_*.py` run on.

`scripts/test.sh` builds and starts `../shared/kube-cluster` (a single-node v1.20.2), imports
the images it built into the cluster's containerd and sets:

- `ARCADE_TEST_KUBECONFIG`: a cluster admin's kubeconfig (setting it asks for these tests);
- `ARCADE_TEST_NAMESPACE`: the namespace to work in (default `arcade-test`);
- `ARCADE_TEST_IMAGE`: the notebook image, imported into the cluster;
  `ARCADE_TEST_DESKTOP_IMAGE` and `ARCADE_TEST_HEADLESS_IMAGE` default to the same reference
  with `notebook` replaced by `desktop` / `headless` (as `scripts/build-images.sh` tags them);
- `ARCADE_TEST_CLUSTER_ERROR`: why the cluster could not be built or started. The tests were
  asked to run and cannot: they fail with this reason rather than skip.

`ARCADE_TEST_CLUSTER=0` is a developer's opt-out: the real tests skip, saying so.
Features this cluster's Kubernetes lacks skip with the server's version in the reason
(`require`).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest

NAMESPACE = "arcade-test"
OPT_OUT = "ARCADE_TEST_CLUSTER"
ERROR = "ARCADE_TEST_CLUSTER_ERROR"


@dataclass(frozen=True)
class RealCluster:
    kubeconfig: str
    namespace: str
    version: str
    """The API server's gitVersion, e.g. `v1.20.2`."""
    images: dict[str, str]
    """Catalogue kind (`notebook`, `desktop`, `headless`) -> image imported into the cluster."""

    @property
    def minor(self) -> tuple[int, int]:
        found = re.match(r"v?(\d+)\.(\d+)", self.version)
        assert found, self.version
        return int(found[1]), int(found[2])

    def require(self, feature: str, minimum: tuple[int, int]) -> None:
        """Skip, naming the server's version, when it is older than `minimum`."""
        if self.minor < minimum:
            pytest.skip(f"{feature} needs Kubernetes {minimum[0]}.{minimum[1]}+; the test "
                        f"cluster runs {self.version}")


def _images() -> dict[str, str]:
    notebook = os.environ.get("ARCADE_TEST_IMAGE", "")
    if not notebook:
        pytest.fail("ARCADE_TEST_KUBECONFIG is set but ARCADE_TEST_IMAGE is not: name the "
                    "notebook image imported into the cluster")
    head, _, tail = notebook.rpartition("/")

    def like(kind: str) -> str:
        derived = f"{head}/{tail.replace('notebook', kind, 1)}" if head else notebook
        return os.environ.get(f"ARCADE_TEST_{kind.upper()}_IMAGE") or derived

    return {"notebook": notebook, "desktop": like("desktop"), "headless": like("headless")}


LEFTOVERS = ("app.kubernetes.io/part-of=arcade-hub", "component=singleuser-server",
             "component=singleuser-storage")
"""What tests make carries one of these labels (Arcade's objects, KubeSpawner's pods and
home claims)."""


async def _server_version(kubeconfig: str, namespace: str) -> str:
    """The server's version, once leftovers of earlier (interrupted) runs are gone from
    `namespace` (objects stay in the API across stop.sh/start.sh) and a pod has run there
    (`_runs_a_pod`)."""
    from kubernetes_asyncio.client import BatchV1Api, CoreV1Api, NetworkingV1Api, VersionApi
    from kubernetes_asyncio.config import new_client_from_config

    api = await new_client_from_config(config_file=kubeconfig)
    try:
        info = await asyncio.wait_for(VersionApi(api).get_code(), 30)
        core, batch, net = CoreV1Api(api), BatchV1Api(api), NetworkingV1Api(api)
        for selector in LEFTOVERS:
            await batch.delete_collection_namespaced_job(
                namespace, label_selector=selector, propagation_policy="Background")
            for delete in (core.delete_collection_namespaced_pod,
                           core.delete_collection_namespaced_secret,
                           core.delete_collection_namespaced_persistent_volume_claim,
                           net.delete_collection_namespaced_network_policy):
                await delete(namespace, label_selector=selector)
        for _ in range(600):  # a claim being deleted makes a new one of its name wait
            left = [await core.list_namespaced_persistent_volume_claim(
                namespace, label_selector=selector) for selector in LEFTOVERS]
            if not any(found.items for found in left):
                break
            await asyncio.sleep(0.2)  # deletion finishes in the controllers: no event here
        await _runs_a_pod(core, namespace, _images())
        return str(info.git_version)
    finally:
        await api.close()


STUCK = frozenset({"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName",
                   "CreateContainerError", "CreateContainerConfigError", "RunContainerError",
                   "CrashLoopBackOff"})
"""Reasons a container waits that it does not leave by itself."""
PREFLIGHT = "arcade-preflight"
NODE_STATUS_MAX_IMAGES = 50
"""The kubelet's default `nodeStatusMaxImages`: a node lists at most this many images."""


class ClusterCannotRunPods(Exception):
    """The cluster answers but does not run a pod of the test images: every real-cluster test
    fails at once with this, instead of each waiting minutes for a session that never starts."""


async def _runs_a_pod(core: Any, namespace: str, images: dict[str, str]) -> None:
    """Check once per test session that a node is Ready, that a single node holds the test
    images (it lists them all), and that a pod of the notebook image runs `true` to its end as
    a non-root user under the restricted Pod Security level; otherwise raise
    ClusterCannotRunPods with what the kubelet said (container states and pod events)."""
    from kubernetes_asyncio import watch
    from kubernetes_asyncio.client.rest import ApiException

    nodes = (await core.list_node()).items
    ready = [n.metadata.name for n in nodes
             if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])]
    if not ready:
        raise ClusterCannotRunPods(f"no node is Ready: {[n.status.conditions for n in nodes]}")
    listed = nodes[0].status.images or [] if len(nodes) == 1 else []
    if 0 < len(listed) < NODE_STATUS_MAX_IMAGES:  # one node, and it lists all its images
        held = {name for image in listed for name in image.names or []}
        wanted = dict.fromkeys([*images.values(),
                                *filter(None, [os.environ.get("ARCADE_TEST_HUB_IMAGE")])])
        if missing := [ref for ref in wanted if ref not in held]:
            raise ClusterCannotRunPods(f"the node does not hold {missing} (nothing pulls "
                                       f"there; it holds {sorted(held)})")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": PREFLIGHT},
           "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsUser": 1000, "runAsGroup": 100,
                                        "runAsNonRoot": True,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{"name": "preflight", "image": images["notebook"],
                                    "imagePullPolicy": "IfNotPresent", "command": ["true"],
                                    "securityContext": {"allowPrivilegeEscalation": False,
                                                        "capabilities": {"drop": ["ALL"]}}}]}}

    async def delete() -> None:
        try:
            await core.delete_namespaced_pod(PREFLIGHT, namespace, grace_period_seconds=0)
        except ApiException as e:
            if e.status != 404:
                raise

    async def why(found: Any) -> str:
        states = []
        for status in found.status.container_statuses or []:
            for kind in ("waiting", "terminated"):
                if part := getattr(status.state, kind):
                    states.append(f"{kind} {part.reason}: {part.message}")
        events = await core.list_namespaced_event(
            namespace, field_selector=f"involvedObject.uid={uid}")
        said = "; ".join(f"{e.reason}: {e.message}" for e in events.items)
        return (f"pod {found.status.phase} ({'; '.join(states) or 'no container status'}); "
                f"events: {said or 'none'}")

    await delete()  # an interrupted run's
    for _ in range(300):
        try:
            uid = (await core.create_namespaced_pod(namespace, pod)).metadata.uid
            break
        except ApiException as e:  # the old one still terminating
            if e.status != 409:
                raise
            await asyncio.sleep(0.2)  # deletion finishes in the kubelet: no event here
    else:
        raise ClusterCannotRunPods(f"the pod {PREFLIGHT} of an earlier run was not deleted in 60 s")

    async def outcome() -> None:
        async with watch.Watch() as w:
            async for event in w.stream(core.list_namespaced_pod, namespace,
                                        field_selector=f"metadata.name={PREFLIGHT}"):
                found = event["object"]
                if found.status.phase == "Succeeded":
                    return
                waiting = [s.state.waiting.reason for s in found.status.container_statuses or []
                           if s.state and s.state.waiting]
                if found.status.phase == "Failed" or STUCK.intersection(waiting):
                    raise ClusterCannotRunPods(f"a pod of {images['notebook']} running `true` "
                                               f"did not succeed: {await why(found)}")

    try:
        await asyncio.wait_for(outcome(), 120)
    except TimeoutError:
        found = await core.read_namespaced_pod(PREFLIGHT, namespace)
        raise ClusterCannotRunPods(f"a pod of {images['notebook']} running `true` had not ended "
                                   f"after 120 s: {await why(found)}") from None
    finally:
        await delete()


@cache
def _connect(kubeconfig: str, namespace: str) -> str | BaseException:
    """The server's version, or why it cannot be reached (asked once per test session, from
    a thread of its own: callers may run inside an event loop)."""
    with ThreadPoolExecutor(1) as pool:
        try:
            return pool.submit(asyncio.run, _server_version(kubeconfig, namespace)).result()
        except Exception as e:
            return e


def _unusable(kubeconfig: str, why: BaseException) -> str:
    """Why the real-cluster tests cannot run on the cluster of `kubeconfig` (`_connect`'s
    error), for pytest and for scripts/test-cluster.sh alike."""
    if isinstance(why, ClusterCannotRunPods):
        return f"the test cluster of {kubeconfig} cannot run the tests' pods: {why}"
    return f"the test cluster of {kubeconfig} does not answer: {why!r}"


def real_cluster() -> RealCluster:
    """The real cluster, or skip / fail as the module docstring says."""
    if os.environ.get(OPT_OUT, "1") in ("0", "no", "false"):
        pytest.skip(f"real-cluster tests turned off ({OPT_OUT}=0)")
    if error := os.environ.get(ERROR):
        pytest.fail(f"the test cluster could not be built or started: {error}", pytrace=False)
    kubeconfig = os.environ.get("ARCADE_TEST_KUBECONFIG")
    if not kubeconfig:
        pytest.skip("real-cluster variant: set ARCADE_TEST_KUBECONFIG to a kubeconfig (and "
                    "ARCADE_TEST_NAMESPACE, ARCADE_TEST_IMAGE); scripts/test.sh does, as "
                    "root on Debian with ../shared/kube-cluster")
    namespace = os.environ.get("ARCADE_TEST_NAMESPACE", NAMESPACE)
    version = _connect(kubeconfig, namespace)
    if isinstance(version, BaseException):
        pytest.fail(_unusable(kubeconfig, version), pytrace=False)
    return RealCluster(kubeconfig, namespace, version, _images())


def host_address(pod_ip: str) -> str:
    """This machine's address as pods see it: the source address of its route to `pod_ip`
    (the pod bridge's gateway on the shared cluster)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((pod_ip, 9))
        address: str = s.getsockname()[0]
        return address


class Kube:
    """Calls to the real cluster for the tests: the API, pod logs, and commands run in a
    container (`kubectl exec`) as its own user."""

    def __init__(self, real: RealCluster) -> None:
        self.real = real
        self.namespace = real.namespace

    async def __aenter__(self) -> Kube:
        from kubernetes_asyncio.client import (
            BatchV1Api,
            Configuration,
            CoreV1Api,
            NetworkingV1Api,
        )
        from kubernetes_asyncio.config import load_kube_config, new_client_from_config

        self.api = await new_client_from_config(config_file=self.real.kubeconfig)
        self.core = CoreV1Api(self.api)
        self.batch = BatchV1Api(self.api)
        self.net = NetworkingV1Api(self.api)
        self.configuration = Configuration()
        await load_kube_config(config_file=self.real.kubeconfig,
                               client_configuration=self.configuration)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.api.close()

    async def pod(self, name: str) -> Any | None:
        from kubernetes_asyncio.client.rest import ApiException

        try:
            return await self.core.read_namespaced_pod(name, self.namespace)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    async def wait_pod(self, name: str, phases: tuple[str, ...] = ("Running",),
                       timeout: float = 180) -> Any:
        """The pod once it is in one of `phases`, following a watch of it."""
        from kubernetes_asyncio import watch

        async def follow() -> Any:
            while True:
                async with watch.Watch() as w:
                    stream = w.stream(self.core.list_namespaced_pod, self.namespace,
                                      field_selector=f"metadata.name={name}",
                                      timeout_seconds=30)
                    async for event in stream:
                        pod = event["object"]
                        phase = pod.status.phase if pod.status else None
                        if phase in phases:
                            return pod
                        if phase in ("Succeeded", "Failed"):  # it will not change any more
                            raise AssertionError(f"pod {name} ended {phase}, not {phases}: "
                                                 f"{await self.logs(name)}")

        try:
            return await asyncio.wait_for(follow(), timeout)
        except TimeoutError:
            pod = await self.pod(name)
            state = pod.status if pod is not None else "gone"
            raise AssertionError(f"pod {name} not {phases} after {timeout:g} s: {state}") \
                from None

    async def wait_gone(self, kind: str, label_selector: str, timeout: float = 120) -> None:
        """Until no object of `kind` (pods, secrets, networkpolicies) matches the selector."""
        list_: Any = {"pods": self.core.list_namespaced_pod,
                 "secrets": self.core.list_namespaced_secret,
                 "networkpolicies": self.net.list_namespaced_network_policy}[kind]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (found := (await list_(self.namespace, label_selector=label_selector)).items):
            if loop.time() > deadline:
                names = [o.metadata.name for o in found]
                raise AssertionError(f"{kind} {names} still there after {timeout:g} s")
            await asyncio.sleep(0.5)  # the garbage collector has nothing to wait on

    async def logs(self, pod: str, container: str | None = None) -> str:
        options: dict[str, Any] = {"container": container} if container else {}
        out: str = await self.core.read_namespaced_pod_log(pod, self.namespace, **options)
        return out

    async def exec(self, pod: str, script: str, container: str | None = None) -> tuple[int, str]:
        """Run `sh -c script` in the container; its exit status and output (both streams)."""
        from kubernetes_asyncio.client import CoreV1Api
        from kubernetes_asyncio.stream import WsApiClient

        marker = "arcade-exit-status="
        options: dict[str, Any] = {
            "command": ["sh", "-c", f'{script}\necho "{marker}$?"'],
            "stderr": True, "stdout": True, "stdin": False, "tty": False}
        if container:
            options["container"] = container
        for _ in range(5):
            async with WsApiClient(configuration=self.configuration) as ws:
                out = await CoreV1Api(ws).connect_get_namespaced_pod_exec(
                    pod, self.namespace, **options)
            text = out if isinstance(out, str) else out.decode()
            body, found, status = text.rpartition(marker)
            if found:  # stderr may come after the status line: both streams share one text
                status, _, rest = status.partition("\n")
                return int(status.strip()), body + rest
            # the kubelet sometimes ends a stream of a container that just started before
            # the command ran (nothing at all came back): ask again
            await asyncio.sleep(1)
        raise AssertionError(f"exec in {pod} gave no exit status: {text!r}")


if __name__ == "__main__":  # scripts/test-cluster.sh, once the images are imported
    import sys

    kubeconfig = os.environ.get("ARCADE_TEST_KUBECONFIG", "")
    found = _connect(kubeconfig, os.environ.get("ARCADE_TEST_NAMESPACE", NAMESPACE))
    if isinstance(found, BaseException):
        sys.exit(_unusable(kubeconfig, found))
    print(f"the test cluster ({found}) ran a pod of {_images()['notebook']}")

"""Kubernetes backend figures in one run; prints JSON.

Against the fake API server (always):
- API requests per spawn (start until Running, then stop) for plain KubeSpawner and for
  ArcadeKubeSpawner (notebook; desktop, which also creates its X Secret and NetworkPolicy),
  counted by the fake server once the shared pod/event reflectors are up. Target: Arcade
  notebook <= plain + 2.
- 100 concurrent ArcadeKubeSpawner spawns: all must succeed; the hub's event-loop lag p99
  (a 10 ms ticker on the hub's loop; the fake API and its "kubelet" run on their own thread).

On a real cluster (when ARCADE_TEST_KUBECONFIG is set, as for the real-cluster tests; see
tests/kube/real_cluster.py), under `real_cluster`: two JupyterHubs outside the cluster, one
with ArcadeKubeSpawner and one with plain KubeSpawner on the same images, time spawn ->
ready (hub API) for a notebook and a desktop, rounds alternating between them; and, on the
Arcade desktop, an app launch (`POST .../apps`, a pod drawing through the X relay) until its
window is on the desktop, against xterm started inside the desktop pod itself.

Usage: python benchmarks/kube.py [--concurrent 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import kubernetes_asyncio.config.kube_config as kube_config  # noqa: E402
from kubespawner import KubeSpawner  # noqa: E402

from tests.kube.conftest import (  # noqa: E402
    NAMESPACE,
    Cluster,
    MockHub,
    MockOrmSpawner,
    MockUser,
    build_spawner,
    launch_spec,
    platform,
)
from tests.kube.fake_api import FakeKubeAPI  # noqa: E402

T = TypeVar("T")


class FakeCluster:
    """The fake API and a kubelet that marks every new pod Running, on their own loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.api: FakeKubeAPI = self.call(self._start())

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def _start(self) -> FakeKubeAPI:
        api = await FakeKubeAPI().start()
        self._kubelet = asyncio.ensure_future(self._run_kubelet(api))
        return api

    async def _run_kubelet(self, api: FakeKubeAPI) -> None:
        while True:
            async with api.changed:
                await api.changed.wait_for(lambda: bool(self._pending(api)))
            for pod in self._pending(api):
                await api.mark_running(NAMESPACE, pod["metadata"]["name"])

    @staticmethod
    def _pending(api: FakeKubeAPI) -> list[dict[str, Any]]:
        return [
            p for p in api.list("pods", NAMESPACE) if p.get("status", {}).get("phase") == "Pending"
        ]

    def requests(self) -> int:
        return sum(self.api.counts.values())

    def stop(self) -> None:
        async def stop() -> None:
            self._kubelet.cancel()
            await self.api.stop()

        self.call(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def plain_spawner(cluster: FakeCluster, name: str) -> KubeSpawner:
    return KubeSpawner(
        user=MockUser(name=name),
        hub=MockHub(),
        orm_spawner=MockOrmSpawner(),
        namespace=NAMESPACE,
        k8s_api_host=cluster.api.url,
        image="quay.io/jupyter/base-notebook",
        start_timeout=30,
        events_enabled=True,
    )


def arcade_spawner(cluster: FakeCluster, name: str, entry: str = "notebook") -> KubeSpawner:
    config = platform()
    return build_spawner(
        Cluster(cluster.api.url, NAMESPACE, None),
        config,
        launch_spec(config, entry, username=name, session_id=f"s-{name}"),
    )


async def spawn_and_stop(spawner: KubeSpawner) -> None:
    await spawner.start()
    await spawner.stop()


async def requests_per_spawn(cluster: FakeCluster) -> dict[str, int]:
    await spawn_and_stop(plain_spawner(cluster, "warmup"))  # reflectors start once per hub
    out: dict[str, int] = {}
    cases = {
        "plain_kubespawner": lambda: plain_spawner(cluster, "plain"),
        "arcade_notebook": lambda: arcade_spawner(cluster, "arcade-nb"),
        "arcade_desktop": lambda: arcade_spawner(cluster, "arcade-desk", "desktop"),
    }
    for label, make in cases.items():
        before = cluster.requests()
        await spawn_and_stop(make())
        out[label] = cluster.requests() - before
    return out


async def concurrent_spawns(cluster: FakeCluster, n: int) -> dict[str, Any]:
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while not done.is_set():
            t = loop.time()
            await asyncio.sleep(0.01)
            lags.append(loop.time() - t - 0.01)

    tick = asyncio.ensure_future(ticker())
    spawners = [arcade_spawner(cluster, f"user-{i}") for i in range(n)]
    started = time.perf_counter()
    results = await asyncio.gather(*(s.start() for s in spawners), return_exceptions=True)
    elapsed = time.perf_counter() - started
    done.set()
    await tick
    failures = [repr(r) for r in results if isinstance(r, BaseException)]
    await asyncio.gather(*(s.stop() for s in spawners), return_exceptions=True)
    lags.sort()
    return {
        "spawns": n,
        "succeeded": n - len(failures),
        "failures": failures[:3],
        "seconds": round(elapsed, 2),
        "loop_lag_ms_p50": round(statistics.median(lags) * 1000, 2),
        "loop_lag_ms_p99": round(lags[int(len(lags) * 0.99) - 1] * 1000, 2),
        "loop_lag_ms_max": round(lags[-1] * 1000, 2),
    }


async def main(n: int) -> dict[str, Any]:
    cluster = FakeCluster()
    try:
        per_spawn = await requests_per_spawn(cluster)
        concurrent = await concurrent_spawns(cluster, n)
    finally:
        await KubeSpawner._stop_all_reflectors()
        cluster.stop()
    return {
        "requests_per_spawn": per_spawn,
        "arcade_notebook_minus_plain": per_spawn["arcade_notebook"]
        - per_spawn["plain_kubespawner"],
        "target_met": per_spawn["arcade_notebook"] <= per_spawn["plain_kubespawner"] + 2,
        "concurrent": concurrent,
    }


# --- a real cluster ----------------------------------------------------------------------

def timed_spawn(hub: Any, user: str, server: str, options: dict[str, Any]) -> float:
    started = time.perf_counter()
    r = hub.api("POST", f"/users/{user}/servers/{server}", json=options)
    assert r.status_code in (201, 202), r.text
    hub.wait_ready(user, server, timeout=300)
    return time.perf_counter() - started


def real_cluster_figures(rounds: int) -> dict[str, Any]:
    """Spawn -> ready on the real cluster, Arcade against plain KubeSpawner (module doc)."""
    import shutil

    from tests.hub import shared_tmp
    from tests.kube.real_cluster import real_cluster
    from tests.kube.real_hub import HubPorts, document, kube_hub, plain_spawner, pod_network_address

    real = real_cluster()
    host = asyncio.run(pod_network_address(real))
    tmp = {name: shared_tmp() for name in ("arcade", "plain-notebook", "plain-desktop")}
    samples: dict[str, list[float]] = {k: [] for k in (
        "arcade_notebook", "plain_notebook", "arcade_desktop", "plain_desktop",
        "app_pod_to_window", "xterm_in_desktop_to_window")}
    try:
        ports = {name: HubPorts.pick(host) for name in tmp}
        with kube_hub(tmp["arcade"], real, ports["arcade"], document(real)) as arcade, \
                kube_hub(tmp["plain-notebook"], real, ports["plain-notebook"], {},
                         plain_spawner(real, real.images["notebook"])) as plain_nb, \
                kube_hub(tmp["plain-desktop"], real, ports["plain-desktop"], {},
                         plain_spawner(real, real.images["desktop"])) as plain_desk:
            token = arcade.user_token("bench")
            # users of their own: pods are named after user and server, in one namespace
            plain_nb.api("POST", "/users/plain-nb")
            plain_desk.api("POST", "/users/plain-desk")
            users = {id(arcade): "bench", id(plain_nb): "plain-nb", id(plain_desk): "plain-desk"}
            for n in range(rounds):
                order = [("arcade_notebook", arcade, {"image": "notebook"}),
                         ("plain_notebook", plain_nb, {}),
                         ("arcade_desktop", arcade, {"image": "desktop"}),
                         ("plain_desktop", plain_desk, {})]
                order = order[n % 4:] + order[:n % 4]  # machine noise hits every row
                for label, hub, options in order:
                    server = f"{label.split('_')[1][:4]}{n}"
                    if hub is arcade:
                        options = {**options, "cores": 0.5, "ram": 1}
                    user = users[id(hub)]
                    samples[label].append(timed_spawn(hub, user, server, options))
                    print(f"{label} {n}: {samples[label][-1]:.1f} s", file=sys.stderr)
                    if label != "arcade_desktop":
                        hub.stop_server(user, server)
                samples["app_pod_to_window"].append(asyncio.run(app_to_window(
                    real, ports["arcade"], arcade, token, f"desk{n}")))
                samples["xterm_in_desktop_to_window"].append(asyncio.run(
                    local_xterm_to_window(real, arcade, f"desk{n}")))
                arcade.stop_server("bench", f"desk{n}")
        asyncio.run(forget_homes(real))
    finally:
        for path in tmp.values():
            shutil.rmtree(path, ignore_errors=True)

    def median(label: str) -> float:
        return round(statistics.median(samples[label]), 2)

    return {
        "server_version": real.version,
        "rounds": rounds,
        "spawn_to_ready_median_s": {k: median(k) for k in samples if "window" not in k},
        "arcade_over_plain": {
            kind: round(median(f"arcade_{kind}") / median(f"plain_{kind}"), 2)
            for kind in ("notebook", "desktop")},
        "app_launch_to_window_median_s": median("app_pod_to_window"),
        "xterm_inside_desktop_to_window_median_s": median("xterm_in_desktop_to_window"),
        "samples_s": {k: [round(v, 2) for v in vs] for k, vs in samples.items()},
    }


async def wait_window(kube: Any, pod: str, title: str, timeout: float = 120) -> None:
    from tests.kube.test_real_sessions import windows

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while f'"{title}"' not in await windows(kube, pod):
        if loop.time() > deadline:
            raise AssertionError(f"no {title} window on {pod} after {timeout:g} s")
        await asyncio.sleep(0.2)  # asking X for its windows: nothing to wait on


async def app_to_window(real: Any, ports: Any, hub: Any, token: str, server: str) -> float:
    """POST the xterm app into the desktop until its window shows (the desktop started
    first, as a viewer does)."""
    import httpx

    from tests.kube.real_cluster import Kube
    from tests.kube.test_real_sessions import desktop_info, vnc_greeting

    await vnc_greeting(ports, token, "bench", server)
    pod = hub.server("bench", server)["state"]["pod_name"]
    async with Kube(real) as kube:
        await desktop_info(kube, pod)  # published: the desktop is up
        started = time.perf_counter()
        async with httpx.AsyncClient(base_url=ports.public_url, timeout=60, headers={
                "Authorization": f"token {token}"}) as client:
            r = await client.post(f"services/arcade/api/v1/users/bench/sessions/{server}/apps",
                                  json={"app": "xterm"})
        assert r.status_code == 201, r.text
        await wait_window(kube, pod, "xterm")
        return time.perf_counter() - started


async def local_xterm_to_window(real: Any, hub: Any, server: str) -> float:
    """Baseline: xterm started inside the desktop pod (no pod, no relay), titled apart."""
    from tests.kube.real_cluster import Kube
    from tests.kube.test_real_sessions import desktop_info

    pod = hub.server("bench", server)["state"]["pod_name"]
    async with Kube(real) as kube:
        info = await desktop_info(kube, pod)
        started = time.perf_counter()
        status, out = await kube.exec(
            pod, f"DISPLAY={info['display']} XAUTHORITY={info['xauthority']} "
            "nohup xterm -title local-xterm >/dev/null 2>&1 &", "notebook")
        assert status == 0, out
        await wait_window(kube, pod, "local-xterm")
        return time.perf_counter() - started


async def forget_homes(real: Any) -> None:
    from tests.kube.real_cluster import Kube

    async with Kube(real) as kube:
        await kube.wait_gone("pods", "component=singleuser-server")
        await kube.core.delete_collection_namespaced_persistent_volume_claim(
            real.namespace, label_selector="component=singleuser-storage")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Kubernetes backend figures")
    parser.add_argument("--concurrent", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="real-cluster rounds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "config"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
            "clusters: [{name: fake, cluster: {server: 'http://127.0.0.1:9'}}]\n"
            "users: [{name: fake, user: {token: fake}}]\n"
            "contexts: [{name: fake, context: {cluster: fake, user: fake}}]\n"
        )
        kube_config.KUBE_CONFIG_DEFAULT_LOCATION = str(kubeconfig)
        figures = asyncio.run(main(args.concurrent))
    if os.environ.get("ARCADE_TEST_KUBECONFIG"):
        figures["real_cluster"] = real_cluster_figures(args.rounds)
    print(json.dumps(figures, indent=2))

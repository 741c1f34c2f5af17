"""Kubernetes backend against the fake API server, in one run; prints JSON.

- API requests per spawn (start until Running, then stop) for plain KubeSpawner and for
  ArcadeKubeSpawner (notebook; desktop, which also creates its X Secret and NetworkPolicy),
  counted by the fake server once the shared pod/event reflectors are up. Target: Arcade
  notebook <= plain + 2.
- 100 concurrent ArcadeKubeSpawner spawns: all must succeed; the hub's event-loop lag p99
  (a 10 ms ticker on the hub's loop; the fake API and its "kubelet" run on their own thread).

Usage: python benchmarks/kube.py [--concurrent 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Kubernetes backend figures (fake API)")
    parser.add_argument("--concurrent", type=int, default=100)
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
        print(json.dumps(asyncio.run(main(args.concurrent)), indent=2))

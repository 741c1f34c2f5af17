"""Fixtures for the Kubernetes backend: a platform, launch specs, the fake API, spawners."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_asyncio.config.kube_config as kube_config
import pytest
import pytest_asyncio
from kubespawner import KubeSpawner
from kubespawner.clients import load_config

from arcade_hub.config import Kind, PlatformConfig
from arcade_hub.launch.spec import LaunchSpec, Mount, MountKind
from arcade_hub.spawners.kube import ArcadeKubeSpawner

from .fake_api import FakeKubeAPI
from .real_cluster import RealCluster, real_cluster

NAMESPACE = "arcade-test"

PLATFORM: dict[str, Any] = {
    "catalogue": [
        {"name": "notebook", "title": "JupyterLab", "kind": "notebook",
         "image": "registry.example.org/arcade/notebook:2026.11"},
        {"name": "desktop", "title": "Linux desktop", "kind": "desktop",
         "image": "registry.example.org/arcade/desktop:2026.11"},
        {"name": "casa-6-7", "title": "CASA 6.7", "kind": "desktop-app",
         "image": "registry.example.org/arcade/casa:6.7", "versions": {"casa": "6.7"}},
        {"name": "batch", "title": "Batch", "kind": "headless",
         "image": "registry.example.org/arcade/headless:2026.11"},
    ],
    "datasets": [
        {"id": "alma-2019", "title": "ALMA 2019", "path": "/data/alma", "casa_version": "6.7"},
    ],
    "backend": {"kind": "kubernetes", "kubernetes": {
        "datasets": {"alma-2019": {"type": "pvc", "claim": "alma-2019"}},
        "scheduling": {"casa-6-7": {"node_selector": {"arcade-hub.org/pool": "casa"}}},
        "gpu_scheduling": {"tolerations": [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]},
    }},
}


def platform(**kube: Any) -> PlatformConfig:
    """The test platform with `backend.kubernetes` settings replaced by `kube`."""
    doc = {**PLATFORM, "backend": {"kind": "kubernetes", "kubernetes": {
        **PLATFORM["backend"]["kubernetes"], **kube}}}
    return PlatformConfig.model_validate(doc)


def launch_spec(
    config: PlatformConfig,
    entry: str = "notebook",
    *,
    username: str = "alice",
    server_name: str = "",
    session_id: str = "s-7f3a9c",
    groups: tuple[str, ...] = ("astro",),
    dataset: str | None = None,
    cores: float = 2,
    ram_gib: float = 4,
    gpus: int = 0,
    cmd: tuple[str, ...] = (),
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> LaunchSpec:
    """A spec as the policy would build it (storage sources are irrelevant on Kubernetes)."""
    e = config.entry(entry)
    mounts = [Mount(kind=MountKind.home, name="home", source="/unused/home")]
    mounts += [Mount(kind=MountKind.project, name=g, source="/unused") for g in groups]
    if dataset:
        mounts.append(Mount(kind=MountKind.dataset, name=dataset, source="/unused",
                            read_only=True))
    mounts.append(Mount(kind=MountKind.scratch, name="scratch", source="/unused"))
    return LaunchSpec(
        username=username, server_name=server_name, session_id=session_id, kind=e.kind,
        entry=e.name, title=e.title, image=e.image, cores=cores, ram_gib=ram_gib, gpus=gpus,
        dataset=dataset, desktop="desktop" if e.kind == Kind.desktop_app else None,
        mounts=tuple(mounts), env=env or {}, cmd=cmd, args=args,
    )


@dataclass
class MockOrmSpawner:
    name: str = ""
    server: None = None
    display_name: str = ""


@dataclass
class MockUser:
    name: str = "alice"
    id: int = 1
    groups: list[Any] = field(default_factory=list)
    admin: bool = False

    @property
    def url(self) -> str:
        return f"/user/{self.name}/"

    @property
    def escaped_name(self) -> str:
        return self.name


@dataclass
class MockHub:
    public_host: str = ""
    url: str = "http://hub:8081/hub/"
    base_url: str = "/hub/"
    api_url: str = "http://hub:8081/hub/api"


@dataclass
class Cluster:
    """What lifecycle tests talk to: the fake API, or a real cluster (then `fake` is None)."""

    host: str
    namespace: str
    fake: FakeKubeAPI | None
    real: RealCluster | None = None


@pytest.fixture(scope="session")
def dummy_kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kube") / "config"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
        "clusters: [{name: fake, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: fake, user: {token: fake}}]\n"
        "contexts: [{name: fake, context: {cluster: fake, user: fake, namespace: default}}]\n"
    )
    return path


def use_kubeconfig(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """kubernetes_asyncio reads $KUBECONFIG at import time: patch its default as well."""
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))


@pytest.fixture
def kubeconfig_env(dummy_kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    use_kubeconfig(monkeypatch, dummy_kubeconfig)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    load_config.cache_clear()
    yield
    load_config.cache_clear()


@pytest_asyncio.fixture
async def fake_api(kubeconfig_env: None) -> AsyncIterator[FakeKubeAPI]:
    api = await FakeKubeAPI().start()
    try:
        yield api
    finally:
        await KubeSpawner._stop_all_reflectors()
        await api.stop()


@pytest_asyncio.fixture(params=["fake", "real"])
async def cluster(
    request: pytest.FixtureRequest, dummy_kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Cluster]:
    """The fake API, and the real cluster of `real_cluster.py` (skipped or failed with the
    reason when there is none)."""
    load_config.cache_clear()
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    if request.param == "real":
        real = real_cluster()
        use_kubeconfig(monkeypatch, Path(real.kubeconfig))
        try:
            yield Cluster("", real.namespace, None, real)
        finally:
            await KubeSpawner._stop_all_reflectors()
            load_config.cache_clear()
        return
    use_kubeconfig(monkeypatch, dummy_kubeconfig)
    api = await FakeKubeAPI().start()
    try:
        yield Cluster(api.url, NAMESPACE, api)
    finally:
        await KubeSpawner._stop_all_reflectors()
        await api.stop()
        load_config.cache_clear()


SpawnerFactory = Callable[..., ArcadeKubeSpawner]


def build_spawner(
    cluster: Cluster,
    config: PlatformConfig,
    spec: LaunchSpec,
    **traits: Any,
) -> ArcadeKubeSpawner:
    """An ArcadeKubeSpawner without a hub: MockUser/MockHub, the spec already applied."""
    defaults: dict[str, Any] = {
        "namespace": cluster.namespace,
        "k8s_api_host": cluster.host,
        "start_timeout": 30 if cluster.fake else 300,
        "k8s_api_request_retry_timeout": 10,
        "events_enabled": True,
    }
    spawner = ArcadeKubeSpawner(
        user=MockUser(name=spec.username),
        hub=traits.pop("hub", None) or MockHub(),
        orm_spawner=MockOrmSpawner(name=spec.server_name),
        **{**defaults, **traits},
    )
    spawner.platform_config = config
    spawner.launch_spec = spec
    return spawner

"""`ArcadeKubeSpawner`: KubeSpawner rendering a `LaunchSpec` through the pure builders.

The shared spawner mixin sets `launch_spec` (in `apply_user_options`) and `platform_config`;
this class only turns them into KubeSpawner traits in `start()` and refuses pods that miss
the configured Pod Security level.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

from jupyterhub.utils import maybe_future
from kubernetes_asyncio.client import V1Pod
from kubespawner import KubeSpawner
from traitlets import Unicode

from arcade_hub import contract
from arcade_hub.config import CatalogueEntry, PlatformConfig
from arcade_hub.config.kubernetes import KubeBackend
from arcade_hub.kube.apps import DESKTOP_KINDS, ensure_desktop_x11
from arcade_hub.kube.availability import KubeAvailability
from arcade_hub.kube.builders import PodPieces, build_pod_pieces, literal
from arcade_hub.kube.objects import Owner, serialize
from arcade_hub.kube.restricted import check
from arcade_hub.kube.volumes import KubeLaunchError
from arcade_hub.launch.site import Site
from arcade_hub.launch.spec import LaunchSpec
from arcade_hub.spawners.mixin import ArcadeSpawnerMixin

T = TypeVar("T")


def escape_templates(value: Any) -> Any:
    """Double `{`/`}` so KubeSpawner's `{username}`-style expansion leaves values as they are."""
    if isinstance(value, str):
        return value.replace("{", "{{").replace("}", "}}")
    if isinstance(value, list):
        return [escape_templates(v) for v in value]
    if isinstance(value, dict):
        return {k: escape_templates(v) for k, v in value.items()}
    return value


def merge_trait(configured: Any, ours: Any) -> Any:
    """A trait's configured value with ours added: maps updated (ours win), lists (or
    KubeSpawner's name-keyed dicts of list items) extended with what they lack."""
    if isinstance(ours, dict):
        return {**(configured or {}), **ours}
    base = list(configured.values()) if isinstance(configured, dict) else list(configured or [])
    return base + [item for item in ours if item not in base]


class ArcadeKubeSpawner(ArcadeSpawnerMixin, KubeSpawner):
    """Runs Arcade sessions as pods.

    Configure it with `platform_config_file` (the platform document, e.g. mounted with z2jh's
    `hub.extraFiles`); the mixin parses options into `launch_spec` in `apply_user_options`.
    """

    platform_config: PlatformConfig | None = None
    """The platform document, when given as an object (tests, tools); else read from
    `platform_config_file`."""

    arcade_api_url = Unicode(
        "",
        help="URL of the arcade service's API as session pods reach it, given to them as "
        "ARCADE_API_URL (`arcade-launch`, the desktop menu); on z2jh through the proxy: "
        "`http://proxy-public/services/arcade/api/v1`.",
    ).tag(config=True)

    # KubeSpawner's progress reports the pod's events; the mixin's is for local sessions
    progress = KubeSpawner.progress

    @property
    def availability(self) -> KubeAvailability:
        return KubeAvailability.of(self.platform)

    def site(self) -> Site:
        return Site(data_dir=Path(self.data_dir or "/"), availability=self.availability,
                    datasets_on_host=False)

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super().get_state()
        return self.arcade_state(state)

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.load_arcade_state(state)

    def clear_state(self) -> None:
        super().clear_state()
        self.launch_spec = None

    @property
    def kube_settings(self) -> KubeBackend:
        return self._platform().backend.kubernetes

    def _platform(self) -> PlatformConfig:
        return self.platform_config or self.platform

    def _entry(self, name: str | None) -> CatalogueEntry | None:
        if name is None:
            return None
        try:
            return self._platform().entry(name)
        except KeyError:
            return None

    def render(self, spec: LaunchSpec) -> PodPieces:
        """The pod pieces for `spec` (pure; raises `KubeLaunchError`)."""
        config = self._platform()
        return build_pod_pieces(
            spec,
            config.backend.kubernetes,
            config.storage,
            entry=self._entry(spec.entry),
            desktop=self._entry(spec.desktop),
        )

    def apply_pieces(self, pieces: PodPieces) -> None:
        """Set KubeSpawner's traits from the rendered pieces."""
        self.image = pieces.image
        if pieces.image_pull_policy is not None:
            self.image_pull_policy = pieces.image_pull_policy
        if pieces.image_pull_secrets:
            self.image_pull_secrets = pieces.image_pull_secrets
        self.cmd = pieces.cmd
        self.default_url = pieces.default_url
        self.working_dir = pieces.working_dir
        self.notebook_dir = escape_templates(pieces.notebook_dir)
        self.cpu_limit = pieces.cpu_limit
        self.cpu_guarantee = pieces.cpu_guarantee
        self.mem_limit = pieces.mem_limit
        self.mem_guarantee = pieces.mem_guarantee
        self.extra_resource_limits = pieces.extra_resource_limits
        self.extra_resource_guarantees = pieces.extra_resource_guarantees
        # Added to what the hub's configuration sets (z2jh: its network-access labels, user
        # pool tolerations, singleuser.extraEnv, extra volumes...); ours win on conflicts.
        # Those expanded as templates by KubeSpawner: braces escaped in our values.
        merged = {
            "node_selector": pieces.node_selector,
            "tolerations": pieces.tolerations,
            "extra_labels": escape_templates(pieces.labels),
            "extra_annotations": escape_templates(pieces.annotations),
            "environment": escape_templates(pieces.environment),
            "volumes": escape_templates(pieces.volumes),
            "volume_mounts": escape_templates(pieces.volume_mounts),
            "extra_containers": escape_templates(pieces.extra_containers),
            "init_containers": escape_templates(pieces.init_containers),
            "extra_pod_config": escape_templates(pieces.extra_pod_config),
        }
        configured = self.__dict__.setdefault("_arcade_configured", {
            name: copy.deepcopy(getattr(self, name)) for name in merged})
        for name, ours in merged.items():
            setattr(self, name, merge_trait(configured[name], ours))
        self.__dict__["_arcade_env"] = set(pieces.environment)
        # identity lives in the security contexts only
        self.uid = None
        self.gid = None
        self.fs_gid = None
        no_gids: list[int] = []
        self.supplemental_gids = no_gids
        self.privileged = False
        self.allow_privilege_escalation = False
        self.pod_security_context = pieces.pod_security_context
        self.container_security_context = pieces.container_security_context
        claim = pieces.home_claim
        self.storage_pvc_ensure = claim is not None
        if claim is not None:
            self.pvc_name = claim.name
            self.storage_capacity = claim.capacity
            self.storage_class = claim.storage_class
            self.storage_access_modes = list(claim.access_modes)

    def start(self) -> asyncio.Future[Any]:
        spec = self.launch_spec
        if spec is None:
            raise KubeLaunchError(f"no launch spec for {self._log_name}: options were not applied")
        self.apply_pieces(self.render(spec))
        if spec.kind in DESKTOP_KINDS:
            self._install_desktop_hook()
        self.log.info("Starting %s for %s: %s", self.pod_name, spec.username, spec.summary())
        future: asyncio.Future[Any] = super().start()
        return future

    async def _start(self) -> Any:
        """KubeSpawner's start. Cancelled, it gives up at once and leaves the pod's removal
        to `begin_clean_up`: the hub stops the session a second later only if it sees a pod,
        and a create request already sent may land after that."""
        await self.forget_clean_up()  # a cancelled start's pod, before one of the same name
        try:
            return await super()._start()
        except asyncio.CancelledError:  # the user stopped it while it started, or it timed out
            self.begin_clean_up(self._remove_cancelled_pod(),
                                f"Removing the pod of {self._log_name}'s cancelled start")
            raise

    async def _make_create_pod_request(self, pod: V1Pod, request_timeout: float) -> bool:
        created: bool = await self._landing(super()._make_create_pod_request(pod, request_timeout))
        return created

    def _landing(self, request: Awaitable[T]) -> Awaitable[T]:
        """`request` to the API server, run to its end even when the start awaiting it is
        cancelled, so that removing a cancelled start's pod comes after it (not before a
        pod or a Secret that the API server creates anyway)."""
        task = asyncio.ensure_future(request)
        in_flight: set[asyncio.Future[Any]] = self.__dict__.setdefault("_arcade_in_flight", set())
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        return asyncio.shield(task)

    async def _remove_cancelled_pod(self) -> None:
        in_flight = list(self.__dict__.get("_arcade_in_flight", ()))
        await asyncio.gather(*in_flight, return_exceptions=True)
        # deletes the pod by name (none: fine); its X Secret and NetworkPolicy go with it
        await super().stop(now=True)

    async def stop(self, now: bool = False) -> None:
        await self.clean_up_finished()  # a cancelled start's: it deleted the pod
        if not self.cleaned_up:
            await super().stop(now=now)

    def _install_desktop_hook(self) -> None:
        """After the desktop pod exists (KubeSpawner knows its uid), create the session's X
        cookie Secret and NetworkPolicy owned by it; an operator's own hook still runs."""
        operator_hook: Any = self.after_pod_created_hook  # type: ignore[has-type]
        if operator_hook == self._after_desktop_created:
            return
        self.__dict__["_operator_after_pod_created"] = operator_hook
        self.after_pod_created_hook = self._after_desktop_created

    async def _after_desktop_created(self, spawner: KubeSpawner, pod: dict[str, Any]) -> None:
        spec = self.launch_spec
        assert spec is not None
        owner = Owner(pod["metadata"]["name"], pod["metadata"]["uid"])
        await self._landing(ensure_desktop_x11(self.api, self.namespace, spec, owner))
        operator_hook = self.__dict__.get("_operator_after_pod_created")
        if operator_hook is not None:
            await maybe_future(operator_hook(spawner, pod))

    def get_env(self) -> dict[str, Any]:
        """JupyterHub's variables, made literal for the kubelet like the session's own
        (which `build_pod_pieces` made literal already): `$` in a username, a server name or
        an operator's value reaches the session as written."""
        env: dict[str, Any] = super().get_env()
        if self.arcade_api_url:
            env[contract.API_URL] = self.arcade_api_url
        ours = self.__dict__.get("_arcade_env", set())
        return {k: literal(v) if isinstance(v, str) and k not in ours else v
                for k, v in env.items()}

    async def get_pod_manifest(self) -> V1Pod:
        """KubeSpawner's pod, refused when it misses the configured Pod Security level."""
        pod: V1Pod = await super().get_pod_manifest()
        check(serialize(pod), self.kube_settings.security.pod_security)
        return pod

    async def delete_forever(self) -> None:
        """Never delete homes: a user's home claim is shared by all their sessions."""
        self.log.info("Keeping storage of %s (homes are removed by operators)", self._log_name)

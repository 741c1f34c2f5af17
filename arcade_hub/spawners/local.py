"""The embedded backend's spawner: JupyterHub's LocalProcessSpawner rendering a LaunchSpec.

Sessions are named servers running as local processes. As root, each user runs under an
unprivileged uid of its own, datasets are bind-mounted read-only in a private mount namespace
and cores/RAM are enforced by cgroups; as an ordinary user, sessions run as that user with
CPU affinity as the only limit. Either way, stopping a session stops every process it started.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from jupyterhub.spawner import LocalProcessSpawner
from tornado import web
from traitlets import default

from arcade_hub.config.models import Kind
from arcade_hub.local import cgroups, processes
from arcade_hub.local.availability import LocalAvailability, local_search_path
from arcade_hub.local.identity import Identity, IdentityRegistry, hub_identity
from arcade_hub.local.paths import (
    blocked_path,
    prepare_session_tree,
    unreachable_message,
    unreachable_reason,
)
from arcade_hub.local.sandbox import Sandbox, make_preexec, read_only_binds_supported
from arcade_hub.sizes import gib_to_bytes
from arcade_hub.spawners.mixin import ArcadeSpawnerMixin
from arcade_hub.spec import LaunchSpec, MountKind
from arcade_hub.storage import arcade_environment

BIN_DIR = Path(sys.executable).parent


class ArcadeLocalSpawner(ArcadeSpawnerMixin, LocalProcessSpawner):
    """Runs Arcade sessions as local processes (the embedded backend)."""

    _sandbox: Sandbox | None = None
    _cgroup: cgroups.SessionCgroup | None = None
    _session_env: dict[str, str] | None = None

    @default("interrupt_timeout")
    def _default_interrupt_timeout(self) -> int:
        return 5

    @default("term_timeout")
    def _default_term_timeout(self) -> int:
        return 5

    @default("cmd")
    def _default_cmd(self) -> list[str]:
        return [self.singleuser_command()]

    @staticmethod
    def singleuser_command() -> str:
        candidate = BIN_DIR / "jupyterhub-singleuser"
        return str(candidate) if candidate.exists() else "jupyterhub-singleuser"

    @property
    def availability(self) -> LocalAvailability:
        return LocalAvailability(path=local_search_path())

    @property
    def per_user(self) -> bool:
        run_as = self.platform.backend.local.run_as
        return run_as == "per-user" or (run_as == "auto" and os.geteuid() == 0)

    def identity(self, spec: LaunchSpec) -> Identity:
        if not self.per_user:
            return hub_identity()
        registry = IdentityRegistry(
            Path(self.data_dir) / "identities.json", self.platform.backend.local.uid_range
        )
        groups = frozenset(m.name for m in spec.mounts_of(MountKind.project))
        return registry.identity(spec.username, groups)

    def apply_spec(self, spec: LaunchSpec) -> None:
        self.cpu_limit = spec.cores
        self.mem_limit = gib_to_bytes(spec.ram_gib)
        self.start_timeout = self.platform.backend.local.start_timeout
        if spec.kind in (Kind.desktop, Kind.desktop_app):
            self.default_url = "/desktop/"

    # --- start ------------------------------------------------------------------------

    async def start(self) -> Any:
        spec = self.launch_spec
        if spec is None:  # only when a spawner is started without apply_user_options
            self.apply_launch_options(self.user_options or {})
            spec = self.launch_spec
        assert spec is not None
        self.reset_progress()
        self.report(f"Starting {spec.summary()}", 10)
        try:
            self._prepare(spec)
            self.report("Starting the session's server", 70)
            return await super().start()
        except BaseException:
            await self._clean_up(spec)
            raise

    def _prepare(self, spec: LaunchSpec) -> None:
        """Create the session's directories, cgroup, sandbox and environment."""
        ident = self.identity(spec)
        self._check_reachable(ident)
        self.report("Preparing your home, scratch space and datasets", 30)
        tree = prepare_session_tree(spec, Path(self.data_dir), ident, read_only_binds_supported())
        if not ident.is_hub_user and (reason := blocked_path(tree.session, ident)):
            raise web.HTTPError(500, "%s", unreachable_message(reason))
        limits = self.platform.backend.local.enforce_limits
        self._cgroup = (
            cgroups.create(spec.session_id, spec.cores, gib_to_bytes(spec.ram_gib))
            if limits and os.geteuid() == 0
            else None
        )
        cpus = None if self._cgroup or not limits else _pick_cpus(spec)
        enforced = (
            f"cgroup v{self._cgroup.version}"
            if self._cgroup
            else ("CPU affinity (RAM not enforced)" if cpus else "not enforced")
        )
        self.report(f"Limits: {spec.cores:g} cores, {spec.ram_gib:g} GiB RAM ({enforced})", 50)
        self._sandbox = Sandbox(
            identity=ident,
            home=str(tree.home),
            cgroup=self._cgroup,
            cpus=cpus,
            read_only_binds=tree.read_only_binds,
            umask=0o007 if self.per_user else 0o022,
        )
        self._session_env = {
            **arcade_environment(
                home=str(tree.home),
                projects=str(tree.projects),
                datasets=str(tree.datasets),
                scratch=str(tree.scratch),
                session_id=spec.session_id,
                kind=spec.kind.value,
                image=spec.image,
                cores=spec.cores,
                ram_gib=spec.ram_gib,
                dataset=spec.dataset,
            ),
            "ARCADE_SESSION_DIR": str(tree.session),
            "ARCADE_LIMITS": enforced,
            **self._entry_env(spec),
        }

    def _entry_env(self, spec: LaunchSpec) -> dict[str, str]:
        env: dict[str, str] = {}
        for name in (spec.desktop, spec.entry):
            if name:
                local = self.platform.entry(name).local
                if local is not None:
                    env.update(local.env)
        if spec.kind == Kind.desktop_app and spec.entry:
            env["ARCADE_AUTOSTART"] = spec.entry
        return env

    def _check_reachable(self, ident: Identity) -> None:
        if ident.is_hub_user:
            return
        reason = unreachable_reason(self.cmd[0], ident)
        if reason:
            raise web.HTTPError(500, "%s", unreachable_message(reason))

    def get_args(self) -> list[str]:
        args: list[str] = super().get_args()
        if self._sandbox is not None and self._sandbox.identity.uid == 0:
            args.append("--allow-root")  # the hub-user mode of a hub running as root
        return args

    def make_preexec_fn(self, name: str) -> Any:
        assert self._sandbox is not None
        return make_preexec(self._sandbox)

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        spec = self.launch_spec
        assert spec is not None and self._session_env is not None
        env.update(self._session_env)
        env["USER"] = env["LOGNAME"] = spec.username
        env["HOME"] = env["ARCADE_HOME"]
        env["SHELL"] = "/bin/bash"
        env["PATH"] = local_search_path()
        return env

    async def move_certs(self, paths: dict[str, str]) -> dict[str, str]:
        return paths

    # --- state and stop ---------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        return self.arcade_state(super().get_state())

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.load_arcade_state(state)

    async def stop(self, now: bool = False) -> None:
        await super().stop(now=now)
        if self.launch_spec is not None:
            await self._clean_up(self.launch_spec)

    async def _clean_up(self, spec: LaunchSpec) -> None:
        """Stop every process of the session and remove its cgroup, scratch and directory."""
        cg = self._cgroup or cgroups.find(spec.session_id)
        pids = processes.session_pids(spec.session_id, cg.pids() if cg else None)
        if pids:
            self.log.info("Stopping %d leftover processes of %s", len(pids), spec.session_id)
            survivors = await processes.terminate(pids)
            if survivors:
                self.log.warning("Processes %s of %s did not stop", survivors, spec.session_id)
        if cg:
            cg.remove()
        self._cgroup = None
        session = Path(self.data_dir) / "sessions" / spec.session_id
        for m in spec.mounts_of(MountKind.scratch):
            shutil.rmtree(m.source, ignore_errors=True)
        with contextlib.suppress(OSError):
            shutil.rmtree(session)


def _pick_cpus(spec: LaunchSpec) -> frozenset[int] | None:
    available = sorted(os.sched_getaffinity(0))
    want = max(1, math.ceil(spec.cores))
    if want >= len(available):
        return None
    start = int(spec.session_id, 16) % len(available)
    return frozenset(available[(start + i) % len(available)] for i in range(want))

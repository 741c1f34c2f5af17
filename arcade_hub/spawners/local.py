"""The embedded backend's spawner: JupyterHub's LocalProcessSpawner rendering a LaunchSpec.

Sessions are named servers running as local processes. As root, each user runs under an
unprivileged uid of its own, datasets are bind-mounted read-only in a private mount namespace
and cores/RAM are enforced by cgroups; as an ordinary user, sessions run as that user with
CPU affinity as the only limit. Either way, stopping a session stops every process it started.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Unicode, default

from arcade_hub.casa import kernels
from arcade_hub.config import Kind
from arcade_hub.launch.spec import LaunchSpec, MountKind, counted
from arcade_hub.local.availability import LocalAvailability, local_search_path
from arcade_hub.local.paths import FILES_HOME
from arcade_hub.local.sandbox import make_preexec
from arcade_hub.local.session import BIN_DIR, LocalSession, SessionSetupError
from arcade_hub.local.teardown import tear_down
from arcade_hub.sizes import gib_to_bytes
from arcade_hub.spawners.mixin import ArcadeSpawnerMixin, StartFailedError

EXTENSIONS = "--ServerApp.jpserver_extensions"
DESKTOP_EXTENSION = f"{EXTENSIONS}=arcade_hub.desktop=True"
NO_LSP_SCAN = "--LanguageServerManager.autodetect=False"
"""jupyter_lsp's scan for language servers costs start-up CPU and delays SIGINT handling."""
DESKTOP_ONLY = [
    f"{EXTENSIONS}={name}=False"
    for name in ("jupyterlab", "jupyter_lsp", "notebook_shim", "jupyter_resource_usage")
]
"""A desktop session serves the desktop, not JupyterLab: about a second faster to start."""


class ArcadeLocalSpawner(ArcadeSpawnerMixin, LocalProcessSpawner):
    """Runs Arcade sessions as local processes (the embedded backend)."""

    arcade_api_url = Unicode(
        "", help="URL of the arcade service's API, given to sessions as ARCADE_API_URL."
    ).tag(config=True)

    _session: LocalSession | None = None
    _kernel_args: list[str] = []

    @default("interrupt_timeout")
    def _default_interrupt_timeout(self) -> int:
        return 5

    @default("term_timeout")
    def _default_term_timeout(self) -> int:
        return 5

    @default("env_keep")
    def _default_env_keep(self) -> list[str]:
        """JUPYTER_PATH too: the session's Jupyter finds the kernels `_default_kernel` chose
        from (`arcade_hub.casa.kernels.search_dirs`, e.g. kernels installed elsewhere)."""
        return ["JUPYTERHUB_SINGLEUSER_APP", "JUPYTER_PATH"]

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

    def apply_spec(self, spec: LaunchSpec) -> None:
        self.cpu_limit = spec.cores
        self.mem_limit = gib_to_bytes(spec.ram_gib)
        self.start_timeout = self.platform.backend.local.start_timeout
        desktop = spec.kind in (Kind.desktop, Kind.desktop_app)
        # JupyterLab opens on the home, one level below the server's root (`start`)
        self.default_url = "/desktop/" if desktop else f"/lab/tree/{FILES_HOME}"

    async def start(self) -> Any:
        await self.forget_clean_up()  # the last session's, before anything new
        spec = self.launch_spec
        if spec is None:  # only when a spawner is started without apply_user_options
            await self.plan_launch(self.user_options or {})
            spec = self.launch_spec
        assert spec is not None
        self.reset_progress()
        self.report(f"Starting {spec.summary()}", 10)
        try:
            self.report("Preparing your home, scratch space and datasets", 30)
            try:
                self._session = LocalSession.prepare(spec, self.platform, Path(self.data_dir))
            except SessionSetupError as e:
                raise StartFailedError(str(e)) from None
            # The server's root: home, project spaces, datasets and scratch side by side
            # (JupyterHub passes it as JUPYTERHUB_ROOT_DIR, after expanding `{...}`).
            files = str(self._session.tree.files)
            self.notebook_dir = files.replace("{", "{{").replace("}", "}}")
            self.report(
                f"Limiting the session to {counted(spec.cores, 'core')} and "
                f"{spec.ram_gib:g} GiB RAM ({self._session.limits})",
                50,
            )
            self._kernel_args = await self._default_kernel(spec)
            self.report("Starting the session's server", 70)
            address = await super().start()
            await self._wait_until_listening(*address)
            return address
        except asyncio.CancelledError:  # the user stopped it while it started, or it timed out
            self._begin_clean_up(spec)
            raise
        except BaseException:
            self._begin_clean_up(spec)
            await self.clean_up_finished()
            raise

    async def _wait_until_listening(self, ip: str, port: int) -> None:
        """Return once the server accepts connections, so the hub's first readiness check
        succeeds instead of backing off; fail at once, clearly, if the server dies."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        while loop.time() < deadline:
            if self.proc is not None and (code := self.proc.poll()) is not None:
                raise StartFailedError(
                    f"the session's server exited with status {code} while starting"
                )
            try:
                _, writer = await asyncio.open_connection(ip, port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            self.report("Waiting for the server to answer", 90)
            return

    async def _default_kernel(self, spec: LaunchSpec) -> list[str]:
        """With a dataset that needs a CASA version (the planner's finding), new notebooks
        open in the kernel of that version (or the nearest installed)."""
        if spec.casa_version is None:
            return []
        found = await asyncio.to_thread(kernels.installed_kernels)
        return kernels.singleuser_args(kernels.default_kernel(spec.casa_version, found))

    def get_args(self) -> list[str]:
        args: list[str] = [
            *super().get_args(), DESKTOP_EXTENSION, NO_LSP_SCAN, *self._kernel_args
        ]
        spec = self.launch_spec
        if spec is not None and spec.kind in (Kind.desktop, Kind.desktop_app):
            args += DESKTOP_ONLY
        if self._session is not None and self._session.identity.uid == 0:
            args.append("--allow-root")  # hub-user mode of a hub running as root
        return args

    def make_preexec_fn(self, name: str) -> Any:
        assert self._session is not None
        return make_preexec(self._session.sandbox())

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        assert self._session is not None
        env.update(self._session.environment(self.arcade_api_url))
        return env

    async def move_certs(self, paths: dict[str, str]) -> dict[str, str]:
        return paths

    def get_state(self) -> dict[str, Any]:
        return self.arcade_state(super().get_state())

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.load_arcade_state(state)

    async def stop(self, now: bool = False) -> None:
        await self.clean_up_finished()  # a cancelled or failed start's: it did everything
        await super().stop(now=now)
        if not self.cleaned_up and self.launch_spec is not None:
            self._begin_clean_up(self.launch_spec)
        await self.clean_up_finished()

    def _begin_clean_up(self, spec: LaunchSpec) -> None:
        """Stop every process of the session (desktop, apps), remove its app containers, its
        cgroup, scratch and directory (`begin_clean_up`)."""
        cg = self._session.cgroup if self._session else None
        self._session = None
        scratch = [m.source for m in spec.mounts_of(MountKind.scratch)]
        work = tear_down(spec.session_id, Path(self.data_dir), scratch, cg, self.log)
        self.begin_clean_up(work, f"Cleaning up session {spec.session_id} of {self._log_name}")

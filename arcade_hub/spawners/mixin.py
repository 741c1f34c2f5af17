"""What every Arcade spawner shares: the platform document, the form, launch validation and
progress events. Backends subclass a JupyterHub spawner with this mixin and implement
`availability` and `apply_spec`."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, NoReturn

from tornado import web
from traitlets import Unicode, default
from traitlets.config import LoggingConfigurable

from arcade_hub.config import PlatformConfig
from arcade_hub.config.cache import platform_config
from arcade_hub.form import BATCH_URL, FormState, render_form
from arcade_hub.images.discovery import Snapshot, merge_catalogue
from arcade_hub.images.services import ImageServices, ImageServicesScope
from arcade_hub.jobs.store import unfinished_instances
from arcade_hub.launch.choices import UserContext, user_groups
from arcade_hub.launch.planner import PlanContext, Purpose, dataset_casa, plan
from arcade_hub.launch.request import Refusal, parse_user_options
from arcade_hub.launch.rules import Usage
from arcade_hub.launch.site import Availability, Site
from arcade_hub.launch.spec import LaunchSpec


class LaunchRefusedError(web.HTTPError):
    """A launch the policy refused: the user's mistake, answered with a 4xx and its reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, "%s", message)
        self.reason_text = message
        self.jupyterhub_message = f"Cannot start this session: {message}"


class StartFailedError(web.HTTPError):
    """A session that could not start, for a reason of the machine's (not the user's input):
    a 500 in the hub's log, and the reason alone on the page of the starting session
    ("Spawn failed: <reason>" rather than "Spawn failed: HTTP 500: error (<reason>)")."""

    def __init__(self, message: str) -> None:
        super().__init__(500, "%s", message)
        self.jupyterhub_message = message


class _RefusalLogFilter(logging.Filter):
    """JupyterHub logs every exception from `apply_user_options` with its traceback ("this may
    not be the users' fault"). A policy refusal is the user's input, answered with a 4xx: log it
    as one warning line with its reason instead of a traceback that looks like a crash."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, LaunchRefusedError):
            what = record.getMessage()
            record.msg, record.args = "%s: %d %s", (what, exc.status_code, exc.reason_text)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


def _quiet_refusals(log: logging.Logger | logging.LoggerAdapter[logging.Logger]) -> None:
    logger = log.logger if isinstance(log, logging.LoggerAdapter) else log
    if not any(isinstance(f, _RefusalLogFilter) for f in logger.filters):
        logger.addFilter(_RefusalLogFilter())
FORM_ATTEMPT = "_arcade_form_attempt"
"""On the hub's User object: the user's last refused form submission, shown once when the form
is rendered again (by the user's default spawner, whichever server the form was for)."""
IMAGE_SERVICES = "arcade_image_services"
"""In the hub's tornado settings: the hub's `ImageServicesScope` (registry clients, caches)."""


class ArcadeSpawnerMixin(LoggingConfigurable):
    """Put first in the bases of a backend's spawner, before the JupyterHub spawner it extends."""

    platform_config_file = Unicode(
        "", help="Path of the Arcade platform document; empty for the built-in default."
    ).tag(config=True)
    data_dir = Unicode(
        "", help="Arcade data directory (homes, sessions, state). Set by `arcade-hub run`."
    ).tag(config=True)
    arcade_url = Unicode(
        "",
        help="Where browsers reach the arcade service, e.g. `https://arcade--service.hub.example"
        ".org/services/arcade/` with per-user subdomains; empty: `/services/arcade/` under the "
        "hub's host.",
    ).tag(config=True)

    launch_spec: LaunchSpec | None = None
    # Provided by the JupyterHub Spawner this is mixed into:
    user: Any
    name: str

    @property
    def platform(self) -> PlatformConfig:
        return platform_config(self.platform_config_file)

    @property
    def availability(self) -> Availability:
        raise NotImplementedError

    def apply_spec(self, spec: LaunchSpec) -> None:
        """Backend hook: set spawner attributes from the spec (no I/O)."""

    def user_context(self) -> UserContext:
        asserted = frozenset(g.name for g in self.user.groups)
        return UserContext(
            name=self.user.name,
            groups=user_groups(self.platform, self.user.name, asserted),
            admin=bool(self.user.admin),
        )

    def site(self) -> Site:
        return Site(data_dir=Path(self.data_dir), availability=self.availability)

    def current_usage(self) -> Usage:
        """The user's other active sessions (their launch specs) and unfinished batch jobs
        (from the job store in the data directory), for the group policy's totals."""
        sessions = [
            getattr(spawner, "launch_spec", None)
            for name, spawner in getattr(self.user, "spawners", {}).items()
            if spawner is not self and name != self.name and getattr(spawner, "active", False)
        ]
        jobs = unfinished_instances(Path(self.data_dir), self.user.name) if self.data_dir else []
        return Usage.of(sessions, jobs)

    async def discovered_images(self) -> Snapshot:
        """Catalogue entries found in the configured registries (cached; never raises)."""
        return await self.image_services().discovered()

    def image_services(self) -> ImageServices:
        """The hub's registry client, discovery and resolver for the `images` section."""
        settings: dict[str, Any] = getattr(self.user, "settings", None) or {}
        scope = settings.setdefault(IMAGE_SERVICES, ImageServicesScope())
        services: ImageServices = scope.get(self.platform.images)
        return services

    def _form_attempt(self, value: FormState | None = None, *, clear: bool = False) -> Any:
        """The user's last refused form submission (set, read, or read and cleared)."""
        if value is not None:
            setattr(self.user, FORM_ATTEMPT, value)
        attempt = getattr(self.user, FORM_ATTEMPT, None)
        if clear and attempt is not None:
            setattr(self.user, FORM_ATTEMPT, None)
        return attempt

    # --- the form ----------------------------------------------------------------------

    @default("options_form")
    def _default_options_form(self) -> Any:
        return lambda spawner: spawner.render_launch_form()

    async def render_launch_form(self) -> str:
        snapshot = await self.discovered_images()
        state = self._form_attempt(clear=True)
        config = merge_catalogue(self.platform, snapshot.entries)
        site = self.site()
        needed = {
            d.id: found for d in config.datasets if (found := await dataset_casa(d, site))
        }
        return render_form(
            config,
            self.availability,
            self.user_context(),
            state,
            discovery=snapshot,
            batch_url=self.batch_url(),
            casa_needed=needed,
        )

    def batch_url(self) -> str:
        """The arcade service's Batch page under the hub's base URL (`/hub/` → `/`)."""
        if self.arcade_url:
            return self.arcade_url.rstrip("/") + "/jobs/new"
        hub_url = getattr(getattr(self, "hub", None), "base_url", "") or "/hub/"
        base = hub_url.rstrip("/").rsplit("/", 1)[0] + "/"
        return base + BATCH_URL.lstrip("/")

    @default("options_from_form")
    def _default_options_from_form(self) -> Any:
        def from_form(form_data: dict[str, list[str]], spawner: ArcadeSpawnerMixin) -> Any:
            # Parsing happens in apply_user_options, the path REST spawns take too.
            # Remember what was typed so a refused form comes back filled in.
            # `_xsrf` and other underscore fields belong to JupyterHub, not to the launch.
            options = {k: v for k, v in form_data.items() if not k.startswith("_")}
            spawner._form_attempt(FormState(values=dict(options)))
            return options

        return from_form

    # --- validation on the path form and REST share ------------------------------------

    @default("apply_user_options")
    def _default_apply_user_options(self) -> Any:
        return lambda spawner, options: spawner.plan_launch(options)

    async def plan_launch(self, options: dict[str, Any]) -> None:
        """Parse `options` (form or REST) and `plan()` the session: the spec to start, or a
        4xx with the planner's reason. Runs in `apply_user_options`, before the hub records
        the spawn, so a refused launch starts nothing."""
        try:
            request = parse_user_options(options)
        except Refusal as e:
            self._refuse(e)
        context = PlanContext(
            config=self.platform,
            site=self.site(),
            server_name=self.name,
            usage=self.current_usage(),
            images=self.image_services(),
        )
        planned = await plan(self.user_context(), request, Purpose.session, context)
        if isinstance(planned, Refusal):
            self._refuse(planned)
        self._form_attempt(clear=True)
        self.launch_spec = planned
        self.log.info("Launch spec for %s: %s", self.user.name, planned.model_dump_json())
        self.apply_spec(planned)

    def _refuse(self, e: Refusal) -> NoReturn:
        attempt = self._form_attempt()
        if attempt is not None:
            attempt.errors = e.errors
        _quiet_refusals(self.log)
        raise LaunchRefusedError(e.status, e.message) from None

    # --- state --------------------------------------------------------------------------

    def arcade_state(self, state: dict[str, Any]) -> dict[str, Any]:
        if self.launch_spec is not None:
            state["arcade_spec"] = self.launch_spec.model_dump_json()
        return state

    def load_arcade_state(self, state: dict[str, Any]) -> None:
        if "arcade_spec" in state:
            self.launch_spec = LaunchSpec.model_validate(json.loads(state["arcade_spec"]))

    # --- clean-up of a session, once ------------------------------------------------------

    _clean_up: asyncio.Task[None] | None = None
    """What is left of the last session being removed (begun once: by a start that failed or
    was cancelled, or by `stop()`), until the next start has awaited it and forgets it."""

    def begin_clean_up(self, work: Coroutine[Any, Any, None], what: str) -> None:
        """Remove what is left of the session (`work`) as a task the spawner keeps, which runs
        to its end even when the start that began it was cancelled: JupyterHub gives a
        cancelled start one second before it stops the server, and refuses to stop it while
        the start is still pending, so a cancelled start gives up at once and `poll()`,
        `stop()` and the next start await its clean-up instead."""
        self._clean_up = asyncio.create_task(self._logged(work, what), name=what)

    async def _logged(self, work: Coroutine[Any, Any, None], what: str) -> None:
        try:
            await work
        except Exception:  # nobody may await it (a cancelled start): logged, never lost
            self.log.exception("%s failed", what)
            self._clean_up = None  # stop() tries again

    async def clean_up_finished(self) -> None:
        """Await the clean-up, if it began; cancelling the caller leaves it running."""
        if self._clean_up is not None:
            await asyncio.shield(self._clean_up)

    async def forget_clean_up(self) -> None:
        """At the start of a new session: the last one's clean-up finished, then forgotten."""
        await self.clean_up_finished()
        self._clean_up = None

    async def poll(self) -> int | None:
        """Running while the clean-up runs (`cleaning_up`), else the backend's own answer."""
        if self.cleaning_up:
            return None
        status: int | None = await super().poll()  # type: ignore[misc]
        return status

    @property
    def cleaning_up(self) -> bool:
        """The clean-up still runs: `poll()` says the session runs, so that the hub stops it
        (and awaits the clean-up) instead of taking it for stopped already."""
        return self._clean_up is not None and not self._clean_up.done()

    @property
    def cleaned_up(self) -> bool:
        """The session's clean-up began (and did not fail): `stop()` begins no other."""
        return self._clean_up is not None

    # --- progress -----------------------------------------------------------------------

    def report(self, message: str, progress: int) -> None:
        """Record a spawn progress event for the hub's progress bar."""
        self.log.info("[%s] %s", self.user.name, message)
        events = self.__dict__.setdefault("_arcade_events", [])
        events.append({"progress": progress, "message": message})
        self._progress_changed().set()

    def _progress_changed(self) -> asyncio.Event:
        flag: asyncio.Event = self.__dict__.setdefault("_arcade_event_flag", asyncio.Event())
        return flag

    def reset_progress(self) -> None:
        self.__dict__["_arcade_events"] = []

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        sent = 0
        flag = self._progress_changed()
        while True:
            events = self.__dict__.get("_arcade_events", [])
            while sent < len(events):
                yield events[sent]
                sent += 1
            flag.clear()
            await flag.wait()

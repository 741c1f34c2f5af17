"""The skaha-compatible sessions API, at `{prefix}skaha/v1/` (what users set as CANFAR_URL).

GET    session[?type=&status=&view=stats|all]   list the caller's sessions (JSON array);
                                                  stats: platform load and the caller's limits
POST   session?name=&image=&cores=&ram=&...       create; answers the new id as text
GET    session/{id}[?view=logs|events]            one session (JSON) or its logs/events (text)
POST   session/{id}?action=renew                  start a new lifetime
DELETE session/{id}                               stop and forget (job logs stay in the home)
       (session/{id} takes `owner=` for admins: whose session of that name)
GET    image[?type=]   context   openapi.json
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from tornado.web import RequestHandler

from arcade_hub import contract
from arcade_hub.config import Kind, PlatformConfig
from arcade_hub.jobs.model import Status, parse_status
from arcade_hub.launch.request import LaunchRefused
from arcade_hub.launch.rules import Limit, Usage, user_limits
from arcade_hub.launch.spec import LaunchSpec
from arcade_hub.service import limits
from arcade_hub.service.handlers import ApiError, ApiHandler, as_sent
from arcade_hub.service.limits import shown
from arcade_hub.service.openapi import document
from arcade_hub.service.sessions import Caller, Server, Sessions
from arcade_hub.service.skaha_models import (
    Choice,
    ContextView,
    CoreStats,
    Counts,
    GpuChoice,
    ImageView,
    InUse,
    LimitsView,
    MaxCores,
    MaxRam,
    PerSession,
    RamStats,
    StatsView,
    Totals,
)
from arcade_hub.service.skaha_params import TYPES
from arcade_hub.service.vosi import challenges

LIVE = (Status.pending, Status.running, Status.terminating)


class SkahaHandler(ApiHandler):
    def challenges(self) -> list[str]:
        return challenges(self)

    @property
    def sessions(self) -> Sessions:
        sessions: Sessions = self.settings["sessions"]
        return sessions

    async def current_caller(self) -> Caller:
        user: dict[str, Any] | None = self.get_current_user()
        if user is None:
            refusal = self.refusal()
            raise ApiError(
                403 if refusal else 401,
                refusal
                or "authentication required: send 'Authorization: Bearer <JupyterHub token>' "
                "with a token that may access the arcade service",
            )
        return await self.sessions.caller(user["name"])

    def params(self) -> dict[str, list[str]]:
        """Query and form parameters, or a JSON object body (values as lists of strings)."""
        found = as_sent(self.request.query_arguments)
        for key, values in as_sent(self.request.body_arguments).items():
            found.setdefault(key, []).extend(values)
        found.pop("_xsrf", None)  # the XSRF token of a cookie-authenticated request
        if self.request.headers.get("Content-Type", "").startswith("application/json"):
            for key, value in self.body().items():
                items = value if isinstance(value, list) else [value]
                if key == "env" and isinstance(value, dict):
                    items = [f"{k}={v}" for k, v in value.items()]
                found[key] = [v if isinstance(v, str) else json.dumps(v) for v in items]
        return found

    def one(self, key: str, allowed: tuple[str, ...]) -> str | None:
        values = self.get_arguments(key)
        if not values or not values[-1]:
            return None
        value = values[-1]
        if problem := limits.too_long(key, value):
            raise ApiError(400, problem)
        if allowed and value not in allowed:
            raise ApiError(400, f"unknown {key} {shown(value)} (one of: {', '.join(allowed)})")
        return value

    def base(self) -> str:
        return browser_base(self)

    def write_text(self, text: str, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(text)


class SessionListHandler(SkahaHandler):
    async def get(self) -> None:
        caller = await self.current_caller()
        view = self.one("view", ("stats", "all"))
        if view == "stats":
            self.write_json((await platform_stats(self.sessions, caller)).model_dump())
            return
        kind = self.one("type", tuple(TYPES))
        status_arg = self.one("status", ())
        try:
            status = parse_status(status_arg) if status_arg else None
        except ValueError as e:
            raise ApiError(400, str(e)) from None
        if view == "all":
            if not caller.admin:
                raise ApiError(403, "view=all lists every user's sessions: admins only")
            owners = {u["name"] for u in await self.sessions.hub.users()}
            owners |= {i.owner for i in await self.sessions.store.all()}
        else:
            owners = {caller.name}
        views = []
        for owner in sorted(owners):
            views += await self.sessions.all_views(owner, self.base(), caller)
        views = [
            v
            for v in views
            if (kind is None or v["type"] == kind) and (status is None or v["status"] == status)
        ]
        self.write_json(views)

    async def post(self) -> None:
        caller = await self.current_caller()
        try:
            # up to a megabyte of words to split: off the event loop
            request = await self.parser.parse(self.params())
            session_id = await self.sessions.create(caller, request)
        except LaunchRefused as e:
            raise ApiError(e.status, str(e)) from None
        self.write_text(session_id + "\n")


class SessionHandler(SkahaHandler):
    async def get(self, session_id: str) -> None:
        caller = await self.current_caller()
        view = self.one("view", ("logs", "events"))
        found = await self.sessions.find(caller, session_id, self.one("owner", ()))
        if view == "logs":
            self.write_text(await self.sessions.read_logs(found))
        elif view == "events":
            self.write_text(self.sessions.events(found, self.base()))
        elif isinstance(found, Server):
            self.write_json(self.sessions.server_view(found, self.base()))
        else:
            self.write_json(self.sessions.job_view(found))

    async def post(self, session_id: str) -> None:
        caller = await self.current_caller()
        action = self.one("action", ("renew",))
        if action is None:
            raise ApiError(400, "give an action: action=renew")
        found = await self.sessions.find(caller, session_id, self.one("owner", ()))
        await self.sessions.renew(found)
        self.write_text(f"{session_id} renewed\n")

    async def delete(self, session_id: str) -> None:
        caller = await self.current_caller()
        found = await self.sessions.find(caller, session_id, self.one("owner", ()))
        await self.sessions.delete(found)
        self.write_text(f"{session_id} deleted\n")


class ImageHandler(SkahaHandler):
    async def get(self) -> None:
        await self.current_caller()
        kind = self.one("type", tuple(TYPES))
        # where sessions and jobs run decides what is listed: local programs on this
        # machine (embedded), any image reference (Kubernetes)
        availability = self.sessions.site().availability
        images = [
            ImageView(id=e.image, types=[e.kind.value], name=e.name, title=e.title,
                      versions=e.versions).model_dump()
            for e in self.sessions.platform().catalogue
            if (kind is None or e.kind.value == kind) and availability.unavailable_reason(e) is None
        ]  # fmt: skip
        self.write_json(images)


class ContextHandler(SkahaHandler):
    async def get(self) -> None:
        await self.current_caller()
        platform = self.sessions.platform()
        r = platform.resources

        def section(choices: Any) -> Choice:
            return Choice(
                default=_n(choices.default),
                defaultRequest=_n(choices.default),
                defaultLimit=_n(choices.max),
                options=[_n(c) for c in choices.choices],
                min=_n(choices.min),
                max=_n(choices.max),
            )

        context = ContextView(
            cores=section(r.cores),
            memoryGB=section(r.ram),
            gpus=GpuChoice(options=[_n(c) for c in r.gpus.choices if c > 0]),
            maxInteractiveSessions=platform.policy.max_sessions,
            maxReplicas=platform.jobs.max_replicas,
        )
        self.write_json(context.model_dump())


class OpenApiHandler(ApiHandler):
    def get(self) -> None:
        self.write_json(document(self.request.path.rsplit("/", 1)[0] + "/"))


def browser_base(handler: RequestHandler) -> str:
    """What the hub's URL of a session is joined to for the link a user opens (`connectURL`,
    the job list's "open"): nothing when sessions are on users' subdomains (the hub's session
    URLs are absolute then), else the hub's public origin (`web.public_url`, which JupyterHub
    passes as `JUPYTERHUB_HOST`; behind TLS-terminating proxies the request's own protocol
    may be `http`), else the origin the request came to."""
    if os.environ.get(contract.SUBDOMAIN_HOST):
        return ""
    return os.environ.get("JUPYTERHUB_HOST") or (
        f"{handler.request.protocol}://{handler.request.host}"
    )


def _n(value: float) -> float | int:
    return int(value) if value == int(value) else value


def _gib(value: float) -> str:
    return f"{_n(round(value, 3))}G"


def _bounded(limit: Limit, fmt: Callable[[float], Any] = _n) -> Any:
    """A limit's value for JSON; None when there is none."""
    return fmt(limit.value) if limit.bounded else None


def caller_limits(config: PlatformConfig, caller: Caller, usage: Usage) -> LimitsView:
    """The caller's limits under the group policy (capped by the platform's) and what the
    caller holds now: the arcade part of `view=stats`."""
    mine = user_limits(config, caller.groups)
    return LimitsView(
        user=caller.name,
        groups=sorted(caller.groups),
        perSession=PerSession(cores=_n(mine.cores.value), ram=_gib(mine.ram.value),
                              gpus=_n(mine.gpus.value)),
        total=Totals(cores=_bounded(mine.total_cores), ram=_bounded(mine.total_ram, _gib),
                     sessions=_n(mine.sessions.value), jobs=_bounded(mine.jobs)),
        inUse=InUse(cores=_n(round(usage.cores, 3)), ram=_gib(usage.ram_gib),
                    sessions=len(usage.sessions), jobs=len(usage.jobs)),
        source={
            key: limit.source if limit.bounded else "no limit"
            for key, limit in (
                ("perSession.cores", mine.cores),
                ("perSession.ram", mine.ram),
                ("perSession.gpus", mine.gpus),
                ("total.cores", mine.total_cores),
                ("total.ram", mine.total_ram),
                ("total.sessions", mine.sessions),
                ("total.jobs", mine.jobs),
            )
        },
    )  # fmt: skip


async def platform_stats(sessions: Sessions, caller: Caller) -> StatsView:
    """What runs on the platform and what the machine has, like skaha's; `maxCores` and
    `maxRAM` are the largest session the caller may start (the caller's group policy), and
    `limits` adds the caller's totals and what the caller holds now."""
    cores = ram = 0.0
    counts = {"session": 0, "desktopApp": 0, "headless": 0}
    for user in await sessions.hub.users():
        for server in (user.get("servers") or {}).values():
            spec = Server(user["name"], "", server, None).spec
            if spec is None:
                continue
            cores += spec.cores
            ram += spec.ram_gib
            counts["desktopApp" if spec.kind == Kind.desktop_app else "session"] += 1
    for instance in await sessions.store.with_status(*LIVE):
        spec = LaunchSpec.model_validate_json(instance.spec)
        cores += spec.cores
        ram += spec.ram_gib
        counts["headless"] += 1
    total_ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    limits = caller_limits(sessions.platform(), caller, await sessions.usage(caller.name, caller))
    per_session = limits.perSession
    return StatsView(
        instances=Counts(**counts, total=sum(counts.values())),
        cores=CoreStats(requestedCPUCores=cores, cpuCoresAvailable=os.cpu_count() or 1,
                        maxCores=MaxCores(cores=per_session.cores, withRam=per_session.ram)),
        ram=RamStats(requestedRAM=f"{ram:g}G", ramAvailable=f"{total_ram:.1f}G",
                     maxRAM=MaxRam(ram=per_session.ram, withCores=per_session.cores)),
        limits=limits,
    )  # fmt: skip

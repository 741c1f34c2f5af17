"""The sessions of one user as skaha shows them: interactive sessions are the user's JupyterHub
named servers, headless sessions are job instances from the job store."""

from __future__ import annotations

import asyncio
import secrets
import string
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arcade_hub.backend import Backend
from arcade_hub.config import Kind
from arcade_hub.images.services import ImageServicesScope
from arcade_hub.jobs.base import JobBackendError, JobIdTaken, Runner
from arcade_hub.jobs.model import Instance, JobRecord, JobState, Status, overall
from arcade_hub.jobs.store import JobStore, SessionMeta
from arcade_hub.launch.choices import UserContext, user_groups
from arcade_hub.launch.jobs import job_instances
from arcade_hub.launch.planner import PlanContext, Purpose, plan
from arcade_hub.launch.request import LaunchRefused, LaunchRequest, Refusal
from arcade_hub.launch.rules import Usage
from arcade_hub.launch.site import Site
from arcade_hub.launch.spec import UNNAMED_SESSION_ID, LaunchSpec
from arcade_hub.service.handlers import ApiError
from arcade_hub.service.hub_client import HubClient, spec_of
from arcade_hub.service.job_views import (
    held_view,
    instance_view,
    iso,
    job_view,
    number,
    parse_iso,
)
from arcade_hub.service.limits import shown
from arcade_hub.service.session_rows import Row, held_row, instance_row, job_rows, session_row
from arcade_hub.service.skaha_models import NONE, SessionView
from arcade_hub.service.skaha_params import Interactive, Job

ID_CHARS = string.ascii_lowercase + string.digits
ID_ATTEMPTS = 3
"""New job ids tried when the backend already has something with the id (a leftover)."""


def new_id() -> str:
    """Like skaha's: 8 lowercase letters and digits, starting with a letter."""
    return secrets.choice(string.ascii_lowercase) + "".join(
        secrets.choice(ID_CHARS) for _ in range(7)
    )


@dataclass(frozen=True)
class Caller:
    name: str
    admin: bool
    groups: frozenset[str]
    model: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    """The hub's model of the caller as read for this request (servers included): what the
    request needs of the caller's servers is taken from it, not asked for again."""


@dataclass
class Server:
    """An interactive session: a server of `owner` (a named one, or the unnamed default one
    that a link to `/user/NAME/` starts, whose id is UNNAMED_SESSION_ID)."""

    owner: str
    name: str
    model: dict[str, Any]
    meta: SessionMeta | None

    @property
    def id(self) -> str:
        return self.name or UNNAMED_SESSION_ID

    @property
    def spec(self) -> LaunchSpec | None:
        return spec_of(self.model)

    @property
    def status(self) -> Status:
        pending = self.model.get("pending")
        if pending == "stop":
            return Status.terminating
        if self.model.get("ready"):
            return Status.running
        return Status.pending


Found = Server | list[Instance] | JobRecord
"""A session, a started job's instances, or a held job (its record only)."""


class Sessions:
    def __init__(
        self,
        hub: HubClient,
        store: JobStore,
        runner: Runner,
        backend: Backend,
        data_dir: Path,
    ) -> None:
        self.hub = hub
        self.store = store
        self.runner = runner
        self.backend = backend
        self.platform = backend.platform
        self.data_dir = data_dir
        self.images = ImageServicesScope()
        """The service's registry clients; closed with the service."""

    async def caller(self, name: str) -> Caller:
        model = await self.hub.user(name)
        if model is None:
            raise ApiError(403, f"no such user {shown(name)}")
        asserted = frozenset(model.get("groups") or [])
        return Caller(
            name=name,
            admin=bool(model.get("admin")),
            groups=user_groups(self.platform(), name, asserted),
            model=model,
        )

    def site(self) -> Site:
        """Where sessions and jobs run (the backend), for the policy, the Batch page and the
        image list (which catalogue entries can run there)."""
        return self.backend.site()

    # --- reading ------------------------------------------------------------------------

    async def _user(
        self, owner: str, caller: Caller | None, fresh: bool = False
    ) -> dict[str, Any] | None:
        """The hub's model of `owner`: the caller's own from this request, else the hub's."""
        if caller is not None and caller.name == owner and caller.model is not None:
            return caller.model
        return await self.hub.user(owner, fresh=fresh)

    async def servers(
        self, owner: str, caller: Caller | None = None, fresh: bool = False
    ) -> list[Server]:
        model = await self._user(owner, caller, fresh)
        metas = await self.store.sessions(owner)
        if model is None:
            return []
        return [
            Server(owner, name, server, metas.get((owner, name)))
            for name, server in (model.get("servers") or {}).items()
        ]

    async def all_views(
        self, owner: str, base: str, caller: Caller | None = None
    ) -> list[dict[str, Any]]:
        views = [self.server_view(s, base) for s in await self.servers(owner, caller)]
        views += [self.instance_view(i) for i in await self.store.of_owner(owner)]
        records = await self.store.jobs_of(owner)
        views += [held_view(r) for r in records.values() if r.state == JobState.held]
        return views

    async def rows(self, owner: str, base: str, caller: Caller | None = None) -> list[Row]:
        """The Sessions page's rows of `owner`: `all_views`'s sessions and jobs, with what
        the page shows besides (software, dataset, instances under their job)."""
        config = self.platform()
        rows = [
            session_row(self.server_view(s, base), s.spec, config)
            for s in await self.servers(owner, caller)
        ]
        instances = await self.store.of_owner(owner)
        members = [
            instance_row(self.instance_view(i), LaunchSpec.model_validate_json(i.spec), config)
            for i in instances
        ]
        records = await self.store.jobs_of(owner)
        held = [held_row(held_view(r), config) for r in records.values()
                if r.state == JobState.held]  # fmt: skip
        return rows + job_rows(members, [i.job_id for i in instances]) + held

    @staticmethod
    def finished(found: Found) -> bool:
        """Whether a job has ended (every instance); a session has not until it is gone, a
        held job not until it has run."""
        if isinstance(found, Server | JobRecord):
            return False
        return all(i.status.final for i in found)

    @staticmethod
    def label(found: Found) -> tuple[str, str]:
        """A session's or job's name and status, as its pages head it."""
        if isinstance(found, Server):
            return (found.meta.name if found.meta else found.id), found.status.value
        if isinstance(found, JobRecord):
            return found.name, Status.pending.value
        name = found[0].name if len(found) == 1 else found[0].name.rsplit("-", 1)[0]
        return name, overall(i.status for i in found).value

    async def find(self, caller: Caller, some_id: str, owner: str | None = None) -> Found:
        """The session or job `some_id` of `owner` (default: the caller); 404 when the caller
        may not act on it. Admins act on everyone's: job ids are unique, and a session (a
        named server, whose name is unique per user only) is `owner`'s, or without `owner`
        the admin's own, else the one of that name among everyone's (409 if several)."""
        missing = ApiError(404, f"no session {shown(some_id)}")
        if owner not in (None, caller.name) and not caller.admin:
            raise missing
        instances = await self.store.job(some_id)
        if not instances:
            one = await self.store.get(some_id)
            instances = [one] if one else []
        held = None if instances else await self.store.get_job(some_id)
        if instances or held:
            whose = instances[0].owner if instances else held.owner  # type: ignore[union-attr]
            if (whose == caller.name or caller.admin) and owner in (None, whose):
                return instances or held  # type: ignore[return-value]
            raise missing
        for fresh in (False, True):  # a session started a moment ago: ask the hub again
            for server in await self.servers(owner or caller.name, None if fresh else caller,
                                             fresh=fresh):
                if server.id == some_id:
                    return server
        if owner is None and caller.admin:
            return await self._anyones_server(some_id)
        raise missing

    async def _anyones_server(self, some_id: str) -> Server:
        metas = await self.store.sessions()
        name = "" if some_id == UNNAMED_SESSION_ID else some_id
        found = [
            Server(user["name"], name, servers[name], metas.get((user["name"], name)))
            for user in await self.hub.users()
            if name in (servers := user.get("servers") or {})
        ]
        if len(found) > 1:
            owners = ", ".join(shown(s.owner) for s in found[:5])
            raise ApiError(
                409, f"several users have a session {shown(name)} ({owners}): give owner="
            )
        if not found:
            raise ApiError(404, f"no session {shown(name)}")
        return found[0]

    def server_view(self, server: Server, base: str) -> dict[str, Any]:
        spec = server.spec
        started = parse_iso(server.model.get("started"))
        expires = server.meta.expires if server.meta else None
        if expires is None and started is not None:
            expires = started + self.platform().sessions.lifetime_hours * 3600
        url = base + server.model.get("url", "")
        if spec is not None and spec.kind in (Kind.desktop, Kind.desktop_app):
            url += "desktop/"
        status = server.status
        return SessionView(
            id=server.id,
            userid=server.owner,
            image=spec.image if spec else NONE,
            type=spec.kind.value if spec else Kind.notebook.value,
            status=status.value,
            name=server.meta.name if server.meta else server.id,
            startTime=iso(started or (server.meta.created if server.meta else None)),
            expiryTime=iso(expires),
            connectURL=url if status == Status.running else NONE,
            requestedRAM=f"{number(spec.ram_gib)}G" if spec else NONE,
            requestedCPUCores=number(spec.cores) if spec else NONE,
            requestedGPUCores=str(spec.gpus) if spec else NONE,
            catalogueEntry=spec.entry if spec else None,
        ).model_dump()

    def instance_view(self, instance: Instance) -> dict[str, Any]:
        return instance_view(instance).model_dump()

    def job_view(self, instances: list[Instance] | JobRecord) -> dict[str, Any]:
        return job_view(instances)

    async def usage(self, owner: str, caller: Caller | None = None, fresh: bool = False) -> Usage:
        """What `owner` runs now: active servers (any, the default one too) and unfinished
        job instances, for the group policy's totals and concurrency (`fresh` when it decides
        something: not a model the hub gave a moment ago)."""
        model = await self._user(owner, caller, fresh) or {}
        active = [
            spec_of(server)
            for server in (model.get("servers") or {}).values()
            if server.get("ready") or server.get("pending") in ("spawn", "stop")
        ]
        return Usage.of(active, await self.store.unfinished(owner))

    # --- acting -------------------------------------------------------------------------

    async def create(self, caller: Caller, request: Interactive | Job) -> str:
        if isinstance(request, Job):
            if request.held:
                return await self._hold(caller, request)
            return await self._submit(caller, request)
        session_id = await self.unused_id()
        status, message = await self.hub.start_server(caller.name, session_id, request.options)
        if status >= 400:
            raise ApiError(status if status < 500 else 502, message)
        now = time.time()
        lifetime = self.platform().sessions.lifetime_hours * 3600
        await self.store.put_session(
            SessionMeta(caller.name, session_id, request.name, now, now + lifetime)
        )
        return session_id

    async def _submit(self, caller: Caller, job: Job, held: JobRecord | None = None) -> str:
        """Plan the job (the planner's `Purpose.job`), record it, then start its instances;
        a `held` job keeps its id (and is held again when it cannot start)."""
        user = UserContext(name=caller.name, groups=caller.groups, admin=caller.admin)
        usage = await self.usage(caller.name, fresh=True)
        config, site = self.platform(), self.site()
        for attempt in range(1, ID_ATTEMPTS + 1):
            job_id = held.job_id if held else await self.unused_id()
            context = PlanContext(config, site, job_id, usage=usage,
                                  images=self.images.get(config.images))  # fmt: skip
            planned = await plan(user, job.request, Purpose.job, context)
            if isinstance(planned, Refusal):
                raise Refusal({**job.problems, **planned.errors}, planned.status)
            if job.problems:
                raise Refusal(job.problems)
            # parameter lines to split: off the event loop
            specs = await asyncio.to_thread(job_instances, planned, job.request, config, site)
            record = _record(caller.name, job, job_id, held)
            await self.store.put_job(record)  # before the instances: they read its lifetime
            try:
                await self.runner.submit(caller.name, job.name, job_id, specs)
            except BaseException as e:
                await (self.store.put_job(held) if held else self.store.remove_job(job_id))
                if isinstance(e, JobIdTaken) and attempt < ID_ATTEMPTS and not held:
                    continue
                if isinstance(e, JobIdTaken):
                    raise ApiError(e.status, f"no free job id after {attempt} tries: {e}") from None
                if isinstance(e, JobBackendError):
                    raise ApiError(e.status, e.message) from None
                raise
            return job_id
        raise AssertionError("unreachable")

    async def _hold(self, caller: Caller, job: Job) -> str:
        """Plan the job as `_submit` does (so it is refused now, not when it is run), and
        record it held: `run` starts it, planned again then (the user's usage may differ)."""
        user = UserContext(name=caller.name, groups=caller.groups, admin=caller.admin)
        config = self.platform()
        job_id = await self.unused_id()
        context = PlanContext(config, self.site(), job_id, images=self.images.get(config.images),
                              usage=await self.usage(caller.name, fresh=True))  # fmt: skip
        planned = await plan(user, job.request, Purpose.job, context)
        if isinstance(planned, Refusal):
            raise Refusal({**job.problems, **planned.errors}, planned.status)
        if job.problems:
            raise Refusal(job.problems)
        await self.store.put_job(_record(caller.name, job, job_id, None, JobState.held))
        return job_id

    async def run(self, caller: Caller, record: JobRecord) -> None:
        """Start a held job of `caller` (or of the user an admin names): planned again, as
        `record.owner`, with what it holds now."""
        if record.state != JobState.held:
            raise ApiError(409, f"job {record.job_id} has already run; create a new job")
        owner = caller if caller.name == record.owner else await self.caller(record.owner)
        job = Job(record.name, LaunchRequest.model_validate_json(record.request))
        await self._submit(owner, job, record)

    async def delete(self, found: Found) -> None:
        if isinstance(found, JobRecord):
            await self.store.remove_job(found.job_id)
        elif isinstance(found, Server):
            status, message = await self.hub.delete_server(found.owner, found.name)
            if status >= 400 and status != 404:
                raise ApiError(status if status < 500 else 502, message)
            await self.store.remove_session(found.owner, found.name)
        else:
            try:
                await self.runner.delete(found)
            except JobBackendError as e:
                raise ApiError(e.status, e.message) from None
            job_id = found[0].job_id
            if {i.id for i in await self.store.job(job_id)} <= {i.id for i in found}:
                await self.store.remove_job(job_id)

    async def renew(self, found: Found) -> None:
        if isinstance(found, JobRecord):
            return  # nothing runs yet: its lifetime starts when it does
        if isinstance(found, Server):
            now = time.time()
            created = found.meta.created if found.meta else now
            name = found.meta.name if found.meta else found.name
            expires = now + self.platform().sessions.lifetime_hours * 3600
            await self.store.put_session(
                SessionMeta(found.owner, found.name, name, created, expires)
            )
        else:
            await self.runner.renew(found)

    async def read_logs(self, found: Found) -> str:
        """The output of a job's instances so far, from wherever the backend keeps it."""
        if isinstance(found, JobRecord):
            return ""
        if isinstance(found, Server):
            return SERVER_LOG
        try:
            texts = [await self.runner.read_log(i) for i in found]
        except JobBackendError as e:
            raise ApiError(e.status, e.message) from None
        return _joined(found, texts)

    def events(self, found: Found, base: str) -> str:
        if isinstance(found, JobRecord):
            return f"{iso(found.created)}  {found.job_id}  Pending     {found.state.value}\n"
        if isinstance(found, Server):
            view = self.server_view(found, base)
            lines = [f"{view['startTime']}  Started   {view['name']} ({view['image']})"]
            lines.append(f"{iso(time.time())}  {view['status']}")
            return "\n".join(lines) + "\n"
        lines = []
        for i in found:
            lines.append(f"{iso(i.created)}  {i.id}  Pending     queued")
            if i.started:
                lines.append(f"{iso(i.started)}  {i.id}  Running     {self.runner.describe(i)}")
            if i.finished:
                lines.append(f"{iso(i.finished)}  {i.id}  {i.status.value:<11} {i.message}")
            elif i.status == Status.terminating:
                lines.append(f"{iso(time.time())}  {i.id}  Terminating")
        return "\n".join(lines) + "\n"

    async def reap_expired(self) -> None:
        """Stop interactive sessions and job instances past their lifetime; archive jobs past
        their destruction time."""
        from arcade_hub.service.uws_jobs import archive_due  # it builds on Sessions

        await self.runner.reap_expired()
        await archive_due(self)
        now = time.time()
        lifetime = self.platform().sessions.lifetime_hours * 3600
        metas = await self.store.sessions()
        for user in await self.hub.users():
            for name, model in (user.get("servers") or {}).items():
                meta = metas.get((user["name"], name))
                started = parse_iso(model.get("started"))
                expires = meta.expires if meta and meta.expires else None
                if expires is None and started is not None:
                    expires = started + lifetime
                if expires is not None and expires < now and not model.get("pending"):
                    await self.hub.delete_server(user["name"], name)
                    await self.store.remove_session(user["name"], name)

    async def unused_id(self) -> str:
        """A new session or job id that no job of anyone has (named servers are per user, and
        8 random characters do not meet one of the same user's by chance)."""
        while True:
            candidate = new_id()
            if not await self.store.exists(candidate):
                return candidate


def _record(
    owner: str, job: Job, job_id: str, held: JobRecord | None, state: JobState = JobState.submitted
) -> JobRecord:
    """The job's record: a held one's, now in `state`, or a new one."""
    if held is not None:
        return JobRecord(**{**vars(held), "state": state})
    return JobRecord(
        job_id=job_id, owner=owner, name=job.name, created=time.time(),
        request=job.request.model_dump_json(), state=state, run_id=job.run_id,
        destruction=job.destruction, duration=job.duration,
    )  # fmt: skip


SERVER_LOG = (
    "Interactive sessions log to the hub's log on this platform; "
    "see ?view=events for what happened to this session.\n"
)


def _joined(found: list[Instance], texts: list[str]) -> str:
    if len(found) == 1:
        return texts[0]
    return "".join(f"==> {i.id} <==\n{text}" for i, text in zip(found, texts, strict=True))


__all__ = ["Caller", "Found", "LaunchRefused", "Server", "Sessions", "iso", "new_id", "parse_iso"]

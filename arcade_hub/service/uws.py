"""The UWS 1.1 interface to batch jobs, at `{prefix}uws/` (standard id
`ivo://ivoa.net/std/UWS#rest-1.1`), on the job records of the sessions API, the job list and
the Batch page.

GET    jobs[?PHASE=&AFTER=&LAST=&view=all]   the caller's jobs and sessions (uws:jobs)
POST   jobs                                  create (PHASE=RUN starts it); 303 to the job
GET    jobs/{id}[?WAIT=&PHASE=]              the job (uws:job), blocking up to WAIT seconds
DELETE jobs/{id}  (or POST ACTION=DELETE)    stop and forget; 303 to the list
GET|POST jobs/{id}/phase                     PHASE=RUN | ABORT
GET|POST jobs/{id}/executionduration, destruction
GET    jobs/{id}/quote, owner, error, parameters, results, results/{result}
       (jobs/{id} takes `owner=` for admins, as the sessions API does)

Parameter names are case-insensitive. Errors are `text/plain`, with the status the sessions
API gives for the same fault. Interactive sessions are listed read-only.
"""

from __future__ import annotations

from typing import Any

from tornado import web
from vo_models.uws.types import ExecutionPhase

from arcade_hub.jobs.base import JobBackendError
from arcade_hub.jobs.model import JobState
from arcade_hub.launch.request import LaunchRefused
from arcade_hub.service import limits
from arcade_hub.service import uws_jobs as jobs
from arcade_hub.service.handlers import ApiError, as_sent
from arcade_hub.service.job_views import iso
from arcade_hub.service.limits import shown
from arcade_hub.service.sessions import Caller
from arcade_hub.service.skaha import SkahaHandler
from arcade_hub.service.skaha_params import Job
from arcade_hub.service.uws_jobs import UwsJob
from arcade_hub.service.uws_params import (
    NOT_A_TIME,
    iso_time,
    parse_destruction,
    parse_duration,
    split_create,
)
from arcade_hub.service.uws_xml import (
    XML,
    Ref,
    Result,
    Summary,
    job_document,
    list_document,
    parameters,
    parameters_document,
    result_href,
    results_document,
)

PHASES = tuple(p.value for p in ExecutionPhase)
RENAMED_BACK = {"replicas": "instances"}
LOG_TYPE = "text/plain"


class UwsHandler(SkahaHandler):
    """UWS: parameters by any case, text errors, XML answers, 303 after changes."""

    def arguments(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for source in (self.request.query_arguments, self.request.body_arguments):
            for key, values in as_sent(source).items():
                found.setdefault(key, []).extend(values)
        found.pop("_xsrf", None)
        return found

    def arg(self, name: str, *, many: bool = False) -> list[str]:
        """The values of parameter `name` (any case), each within the field limit."""
        values = [v for k, vs in self.arguments().items() if k.lower() == name for v in vs]
        for value in values:
            if problem := limits.too_long(name.upper(), value):
                raise ApiError(400, problem)
        if len(values) > 1 and not many:
            raise ApiError(400, f"give one {name.upper()}, not {len(values)}")
        return values

    def jobs_url(self) -> str:
        return f"{self.base()}{self.service.prefix}uws/jobs"

    def job_url(self, job: UwsJob) -> str:
        return f"{self.jobs_url()}/{job.id}"

    def write_xml(self, document: bytes) -> None:
        self.set_header("Content-Type", XML)
        self.finish(document)

    def see_other(self, url: str) -> None:
        self.redirect(url, status=303)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.send_challenges(status_code)
        self.finish(self.error_message(status_code, kwargs) + "\n")

    async def job(self, job_id: str) -> tuple[Caller, UwsJob]:
        caller = await self.current_caller()
        owner = next(iter(self.arg("owner")), None)
        return caller, await jobs.find(self.sessions, caller, job_id, owner)

    async def results(self, job: UwsJob) -> list[Result]:
        """The session's connect URL; each instance's log and the job's result files, until
        the job is archived."""
        if job.server is not None:
            view = self.sessions.server_view(job.server, self.base())
            url = view["connectURL"]
            return [Result("connect", url, "text/html")] if url != "<none>" else []
        if job.phase == ExecutionPhase.ARCHIVED or not job.instances:
            return []
        url = self.job_url(job)
        logs = [Result(log_id(job, i.replica), result_href(url, log_id(job, i.replica)),
                       LOG_TYPE) for i in job.instances if i.started]  # fmt: skip
        files = await self.sessions.runner.result_files(job.instances)
        return logs + [Result(f"files/{f.name}", result_href(url, f"files/{f.name}"), None,
                              f.size) for f in files if f.name.isprintable()]  # fmt: skip

    async def summary(self, job: UwsJob) -> Summary:
        record = job.record
        spec = job.instances[0].spec if job.instances else None
        name = record.name if record else job.instances[0].name if job.instances else job.id
        fatal = any(i.status.value == "Failed" for i in job.failures())
        return Summary(
            job_id=job.id, owner=job.owner, phase=job.phase, created=job.created,
            started=job.started, ended=job.ended, duration=jobs.lifetime(self.sessions, job),
            destruction=record.destruction if record else None,
            run_id=record.run_id if record else "",
            parameters=parameters(name, record.request if record else "", spec),
            results=await self.results(job), error=jobs.error_summary(job), fatal=fatal,
        )  # fmt: skip


def log_id(job: UwsJob, replica: int) -> str:
    return "log" if len(job.instances) == 1 else f"log-{replica}"


class JobListHandler(UwsHandler):
    async def get(self) -> None:
        caller = await self.current_caller()
        phases = [p.upper() for p in self.arg("phase", many=True)]
        for phase in phases:
            if phase not in PHASES:
                raise ApiError(400, f"unknown PHASE {shown(phase)} (one of: {', '.join(PHASES)})")
        after = _after(self.arg("after"))
        last = _last(self.arg("last"))
        owners = await self._owners(caller)
        found: list[UwsJob] = []
        for owner in owners:
            found += await jobs.owned(self.sessions, owner, caller)
        found.sort(key=lambda j: j.created or 0, reverse=True)
        wanted = [
            j for j in found
            if (j.phase.value in phases if phases else j.phase != ExecutionPhase.ARCHIVED)
            and (after is None or (j.created or 0) > after)
        ]  # fmt: skip
        url = self.jobs_url()
        self.write_xml(list_document(
            Ref(j.id, f"{url}/{j.id}", j.phase, j.owner, j.created,
                j.record.run_id if j.record else "")
            for j in wanted[:last]
        ))  # fmt: skip

    async def _owners(self, caller: Caller) -> list[str]:
        view = self.arg("view")
        if not view:
            return [caller.name]
        if view != ["all"]:
            raise ApiError(400, f"unknown view {shown(view[0])} (one of: all)")
        if not caller.admin:
            raise ApiError(403, "view=all lists every user's jobs: admins only")
        owners = {u["name"] for u in await self.sessions.hub.users()}
        owners |= {r.owner for r in (await self.sessions.store.jobs_of()).values()}
        owners |= {i.owner for i in await self.sessions.store.all()}
        return sorted(owners)

    async def post(self) -> None:
        caller = await self.current_caller()
        try:
            params, control = split_create(self.arguments())
            # up to a megabyte of words to split: off the event loop
            parsed = await self.parser.parse(params)
            assert isinstance(parsed, Job)  # type=headless
            request = Job(parsed.name, parsed.request, held=not control.run,
                          run_id=control.run_id, destruction=control.destruction,
                          duration=control.duration)  # fmt: skip
            job_id = await self.sessions.create(caller, request)
        except LaunchRefused as e:
            # in UWS's words: `instances`, not skaha's `replicas`
            words = {RENAMED_BACK.get(k, k): v for k, v in e.errors.items()}
            raise ApiError(e.status, str(LaunchRefused(words, e.status))) from None
        self.see_other(f"{self.jobs_url()}/{job_id}")


class JobHandler(UwsHandler):
    async def get(self, job_id: str) -> None:
        caller, job = await self.job(job_id)
        wait = self.arg("wait")
        if wait:
            seconds = _whole("WAIT", wait[0], minimum=-1)
            phase = self.arg("phase")
            start = ExecutionPhase(_phase(phase[0])) if phase else None
            job = await jobs.wait(self.sessions, caller, job, seconds, start)
        self.write_xml(job_document(await self.summary(job)))

    async def delete(self, job_id: str) -> None:
        _, job = await self.job(job_id)
        await self._delete(job)

    async def post(self, job_id: str) -> None:
        _, job = await self.job(job_id)
        action = self.arg("action")
        if [a.upper() for a in action] != ["DELETE"]:
            raise ApiError(400, (
                "POST to a job takes ACTION=DELETE; its phase, destruction and "
                "executionduration have their own URLs, and its parameters cannot change"
            ))  # fmt: skip
        await self._delete(job)

    async def _delete(self, job: UwsJob) -> None:
        jobs.writable(job)
        found = job.instances or job.record
        assert found is not None
        await self.sessions.delete(found)
        self.see_other(self.jobs_url())


class PhaseHandler(UwsHandler):
    async def get(self, job_id: str) -> None:
        _, job = await self.job(job_id)
        self.write_text(job.phase.value)

    async def post(self, job_id: str) -> None:
        caller, job = await self.job(job_id)
        phase = _phase((self.arg("phase") or [""])[0], ("RUN", "ABORT"))
        jobs.writable(job)
        if phase == "RUN":
            if job.record is None or job.record.state != JobState.held:
                raise ApiError(409, f"job {job.id} is {job.phase.value}: only a PENDING job runs")
            try:
                await self.sessions.run(caller, job.record)
            except LaunchRefused as e:
                raise ApiError(e.status, str(e)) from None
        elif job.phase in jobs.ACTIVE:
            await jobs.abort(self.sessions, job)
        else:
            raise ApiError(409, f"job {job.id} is {job.phase.value}: it has ended already")
        self.see_other(self.job_url(job))


class TimeHandler(UwsHandler):
    """executionduration (seconds) and destruction (ISO 8601 time)."""

    async def get(self, job_id: str, what: str) -> None:
        _, job = await self.job(job_id)
        if what == "executionduration":
            self.write_text(str(jobs.lifetime(self.sessions, job)))
        else:
            destruction = job.record.destruction if job.record else None
            self.write_text(iso(destruction) or "")

    async def post(self, job_id: str, what: str) -> None:
        _, job = await self.job(job_id)
        values = self.arg(what)
        if not values:
            raise ApiError(400, f"give {what.upper()}")
        if job.phase not in jobs.ACTIVE and what == "executionduration":
            raise ApiError(409, f"job {job.id} is {job.phase.value}: it runs no more")
        try:
            if what == "destruction":
                await jobs.set_times(self.sessions, job, destruction=parse_destruction(values[0]))
            else:
                await jobs.set_times(self.sessions, job, duration=parse_duration(values[0]))
        except LaunchRefused as e:
            raise ApiError(e.status, str(e)) from None
        except JobBackendError as e:
            raise ApiError(e.status, e.message) from None
        self.see_other(self.job_url(job))


class JobPartHandler(UwsHandler):
    """quote, owner, error, parameters, results."""

    async def get(self, job_id: str, part: str) -> None:
        _, job = await self.job(job_id)
        if part == "quote":
            self.write_text("")  # UWS: empty when the service cannot predict the end
        elif part == "owner":
            self.write_text(job.owner)
        elif part == "error":
            if job.phase not in (ExecutionPhase.ERROR, ExecutionPhase.ABORTED):
                raise ApiError(404, f"job {job.id} is {job.phase.value}: it has no error")
            self.write_text(jobs.error_detail(job))
        elif part == "parameters":
            self.write_xml(parameters_document((await self.summary(job)).parameters))
        else:
            self.write_xml(results_document(await self.results(job)))


class ResultHandler(UwsHandler):
    """One result: an instance's log (text), or a file of the job's results folder."""

    async def get(self, job_id: str, result_id: str) -> None:
        _, job = await self.job(job_id)
        known = {r.id: r for r in await self.results(job)}
        if result_id not in known or job.server is not None:
            raise ApiError(404, f"job {job.id} has no result {shown(result_id)}")
        # what a user's job wrote is never rendered as a page of the service's origin
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Security-Policy", "sandbox")
        if result_id.startswith("files/"):
            try:
                body = await self.sessions.runner.read_result(job.instances,
                                                              result_id.split("/", 1)[1])
            except JobBackendError as e:
                raise ApiError(e.status, e.message) from None
            self.set_header("Content-Type", "application/octet-stream")
            self.set_header("Content-Disposition", "attachment")
            self.finish(body)
            return
        instance = next(i for i in job.instances if log_id(job, i.replica) == result_id)
        self.write_text(await self.sessions.read_logs([instance]))


def _phase(value: str, allowed: tuple[str, ...] = PHASES) -> str:
    phase = value.strip().upper()
    if phase not in allowed:
        raise ApiError(400, f"unknown PHASE {shown(value)} (one of: {', '.join(allowed)})")
    return phase


def _whole(name: str, value: str, minimum: int = 0) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise ApiError(400, f"{name}={shown(value)} is not a whole number of at least {minimum}")
    return number


def _after(values: list[str]) -> float | None:
    if not values:
        return None
    if (stamp := iso_time(values[0])) is None:
        raise ApiError(400, f"AFTER={shown(values[0])} {NOT_A_TIME}")
    return stamp


def _last(values: list[str]) -> int | None:
    return _whole("LAST", values[0], minimum=1) if values else None


def routes(route: Any) -> list[tuple[str, type[web.RequestHandler]]]:
    job = r"uws/jobs/([^/]+)"
    return [
        (route("uws/jobs"), JobListHandler),
        (route(job), JobHandler),
        (route(f"{job}/phase"), PhaseHandler),
        (route(f"{job}/(executionduration|destruction)"), TimeHandler),
        (route(f"{job}/(quote|owner|error|parameters|results)"), JobPartHandler),
        (route(f"{job}/results/(.+)"), ResultHandler),
    ]

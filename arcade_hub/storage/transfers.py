"""Transfer negotiation and the UWS jobs (VOSpace 2.1, as CADC's `vos` client drives them).

- `synctrans` (POST a transfer document): pushToVoSpace / pullFromVoSpace of one node is
  checked at once (the caller may write the tree / read the node) and answered with a 303 to
  `xfer/<job>`, the transfer document whose endpoint is the node's `files/` URL; a refused
  transfer is a job in phase ERROR whose `transfers/<job>/error` names the fault.
- `transfers` (POST): a move (`keepBytes` false) to another node, run when the client sets
  the job's phase to RUN (`transfers/<job>/phase`).
- `async-delete` (form `target`) and `async-setprops` (a node document): a recursive delete
  or property change, run when the phase is set to RUN; the job document carries the counts.
"""

from __future__ import annotations

from typing import Any

from arcade_hub.storage import documents
from arcade_hub.storage.documents import CORE
from arcade_hub.storage.fsops import Refused
from arcade_hub.storage.handlers import StorageHandler
from arcade_hub.storage.jobs import Job
from arcade_hub.storage.names import NodePath
from arcade_hub.storage.views import permission_change

PUSH = "pushToVoSpace"
PULL = "pullFromVoSpace"
ENDPOINTS = {
    "sync": "transfers",
    "move": "transfers",
    "delete": "async-delete",
    "props": "async-setprops",
}


class JobHandler(StorageHandler):
    def job_url(self, job: Job) -> str:
        return f"{self.base()}/{ENDPOINTS[job.kind]}/{job.id}"

    async def job(self, job_id: str, kinds: tuple[str, ...]) -> Job:
        job = await self.storage.jobs.get(job_id, self.caller.name)
        if job.kind not in kinds:
            raise Refused(404, "NodeNotFound", "no such job")
        return job

    def write_job(self, job: Job) -> None:
        self.write_xml(documents.job_document(job.id, job.phase, job.owner, job.error, job.results))

    async def run(self, job: Job) -> None:
        """Run a PENDING job now; its phase says how it went. A sync transfer is not run:
        its phase is its negotiation's."""
        if job.kind not in RUNNERS:
            return
        if not await self.storage.jobs.move_on(job, "PENDING", "EXECUTING"):
            return
        try:
            job.results = await RUNNERS[job.kind](self, job.payload)
            job.phase = "COMPLETED"
        except Refused as e:
            job.fail(e)
        await self.storage.jobs.save(job)


class SyncHandler(JobHandler):
    async def post(self) -> None:
        request = documents.read_transfer(self.body)
        if request.direction not in (PUSH, PULL):
            raise Refused(
                400,
                "InvalidArgument",
                "synchronous transfers push to or pull from the service; "
                "moves go to the asynchronous transfers endpoint",
            )
        path = self.uri_path(request.target)
        job = await self.storage.jobs.create(self.caller.name, "sync", {})
        endpoints: list[tuple[str, str]] = []
        try:
            await self.check(path, request.direction == PUSH)
            verb = "put" if request.direction == PUSH else "get"
            scheme = "https" if self.base().startswith("https:") else "http"
            endpoints = [(f"{CORE}#{scheme}{verb}", self.files_url(path))]
            job.phase = "COMPLETED"
        except Refused as e:
            job.fail(e)
        job.document = documents.transfer_document(request.target, request.direction, endpoints)
        await self.storage.jobs.save(job)
        self.redirect(f"{self.base()}/xfer/{job.id}", status=303)

    async def check(self, path: NodePath, push: bool) -> None:
        """The caller may write the file (push) or read it (pull)."""
        if not path.in_tree or not path.inner:
            raise Refused(409, "InvalidArgument", f"/{path.text} is a container, not a file")
        grant = self.grant(path, write=push)
        if push:
            return
        found = await self.storage.pool.run(
            grant.identity, "node", {**grant.args(path), "page": {"cap": 0, "limit": 0}}
        )
        if found["node"]["type"] == "container":
            raise Refused(409, "InvalidArgument", f"{path.text} is a container, not a file")


class TransferDetailsHandler(JobHandler):
    async def get(self, job_id: str) -> None:
        self.write_xml((await self.job(job_id, ("sync",))).document)


class AsyncHandler(JobHandler):
    """`transfers`, `async-delete` and `async-setprops`: create (POST), show (GET)."""

    kinds: tuple[str, ...] = ()

    async def post(self) -> None:
        kind, payload = self.create()
        job = await self.storage.jobs.create(self.caller.name, kind, payload)
        self.redirect(self.job_url(job), status=303)

    def create(self) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    async def get(self, job_id: str) -> None:
        self.write_job(await self.job(job_id, self.kinds))


class MoveHandler(AsyncHandler):
    kinds = ("move", "sync")

    def create(self) -> tuple[str, dict[str, Any]]:
        request = documents.read_transfer(self.body)
        if request.direction in (PUSH, PULL) or request.keep_bytes:
            raise Refused(
                400,
                "OperationNotSupported",
                "this service moves nodes (keepBytes false); copy files with vcp down and up",
            )
        source, dest = self.uri_path(request.target), self.uri_path(request.direction)
        return "move", {"source": source.parts, "dest": dest.parts}


class DeleteJobHandler(AsyncHandler):
    kinds = ("delete",)

    def create(self) -> tuple[str, dict[str, Any]]:
        target = self.form().get("target") or self.arguments().get("target") or ""
        return "delete", {"path": self.uri_path(target).parts}


class PropsJobHandler(AsyncHandler):
    kinds = ("props",)

    def create(self) -> tuple[str, dict[str, Any]]:
        request = documents.read_node(self.body)
        change = permission_change(request.properties, self.storage.trees)
        return "props", {"path": self.uri_path(request.uri).parts, "change": change}


class PhaseHandler(JobHandler):
    """`<endpoint>/<job>/phase`: read it (GET), or RUN the job (POST `PHASE=RUN`)."""

    kinds: tuple[str, ...] = ("sync", "move", "delete", "props")

    async def get(self, job_id: str) -> None:
        job = await self.job(job_id, self.kinds)
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish(job.phase)

    async def post(self, job_id: str) -> None:
        job = await self.job(job_id, self.kinds)
        fields = {k.lower(): v for k, v in self.form().items()}
        phase = fields.get("phase", "").upper()
        if phase == "RUN":
            await self.run(job)
        elif phase == "ABORT":
            await self.storage.jobs.move_on(job, "PENDING", "ABORTED")
        elif phase not in ("RUN", "ABORT"):
            raise Refused(400, "InvalidArgument", "set the phase to RUN or ABORT")
        self.redirect(self.job_url(job), status=303)


class ErrorHandler(JobHandler):
    async def get(self, job_id: str) -> None:
        job = await self.job(job_id, ("sync", "move", "delete", "props"))
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish(job.error or "")


async def _move(handler: JobHandler, payload: dict[str, Any]) -> dict[str, str]:
    source, dest = NodePath(tuple(payload["source"])), NodePath(tuple(payload["dest"]))
    if len(source.parts) < 3 or len(dest.parts) < 3:
        raise Refused(403, "PermissionDenied", "move nodes inside homes and project spaces")
    a, b = handler.grant(source, write=True), handler.grant(dest, write=True)
    if a.identity != b.identity:
        raise Refused(403, "PermissionDenied", "these two places are not both yours to change")
    await handler.storage.pool.run(
        a.identity, "move", {**a.args(source), "dest_root": b.root, "dest": list(dest.inner)}
    )
    return {}


async def _delete(handler: JobHandler, payload: dict[str, Any]) -> dict[str, str]:
    path = NodePath(tuple(payload["path"]))
    if len(path.parts) < 3:
        raise Refused(403, "PermissionDenied", f"/{path.text} is the platform's")
    grant = handler.grant(path, write=True)
    await handler.storage.pool.run(grant.identity, "delete", grant.args(path))
    return {"successcount": "final:1"}


async def _props(handler: JobHandler, payload: dict[str, Any]) -> dict[str, str]:
    path = NodePath(tuple(payload["path"]))
    if not path.in_tree:
        raise Refused(403, "PermissionDenied", f"/{path.text} is the platform's")
    grant = handler.grant(path, write=True)
    done = await handler.storage.pool.run(
        grant.identity,
        "props",
        {**grant.args(path), "change": payload["change"], "recursive": True},
    )
    # `vos` counts any errorcount result as a failure (it reads the number as text)
    failed = {"errorcount": f"final:{done['failed']}"} if done["failed"] else {}
    return {"successcount": f"final:{done['done']}", **failed}


RUNNERS = {"move": _move, "delete": _delete, "props": _props}

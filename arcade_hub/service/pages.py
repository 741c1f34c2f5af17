"""The service's pages: Sessions (`jobs`: every session and job of the user, everyone's for
admins, with actions), a job's log, `new` (a new session's form, on the hub), and the Batch
page (`jobs/new`) that starts a headless job from the browser.

Browser pages log in through the hub's OAuth; actions are form posts with tornado's XSRF
token, so they work without JavaScript. All pages share `layout.html` (the hub's look).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2
from jupyterhub.utils import url_path_join
from tornado import web

from arcade_hub.config import Kind
from arcade_hub.form import resource_fields
from arcade_hub.launch.choices import UserContext, dataset_allowed
from arcade_hub.launch.request import LaunchRefused
from arcade_hub.launch.rules import entry_refusal
from arcade_hub.service.handlers import ApiError, ServiceHandler, as_sent
from arcade_hub.service.limits import PARAM_FILE_LIMIT, shown
from arcade_hub.service.session_rows import ordered, shown_time
from arcade_hub.service.sessions import Caller, Sessions
from arcade_hub.service.skaha import browser_base

ACTIONS = ("renew", "terminate", "remove")
"""What the Sessions page's buttons post: `remove` takes a finished job off the list."""


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("arcade_hub", "templates"), autoescape=True
    )


class PageHandler(ServiceHandler):
    @property
    def sessions(self) -> Sessions:
        sessions: Sessions = self.settings["sessions"]
        return sessions

    @property
    def prefix(self) -> str:
        prefix: str = self.settings["arcade"].prefix
        return prefix

    @property
    def hub_url(self) -> str:
        """The hub's pages (its stylesheet, logo, token and spawn pages)."""
        return self.hub_auth.hub_host + url_path_join(self.hub_auth.hub_prefix, "")

    async def caller(self) -> Caller:
        user: dict[str, Any] = self.current_user
        return await self.sessions.caller(user["name"])

    def page(self, template: str, current: str = "", **values: Any) -> str:
        """`template` rendered in the shared layout (the navigation marks `current`)."""
        user: dict[str, Any] | None = self.current_user
        return (
            _templates()
            .get_template(template)
            .render(
                prefix=self.prefix,
                arcade_url=self.prefix,
                base_url=self.hub_url,
                user=user["name"] if user else "",
                admin_ui=bool(user and user.get("admin")),
                current=current,
                xsrf=self.xsrf_form_html(),
                xsrf_token=self.xsrf_token.decode(),
                shown_time=shown_time,
                **values,
            )
        )

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        message = self.error_message(status_code, kwargs)
        self.set_status(status_code)
        self.finish(self.page("service_error.html", status=status_code, message=message))


class ServiceRoot(PageHandler):
    """The service's own address (the hub's link to it, and its health check): Sessions.
    JupyterHub requests it without credentials at start-up and then every minute; it must
    answer below 500, and its answers are logged at debug level only (no line a minute)."""

    quiet = True

    def get(self) -> None:
        self.redirect(url_path_join(self.prefix, "jobs"))


class NewSessionPage(PageHandler):
    """`new`: the launch form of a new session (the hub's spawn page of a named server; the
    form is the spawner's). The hub records a server for each form it shows: a form opened
    and left is used again, so the hub does not gather one stopped server per visit."""

    @web.authenticated
    async def get(self) -> None:
        caller = await self.caller()
        name = await self.sessions.hub.unstarted_server(caller.name)
        if name is None or await self.sessions.store.exists(name):
            name = await self.sessions.unused_id()
        self.redirect(url_path_join(self.hub_url, "spawn", caller.name, name), status=303)


class JobsPage(PageHandler):
    @web.authenticated
    async def get(self) -> None:
        caller = await self.caller()
        everyone = caller.admin and self.get_argument("view", "") == "all"
        owners = {caller.name}
        if everyone:
            owners = {u["name"] for u in await self.sessions.hub.users()}
            owners |= {i.owner for i in await self.sessions.store.all()}
        base = browser_base(self)
        rows = []
        for owner in sorted(owners):
            rows += await self.sessions.rows(owner, base, caller)
        self.finish(self.page(
            "sessions.html", "sessions", rows=ordered(rows), admin=caller.admin,
            everyone=everyone,
        ))  # fmt: skip


class JobActionPage(PageHandler):
    @web.authenticated
    async def post(self, session_id: str, action: str) -> None:
        if action not in ACTIONS:
            raise ApiError(404, f"no action {shown(action)}; use one of {', '.join(ACTIONS)}")
        caller = await self.caller()
        # each row's forms carry its owner: an admin acts on that user's session
        owner = (as_sent(self.request.body_arguments).get("owner") or [""])[-1]
        found = await self.sessions.find(caller, session_id, owner or None)
        if action == "renew":
            await self.sessions.renew(found)
        elif action == "remove" and not self.sessions.finished(found):
            raise ApiError(409, f"{shown(session_id)} is still running: terminate it first")
        else:
            await self.sessions.delete(found)
        self.redirect(url_path_join(self.prefix, "jobs"))


class JobLogPage(PageHandler):
    """The job list's log link: the same text as the API's `view=logs`, read from wherever
    the backend keeps it (the log file in the home, or the pods' logs on Kubernetes). A page
    for browsers; plain text for other clients and with `format=text`."""

    @web.authenticated
    async def get(self, session_id: str) -> None:
        caller = await self.caller()
        found = await self.sessions.find(caller, session_id)
        text = await self.sessions.read_logs(found)
        browser = "text/html" in self.request.headers.get("Accept", "")
        if self.get_argument("format", "") == "text" or not browser:
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(text)
            return
        name, status = self.sessions.label(found)
        self.finish(self.page("job_log.html", id=session_id, name=name, status=status,
                              text=text))  # fmt: skip


# --- Batch from the web -----------------------------------------------------------------

BATCH_FIELDS = ("name", "image", "cmd", "instances", "cores", "ram", "dataset", "params")
# parse_create's and the job builder's keys, as the form's fields are named
FORM_KEYS = {"replicas": "instances", "param": "params", "type": "image", "args": "cmd"}


class BatchPage(PageHandler):
    """`{prefix}jobs/new`: start a headless job from the browser.

    The form's fields become skaha create parameters and go through `parse_create` and
    `Sessions.create`, so a job started here obeys exactly the rules of `POST /session`."""

    body_hint = f" (a parameter file may have up to {PARAM_FILE_LIMIT:,} bytes)"

    @web.authenticated
    async def get(self) -> None:
        caller = await self.caller()
        self.finish(self._render(caller, {"name": "batch"}, {}))


    @web.authenticated
    async def post(self) -> None:
        caller = await self.caller()
        sent = as_sent(self.request.body_arguments)
        values = {k: (sent.get(k) or [""])[-1] for k in BATCH_FIELDS}
        errors: dict[str, str] = {}
        params_text = values["params"]
        uploads = self.request.files.get("params_file") or []
        if uploads and uploads[0].body:
            upload = uploads[0]
            if len(upload.body) > PARAM_FILE_LIMIT:
                errors["params_file"] = (
                    f"{upload.filename} is {len(upload.body)} bytes; "
                    f"the limit is {PARAM_FILE_LIMIT} bytes"
                )
            else:
                try:
                    params_text = upload.body.decode("utf-8")
                except UnicodeDecodeError:
                    errors["params_file"] = f"{upload.filename} is not UTF-8 text"
        # A refused upload comes back as text in the box, so nothing needs choosing again.
        values["params"] = params_text
        if errors:
            self.set_status(400)
            self.finish(self._render(caller, values, errors))
            return
        params: dict[str, list[str]] = {"type": ["headless"]}
        for form_key, skaha_key in (
            ("name", "name"),
            ("image", "image"),
            ("cmd", "cmd"),
            ("instances", "replicas"),
            ("cores", "cores"),
            ("ram", "ram"),
            ("dataset", "dataset"),
        ):
            if values[form_key].strip():
                params[skaha_key] = [values[form_key]]
        if params_text.strip():
            params["params"] = [params_text]
        try:
            request = await self.parser.parse(params)
            await self.sessions.create(caller, request)
        except LaunchRefused as e:
            shown = {FORM_KEYS.get(k, k): v for k, v in e.errors.items()}
            self.set_status(e.status)
            self.finish(self._render(caller, values, shown))
            return
        self.redirect(url_path_join(self.prefix, "jobs"), status=303)  # see other: GET it

    def _render(self, caller: Caller, values: dict[str, str], errors: dict[str, str]) -> str:
        config = self.sessions.platform()
        user = UserContext(name=caller.name, groups=caller.groups, admin=caller.admin)
        availability = self.sessions.site().availability
        entries: list[dict[str, str]] = [
            {
                "name": e.name,
                "title": e.title,
                "reason": entry_refusal(config, user.groups, e)
                or availability.unavailable_reason(e)
                or "",
                "command": " ".join(availability.job_prefix(e)),
            }
            for e in config.catalogue
            if e.kind == Kind.headless
        ]
        usable = [e for e in entries if not e["reason"]]
        values = {**values}
        if not values.get("image") and usable:
            values["image"] = usable[0]["name"]
        resources = resource_fields(config, user, values)
        known = {*BATCH_FIELDS, "params_file"}
        return self.page(
            "batch.html",
            "batch",
            entries=entries,
            usable=usable,
            resources=resources,
            datasets=[d for d in config.datasets if dataset_allowed(d, user, config)],
            max_replicas=config.jobs.max_replicas,
            values=values,
            errors=errors,
            general=[m for k, m in errors.items() if k not in known],
        )

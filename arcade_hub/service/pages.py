"""The job list page: every session and job of the user (everyone's for admins), with actions.

Browser pages log in through the hub's OAuth; actions are form posts with tornado's XSRF
token, so they work without JavaScript. The page refreshes itself every 10 seconds.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2
from jupyterhub.services.auth import HubOAuth, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import web

from arcade_hub.service.handlers import ApiError
from arcade_hub.service.sessions import Caller, Sessions

ACTIONS = ("renew", "terminate")


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("arcade_hub", "templates"), autoescape=True
    )


class PageHandler(HubOAuthenticated, web.RequestHandler):
    @property
    def hub_auth(self) -> HubOAuth:
        auth: HubOAuth = self.settings["hub_auth"]
        return auth

    @property
    def sessions(self) -> Sessions:
        sessions: Sessions = self.settings["sessions"]
        return sessions

    @property
    def prefix(self) -> str:
        prefix: str = self.settings["arcade"].prefix
        return prefix

    async def caller(self) -> Caller:
        user: dict[str, Any] = self.current_user
        return await self.sessions.caller(user["name"])

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(exc, "message", None) or self._reason
        self.set_status(status_code)
        self.finish(
            _templates()
            .get_template("jobs_error.html")
            .render(status=status_code, message=message, prefix=self.prefix)
        )


class JobsPage(PageHandler):
    @web.authenticated
    async def get(self) -> None:
        caller = await self.caller()
        everyone = caller.admin and self.get_argument("view", "") == "all"
        owners = {caller.name}
        if everyone:
            owners = {u["name"] for u in await self.sessions.hub.users()}
            owners |= {i.owner for i in self.sessions.store.all()}
        base = f"{self.request.protocol}://{self.request.host}"
        rows: list[dict[str, Any]] = []
        for owner in sorted(owners):
            rows += await self.sessions.all_views(owner, base)
        rows.sort(key=lambda r: r.get("startTime") or "", reverse=True)
        self.finish(
            _templates()
            .get_template("jobs.html")
            .render(
                rows=rows,
                user=caller.name,
                admin=caller.admin,
                everyone=everyone,
                prefix=self.prefix,
                hub=url_path_join(self.hub_auth.hub_prefix, ""),
                xsrf=self.xsrf_form_html(),
            )
        )


class JobActionPage(PageHandler):
    @web.authenticated
    async def post(self, session_id: str, action: str) -> None:
        if action not in ACTIONS:
            raise ApiError(404, f"no action {action!r}; use one of {', '.join(ACTIONS)}")
        caller = await self.caller()
        found = await self.sessions.find(caller, session_id)
        if action == "renew":
            self.sessions.renew(found)
        else:
            await self.sessions.delete(found)
        self.redirect(url_path_join(self.prefix, "jobs"))


class JobLogPage(PageHandler):
    @web.authenticated
    async def get(self, session_id: str) -> None:
        caller = await self.caller()
        found = await self.sessions.find(caller, session_id)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(self.sessions.logs(found))

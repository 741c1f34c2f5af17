"""The launch planner from synchronous tests: plan a session or a job, and raise its refusal."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from arcade_hub.config import CatalogueEntry, PlatformConfig
from arcade_hub.launch.choices import UserContext
from arcade_hub.launch.jobs import job_instances
from arcade_hub.launch.planner import ImageLookup, PlanContext, Purpose, plan
from arcade_hub.launch.request import LaunchRequest, Refusal, parse_request, parse_user_options
from arcade_hub.launch.rules import Usage
from arcade_hub.launch.site import Site
from arcade_hub.launch.spec import LaunchSpec
from arcade_hub.local.availability import LocalAvailability


class AllLocal(LocalAvailability):
    """Availability as on a machine where every `local` entry's tools are installed."""

    def unavailable_reason(self, entry: CatalogueEntry) -> str | None:
        if entry.local is None:
            return "needs its container image"
        if "arcade-no-such-tool" in entry.local.requires:
            return "arcade-no-such-tool not found. Install the arcade-no-such-tool package."
        return None


def fixed_ids(prefix: str = "abc") -> Any:
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter):03d}"


async def planned(
    request: LaunchRequest | dict[str, Any] | None,
    config: PlatformConfig,
    user: UserContext,
    site: Site,
    purpose: Purpose = Purpose.session,
    *,
    server_name: str = "s",
    usage: Usage | None = None,
    images: ImageLookup | None = None,
    desktop: LaunchSpec | None = None,
) -> LaunchSpec:
    """The planned spec; raises the planner's `Refusal`. A dict is form/REST `user_options`
    for sessions, the request's own fields for jobs."""
    if not isinstance(request, LaunchRequest):
        request = (parse_request(request or {}) if purpose == Purpose.job
                   else parse_user_options(request))  # fmt: skip
    context = PlanContext(config, site, server_name, usage=usage, images=images,
                          desktop=desktop, new_session_id=fixed_ids())  # fmt: skip
    answer = await plan(user, request, purpose, context)
    if isinstance(answer, Refusal):
        raise answer
    return answer


def plan_now(*args: Any, **kwargs: Any) -> LaunchSpec:
    """`planned` from a synchronous test."""
    return asyncio.run(planned(*args, **kwargs))


async def planned_job(
    request: LaunchRequest | dict[str, Any],
    config: PlatformConfig,
    user: UserContext,
    site: Site,
    job_id: str = "job1",
    usage: Usage | None = None,
) -> list[LaunchSpec]:
    """The specs of every instance of a planned job; raises the planner's `Refusal`."""
    if not isinstance(request, LaunchRequest):
        request = parse_request(request)
    spec = await planned(request, config, user, site, Purpose.job, server_name=job_id,
                         usage=usage)  # fmt: skip
    return job_instances(spec, request, config, site, fixed_ids("inst"))


def plan_job_now(*args: Any, **kwargs: Any) -> list[LaunchSpec]:
    """`planned_job` from a synchronous test."""
    return asyncio.run(planned_job(*args, **kwargs))

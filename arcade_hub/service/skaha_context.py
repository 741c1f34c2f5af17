"""What a caller may ask for, as skaha's `context` says it, and as the `canfar` client keeps it:
the caller's group policy capped by the platform's limits (`arcade_hub.launch.rules`), the
defaults the planner gives a session that asks for none (`arcade_hub.launch.choices`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from arcade_hub.config import PlatformConfig
from arcade_hub.launch.choices import UserContext, resource_default
from arcade_hub.launch.rules import user_limits
from arcade_hub.service.skaha_models import (
    Bounds,
    Choice,
    ClientResources,
    ContextView,
    GpuChoice,
    ModeBounds,
)

Number = int | float


def caller_context(config: PlatformConfig, user: UserContext) -> ContextView:
    """skaha's `context` for `user`. A session that asks for nothing gets the default and is
    held to it (cgroups, pod limits): no burst above it, so `defaultLimit` is the default.
    `options` are the whole numbers among the platform's choices up to the user's maximum,
    and the maximum itself (the `canfar` client reads them as whole numbers)."""
    mine = user_limits(config, user.groups)
    r = config.resources
    gpus = [c for c in r.gpus.choices if c <= mine.gpus.value] + [mine.gpus.value]

    def section(key: str, choices: Sequence[float], low: float, top: float) -> Choice:
        default = number(resource_default(config, user, key))
        return Choice(default=default, defaultRequest=default, defaultLimit=default,
                      options=_whole([c for c in choices if c <= top] + [top]),
                      min=number(low), max=number(top))  # fmt: skip

    return ContextView(
        cores=section("cores", r.cores.choices, r.cores.min, mine.cores.value),
        memoryGB=section("ram", r.ram.choices, r.ram.min, mine.ram.value),
        gpus=GpuChoice(options=_whole(gpus)),
        maxInteractiveSessions=int(mine.sessions.value),
        maxReplicas=config.jobs.max_replicas,
    )


def client_resources(context: ContextView) -> ClientResources:
    """What the `canfar` client's discovery saves from `context` as its server's resources
    (`canfar.models.http.ServerResources.from_context`): flexible is `defaultRequest` to
    `defaultLimit`, fixed the span of `options`, GPUs the span of theirs (0 to 0 for none)."""

    def flexible(choice: Choice) -> Bounds | None:
        return _bounds(choice.defaultRequest, choice.defaultLimit)

    def span(options: list[Number]) -> Bounds | None:
        return _bounds(min(options), max(options)) if options else None

    return ClientResources(
        flexible=ModeBounds(cores=flexible(context.cores), ram=flexible(context.memoryGB)),
        fixed=ModeBounds(cores=span(context.cores.options), ram=span(context.memoryGB.options)),
        gpus=span(context.gpus.options) or Bounds(min=0, max=0),
        sessions=context.maxInteractiveSessions if context.maxInteractiveSessions >= 1 else None,
    )


def _bounds(low: Number, high: Number) -> Bounds | None:
    if low != int(low) or high != int(high) or not 0 <= low <= high:
        return None
    return Bounds(min=int(low), max=int(high))


def _whole(values: Sequence[float]) -> list[Number]:
    """The whole numbers of `values` (a fraction: the whole number below it), at least 1,
    sorted, once each."""
    return sorted({math.floor(v) for v in values if v >= 1})


def number(value: float) -> Number:
    """A whole number as an int (JSON `2`, not `2.0`)."""
    return int(value) if value == int(value) else value

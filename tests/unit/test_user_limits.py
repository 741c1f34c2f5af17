"""A user's limits under the group policy, capped by the platform's, as the sessions API's
statistics report them (`view=stats`)."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml

from arcade_hub.config import PlatformConfig
from arcade_hub.launch.rules import Held, Usage, user_limits
from arcade_hub.service.sessions import Caller
from arcade_hub.service.skaha import caller_limits
from tests.unit.test_options_policy import PLATFORM

GROUPS: dict[str, Any] = {
    "default": {"max_cores": 1, "max_ram": "1G", "max_total_cores": 2, "max_sessions": 1},
    "alma": {"max_cores": 2, "max_ram": 64, "max_total_cores": 3, "max_jobs": 4},
    "big": {"max_cores": 16, "max_sessions": 10},
}


def config(groups: dict[str, Any]) -> PlatformConfig:
    doc = yaml.safe_load(PLATFORM.read_text())
    doc["groups"] = groups
    return PlatformConfig.model_validate(doc)


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        # field: (value, source)
        (
            [],
            {
                "cores": (1, "group policy: default"),
                "ram": (1, "group policy: default"),
                "total_cores": (2, "group policy: default"),
                "total_ram": (math.inf, "group policy: default"),
                "sessions": (1, "group policy: default"),
                "jobs": (math.inf, "group policy: default"),
            },
        ),
        (
            ["alma"],
            {
                "cores": (2, "group policy: alma"),
                "ram": (None, "platform limit"),  # 64 GiB asked, the platform's max counts
                "total_cores": (3, "group policy: alma"),
                "jobs": (math.inf, "group policy: default"),  # unset under default: no limit
            },
        ),
        (
            ["alma", "big", "unknown-group"],
            {
                "cores": (None, "platform limit"),
                "total_cores": (3, "group policy: alma"),
                "sessions": (None, "platform limit"),  # policy.max_sessions stays the cap
            },
        ),
    ],
)
def test_user_limits(groups: list[str], expected: dict[str, tuple[float | None, str]]) -> None:
    c = config(GROUPS)
    platform = {
        "cores": c.resources.cores.max,
        "ram": c.resources.ram.max,
        "sessions": c.policy.max_sessions,
    }
    mine = user_limits(c, groups)
    for field, (value, source) in expected.items():
        got = getattr(mine, field)
        assert got.value == (platform[field] if value is None else value), field
        assert got.source == source, field


def test_without_a_group_policy_the_platform_limits_apply() -> None:
    c = config({})
    mine = user_limits(c, ["anything"])
    assert (mine.cores.value, mine.ram.value) == (c.resources.cores.max, c.resources.ram.max)
    assert not mine.total_cores.bounded and not mine.jobs.bounded


def test_caller_limits_for_the_stats() -> None:
    c = config(GROUPS)
    caller = Caller(name="carol", admin=False, groups=frozenset({"alma"}))
    usage = Usage(sessions=(Held(1, 0.5), Held(0.5, 1)), jobs=(Held(2, 2),))
    body = caller_limits(c, caller, usage).model_dump()
    assert body["user"] == "carol" and body["groups"] == ["alma"]
    assert body["perSession"] == {"cores": 2, "ram": f"{c.resources.ram.max:g}G", "gpus": 0}
    assert body["total"] == {"cores": 3, "ram": None, "sessions": 1, "jobs": None}
    assert body["inUse"] == {"cores": 3.5, "ram": "3.5G", "sessions": 2, "jobs": 1}
    assert body["source"]["total.ram"] == "no limit"
    assert body["source"]["perSession.ram"] == "platform limit"
    assert body["source"]["total.cores"] == "group policy: alma"

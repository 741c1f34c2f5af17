"""Group policy tables: unions across groups, defaults, per-session limits, totals, concurrency."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from arcade_hub.config import PlatformConfig, load_config
from arcade_hub.form import render_form
from arcade_hub.launch.choices import UserContext
from arcade_hub.launch.request import LaunchRefused, LaunchRequest
from arcade_hub.launch.rules import Held, Usage, entry_refusal, limit, project_spaces
from arcade_hub.launch.site import Site
from arcade_hub.launch.spec import LaunchSpec, MountKind
from tests.planning import AllLocal, plan_job_now, plan_now
from tests.unit.test_options_policy import PLATFORM

GROUPS: dict[str, Any] = {
    "default": {
        "kinds": ["notebook"],
        "max_cores": 1,
        "max_ram": "1G",
        "max_total_cores": 2,
        "max_total_ram": 2,
        "max_sessions": 2,
        "max_jobs": 1,
        "projects": [],
    },
    "alma": {
        "entries": ["casa-*", "desktop"],
        "datasets": ["secret-*"],
        "max_cores": 2,
        "max_total_cores": 3,
        "projects": ["alma", "alma-shared"],
    },
    "desktops": {"kinds": ["desktop", "desktop-app"], "max_ram": 4, "max_sessions": 3},
    "batch": {"kinds": ["headless"], "max_jobs": 2, "projects": ["b*"]},
}


def config_with(groups: dict[str, Any]) -> PlatformConfig:
    doc = yaml.safe_load(PLATFORM.read_text())
    doc["groups"] = groups
    return PlatformConfig.model_validate(doc)


@pytest.fixture
def config() -> PlatformConfig:
    return config_with(GROUPS)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    for d in ("alma-2019", "public-sky", "secret"):
        (tmp_path / "datasets" / d).mkdir(parents=True)
    return Site(data_dir=tmp_path, availability=AllLocal())


def spec(
    config: PlatformConfig,
    site: Site,
    options: dict[str, Any],
    groups: set[str] | frozenset[str] = frozenset(),
    usage: Usage | None = None,
) -> LaunchSpec:
    return plan_now(options, config, UserContext("u", frozenset(groups)), site, usage=usage)


def refusal(*args: Any, **kwargs: Any) -> LaunchRefused:
    with pytest.raises(LaunchRefused) as e:
        spec(*args, **kwargs)
    return e.value


LIMITS = [
    # groups, field, value, rules named
    (set(), "max_cores", 1, ("default",)),
    ({"alma"}, "max_cores", 2, ("alma",)),
    ({"alma", "desktops"}, "max_cores", 2, ("alma",)),  # desktops sets none: default applies
    ({"alma", "desktops"}, "max_ram", 4, ("desktops",)),
    ({"alma", "desktops"}, "max_sessions", 3, ("desktops",)),
    ({"batch", "alma"}, "max_jobs", 2, ("batch",)),
    ({"unknown-group"}, "max_total_cores", 2, ("default",)),
]


@pytest.mark.parametrize(("groups", "field", "value", "rules"), LIMITS)
def test_the_most_permissive_maximum_wins(
    config: PlatformConfig, groups: set[str], field: Any, value: float, rules: tuple[str, ...]
) -> None:
    got = limit(config, groups, field)
    assert (got.value, got.rules) == (value, rules)


def test_without_a_default_rule_nothing_is_limited() -> None:
    config = config_with({"alma": {"max_cores": 1}})
    assert math.isinf(limit(config, {"alma"}, "max_cores").value)
    assert entry_refusal(config, set(), config.entry("desktop")) is None


ENTRIES = [
    # groups, entry, refusal fragment (None: allowed)
    (set(), "notebook", None),
    (set(), "desktop", "Linux desktop is for members of alma, desktops"),
    (set(), "xterm", "Terminal is for members of desktops"),
    ({"alma"}, "casa-5.4", None),
    ({"alma"}, "desktop", None),
    ({"alma"}, "xterm", "Terminal is for members of desktops"),
    ({"desktops"}, "xterm", None),
    ({"batch"}, "batch", None),
    (set(), "batch", "Batch is for members of batch"),
]


@pytest.mark.parametrize(("groups", "name", "fragment"), ENTRIES)
def test_entries_are_the_union_of_the_users_rules(
    config: PlatformConfig, groups: set[str], name: str, fragment: str | None
) -> None:
    reason = entry_refusal(config, groups, config.entry(name))
    if fragment is None:
        assert reason is None
    else:
        assert reason is not None and fragment in reason


def test_kinds_only_reason_when_no_group_grants_the_entry() -> None:
    config = config_with({"default": {"kinds": ["notebook"]}})
    reason = entry_refusal(config, set(), config.entry("xterm"))
    assert reason == "your groups may use notebooks only (group policy)"


def test_a_group_rule_with_only_limits_opens_no_entries() -> None:
    config = config_with({"default": {"kinds": ["notebook"]}, "big": {"max_cores": 2}})
    assert entry_refusal(config, {"big"}, config.entry("desktop")) is not None


def test_entries_refused_with_403_naming_the_group_rule(config: PlatformConfig, site: Site) -> None:
    e = refusal(config, site, {"image": "xterm"})
    assert e.status == 403
    assert "you may not launch Terminal: Terminal is for members of desktops" in e.errors["image"]
    assert spec(config, site, {"image": "xterm"}, {"desktops"}).entry == "xterm"


SESSION_LIMITS = [
    # options, groups, field, message fragment
    ({"cores": 2}, set(), "cores", "above the maximum of 1 core per session for your groups "
     "(group policy: default)"),
    ({"ram": 2}, {"alma"}, "ram", "above the maximum of 1 GiB of RAM per session"),
    ({"ram": 1.5}, {"batch"}, "ram", "1.5 is above the maximum of 1 GiB of RAM per session for "
     "your groups (group policy: default)"),
]


@pytest.mark.parametrize(("options", "groups", "field", "fragment"), SESSION_LIMITS)
def test_per_session_limits_are_400_with_the_rule(
    config: PlatformConfig,
    site: Site,
    options: dict[str, Any],
    groups: set[str],
    field: str,
    fragment: str,
) -> None:
    e = refusal(config, site, options, groups)
    assert e.status == 400
    assert fragment in e.errors[field]


def test_platform_limit_stays_an_upper_bound(site: Site) -> None:
    config = config_with({"default": {"max_cores": 64}})
    e = refusal(config, site, {"cores": 3})
    assert e.errors["cores"] == "3 is above the maximum of 2 cores per session"


def test_within_group_limits_and_defaults_clamped(config: PlatformConfig, site: Site) -> None:
    assert spec(config, site, {"cores": 2, "ram": 1}, {"alma"}).cores == 2
    config = config_with({"default": {"max_ram": 0.5}})
    assert spec(config, site, {}).ram_gib == 0.5  # platform default 1 is above the group max


def test_datasets_granted_by_group_policy(config: PlatformConfig, site: Site) -> None:
    e = refusal(config, site, {"dataset": "secret-survey"})
    assert e.status == 403
    assert "it is for members of alma, survey-team" in e.errors["dataset"]
    assert spec(config, site, {"dataset": "secret-survey"}, {"alma"}).dataset == "secret-survey"


PROJECTS = [
    (set(), []),
    ({"alma"}, ["alma", "alma-shared"]),
    ({"batch", "bees", "cats"}, ["batch", "bees"]),
]


@pytest.mark.parametrize(("groups", "expected"), PROJECTS)
def test_project_spaces(config: PlatformConfig, groups: set[str], expected: list[str]) -> None:
    assert project_spaces(config, groups) == expected


def test_project_spaces_default_to_the_users_groups(site: Site) -> None:
    config = load_config(PLATFORM)
    assert project_spaces(config, {"x", "y"}) == ["x", "y"]
    config = config_with(GROUPS)
    mounts = spec(config, site, {}, {"alma"}).mounts_of(MountKind.project)
    assert [m.name for m in mounts] == ["alma", "alma-shared"]


TOTALS = [
    # usage, options, groups, field, fragment (None: allowed)
    (Usage(sessions=(Held(1, 1),)), {"cores": 1}, set(), None, None),
    (
        Usage(sessions=(Held(1, 1),), jobs=(Held(1, 0.5),)),
        {"cores": 1},
        set(),
        "cores",
        "1 more would make 3 cores in use, above the total of 2 cores your groups allow "
        "(group policy: default); you hold 2",
    ),
    (Usage(sessions=(Held(1, 1), Held(1, 0.5))), {"cores": 1, "ram": 0.5}, {"alma", "desktops"},
     None, None),
    (
        Usage(sessions=(Held(0.5, 1), Held(0.5, 1))),
        {"cores": 0.5, "ram": 0.5},
        set(),
        "",
        "you already have 2 sessions running and your groups allow 2 at once",
    ),
    (
        Usage(sessions=(Held(0.5, 1.5),)),
        {"cores": 0.5, "ram": 1},
        set(),
        "ram",
        "above the total of 2 GiB of RAM",
    ),
]


@pytest.mark.parametrize(("usage", "options", "groups", "field", "fragment"), TOTALS)
def test_totals_and_concurrency(
    config: PlatformConfig,
    site: Site,
    usage: Usage,
    options: dict[str, Any],
    groups: set[str],
    field: str | None,
    fragment: str | None,
) -> None:
    if field is None:
        spec(config, site, options, groups, usage)
        return
    e = refusal(config, site, options, groups, usage)
    assert e.status == 400
    assert fragment is not None and fragment in e.errors[field]


def test_platform_session_limit_caps_every_group(config: PlatformConfig, site: Site) -> None:
    """`policy.max_sessions` bounds running sessions even where a group allows more."""
    capped = config.model_copy(
        update={"policy": config.policy.model_copy(update={"max_sessions": 2})}
    )
    running = Usage(sessions=(Held(0.25, 0.25), Held(0.25, 0.25)))
    options = {"cores": 0.25, "ram": 0.25}
    e = refusal(capped, site, options, {"desktops"}, running)  # desktops allow 3
    assert e.errors[""] == (
        "you already have 2 sessions running and this platform allows 2 at once "
        "(platform limit); stop one first"
    )
    spec(capped, site, options, {"desktops"}, Usage(sessions=running.sessions[:1]))


def test_usage_counts_jobs_once_with_all_their_instances(
    config: PlatformConfig, site: Site
) -> None:
    one = spec(config, site, {"cores": 1, "ram": 1}, {"alma"})
    usage = Usage.of([one, None], [("j1", one), ("j1", one), ("j2", one)])
    assert len(usage.sessions) == 2 and len(usage.jobs) == 2
    assert (usage.cores, usage.ram_gib) == (4, 4)


def job(config: PlatformConfig, site: Site, groups: set[str], usage: Usage, **kw: Any) -> int:
    request = LaunchRequest(image="batch", cores=1, cmd=("true",), **kw)
    user = UserContext("u", frozenset(groups))
    return len(plan_job_now(request, config, user, site, usage=usage))


def test_jobs_follow_the_group_policy(config: PlatformConfig, site: Site) -> None:
    with pytest.raises(LaunchRefused) as e:
        job(config, site, set(), Usage())
    assert e.value.status == 403 and "Batch is for members of batch" in e.value.errors["image"]
    assert job(config, site, {"batch"}, Usage()) == 1
    with pytest.raises(LaunchRefused) as e:
        job(config, site, {"batch"}, Usage(jobs=(Held(0, 0), Held(0, 0))))
    assert "2 batch jobs running and your groups allow 2" in e.value.errors[""]
    with pytest.raises(LaunchRefused) as e:
        job(config, site, {"batch"}, Usage(), instances=3)
    assert "3 more would make 3 cores in use" in e.value.errors["cores"]


def test_the_form_offers_only_what_the_user_may_launch(config: PlatformConfig) -> None:
    page = render_form(config, AllLocal(), UserContext("u"))
    assert 'id="image-xterm"' in page
    assert ">Terminal is for members of desktops" in page
    cores = page.split('id="cores"')[1].split("</select>")[0]
    assert 'value="1"' in cores and 'value="2"' not in cores
    assert "secret-survey" not in page
    page = render_form(config, AllLocal(), UserContext("u", frozenset({"alma"})))
    cores = page.split('id="cores"')[1].split("</select>")[0]
    assert 'value="2"' in cores
    assert "secret-survey" in page
    only = config_with({"default": {"kinds": ["notebook"]}})
    page = render_form(only, AllLocal(), UserContext("u"))
    assert "your groups may use notebooks only" in page


def test_unknown_keys_in_a_rule_are_errors() -> None:
    with pytest.raises(ValueError, match="max_cpus"):
        config_with({"default": {"max_cpus": 1}})


def test_refusals_count_in_words_one_core_two_cores(site: Site) -> None:
    """A limit of one reads "1 core", "1 session", "1 instance", not "1 cores"."""
    config = config_with({"default": {"max_cores": 1, "max_total_cores": 1, "max_sessions": 1}})
    e = refusal(config, site, {"cores": 2})
    assert e.errors["cores"] == (
        "2 is above the maximum of 1 core per session for your groups (group policy: default)"
    )
    e = refusal(config, site, {"cores": 1}, usage=Usage(sessions=(Held(1, 1),)))
    assert e.errors[""] == (
        "you already have 1 session running and your groups allow 1 at once "
        "(group policy: default); stop one first"
    )
    assert e.errors["cores"] == (
        "1 more would make 2 cores in use, above the total of 1 core your groups allow "
        "(group policy: default); you hold 1 in running sessions and jobs"
    )
    one_job = config.model_copy(
        update={"jobs": config.jobs.model_copy(update={"max_replicas": 1})}
    )
    with pytest.raises(LaunchRefused) as refused:
        job(one_job, site, {"batch"}, Usage(), instances=2)
    assert refused.value.errors["replicas"] == "2 is above the maximum of 1 instance per job"

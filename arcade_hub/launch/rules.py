"""Group policy: combine the `groups` rules that apply to a user into what the user may do.

Precedence, in one place:

- the rules that apply are `default` (everyone) and the rule of each group the user is in;
- the most permissive wins: allow-lists are joined and the largest maximum counts;
- under `default` an unset field means "no restriction"; in a group's rule it grants nothing
  beyond `default` (so a rule that only raises `max_cores` does not open every entry);
- the platform-wide limits (`resources`, `policy.max_sessions`) stay an upper bound.

Everything here is pure: usage of running sessions and jobs is passed in as `Usage`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

from arcade_hub.config import CatalogueEntry, Dataset, GroupRule, Kind, PlatformConfig
from arcade_hub.launch.spec import LaunchSpec, amount, counted

DEFAULT = "default"
KIND_WORDS = {
    Kind.notebook: "notebooks",
    Kind.desktop: "desktops",
    Kind.desktop_app: "desktop apps",
    Kind.headless: "batch jobs",
}

MaxField = Literal[
    "max_cores",
    "max_ram",
    "max_gpus",
    "max_total_cores",
    "max_total_ram",
    "max_sessions",
    "max_jobs",
]


@dataclass(frozen=True)
class Held:
    """Cores and RAM held by one running session or one unfinished job (all instances)."""

    cores: float
    ram_gib: float


@dataclass(frozen=True)
class Usage:
    """What a user already runs: interactive sessions and batch jobs that have not ended."""

    sessions: tuple[Held, ...] = ()
    jobs: tuple[Held, ...] = ()

    @property
    def cores(self) -> float:
        return sum(h.cores for h in (*self.sessions, *self.jobs))

    @property
    def ram_gib(self) -> float:
        return sum(h.ram_gib for h in (*self.sessions, *self.jobs))

    @classmethod
    def of(
        cls,
        sessions: Iterable[LaunchSpec | None],
        job_instances: Iterable[tuple[str, LaunchSpec]],
    ) -> Usage:
        """From the specs of active sessions and (job id, spec) of unfinished job instances.

        A session without a spec still counts as a session, holding nothing."""
        held = [Held(s.cores, s.ram_gib) if s else Held(0, 0) for s in sessions]
        jobs: dict[str, Held] = {}
        for job_id, spec in job_instances:
            before = jobs.get(job_id, Held(0, 0))
            jobs[job_id] = Held(before.cores + spec.cores, before.ram_gib + spec.ram_gib)
        return cls(sessions=tuple(held), jobs=tuple(jobs.values()))


@dataclass(frozen=True)
class Limit:
    """The maximum a user gets for one field, and which rules give it (for messages)."""

    value: float
    rules: tuple[str, ...]

    @property
    def bounded(self) -> bool:
        return not math.isinf(self.value)

    @property
    def source(self) -> str:
        if self.rules == (PLATFORM,):
            return "platform limit"
        names = ", ".join(self.rules)
        return f"group policy: {names}" if len(self.rules) == 1 else f"group policies: {names}"


def rules_for(config: PlatformConfig, groups: Iterable[str]) -> list[tuple[str, GroupRule]]:
    """(name, rule) of every rule that applies: `default` first, then the user's groups."""
    default = config.groups.get(DEFAULT, GroupRule())
    mine = sorted(g for g in set(groups) if g != DEFAULT and g in config.groups)
    return [(DEFAULT, default), *((g, config.groups[g]) for g in mine)]


def limit(config: PlatformConfig, groups: Iterable[str], field: MaxField) -> Limit:
    """The most permissive maximum for `field` over the user's rules (inf: no limit)."""
    best = -math.inf
    names: list[str] = []
    for name, rule in rules_for(config, groups):
        value = getattr(rule, field)
        if value is None:
            if name == DEFAULT:
                return Limit(math.inf, (DEFAULT,))
            continue
        if value > best:
            best, names = value, [name]
        elif value == best:
            names.append(name)
    return Limit(best, tuple(names))


PLATFORM = "platform"
"""Names the platform-wide limits (`resources`, `policy.max_sessions`) as a limit's source."""


@dataclass(frozen=True)
class UserLimits:
    """Everything a user's groups allow at most, capped by the platform's own limits: per
    session (cores, RAM in GiB, GPUs) and at once (cores, RAM, sessions, batch jobs).
    An unbounded limit has the value `inf`."""

    cores: Limit
    ram: Limit
    gpus: Limit
    total_cores: Limit
    total_ram: Limit
    sessions: Limit
    jobs: Limit


def user_limits(config: PlatformConfig, groups: Iterable[str]) -> UserLimits:
    """What the group policy (and, above it, the platform) lets a user with `groups` hold."""
    groups = frozenset(groups)
    r = config.resources

    def capped(field: MaxField, platform_max: float) -> Limit:
        mine = limit(config, groups, field)
        return mine if mine.value <= platform_max else Limit(platform_max, (PLATFORM,))

    return UserLimits(
        cores=capped("max_cores", r.cores.max),
        ram=capped("max_ram", r.ram.max),
        gpus=capped("max_gpus", r.gpus.max),
        total_cores=limit(config, groups, "max_total_cores"),
        total_ram=limit(config, groups, "max_total_ram"),
        sessions=capped("max_sessions", config.policy.max_sessions),
        jobs=limit(config, groups, "max_jobs"),
    )


def _rule_allows(name: str, rule: GroupRule, entry: CatalogueEntry) -> bool:
    if name != DEFAULT and rule.entries is None and rule.kinds is None:
        return False  # a group rule without entries or kinds grants no entries
    if rule.kinds is not None and entry.kind not in rule.kinds:
        return False
    return rule.entries is None or any(fnmatchcase(entry.name, p) for p in rule.entries)


def entry_refusal(
    config: PlatformConfig, groups: Iterable[str], entry: CatalogueEntry
) -> str | None:
    """Why the user's groups may not launch `entry`, or None when they may."""
    rules = rules_for(config, groups)
    if any(_rule_allows(n, r, entry) for n, r in rules):
        return None
    granting = [g for g, r in config.groups.items() if g != DEFAULT and _rule_allows(g, r, entry)]
    if granting:
        return f"{entry.title} is for members of {', '.join(sorted(granting))} (group policy)"
    kinds: set[Kind] = set()
    for name, rule in rules:
        if rule.kinds is not None:
            kinds |= set(rule.kinds)
        elif name == DEFAULT or rule.entries is not None:
            kinds |= set(Kind)
    if entry.kind not in kinds:
        allowed = [KIND_WORDS[k] for k in Kind if k in kinds]
        if not allowed:
            return "your groups may not launch anything here (group policy)"
        return f"your groups may use {' and '.join(allowed)} only (group policy)"
    return f"{entry.title} is not among the entries your groups may use (group policy)"


def custom_images_granted(config: PlatformConfig, groups: Iterable[str]) -> bool:
    return any(rule.custom_images for _, rule in rules_for(config, groups))


def dataset_granted(config: PlatformConfig, groups: Iterable[str], dataset: Dataset) -> bool:
    """Whether a rule of the user's lists `dataset` (in addition to `Dataset.groups`)."""
    return any(
        fnmatchcase(dataset.id, p) for _, rule in rules_for(config, groups) for p in rule.datasets
    )


def dataset_granting_groups(config: PlatformConfig, dataset: Dataset) -> list[str]:
    """Groups whose rules grant `dataset`, for refusal messages."""
    return sorted(
        g
        for g, rule in config.groups.items()
        if g != DEFAULT and any(fnmatchcase(dataset.id, p) for p in rule.datasets)
    )


def project_spaces(config: PlatformConfig, groups: Iterable[str]) -> list[str]:
    """Project spaces a session of the user mounts, sorted."""
    mine = set(groups)
    rules = rules_for(config, mine)
    if all(rule.projects is None for _, rule in rules):
        return sorted(mine)
    spaces: set[str] = set()
    for _, rule in rules:
        for pattern in rule.projects or []:
            if any(c in pattern for c in "*?["):
                spaces |= {g for g in mine if fnmatchcase(g, pattern)}
            else:
                spaces.add(pattern)
    return sorted(spaces)


def check_totals(
    config: PlatformConfig,
    groups: Iterable[str],
    usage: Usage,
    *,
    cores: float,
    ram_gib: float,
    what: Literal["session", "job"],
) -> dict[str, str]:
    """Refusals (field -> message) when starting a `what` holding `cores`/`ram_gib` would
    exceed the user's concurrency or totals."""
    groups = frozenset(groups)
    errors: dict[str, str] = {}
    limits = user_limits(config, groups)
    count = limits.sessions if what == "session" else limits.jobs
    running = usage.sessions if what == "session" else usage.jobs
    noun = "session" if what == "session" else "batch job"
    if count.bounded and len(running) + 1 > count.value:
        who = "this platform allows" if count.rules == (PLATFORM,) else "your groups allow"
        errors[""] = (
            f"you already have {counted(len(running), noun)} running and {who} "
            f"{count.value:g} at once ({count.source}); stop one first"
        )
    for key, asked, held, field in (
        ("cores", cores, usage.cores, "max_total_cores"),
        ("ram", ram_gib, usage.ram_gib, "max_total_ram"),
    ):
        total = limit(config, groups, field)  # type: ignore[arg-type]
        if total.bounded and held + asked > total.value:
            errors[key] = (
                f"{asked:g} more would make {amount(key, held + asked)} in use, above the "
                f"total of {amount(key, total.value)} your groups allow ({total.source}); you hold "
                f"{held:g} in running sessions and jobs"
            )
    return errors


__all__ = [
    "DEFAULT",
    "Held",
    "Limit",
    "Usage",
    "UserLimits",
    "check_totals",
    "custom_images_granted",
    "dataset_granted",
    "dataset_granting_groups",
    "entry_refusal",
    "limit",
    "project_spaces",
    "rules_for",
    "user_limits",
]

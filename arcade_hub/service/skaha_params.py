"""Parse a skaha `POST /session` into an interactive launch or a batch job request (pure).

skaha sends everything as query or form parameters: `name`, `image`, `cores`, `ram`, `gpus`,
`type`, `cmd`, `args` (one string, split like a shell), `env` (repeated `KEY=VALUE`). Arcade adds
`replicas` (instances of one job, server-side), `param` (repeated, one per instance) or `params`
(text, one line per instance) and `dataset`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from arcade_hub import shellwords
from arcade_hub.config import Kind, PlatformConfig
from arcade_hub.launch.request import LaunchRefused, LaunchRequest, parse_request
from arcade_hub.service import limits
from arcade_hub.service.limits import shorten, shown

Params = dict[str, list[str]]
TYPES = {k.value: k for k in Kind}
NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{limits.NAME_LIMIT - 1}}}")
ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
HEADLESS_ONLY = ("cmd", "args", "env", "param", "params")
KNOWN = {"name", "image", "cores", "ram", "gpus", "type", "replicas", "dataset", *HEADLESS_ONLY}


@dataclass(frozen=True)
class Interactive:
    name: str
    kind: Kind
    options: dict[str, Any]
    """`user_options` for the hub: the same path, and the same policy, as the launch form."""


@dataclass(frozen=True)
class Job:
    name: str
    request: LaunchRequest
    """For the planner (`Purpose.job`), like the Batch page's."""
    problems: dict[str, str] = field(default_factory=dict)
    """What is wrong besides what the planner will find (the name): refused with the
    planner's findings, so a form shows every problem at once."""
    held: bool = False
    """Planned now, started when its owner runs it (a UWS job created without PHASE=RUN)."""
    run_id: str = ""
    destruction: float | None = None
    duration: float | None = None
    """UWS: the client's label, when to archive the job, how long it may run (seconds)."""


def parse_create(params: Params, config: PlatformConfig) -> Interactive | Job:
    """Raise LaunchRefused (400) with every problem found. Sizes and NUL characters are
    checked first: nothing too long is parsed."""
    errors = _unfit(params)
    if errors:
        raise LaunchRefused(errors)
    unknown = sorted(set(params) - KNOWN)
    if unknown:
        listed = ", ".join(shown(k) for k in unknown[:5]) + (", …" if len(unknown) > 5 else "")
        errors[shorten(unknown[0])] = (
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {listed}; "
            f"accepted: {', '.join(sorted(KNOWN))}"
        )
    one = {k: _one(params, k, errors) for k in KNOWN - {"env", "param"}}
    name = one["name"]
    if not name:
        errors["name"] = "give the session a name"
    elif not NAME.fullmatch(name):
        errors["name"] = (
            f"{shown(name)} is not a valid name: use letters, digits, '.', '_' or '-' "
            f"(at most {limits.NAME_LIMIT}, starting with a letter or digit)"
        )
    kind = _kind(one["type"], errors)
    image = one["image"]
    entry_name: str | None = None
    if not image:
        errors["image"] = "give an image: a catalogue name or image reference (see GET /image)"
    else:
        entry_name, kind = _resolve(image, kind, config, errors)

    if kind is not None and kind != Kind.headless:
        # The canfar client sends REPLICA_ID/REPLICA_COUNT with every create: ignore those.
        params = {**params, "env": [e for e in params.get("env", []) if not _replica_env(e)]}
        given = [k for k in HEADLESS_ONLY if params.get(k)]
        if given:
            errors[given[0]] = f"{', '.join(given)} apply to headless sessions only"
    replicas = _whole(one["replicas"], "replicas", errors)
    if kind is not None and kind != Kind.headless and replicas not in (None, 1):
        errors["replicas"] = f"a {kind.value} session has one instance, not {replicas}"

    options = {k: one[k] for k in ("cores", "ram", "gpus", "dataset") if one[k] is not None}
    if errors and (set(errors) != {"name"} or kind != Kind.headless):
        raise LaunchRefused(errors)
    assert kind is not None and image is not None
    options["image"] = entry_name or image
    if kind != Kind.headless:
        return Interactive(name=name or "", kind=kind, options=options)
    request = parse_request({
        **options,
        "cmd": _split(one["cmd"], "cmd"),
        "args": _split(one["args"], "args"),
        "env": _env(params.get("env", [])),
        "instances": replicas,
        "params": _params(params.get("param", []), one["params"]),
    })  # fmt: skip
    return Job(name=name or "", request=request, problems=errors)


def _unfit(params: Params) -> dict[str, str]:
    """Fields too long or too many, and NUL characters (no program argument, environment
    variable or name can carry one), by field."""
    errors: dict[str, str] = {}
    for key, values in params.items():
        if key not in KNOWN:
            continue
        for value in values:
            name, _, val = value.partition("=")
            what = f"env {shown(name)}" if key == "env" else key
            if "\0" in value:
                errors[key] = f"{what} contains a NUL character (\\0), which it cannot carry"
            elif key == "env":
                problem = limits.too_long(
                    f"env name {shown(name)}", name, limits.ENV_KEY_LIMIT
                ) or limits.too_long(what, val, limits.ENV_VALUE_LIMIT)
                if problem:
                    errors[key] = problem
            elif problem := limits.too_long(key, value):
                errors[key] = problem
            if key in errors:
                break
    lines = [line for text in params.get("params", []) for line in text.splitlines()]
    lines += params.get("param", [])
    if "params" not in errors and len(lines) > limits.PARAM_LINES_LIMIT:
        errors["params"] = (
            f"{len(lines):,} parameter lines; the limit is {limits.PARAM_LINES_LIMIT:,}"
        )
    elif "params" not in errors:
        for number, line in enumerate(lines, start=1):
            if len(line) > limits.PARAM_LINE_LIMIT:
                errors["params"] = (
                    f"parameter line {number} is {len(line):,} characters long; "
                    f"the limit is {limits.PARAM_LINE_LIMIT:,}"
                )
                break
    if len(params.get("env", [])) > limits.ENV_COUNT_LIMIT:
        errors["env"] = (
            f"{len(params['env'])} env variables; the limit is {limits.ENV_COUNT_LIMIT}"
        )
    return errors


def _replica_env(item: str) -> bool:
    return item.partition("=")[0] in ("REPLICA_ID", "REPLICA_COUNT")


def _one(params: Params, key: str, errors: dict[str, str]) -> str | None:
    values = params.get(key) or []
    if len(values) > 1:
        errors[key] = f"give one {key}, not {len(values)}"
        return None
    value = values[0].strip() if values else ""
    return value or None


def _kind(value: str | None, errors: dict[str, str]) -> Kind | None:
    if value is None:
        return None
    kind = TYPES.get(value.lower())
    if kind is None:
        errors["type"] = (
            f"unknown session type {shown(value)}; this platform offers: {', '.join(TYPES)}"
        )
    return kind


def _resolve(
    image: str, kind: Kind | None, config: PlatformConfig, errors: dict[str, str]
) -> tuple[str | None, Kind | None]:
    """The catalogue entry named by `image` (its name or its image reference) and the kind."""
    matches = [e for e in config.catalogue if image in (e.name, e.image)]
    fitting = [e for e in matches if kind is None or e.kind == kind]
    if fitting:
        return fitting[0].name, fitting[0].kind
    if matches:
        kinds = ", ".join(sorted({e.kind.value for e in matches}))
        errors["image"] = f"{shown(image)} is a {kinds} image, not {kind.value if kind else ''}"
        return None, kind
    if kind == Kind.headless:
        batch = ", ".join(e.name for e in config.catalogue if e.kind == Kind.headless)
        errors["image"] = (
            f"{shown(image)} is not a batch image in the catalogue (choose: {batch})"
        )
    return None, kind or Kind.notebook


def _whole(value: str | None, key: str, errors: dict[str, str]) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        errors[key] = f"{shown(value)} is not a whole number"
        return None


def _split(value: str | None, key: str) -> list[str]:
    if not value:
        return []
    try:
        return shellwords.split(value)
    except ValueError as e:
        raise LaunchRefused({key: f"cannot split {shown(value)} into words: {e}"}) from None


def _env(values: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not ENV_KEY.fullmatch(key):
            raise LaunchRefused(
                {"env": f"{shown(item)} is not KEY=VALUE with a variable name as KEY"}
            )
        env[key] = value
    return env


def _params(listed: list[str], text: str | None) -> tuple[str, ...]:
    """One parameter line per instance (the planner checks each splits like a shell line)."""
    if listed and text:
        raise LaunchRefused({"params": "give either repeated `param` or one `params` text"})
    return tuple(line.strip() for line in listed or (text or "").splitlines() if line.strip())

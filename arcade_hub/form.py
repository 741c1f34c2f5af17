"""Render the launch form from the platform document, the backend and the user's last attempt."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jinja2

from arcade_hub.casa.detect import Detected
from arcade_hub.config import Choices, Kind, PlatformConfig
from arcade_hub.config.casa_versions import Candidate, choose
from arcade_hub.images.discovery import Snapshot
from arcade_hub.launch.choices import (
    UserContext,
    custom_images_allowed,
    dataset_allowed,
    resource_max,
)
from arcade_hub.launch.request import CUSTOM
from arcade_hub.launch.rules import entry_refusal
from arcade_hub.launch.site import Availability
from arcade_hub.sizes import format_gib

GROUP_TITLES = {
    Kind.notebook: ("Notebooks", ""),
    Kind.desktop: ("Desktops", ""),
    Kind.desktop_app: ("Desktop apps", "Each opens on a new desktop of its own."),
}

BATCH_URL = "/services/arcade/jobs/new"


@dataclass
class FormState:
    """Values a user submitted and the errors they got, to show the form again."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("arcade_hub", "templates"),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
    )


def render_form(
    config: PlatformConfig,
    availability: Availability,
    user: UserContext,
    state: FormState | None = None,
    discovery: Snapshot | None = None,
    batch_url: str = BATCH_URL,
    casa_needed: Mapping[str, Detected] | None = None,
) -> str:
    """The form's HTML. `config` may include discovered entries (`discovery.entries`);
    `batch_url` is the arcade service's Batch page, linked from the Interactive | Batch switch;
    `casa_needed` the CASA version each dataset needs, and where that is said (the planner's
    `dataset_casa`): choosing the dataset selects the CASA entry that serves it, or says why
    none can and offers the nearest."""
    state = state or FormState()
    discovery = discovery or Snapshot()
    values = {k: _first(v) for k, v in state.values.items()}
    values.setdefault("image", config.default_entry.name)
    resources = resource_fields(config, user, values)
    gpus, gpu_max = resource_max(config, user, "gpus")
    if min(gpus.max, gpu_max.value) > 0:
        resources.append(_select("gpus", "GPUs", gpus, gpu_max.value, values, _num))
    return (
        _environment()
        .get_template("launch_form.html")
        .render(
            groups=_groups(config, availability, user, discovery.names),
            custom_allowed=custom_images_allowed(config, user)
            and availability.runs_image_references,
            discovery_note=discovery.unavailable,
            resources=resources,
            datasets=_datasets(config, availability, user, casa_needed or {}),
            values=values,
            errors=state.errors,
            custom=CUSTOM,
            batch_url=batch_url,
        )
    )


def _groups(
    config: PlatformConfig,
    availability: Availability,
    user: UserContext,
    discovered: frozenset[str],
) -> list[dict[str, Any]]:
    groups = []
    for kind, (title, note) in GROUP_TITLES.items():
        items = [
            {
                "name": e.name,
                "title": e.title,
                "description": e.description,
                "versions": sorted(e.versions.items()),
                "casa": e.casa_version,
                "reason": entry_refusal(config, user.groups, e)
                or availability.unavailable_reason(e),
                "discovered": e.name in discovered,
                "search": " ".join(
                    [e.name, e.title, e.description, *e.versions.values(), e.group]
                ).lower(),
            }
            for e in config.catalogue
            if e.kind == kind
        ]
        if items:
            groups.append({"kind": kind.value, "title": title, "note": note, "entries": items})
    return groups


def _datasets(
    config: PlatformConfig,
    availability: Availability,
    user: UserContext,
    needed: Mapping[str, Detected],
) -> list[dict[str, Any]]:
    """The datasets the user may use, each with the CASA entry to select and what to say."""
    candidates = [
        Candidate(e.name, e.title, e.casa_version,
                  entry_refusal(config, user.groups, e) or availability.unavailable_reason(e))
        for e in config.catalogue
        if e.casa_version and e.kind != Kind.headless
    ]  # fmt: skip
    found = []
    for d in config.datasets:
        if not dataset_allowed(d, user, config):
            continue
        item: dict[str, Any] = {"id": d.id, "title": d.title, "casa": None}
        if (wanted := needed.get(d.id)) is not None:
            source = "" if wanted.source == "the platform configuration" else (
                f"recorded in {wanted.source}")  # fmt: skip
            choice = choose(wanted.version, candidates, source)
            item.update(casa=wanted.version, select=choice.selected or "", note=choice.note)
        found.append(item)
    return found


def resource_fields(
    config: PlatformConfig, user: UserContext, values: dict[str, Any]
) -> list[dict[str, Any]]:
    """Cores and RAM selects offering what the platform and the user's groups allow; the
    launch form and the Batch page both use them."""
    return [
        _select("cores", "Cores", *resource_max(config, user, "cores"), values, _num),
        _select("ram", "RAM", *resource_max(config, user, "ram"), values, format_gib),
    ]


def _select(
    key: str, label: str, choices: Choices, most: Any, values: dict[str, Any], fmt: Any
) -> dict[str, Any]:
    """A select offering the platform's choices up to the user's maximum (`most`: a float or
    a group `Limit`)."""
    top = min(choices.max, getattr(most, "value", most))
    offered = [c for c in choices.choices if c <= top] or [max(top, choices.min)]
    default = min(choices.default, max(top, choices.min))
    selected = str(values.get(key, "")) or _num(default)
    options = [(_num(c), fmt(c)) for c in offered]
    if selected not in [v for v, _ in options]:
        options.append((selected, selected))
    return {"key": key, "label": label, "options": options, "selected": selected}


def _num(value: float) -> str:
    return f"{value:g}"


def _first(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value

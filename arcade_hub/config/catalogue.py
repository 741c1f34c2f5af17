"""The catalogue (what users can launch), resources and datasets."""

from __future__ import annotations

import contextlib

from pydantic import Field, field_validator, model_validator

from arcade_hub.config.base import NAME_PATTERN, Kind, Model, holds_a_secret
from arcade_hub.sizes import parse_gib


class LocalRuntime(Model):
    """How the embedded (local) backend runs a catalogue entry without containers."""

    cmd: list[str] | None = Field(
        None,
        title="Command",
        description=(
            "Command to run. Notebook and desktop entries default to `jupyterhub-singleuser`; "
            "desktop-app entries name the X program (e.g. `[xterm]`), which app containers "
            "(podman, pods on Kubernetes) also start when the image's own command is not it; "
            "headless entries the program to run before the job's own arguments."
        ),
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        title="Environment",
        description="Extra environment variables for this entry on the embedded backend.",
    )
    requires: list[str] = Field(
        default_factory=list,
        title="Required executables",
        description=(
            "Executables that must be on PATH for the entry to be offered. When one is missing "
            "the entry is shown as unavailable with `missing_hint`."
        ),
    )
    missing_hint: str = Field(
        "",
        title="Hint when unavailable",
        description=(
            "What to tell users and operators when a required executable is missing, e.g. "
            "`Install it with: arcade-hub apps install casa-6.7.0`."
        ),
    )


class KubeRuntime(Model):
    """How the Kubernetes backend runs a catalogue entry, where the entry differs from its kind."""

    cmd: list[str] = Field(
        min_length=1,
        title="Command",
        description=(
            "Headless entries: the program the batch image's entrypoint starts before the "
            "job's own command, instead of `backend.kubernetes.commands.headless`, e.g. "
            "`[casa, --python]` for a CASA batch entry (the job's `cmd` is then the script)."
        ),
    )


class CatalogueEntry(Model):
    """One launchable piece of software."""

    name: str = Field(
        title="Name",
        description="Stable identifier used in URLs and the REST API (`user_options.image`).",
        pattern=NAME_PATTERN,
    )
    title: str = Field(title="Title", description="Human-readable name shown in the form.")
    description: str = Field("", title="Description", description="One or two sentences.")
    kind: Kind = Field(
        title="Kind",
        description=(
            "`notebook` (JupyterLab), `desktop` (Linux desktop in the browser), "
            "`desktop-app` (an X program launched into a desktop) or `headless` (batch)."
        ),
    )
    image: str = Field(
        title="Image reference",
        description=(
            "OCI image reference used by container backends (Kubernetes, podman), "
            "`host[:port]/repository:tag` or `…@sha256:…`: no URL scheme and no credentials "
            "(those go in `images.registries`)."
        ),
        min_length=1,
    )
    versions: dict[str, str] = Field(
        default_factory=dict,
        title="Versions",
        description="Software versions the image provides, e.g. `{casa: '6.7'}`.",
    )
    group: str = Field(
        "",
        title="Menu group",
        description="Group in the desktop menu and form, e.g. `CASA`. Defaults to the kind.",
    )
    local: LocalRuntime | None = Field(
        None,
        title="Embedded runtime",
        description=(
            "How the embedded backend runs this entry as local processes. Entries without it "
            "need a container runtime on the embedded backend."
        ),
    )

    kubernetes: KubeRuntime | None = Field(
        None,
        title="Kubernetes runtime",
        description=(
            "How the Kubernetes backend runs this entry, where it differs from what "
            "`backend.kubernetes` says for its kind (headless entries: their command)."
        ),
    )

    @model_validator(mode="after")
    def _kubernetes_for_headless(self) -> CatalogueEntry:
        if self.kubernetes is not None and self.kind != Kind.headless:
            raise ValueError(
                f"`kubernetes.cmd` is for headless (batch) entries; {self.name} is a "
                f"{self.kind.value}: remove its `kubernetes` block"
            )
        return self

    @field_validator("image")
    @classmethod
    def _no_url(cls, image: str) -> str:
        # an image reference is logged with every launch: no password may ride in it
        host, slash, _ = image.partition("/")
        if "://" in image or (slash and "@" in host):  # (`name@sha256:…` is a digest)
            raise holds_a_secret(
                "an image reference has no URL scheme and no user name or password: write "
                "host[:port]/repository:tag and give the registry's credentials in "
                "images.registries (password_env)"
            )
        return image

    @property
    def casa_version(self) -> str | None:
        return self.versions.get("casa")


class Choices(Model):
    """A numeric resource: the choices offered, the default and the maximum."""

    choices: list[float] = Field(title="Choices", description="Values offered in the form.")
    default: float = Field(title="Default", description="Value used when none is given.")
    max: float = Field(
        title="Maximum",
        description="Largest value accepted from the REST API (the form offers `choices`).",
    )
    min: float = Field(
        title="Minimum",
        description="Smallest value accepted (default: the smallest choice).",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_min(cls, data: object) -> object:
        if isinstance(data, dict) and "min" not in data:
            choices = data.get("choices")
            if isinstance(choices, list) and choices:
                # a bad choice is reported by the field validators
                with contextlib.suppress(TypeError, ValueError):
                    data = {**data, "min": min(ram_value(c) for c in choices)}  # type: ignore[type-var]
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Choices:
        if not self.choices:
            raise ValueError("choices must not be empty")
        if not self.min <= self.default <= self.max:
            raise ValueError(
                f"default {self.default:g} must lie between min {self.min:g} and max {self.max:g}"
            )
        over = [c for c in self.choices if not self.min <= c <= self.max]
        if over:
            raise ValueError(f"choices {over} lie outside min {self.min:g} .. max {self.max:g}")
        return self


def ram_value(value: object) -> object:
    if isinstance(value, str):
        return parse_gib(value)
    return value


class RamChoices(Choices):
    """RAM in GiB; values may also be written as sizes such as `8G` or `512M`."""

    @field_validator("choices", mode="before")
    @classmethod
    def _sizes(cls, value: object) -> object:
        if isinstance(value, list):
            return [ram_value(v) for v in value]
        return value

    @field_validator("default", "max", "min", mode="before")
    @classmethod
    def _size(cls, value: object) -> object:
        return ram_value(value)


class Resources(Model):
    """Cores, RAM and GPUs a session may ask for."""

    cores: Choices = Field(
        default_factory=lambda: Choices(choices=[1, 2], default=1, max=2, min=0.25),
        title="Cores",
        description="CPU cores per session (fractions allowed through the REST API).",
    )
    ram: RamChoices = Field(
        default_factory=lambda: RamChoices(choices=[1, 2, 4], default=2, max=8, min=0.25),
        title="RAM (GiB)",
        description="Memory per session in GiB.",
    )
    gpus: Choices = Field(
        default_factory=lambda: Choices(choices=[0], default=0, max=0, min=0),
        title="GPUs",
        description="GPUs per session.",
    )

    @field_validator("cores", "ram")
    @classmethod
    def _positive(cls, value: Choices) -> Choices:
        if value.min <= 0:
            raise ValueError("min must be greater than 0")
        return value

    @field_validator("gpus")
    @classmethod
    def _whole_gpus(cls, value: Choices) -> Choices:
        if any(c != int(c) for c in [*value.choices, value.default, value.max]):
            raise ValueError("GPU counts must be whole numbers")
        return value


class Dataset(Model):
    """A read-only dataset that sessions can mount."""

    id: str = Field(
        title="Identifier", description="Used in `user_options.dataset`.", pattern=NAME_PATTERN
    )
    title: str = Field(title="Title", description="Shown in the form.")
    description: str = Field("", title="Description", description="One or two sentences.")
    path: str = Field(
        title="Location",
        description="Where the data lives on the host (embedded backend, Kubernetes hostPath).",
    )
    groups: list[str] = Field(
        default_factory=list,
        title="Groups",
        description="Groups whose members may use the dataset. Empty means everyone.",
    )
    casa_version: str | None = Field(
        None,
        title="Required CASA version",
        description=(
            "CASA version this dataset needs (ALMA data is reduced with a specific CASA). "
            "Selecting the dataset preselects a matching CASA entry; mismatches are refused. "
            "Set, it overrides what `casa_version_from_data` finds."
        ),
    )
    casa_version_from_data: bool = Field(
        False,
        title="CASA version from the data",
        description=(
            "Read the CASA version from the data when `casa_version` is not set: an ALMA "
            "pipeline manifest (`casaversion`), a MeasurementSet's HISTORY (`version:` rows "
            "that CASA writes; needs `arcade-hub[casa]`) or a delivery README."
        ),
    )

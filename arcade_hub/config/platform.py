"""The whole platform document.

Every setting carries a title and a description; the configuration reference in
``docs/reference/configuration.md`` is generated from them (``arcade-hub config-reference``).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from arcade_hub.config.auth import AuthConfig
from arcade_hub.config.backends import Backend
from arcade_hub.config.base import SESSION_KINDS, Kind, Model
from arcade_hub.config.casa_versions import satisfies
from arcade_hub.config.catalogue import CatalogueEntry, Dataset, Resources
from arcade_hub.config.images import ImagesConfig
from arcade_hub.config.lifetimes import Jobs, SessionsApi
from arcade_hub.config.policy import GroupRule, Policy
from arcade_hub.config.storage import StorageRoots
from arcade_hub.config.vospace import VospaceConfig
from arcade_hub.config.web import WebConfig
from arcade_hub.quoting import shown


class PlatformConfig(Model):
    """The whole platform document."""

    title: str = Field("Arcade Hub", title="Title", description="Shown in page titles.")
    catalogue: list[CatalogueEntry] = Field(
        title="Catalogue", description="Everything users can launch.", min_length=1
    )
    resources: Resources = Field(
        default_factory=Resources, title="Resources", description="Cores, RAM and GPUs."
    )
    datasets: list[Dataset] = Field(
        default_factory=list, title="Datasets", description="Read-only datasets."
    )
    storage: StorageRoots = Field(
        default_factory=StorageRoots, title="Storage", description="Homes, projects, scratch."
    )
    backend: Backend = Field(
        default_factory=Backend, title="Backend", description="Where sessions run."
    )
    auth: AuthConfig = Field(
        default_factory=AuthConfig, title="Authentication", description="Login and groups."
    )
    policy: Policy = Field(
        default_factory=Policy, title="Policy", description="Launch rules for everyone."
    )
    web: WebConfig = Field(
        default_factory=WebConfig,
        title="Web address",
        description="The public URL and per-user subdomains (isolation of users' sessions).",
    )
    groups: dict[str, GroupRule] = Field(
        default_factory=dict,
        title="Group policy",
        description=(
            "Per group (key: the group's name; `default`: everyone) the entries, datasets, "
            "project spaces and resources allowed. A user's rules are `default` plus those of "
            "the user's groups, and the most permissive wins (allow-lists join, the largest "
            "maximum counts). Unset under `default`: no restriction; unset in a group's rule: "
            "nothing beyond `default`. `resources` and `policy.max_sessions` stay upper bounds."
        ),
    )
    sessions: SessionsApi = Field(
        default_factory=SessionsApi,
        title="Sessions API",
        description="Lifetime of interactive sessions started through the form or the API.",
    )
    jobs: Jobs = Field(
        default_factory=Jobs, title="Batch jobs", description="Headless batch jobs."
    )
    images: ImagesConfig = Field(
        default_factory=ImagesConfig,
        title="Images",
        description="Registries, catalogue discovery and the image launch policy.",
    )
    vospace: VospaceConfig = Field(
        default_factory=VospaceConfig,
        title="VOSpace storage service",
        description="Homes and project spaces over VOSpace 2.1, for CADC's `vos` client.",
    )

    @model_validator(mode="after")
    def _cross_references(self) -> PlatformConfig:
        _unique("catalogue", [e.name for e in self.catalogue])
        _unique("datasets", [d.id for d in self.datasets])
        names = {e.name for e in self.catalogue}
        default = self.policy.default_image
        if default is not None:
            if default not in names:
                raise ValueError(f"policy.default_image {shown(default)} is not a catalogue entry")
            if self.entry(default).kind not in SESSION_KINDS:
                raise ValueError(
                    f"policy.default_image {shown(default)} must be a notebook or desktop"
                )
        elif not any(e.kind in SESSION_KINDS for e in self.catalogue):
            raise ValueError("the catalogue needs at least one notebook or desktop entry")
        casa = {e.casa_version for e in self.catalogue if e.casa_version}
        for d in self.datasets:
            if d.casa_version and not any(satisfies(v, d.casa_version) for v in casa):
                raise ValueError(
                    f"dataset {d.id!r} needs CASA {d.casa_version} but no catalogue entry "
                    f"provides it (have: {', '.join(sorted(casa)) or 'none'})"
                )
        return self

    def entry(self, name: str) -> CatalogueEntry:
        for e in self.catalogue:
            if e.name == name:
                return e
        raise KeyError(name)

    def dataset(self, dataset_id: str) -> Dataset:
        for d in self.datasets:
            if d.id == dataset_id:
                return d
        raise KeyError(dataset_id)

    @property
    def default_entry(self) -> CatalogueEntry:
        if self.policy.default_image:
            return self.entry(self.policy.default_image)
        sessions = [e for e in self.catalogue if e.kind in SESSION_KINDS]
        notebooks = [e for e in sessions if e.kind == Kind.notebook]
        return (notebooks or sessions)[0]


def _unique(where: str, names: list[str]) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ValueError(f"{where}: {shown(n)} appears more than once")
        seen.add(n)

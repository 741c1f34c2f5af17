"""Launch rules for everyone (`policy`) and per group (`groups`)."""

from __future__ import annotations

from pydantic import Field, field_validator

from arcade_hub.config.base import Kind, Model
from arcade_hub.config.catalogue import ram_value


class Policy(Model):
    """Launch rules that apply to everyone."""

    custom_images: bool = Field(
        False,
        title="Allow custom images",
        description="Whether users may give an image reference that is not in the catalogue.",
    )
    max_sessions: int = Field(
        4,
        ge=1,
        title="Sessions per user",
        description=(
            "How many sessions one user may have running (or starting) at once, whatever "
            "their groups allow; stopped sessions do not count."
        ),
    )
    default_image: str | None = Field(
        None,
        title="Default entry",
        description="Catalogue entry used when a launch names none (default: the first notebook).",
    )


class GroupRule(Model):
    """What members of one group may launch and use (or, under `default`, everyone).

    A user's rules combine: `default` plus the rule of every group the user is in, and the
    most permissive wins (allow-lists are joined, the largest maximum counts). Under
    `default` an unset field means no restriction beyond the platform's own limits; in a
    group's rule it grants nothing beyond `default`. The platform-wide `resources` limits and
    `policy.max_sessions` stay an upper bound for everyone.
    """

    entries: list[str] | None = Field(
        None,
        title="Catalogue entries",
        description=(
            "Catalogue entries allowed, by name or glob (`casa-*`). Combined with `kinds`: an "
            "entry is allowed by this rule when it matches both (an unset one matches all)."
        ),
    )
    kinds: list[Kind] | None = Field(
        None,
        title="Kinds",
        description="Kinds of entries allowed: `notebook`, `desktop`, `desktop-app`, `headless`.",
    )
    custom_images: bool = Field(
        False,
        title="Custom images",
        description=(
            "Whether members may launch image references that are not in the catalogue "
            "(besides `policy.custom_images` and `images.policy.custom_image_groups`)."
        ),
    )
    datasets: list[str] = Field(
        default_factory=list,
        title="Datasets",
        description=(
            "Dataset ids (or globs) members may use in addition to those whose `groups` "
            "include them; datasets without `groups` are open to everyone anyway."
        ),
    )
    projects: list[str] | None = Field(
        None,
        title="Project spaces",
        description=(
            "Project spaces mounted read-write in sessions: names, or globs matched against "
            "the user's groups. When no rule sets it, a user gets one project space per group."
        ),
    )
    max_cores: float | None = Field(
        None, gt=0, title="Cores per session", description="Largest cores one session may ask for."
    )
    max_ram: float | None = Field(
        None,
        gt=0,
        title="RAM per session (GiB)",
        description="Largest RAM one session may ask for, in GiB or as a size such as `8G`.",
    )
    max_gpus: int | None = Field(
        None, ge=0, title="GPUs per session", description="Most GPUs one session may ask for."
    )
    max_total_cores: float | None = Field(
        None,
        gt=0,
        title="Cores in total",
        description=(
            "Most cores a user may hold at once across sessions and batch jobs that have not "
            "ended (a job counts every instance)."
        ),
    )
    max_total_ram: float | None = Field(
        None,
        gt=0,
        title="RAM in total (GiB)",
        description="Most RAM a user may hold at once across sessions and unfinished jobs.",
    )
    max_sessions: int | None = Field(
        None, ge=0, title="Sessions at once", description="Most interactive sessions at once."
    )
    max_jobs: int | None = Field(
        None, ge=0, title="Jobs at once", description="Most batch jobs not yet ended at once."
    )

    @field_validator("max_ram", "max_total_ram", mode="before")
    @classmethod
    def _size(cls, value: object) -> object:
        return ram_value(value)

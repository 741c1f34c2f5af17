"""The launch spec: plain, frozen data that every backend renders.

Built once by `arcade_hub.launch.planner.build_spec`, logged once, never mutated.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from arcade_hub.config import CatalogueEntry, Kind


def counted(number: float, noun: str) -> str:
    """`1 core`, `0.5 cores`, `2 GPUs`: a number and its noun, as a user reads them."""
    return f"{number:g} {noun}{'' if number == 1 else 's'}"


def amount(resource: str, number: float) -> str:
    """How much of a session's `resource` (cores, ram, gpus) in a refusal: `1 core`,
    `0.5 cores`, `4 GiB of RAM`, `1 GPU`."""
    if resource == "ram":
        return f"{number:g} GiB of RAM"
    return counted(number, {"cores": "core", "gpus": "GPU"}[resource])


class MountKind(StrEnum):
    home = "home"
    project = "project"
    dataset = "dataset"
    scratch = "scratch"


class Mount(BaseModel):
    """A piece of storage a session sees. Backends decide how and where it appears."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: MountKind
    name: str = Field(description="`home`, a project (group) name, a dataset id, or `scratch`.")
    source: str = Field(description="Where the data lives on the host (embedded backend).")
    read_only: bool = False


UNNAMED_SESSION_ID = "default"
"""What the sessions API and pages call a user's unnamed server (JupyterHub's default server,
which a link to `/user/NAME/` starts); no named session may take this name."""


class LaunchSpec(BaseModel):
    """Everything a backend needs to start one session or job."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str
    server_name: str
    session_id: str
    kind: Kind
    entry: str | None = Field(description="Catalogue entry name; None for a custom image.")
    title: str
    image: str
    cores: float
    ram_gib: float
    gpus: int
    dataset: str | None = None
    casa_version: str | None = Field(
        None, description="The CASA version the dataset's data needs (its kernel is the default)."
    )
    desktop: str | None = Field(
        None, description="For a desktop-app: the desktop entry that hosts it."
    )
    mounts: tuple[Mount, ...] = ()
    allowed_datasets: tuple[str, ...] = Field(
        (),
        description="Ids of every dataset the user may use (the policy's decision); the "
        "embedded backend hides the host paths of all others inside the session.",
    )
    env: dict[str, str] = Field(default_factory=dict)
    cmd: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    replicas: int = 1

    def app_on_desktop(self, entry: CatalogueEntry) -> LaunchSpec:
        """Desktop app `entry` opened on this desktop session: the same user, session,
        resources, storage, datasets and environment; the app's own entry, image and kind,
        and no command of the desktop's (the app's image or entry says what runs)."""
        return self.model_copy(update={
            "kind": Kind.desktop_app, "entry": entry.name, "title": entry.title,
            "image": entry.image, "desktop": self.entry, "cmd": (), "args": (),
        })  # fmt: skip

    def mounts_of(self, kind: MountKind) -> list[Mount]:
        return [m for m in self.mounts if m.kind == kind]

    @property
    def home(self) -> Mount:
        return self.mounts_of(MountKind.home)[0]

    def summary(self) -> str:
        """One line for logs and progress messages."""
        extra = f", dataset {self.dataset}" if self.dataset else ""
        gpus = f", {counted(self.gpus, 'GPU')}" if self.gpus else ""
        return (
            f"{self.title} ({self.image}) with {counted(self.cores, 'core')}, "
            f"{self.ram_gib:g} GiB RAM{gpus}{extra}"
        )

"""The sessions API's requests and answers as models: what skaha (and so the `canfar` client)
sends and reads, plus Arcade's additions. The API builds its answers from these, and its
OpenAPI document (`arcade_hub.service.openapi`) is generated from them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Number = int | float
TypeName = Literal["notebook", "desktop", "desktop-app", "headless"]
StatusName = Literal["Pending", "Running", "Terminating", "Succeeded", "Failed", "Error"]
NONE = "<none>"
"""skaha's word for a value it does not know."""


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- requests (query or form parameters) -------------------------------------------------------


class ListQuery(Model):
    """`GET /session`."""

    type: TypeName | None = Field(None, description="Only sessions of this type.")
    status: str | None = Field(
        None, description="Only sessions with this status (`Completed` means `Succeeded`)."
    )
    view: Literal["stats", "all"] | None = Field(
        None,
        description="`stats`: the platform's load and your limits; `all`: every user's "
        "sessions (admins).",
    )


class CreateQuery(Model):
    """`POST /session`: skaha's parameters, and Arcade's for batch jobs."""

    name: str = Field(description="Name of the session or job.")
    image: str = Field(description="A catalogue name or an image reference (`GET /image`).")
    cores: str | None = Field(None, description="Cores (default and limits: `GET /context`).")
    ram: str | None = Field(None, description="RAM in GB (default and limits: `GET /context`).")
    gpus: str | None = Field(None, description="GPUs.")
    type: TypeName | None = Field(None, description="The session's type.")
    dataset: str | None = Field(None, description="A dataset to mount read-only.")
    cmd: str | None = Field(None, description="headless: the command to run (a shell line).")
    args: str | None = Field(None, description="headless: arguments (a shell line).")
    env: list[str] = Field(default_factory=list, description="headless: `KEY=VALUE`, repeated.")
    replicas: int | None = Field(None, description="headless: instances of the job.")
    param: list[str] = Field(
        default_factory=list, description="headless: one parameter line per instance, repeated."
    )
    params: str | None = Field(
        None, description="headless: parameter lines, one per instance (or repeated `param`)."
    )


class SessionQuery(Model):
    """`GET /session/{id}`."""

    view: Literal["logs", "events"] | None = Field(None, description="Logs or events, as text.")
    owner: str | None = Field(
        None,
        description="Admins: whose session this is (a session's id is unique per user only; a "
        "job's id is unique). Without it an admin's own session of that id is meant, else the "
        "one user's who has one (409 when several do).",
    )


class ActionQuery(Model):
    """`POST /session/{id}`."""

    action: Literal["renew"] = Field(description="`renew`: a new lifetime from now.")
    owner: str | None = Field(None, description="Admins: whose session (see `GET`).")


class ImageQuery(Model):
    """`GET /image`."""

    type: TypeName | None = Field(None, description="Only images of this type.")


# --- answers -------------------------------------------------------------------------------------


class SessionView(Model):
    """A session as skaha describes it."""

    id: str
    userid: str
    appid: str = NONE
    image: str
    type: TypeName
    status: StatusName
    name: str
    startTime: str | None
    expiryTime: str | None
    connectURL: str = NONE
    requestedRAM: str
    requestedCPUCores: str
    requestedGPUCores: str
    ramInUse: str = NONE
    gpuRAMInUse: str = NONE
    cpuCoresInUse: str = NONE
    gpuUtilization: str = NONE
    isFixedResources: bool = True
    catalogueEntry: str | None = Field(description="Arcade: the catalogue entry it runs.")


class InstanceView(SessionView):
    """An instance of a batch job (Arcade's fields after skaha's)."""

    jobId: str
    replicaId: int | None
    replicaCount: int
    command: list[str]
    createdTime: str | None
    finishTime: str | None
    exitCode: int | None
    message: str
    log: str | None


class JobView(InstanceView):
    """A batch job of several instances."""

    instances: list[InstanceView]


class ImageView(Model):
    id: str
    types: list[TypeName]
    digest: str = ""
    name: str = Field(description="Arcade: the catalogue name (what `image` may also be).")
    title: str
    versions: dict[str, str]


class Choice(Model):
    default: Number
    defaultRequest: Number
    defaultLimit: Number
    options: list[Number]
    min: Number
    max: Number


class GpuChoice(Model):
    options: list[Number]


class ContextView(Model):
    cores: Choice
    memoryGB: Choice
    gpus: GpuChoice
    maxInteractiveSessions: int
    maxReplicas: int


class Counts(Model):
    session: int
    desktopApp: int
    headless: int
    total: int


class MaxCores(Model):
    cores: Number
    withRam: str


class MaxRam(Model):
    ram: str
    withCores: Number


class CoreStats(Model):
    requestedCPUCores: float
    cpuCoresAvailable: int
    maxCores: MaxCores


class RamStats(Model):
    requestedRAM: str
    ramAvailable: str
    maxRAM: MaxRam


class PerSession(Model):
    cores: Number
    ram: str
    gpus: Number


class Totals(Model):
    cores: Number | None
    ram: str | None
    sessions: Number
    jobs: Number | None


class InUse(Model):
    cores: Number
    ram: str
    sessions: int
    jobs: int


class LimitsView(Model):
    """Arcade: the caller's limits under the group policy, and what the caller holds now."""

    user: str
    groups: list[str]
    perSession: PerSession
    total: Totals
    inUse: InUse
    source: dict[str, str] = Field(description="Which rule gives each limit.")


class StatsView(Model):
    instances: Counts
    cores: CoreStats
    ram: RamStats
    limits: LimitsView


class ErrorView(Model):
    status: int
    message: str

"""The platform document: one YAML file, loaded into these models.

Every setting carries a title and a description; the configuration reference in
``docs/reference/configuration.md`` is generated from them (``arcade-hub config-reference``).
"""

from __future__ import annotations

import contextlib
import ipaddress
from enum import StrEnum
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from arcade_hub.images.settings import ImagesConfig
from arcade_hub.kube.config import KubeBackend
from arcade_hub.sizes import parse_gib

NAME_PATTERN = r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$"


class Model(BaseModel):
    """Base for every configuration model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Kind(StrEnum):
    """What a catalogue entry is."""

    notebook = "notebook"
    desktop = "desktop"
    desktop_app = "desktop-app"
    headless = "headless"


SESSION_KINDS = frozenset({Kind.notebook, Kind.desktop})
"""Kinds that run as an interactive session of their own (a JupyterHub named server)."""


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
            "`Install it with: arcade-hub apps install casa-6.7`."
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
        description="OCI image reference used by container backends (Kubernetes, podman).",
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
                    data = {**data, "min": min(_ram_value(c) for c in choices)}  # type: ignore[type-var]
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


def _ram_value(value: object) -> object:
    if isinstance(value, str):
        return parse_gib(value)
    return value


class RamChoices(Choices):
    """RAM in GiB; values may also be written as sizes such as `8G` or `512M`."""

    @field_validator("choices", mode="before")
    @classmethod
    def _sizes(cls, value: object) -> object:
        if isinstance(value, list):
            return [_ram_value(v) for v in value]
        return value

    @field_validator("default", "max", "min", mode="before")
    @classmethod
    def _size(cls, value: object) -> object:
        return _ram_value(value)


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
            "Selecting the dataset preselects a matching CASA entry; mismatches are refused."
        ),
    )


class StorageRoots(Model):
    """Where homes, project spaces and scratch live. `{data_dir}` expands to the data directory."""

    home: str = Field(
        "{data_dir}/home",
        title="Home root",
        description="Each user's home is `<home>/<username>`, the same in every session.",
    )
    projects: str = Field(
        "{data_dir}/projects",
        title="Project spaces root",
        description="Group project spaces live at `<projects>/<group>`.",
    )
    scratch: str = Field(
        "{data_dir}/scratch",
        title="Scratch root",
        description="Per-session scratch at `<scratch>/<session id>`, removed when it stops.",
    )
    home_mount: str = Field(
        "/home/{username}",
        title="Home path in containers",
        description="Where container backends mount the user's home (`{username}` expands).",
    )
    projects_mount: str = Field(
        "/arcade/projects",
        title="Project spaces path in containers",
        description="Where container backends mount project spaces, one folder per group.",
    )
    datasets_mount: str = Field(
        "/arcade/datasets",
        title="Datasets path in containers",
        description="Where container backends mount datasets, one folder per dataset id.",
    )
    scratch_mount: str = Field(
        "/arcade/scratch",
        title="Scratch path in containers",
        description="Where container backends mount the session's scratch space.",
    )


class LocalBackend(Model):
    """Settings of the embedded backend (sessions are local processes)."""

    run_as: Literal["auto", "per-user", "hub-user"] = Field(
        "auto",
        title="Run sessions as",
        description=(
            "`per-user`: each Arcade user gets an unprivileged uid of its own (needs root); "
            "`hub-user`: sessions run as the hub's own user (single-user laptops); "
            "`auto`: `per-user` when the hub runs as root, else `hub-user`."
        ),
    )
    uid_range: tuple[int, int] = Field(
        (200000, 299999),
        title="uid range",
        description="uids handed out to users with `per-user` (persisted in the data directory).",
    )
    enforce_limits: bool = Field(
        True,
        title="Enforce cores and RAM",
        description="Use cgroups (as root) or CPU affinity to enforce the chosen cores and RAM.",
    )
    max_processes: int = Field(
        4096,
        ge=16,
        title="Processes per session",
        description=(
            "The most processes and threads one session or job instance may run at once "
            "(cgroup `pids.max`, as root): a fork bomb stops there instead of taking the machine."
        ),
    )
    start_timeout: int = Field(
        60, title="Start timeout (s)", description="Seconds a session may take to answer."
    )
    app_containers: Literal["auto", "off"] = Field(
        "auto",
        title="Desktop apps in podman containers",
        description=(
            "`auto`: a desktop-app whose image is in this machine's podman storage runs as a "
            "podman container drawing on the desktop; other apps run their `local` command. "
            "`off`: desktop apps always run their `local` command."
        ),
    )


class Backend(Model):
    """Which backend runs sessions."""

    kind: Literal["local", "kubernetes"] = Field(
        "local",
        title="Backend",
        description="`local` runs sessions as processes on this machine; `kubernetes` as pods.",
    )
    local: LocalBackend = Field(
        default_factory=LocalBackend,
        title="Embedded backend",
        description="Settings for `kind: local`.",
    )
    kubernetes: KubeBackend = Field(
        default_factory=KubeBackend,
        title="Kubernetes backend",
        description="Settings for `kind: kubernetes`.",
    )


class SharedPasswordAuth(Model):
    """Embedded login: one shared password for everyone (generated when not set)."""

    type: Literal["shared-password"] = Field(
        "shared-password", title="Type", description="Shared-password login."
    )
    password_file: str = Field(
        "{data_dir}/password",
        title="Password file",
        description="Where the shared password is kept. Generated on first start if absent.",
    )


class OidcAuth(Model):
    """Login through an OpenID Connect identity provider; groups follow its claims."""

    type: Literal["oidc"] = Field(title="Type", description="OpenID Connect login.")
    issuer: str = Field(
        title="Issuer",
        description=(
            "The provider's issuer URL; its endpoints are read from "
            "`{issuer}/.well-known/openid-configuration` when the hub starts."
        ),
        pattern=r"^https?://",
    )
    client_id: str = Field(title="Client id", description="The hub's client id at the provider.")
    client_secret_env: str = Field(
        "ARCADE_OIDC_CLIENT_SECRET",
        title="Client secret variable",
        description=(
            "Name of the environment variable holding the client secret. The secret itself "
            "never goes into the platform document."
        ),
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
    )
    scopes: list[str] = Field(
        default_factory=lambda: ["openid", "profile"],
        title="Scopes",
        description=(
            "Scopes requested. Add the one that releases the groups claim if the provider "
            "needs it (e.g. `groups`, or `org.cilogon.userinfo` at CILogon)."
        ),
    )
    username_claim: str = Field(
        "preferred_username",
        title="Username claim",
        description="Userinfo claim used as the hub username.",
    )
    groups_claim: str = Field(
        "groups",
        title="Groups claim",
        description=(
            "Userinfo claim listing the user's groups (`isMemberOf` at CILogon). A leading `/` "
            "in a group name (Keycloak group paths) is removed."
        ),
    )
    manage_groups: bool = Field(
        True,
        title="Groups from claims",
        description=(
            "Set the user's hub groups from the groups claim at every login and refresh, so "
            "they follow the identity provider. Users listed in `auth.groups` also get those "
            "groups in the launch policy (datasets, images), not in the hub's group list."
        ),
    )
    allowed_groups: list[str] = Field(
        default_factory=list,
        title="Allowed groups",
        description=(
            "Only members of one of these groups (as asserted by the provider) may log in, "
            "besides `auth.admin_users`. Empty requires `allow_any_user`."
        ),
    )
    allow_any_user: bool = Field(
        False,
        title="Allow any user",
        description="Let every user the provider authenticates log in (no group check).",
    )
    admin_groups: list[str] = Field(
        default_factory=list,
        title="Admin groups",
        description="Members of these groups are hub admins (re-evaluated at every login).",
    )
    refresh_age_seconds: int = Field(
        300,
        ge=0,
        title="Refresh age",
        description=(
            "How old (seconds) a user's login may get before the hub checks it with the "
            "provider again (userinfo, then the refresh token). When the provider no longer "
            "accepts it the user must log in again; groups are updated. Also checked before "
            "every launch. 0 disables."
        ),
    )
    callback_url: str | None = Field(
        None,
        title="Callback URL",
        description=(
            "The redirect URI registered at the provider, e.g. "
            "`https://hub.example.org/hub/oauth_callback` (default: derived from the request). "
            "Cookies are marked secure when it is https."
        ),
        pattern=r"^https?://",
    )
    logout_url: str | None = Field(
        None,
        title="Logout URL",
        description=(
            "Where to send the browser after logging out of the hub (default: the provider's "
            "`end_session_endpoint`, so the provider session ends too; `''` to stay in the hub)."
        ),
    )
    login_service: str = Field(
        "your institute",
        title="Login button",
        description="Shown on the login button: `Sign in with <login_service>`.",
    )

    @model_validator(mode="after")
    def _who_may_log_in(self) -> OidcAuth:
        if not self.allowed_groups and not self.allow_any_user:
            raise ValueError("set allowed_groups, or allow_any_user: true")
        if (self.allowed_groups or self.admin_groups) and not self.manage_groups:
            raise ValueError("allowed_groups and admin_groups need manage_groups: true")
        return self


class AuthConfig(Model):
    """Who may log in and what they are."""

    method: SharedPasswordAuth | OidcAuth = Field(
        default_factory=SharedPasswordAuth,
        discriminator="type",
        title="Login method",
        description=(
            "`shared-password` (the embedded default) or `oidc` (an OpenID Connect identity "
            "provider such as Keycloak or CILogon, with groups from its claims)."
        ),
    )
    admin_users: list[str] = Field(
        default_factory=list, title="Admins", description="Users with admin rights in the hub."
    )
    groups: dict[str, list[str]] = Field(
        default_factory=dict,
        title="Groups",
        description="Group name to member usernames, for logins that assert no groups.",
    )


class WebConfig(Model):
    """Where users reach the platform, and whether each user's sessions get a host of their own."""

    public_url: str | None = Field(
        None,
        title="Public URL",
        description=(
            "The address users open, e.g. `https://hub.example.org/` (no path: the hub is at "
            "`/hub/`). Links, redirects and OAuth callbacks are built from it instead of from "
            "each request's Host header, and with `https` every cookie of the hub, the sessions "
            "and the arcade service is marked `Secure`. Default: taken from each request, which "
            "suits `arcade-hub run` on one machine."
        ),
        pattern=r"^https?://[^/?#@\s]+/?$",
    )
    subdomain_host: str | None = Field(
        None,
        title="Per-user subdomains",
        description=(
            "Serve each user's sessions at `<user>.<host>` rather than under the hub's own "
            "host, e.g. `https://hub.example.org` puts alice's sessions at "
            "`https://alice.hub.example.org/user/alice/...` and the arcade service (job list, "
            "sessions API) at `https://arcade--service.hub.example.org/services/arcade/`; the "
            "hub stays "
            "at `https://hub.example.org/hub/`. Every session then runs in an origin of its "
            "user's own, so a page or notebook output one user opens cannot act with the "
            "hub's or another user's login. Needs wildcard DNS and a wildcard TLS certificate "
            "for `*.<host>` (see the how-to on securing a deployment). `public_url`, when set, "
            "must name the same host."
        ),
        pattern=r"^https?://[^/?#@\s]+/?$",
    )

    @field_validator("subdomain_host")
    @classmethod
    def _a_dns_name(cls, value: str | None) -> str | None:
        host = urlsplit(value).hostname if value else None
        if host is not None and is_ip_address(host):
            raise ValueError(
                f"{host} is an IP address, which has no subdomains: use a DNS name whose "
                "subdomains resolve to this machine (wildcard DNS)"
            )
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _same_host(self) -> WebConfig:
        if self.public_url and self.subdomain_host:
            public = urlsplit(self.public_url)
            sub = urlsplit(self.subdomain_host)
            if (public.scheme, public.netloc) != (sub.scheme, sub.netloc):
                raise ValueError(
                    f"public_url {self.public_url!r} and subdomain_host {self.subdomain_host!r} "
                    "must name the same scheme, host and port: the hub is served at "
                    "subdomain_host, users' sessions on its subdomains"
                )
        return self

    @property
    def origin(self) -> str | None:
        """`scheme://host[:port]` the hub is served at, when configured."""
        url = self.subdomain_host or self.public_url
        if not url:
            return None
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def https(self) -> bool:
        return (self.origin or "").startswith("https://")


def is_ip_address(host: str) -> bool:
    """Whether `host` is an IP address rather than a DNS name (which can have subdomains)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


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
        return _ram_value(value)


class SessionsApi(Model):
    """The sessions API (skaha-compatible) and the lifetime of interactive sessions."""

    lifetime_hours: float = Field(
        96,
        gt=0,
        title="Session lifetime (hours)",
        description=(
            "How long an interactive session runs before it is stopped; renewing it "
            "(API `action=renew` or the job list) starts a new lifetime from now."
        ),
    )
    idle_timeout_minutes: float = Field(
        60,
        ge=0,
        title="Idle timeout (minutes)",
        description=(
            "Notebook and desktop sessions with no activity for this long are stopped and "
            "removed (jupyterhub-idle-culler, run as a hub service); 0 turns culling off."
        ),
    )
    idle_check_seconds: int = Field(
        60,
        ge=1,
        title="Idle check interval (seconds)",
        description="How often the idle culler looks for idle sessions.",
    )


class Jobs(Model):
    """Headless batch jobs: limits, and the embedded backend's worker pool and logs."""

    max_concurrency: int = Field(
        2,
        ge=1,
        title="Instances running at once (embedded backend)",
        description=(
            "How many job instances the embedded backend runs at the same time, for the "
            "whole platform; further instances wait as `Pending`. Not used on Kubernetes: "
            "every instance of a job is submitted at once (the Job's `parallelism`), and the "
            "cluster's scheduler and quotas decide when each runs."
        ),
    )
    max_replicas: int = Field(
        64,
        ge=1,
        title="Instances per job",
        description="The largest `replicas` (or number of parameter lines) one job may ask for.",
    )
    max_runtime_hours: float = Field(
        24,
        gt=0,
        title="Job lifetime (hours)",
        description=(
            "An instance still running at the end of its lifetime is stopped and marked "
            "`Failed`; renewing the job starts a new lifetime from now. Embedded backend: "
            "counted for each instance from when it starts running (time waiting for a free "
            "slot does not count). Kubernetes: the Job's `activeDeadlineSeconds`, counted "
            "from the Job's start, so time its pods spend `Pending` (scheduling, image "
            "pulls) counts too, and every instance of the job ends at the same deadline."
        ),
    )
    log_dir: str = Field(
        "arcade-jobs",
        # relative, components not starting with a dot (so no `..`)
        pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$",
        title="Log directory (embedded backend)",
        description=(
            "Where the embedded backend writes job logs, relative to the user's home: "
            "`<home>/<log_dir>/<job id>/<instance id>.log`, kept after the job ends. Does not "
            "apply on Kubernetes, where an instance's log is its pod's log (the service "
            "keeps the last 256 KiB of each in its data directory until the job is deleted)."
        ),
    )


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

    @model_validator(mode="after")
    def _cross_references(self) -> PlatformConfig:
        _unique("catalogue", [e.name for e in self.catalogue])
        _unique("datasets", [d.id for d in self.datasets])
        names = {e.name for e in self.catalogue}
        default = self.policy.default_image
        if default is not None:
            if default not in names:
                raise ValueError(f"policy.default_image {default!r} is not a catalogue entry")
            if self.entry(default).kind not in SESSION_KINDS:
                raise ValueError(f"policy.default_image {default!r} must be a notebook or desktop")
        elif not any(e.kind in SESSION_KINDS for e in self.catalogue):
            raise ValueError("the catalogue needs at least one notebook or desktop entry")
        casa = {e.casa_version for e in self.catalogue if e.casa_version}
        for d in self.datasets:
            if d.casa_version and d.casa_version not in casa:
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
            raise ValueError(f"{where}: {n!r} appears more than once")
        seen.add(n)

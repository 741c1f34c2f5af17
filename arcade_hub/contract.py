"""Every `ARCADE_*` environment variable, named once.

The container contract (what every backend gives every session and job, at every site: see
docs/reference/container-contract.md) comes first; then what sessions of this platform use
among themselves (the desktop, `arcade-launch`, batch jobs); then how the platform's own
processes are configured. Nothing else in arcade_hub spells an `ARCADE_` name.
"""

from __future__ import annotations

PREFIX = "ARCADE_"
"""Reserved: users may not set variables with this prefix (nor `JUPYTERHUB_`)."""
RESERVED_PREFIXES = (PREFIX, "JUPYTERHUB_")

# --- the container contract -------------------------------------------------------------------
HOME = "ARCADE_HOME"
PROJECTS = "ARCADE_PROJECTS"
DATASETS = "ARCADE_DATASETS"
SCRATCH = "ARCADE_SCRATCH"
SESSION_ID = "ARCADE_SESSION_ID"
"""Also the marker every process of a session carries, by which it is found and stopped."""
KIND = "ARCADE_KIND"
IMAGE = "ARCADE_IMAGE"
CORES = "ARCADE_CORES"
RAM_GIB = "ARCADE_RAM_GIB"
DATASET = "ARCADE_DATASET"
"""Only when the session was started with a dataset."""

# --- sessions of this platform -----------------------------------------------------------------
SESSION_DIR = "ARCADE_SESSION_DIR"
"""The session's own writable state directory (the desktop's display, cookies, exit status)."""
LIMITS = "ARCADE_LIMITS"
API_URL = "ARCADE_API_URL"
"""The arcade service's API, for `arcade-launch`."""
DESKTOP_APPS = "ARCADE_DESKTOP_APPS"
DESKTOP_LAUNCH_COMMAND = "ARCADE_DESKTOP_LAUNCH_COMMAND"
DESKTOP_TERMINAL = "ARCADE_DESKTOP_TERMINAL"
DESKTOP_GEOMETRY = "ARCADE_DESKTOP_GEOMETRY"
AUTOSTART = "ARCADE_AUTOSTART"
"""A desktop-app session: the app its desktop opens at start."""
APP = "ARCADE_APP"
"""In a desktop app's processes: which catalogue entry it is."""
JOB_ID = "ARCADE_JOB_ID"
JOB_PARAM = "ARCADE_JOB_PARAM"
"""The parameter line of a job instance."""
JOB_INSTANCE_PREFIX = "ARCADE_JOB_INSTANCE_"
"""Kubernetes jobs: per-instance variables the pod's script picks from."""
POD_NAME = "ARCADE_POD_NAME"

# --- the platform's own processes --------------------------------------------------------------
PLATFORM_CONFIG = "ARCADE_PLATFORM_CONFIG"
DATA_DIR = "ARCADE_DATA_DIR"
SERVICE_BIND = "ARCADE_SERVICE_BIND"
ADMIN_TOKEN = "ARCADE_ADMIN_TOKEN"
SUBDOMAIN_HOST = "ARCADE_SUBDOMAIN_HOST"
"""Tells the arcade service that sessions live on users' subdomains (their URLs are absolute)."""
STORAGE_URL = "ARCADE_STORAGE_URL"
"""The storage service's public URL (`https://host/services/vospace`), when the platform
document says where users reach it; otherwise it is taken from each request."""
UID_CLAIMS = "ARCADE_UID_CLAIMS"
KUBECONFIG = "ARCADE_KUBECONFIG"
OIDC_CLIENT_SECRET = "ARCADE_OIDC_CLIENT_SECRET"
PODMAN_RUNTIME = "ARCADE_PODMAN_RUNTIME"


def arcade_environment(
    *,
    home: str,
    projects: str,
    datasets: str,
    scratch: str,
    session_id: str,
    kind: str,
    image: str,
    cores: float,
    ram_gib: float,
    dataset: str | None,
) -> dict[str, str]:
    """The container contract's environment: every backend sets exactly these."""
    env = {
        HOME: home,
        PROJECTS: projects,
        DATASETS: datasets,
        SCRATCH: scratch,
        SESSION_ID: session_id,
        KIND: kind,
        IMAGE: image,
        CORES: f"{cores:g}",
        RAM_GIB: f"{ram_gib:g}",
    }
    if dataset:
        env[DATASET] = dataset
    return env

"""What JupyterLab's file browser shows in an embedded session: the home, the project spaces,
the datasets and the scratch space side by side at its root, through the session's own
contents API; the home is where notebooks and kernels work, datasets stay read-only, and root
made nothing in the user's home."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hub import RunningHub, env_of, processes_mentioning, wait_for

pytestmark = pytest.mark.integration


class Contents:
    """A session's Jupyter contents API, with the user's token."""

    def __init__(self, hub: RunningHub, user: str, server: str) -> None:
        self.base = f"{hub.url}/user/{user}/{server}/api"
        self.headers = {"Authorization": f"token {hub.user_token(user)}"}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method, f"{self.base}/{path}", headers=self.headers, timeout=30, **kwargs
        )

    def names(self, path: str = "") -> dict[str, str]:
        r = self.request("GET", f"contents/{path}")
        assert r.status_code == 200, r.text
        return {item["name"]: item["type"] for item in r.json()["content"]}

    def put_text(self, path: str, text: str) -> httpx.Response:
        return self.request(
            "PUT", f"contents/{path}", json={"type": "file", "format": "text", "content": text}
        )


@pytest.fixture(scope="module")
def session(hub: RunningHub) -> Any:
    """carol (in survey-team, so with its project space) with the public-sky dataset."""
    hub.api("POST", "/users/carol")
    r = hub.api("POST", "/users/carol/servers/files", json={"dataset": "public-sky"})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready("carol", "files")
    yield env_of(hub, "carol", "files"), Contents(hub, "carol", "files")
    hub.stop_server("carol", "files")


def test_the_file_browser_shows_home_projects_datasets_and_scratch(
    hub: RunningHub, session: Any
) -> None:
    env, api = session
    assert api.names() == {
        "home": "directory",
        "projects": "directory",
        "datasets": "directory",
        "scratch": "directory",
    }
    assert api.names("datasets") == {"public-sky": "directory"}
    assert api.names("datasets/public-sky") == {"catalog.csv": "file"}
    r = api.request("GET", "contents/datasets/public-sky/catalog.csv")
    assert r.status_code == 200 and r.json()["content"] == "ra,dec\n1,2\n"
    assert list(api.names("projects")) == ["survey-team"]

    # What is written under `home` and `projects` lands in the home and the project space.
    assert api.put_text("home/from-browser.txt", "hello").status_code == 201
    home = Path(env["ARCADE_HOME"])
    assert (home / "from-browser.txt").read_text() == "hello"
    assert api.put_text("projects/survey-team/shared.txt", "team").status_code == 201
    assert (hub.data_dir / "projects" / "survey-team" / "shared.txt").read_text() == "team"
    assert api.put_text("scratch/tmp.txt", "x").status_code == 201
    assert (Path(env["ARCADE_SCRATCH"]) / "tmp.txt").read_text() == "x"

    # Root made nothing in the home: what is there is the user's.
    assert sorted(p.name for p in home.iterdir() if not p.name.startswith(".")) == [
        "from-browser.txt"
    ]
    assert not any(p.is_symlink() for p in home.iterdir())


def test_jupyterlab_opens_on_the_home(session: Any) -> None:
    env, _ = session
    files = Path(env["JUPYTERHUB_ROOT_DIR"])
    assert files == Path(env["ARCADE_SESSION_DIR"]).parent / "files"
    assert env["JUPYTERHUB_DEFAULT_URL"] == "/lab/tree/home"
    assert (files / "home").resolve() == Path(env["ARCADE_HOME"]).resolve()
    if os.geteuid() == 0:
        st = files.lstat()
        assert (st.st_uid, st.st_mode & 0o777) == (0, 0o755)  # root's; the user cannot add


@pytest.mark.skipif(os.geteuid() != 0, reason="read-only dataset mounts need root")
def test_datasets_stay_read_only_in_the_file_browser(hub: RunningHub, session: Any) -> None:
    _, api = session
    r = api.put_text("datasets/public-sky/new.txt", "no")
    assert r.status_code >= 400, r.text
    assert not (hub.data_dir / "datasets" / "public-sky" / "new.txt").exists()
    assert api.put_text("new-at-the-root.txt", "no").status_code >= 400


def test_a_notebooks_kernel_runs_in_the_notebooks_folder_of_the_home(session: Any) -> None:
    """Relative paths in a notebook under `home/` are relative to its folder in the real
    home, as before (and `~` is the home: HOME is unchanged)."""
    env, api = session
    assert api.request("PUT", "contents/home/analysis", json={"type": "directory"}).is_success
    r = api.request(
        "POST",
        "sessions",
        json={"path": "home/analysis/fit.ipynb", "type": "notebook", "name": "fit.ipynb",
              "kernel": {"name": "python3"}},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    kernel_id = r.json()["kernel"]["id"]
    try:

        def kernel_cwd() -> str | None:
            for pid in processes_mentioning(kernel_id):
                if "ipykernel" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
                    return os.readlink(f"/proc/{pid}/cwd")
            return None

        cwd = wait_for(kernel_cwd, 30, "the kernel to start")
        assert Path(cwd) == Path(env["ARCADE_HOME"]).resolve() / "analysis"
        assert env["HOME"] == env["ARCADE_HOME"]
    finally:
        api.request("DELETE", f"sessions/{r.json()['id']}")

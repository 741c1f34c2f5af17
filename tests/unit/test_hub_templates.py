"""The hub looks templates up in `templates/hub/` (Arcade's overrides of its pages), then in
`templates/` (what those include). A service page named like one of the hub's would replace
the hub's own page: the hub's error pages once rendered the service's error page, without
their status or message."""

from __future__ import annotations

from pathlib import Path

from jupyterhub._data import DATA_FILES_PATH
from traitlets.config import Config

import arcade_hub
from arcade_hub.config.loader import load_config
from arcade_hub.hub_config import hub_pages

TEMPLATES = Path(arcade_hub.__file__).parent / "templates"
HUBS = {p.name for p in (Path(DATA_FILES_PATH) / "templates").glob("*.html")}


def test_service_pages_do_not_replace_the_hubs() -> None:
    ours = {p.name for p in TEMPLATES.glob("*.html")}
    assert "error.html" in HUBS and ours, (HUBS, ours)
    assert not ours & HUBS


def test_the_hub_overrides_only_its_own_pages() -> None:
    overrides = {p.name for p in (TEMPLATES / "hub").glob("*.html")}
    assert overrides and overrides <= HUBS, overrides - HUBS
    c = Config()
    hub_pages(c, load_config(None))  # the built-in platform document
    assert c.JupyterHub.template_paths == [str(TEMPLATES / "hub"), str(TEMPLATES)]

"""The hub looks templates up in `templates/hub/` (Arcade's overrides of its pages), then in
`templates/` (what those include). A service page named like one of the hub's would replace
the hub's own page: the hub's error pages once rendered the service's error page, without
their status or message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from jinja2 import ChainableUndefined, ChoiceLoader, Environment, FileSystemLoader, PrefixLoader
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


def hub_page(name: str) -> str:
    """The hub's page `name` as the hub renders it with Arcade's templates (JupyterHub's own
    under `templates/`), with placeholders for what the hub fills in."""
    defaults = str(Path(DATA_FILES_PATH) / "templates")
    c = Config()
    hub_pages(c, load_config(None))
    env = Environment(
        loader=ChoiceLoader([
            FileSystemLoader([*c.JupyterHub.template_paths, defaults]),
            PrefixLoader({"templates": FileSystemLoader(defaults)}),
        ]),
        autoescape=True,
        undefined=ChainableUndefined,
    )
    return env.get_template(name).render(
        static_url=lambda *args, **kwargs: "/static", base_url="/hub/", prefix="/",
        parsed_scopes={"admin-ui"}, spawner={"name": "s"}, user={"name": "u"},
    )


@pytest.mark.parametrize("name", sorted(HUBS))
def test_every_hub_page_has_one_main_landmark(name: str) -> None:
    """Screen readers and the skip link find a page's content by its one `<main>` (axe-core's
    landmark-one-main and region): every page of the hub has it, around the page's content,
    and a page's own footer (the admin page's version line) comes after it."""
    html = hub_page(name)
    tags = re.findall(r"</?main\b[^>]*>", html)
    assert tags == ['<main id="main" tabindex="-1">', "</main>"], tags
    content = html[html.index("<main") : html.index("</main>")]
    for marker in ("<h1", 'id="react-admin-hook"', 'id="spawn_form"', 'id="progress-bar"'):
        if marker in html:
            assert marker in content, marker
    if "version_footer" in html:
        assert html.index("<footer>") > html.index("</main>") < html.index("version_footer")

"""helm-values/: every values file, merged onto the z2jh chart's defaults, validates against the
chart's values schema (ARCADE_Z2JH_DIR, set by scripts/test.sh); the embedded platform document
is valid; the hub config names real traits; derived values match `render-values`."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from jupyterhub.app import JupyterHub
from jupyterhub.spawner import Spawner
from jupyterhub.utils import subdomain_hook_idna
from traitlets import HasTraits
from traitlets.config import Config

from arcade_hub import render_values as render
from arcade_hub.config import Kind, PlatformConfig, load_config
from arcade_hub.config.loader import parse_config
from arcade_hub.hub_config import PACKAGE_DIR, hub_pages, service_url
from arcade_hub.kube.objects import Owner, build_app_pod, build_job
from arcade_hub.kube.restricted import violations
from arcade_hub.spawners.kube import ArcadeKubeSpawner

from .conftest import launch_spec

ROOT = Path(__file__).resolve().parents[2]
VALUES = ROOT / "helm-values"
OVERLAYS = sorted(p.name for p in VALUES.glob("*.yaml") if p.name != "values.yaml")
STORAGE = sorted((VALUES / "storage").glob("*.yaml"))
MANIFESTS = sorted((VALUES / "manifests").glob("*.yaml"))


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def values_stack(overlay: str | None) -> dict[str, Any]:
    values: dict[str, Any] = load(VALUES / "values.yaml")
    if overlay:
        values = render.deep_merge(values, load(VALUES / overlay))
    return values


@pytest.fixture(scope="module")
def z2jh() -> tuple[dict[str, Any], dict[str, Any]]:
    where = os.environ.get("ARCADE_Z2JH_DIR")
    if not where or not (Path(where) / "values.schema.json").exists():
        pytest.skip("the z2jh chart's values.yaml and values.schema.json are needed: set "
                    "ARCADE_Z2JH_DIR to their folder (scripts/test.sh uses ../shared/z2jh)")
    return load(Path(where) / "values.yaml"), json.loads(
        (Path(where) / "values.schema.json").read_text())


@pytest.mark.parametrize("overlay", [None, *OVERLAYS])
def test_values_validate_against_the_chart_schema(
    z2jh: tuple[dict[str, Any], dict[str, Any]], overlay: str | None
) -> None:
    defaults, schema = z2jh
    merged = render.deep_merge(defaults, values_stack(overlay))
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(merged), key=str)
    assert not errors, "\n".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_rendered_values_validate_against_the_chart_schema(
    z2jh: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    defaults, schema = z2jh
    document = values_stack(None)["hub"]["extraFiles"]["arcade-platform"]["data"]
    for base in (None, values_stack(None)):
        merged = render.deep_merge(defaults, render.render_values(document, base))
        jsonschema.Draft7Validator(schema).validate(merged)


def test_schema_catches_mistakes(z2jh: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """The check has teeth: a misspelt key fails."""
    defaults, schema = z2jh
    bad = render.deep_merge(defaults, {"hub": {"extraFile": {}}})
    assert list(jsonschema.Draft7Validator(schema).iter_errors(bad))


@pytest.mark.parametrize("overlay", [None, *OVERLAYS])
def test_platform_document_is_valid(overlay: str | None) -> None:
    values = values_stack(overlay)
    files = values["hub"]["extraFiles"]["arcade-platform"]
    config = PlatformConfig.model_validate(files["data"])
    assert config.backend.kind == "kubernetes"
    assert files["mountPath"] == values["hub"]["config"]["ArcadeKubeSpawner"][
        "platform_config_file"]
    assert values["hub"]["services"]["arcade"]["environment"]["ARCADE_PLATFORM_CONFIG"] == \
        files["mountPath"]
    assert config.backend.kubernetes.security.pod_security == "restricted"


def test_overlays_leave_the_platform_document_alone() -> None:
    """Helm deep-merges values files: an overlay touching the document would have the hub run
    a document that check-config never passed (storage choices are document fragments)."""
    for overlay in OVERLAYS:
        files = (load(VALUES / overlay).get("hub") or {}).get("extraFiles") or {}
        assert "arcade-platform" not in files, overlay


@pytest.mark.parametrize("fragment", STORAGE, ids=lambda p: p.name)
def test_storage_fragments_make_documents_that_render(
    z2jh: tuple[dict[str, Any], dict[str, Any]], fragment: Path
) -> None:
    """helm-values/storage/ holds document fragments: merged into the example document they
    pass check-config's loader, name only the document's datasets, and render valid values
    that embed exactly that document."""
    part = load(fragment)
    assert set(part) == {"backend"}
    base = values_stack(None)
    document = render.deep_merge(base["hub"]["extraFiles"]["arcade-platform"]["data"], part)
    config = parse_config(yaml.safe_dump(document), fragment.name)
    assert set(config.backend.kubernetes.datasets) <= {d.id for d in config.datasets}
    values = render.render_values(document, base)
    assert values["hub"]["extraFiles"]["arcade-platform"]["data"] == document
    defaults, schema = z2jh
    jsonschema.Draft7Validator(schema).validate(render.deep_merge(defaults, values))


def config_traits(cls: type[HasTraits]) -> set[str]:
    return set(cls.class_traits(config=True))


def test_hub_config_names_real_traits() -> None:
    config = values_stack(None)["hub"]["config"]
    module, _, name = config["JupyterHub"]["spawner_class"].rpartition(".")
    assert getattr(importlib.import_module(module), name) is ArcadeKubeSpawner
    unknown = set(config["ArcadeKubeSpawner"]) - config_traits(ArcadeKubeSpawner)
    assert not unknown, f"not configurable traits of ArcadeKubeSpawner: {unknown}"
    unknown = set(config["Spawner"]) - config_traits(Spawner)
    assert not unknown, f"not configurable traits of Spawner: {unknown}"


def test_derived_values_match_render_values() -> None:
    """What the file carries is what `arcade-hub render-values` derives from its document."""
    values = values_stack(None)
    document = values["hub"]["extraFiles"]["arcade-platform"]["data"]
    assert render.render_values(document, values) == values


def test_render_values_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = values_stack(None)["hub"]["extraFiles"]["arcade-platform"]["data"]
    document["catalogue"].append({"name": "pinned", "title": "Pinned", "kind": "notebook",
                                  "image": "reg.example.org:5000/nb@sha256:" + "a" * 64})
    document["sessions"] = {"lifetime_hours": 2}
    config = tmp_path / "platform.yaml"
    config.write_text(yaml.safe_dump(document))
    parser = argparse.ArgumentParser()
    render.add_parser(parser.add_subparsers(dest="command"))
    assert render.run(parser.parse_args(["render-values", "--config", str(config)])) == 0
    out = yaml.safe_load(capsys.readouterr().out)
    assert out["hub"]["extraFiles"]["arcade-platform"]["data"] == document
    assert out["hub"]["config"]["JupyterHub"]["spawner_class"] == render.SPAWNER
    images = out["prePuller"]["extraImages"]
    assert images["pinned"] == {"name": "reg.example.org:5000/nb", "tag": "sha256:" + "a" * 64}
    assert images["casa-6-7-0"] == {"name": "ghcr.io/arcade-hub/casa", "tag": "6.7.0"}
    assert "xterm" not in images  # same image as the desktop: pulled once
    assert "casa-6-7-0-batch" not in images  # same image as the CASA app: pulled once
    assert out["cull"]["maxAge"] == 7200
    args = ["render-values", "--config", str(config), "--base", str(VALUES / "values.yaml")]
    assert render.run(parser.parse_args(args)) == 0
    based = yaml.safe_load(capsys.readouterr().out)
    assert based["hub"]["services"]["arcade"]["url"] == "http://hub:10101"


def test_render_values_without_a_base_is_deployable(
    z2jh: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    """Without --base the values still run Arcade: the hub image with arcade-hub, the arcade
    service in the hub pod with its roles, port and network paths, sessions told where it is,
    and the prepullers pulling catalogue images only (`singleuser.image` is one of them)."""
    document = values_stack(None)["hub"]["extraFiles"]["arcade-platform"]["data"]
    bare = render.render_values(document)
    hub = bare["hub"]
    assert hub["image"] == {"name": "ghcr.io/arcade-hub/hub", "tag": "0.1.0"}
    service = hub["services"]["arcade"]
    assert service["url"] == "http://hub:10101"
    assert service["command"] == ["python3", "-m", "arcade_hub.service"]
    assert service["environment"]["ARCADE_PLATFORM_CONFIG"] == render.PLATFORM_MOUNT
    assert hub["loadRoles"]["arcade"]["services"] == ["arcade"]
    assert {"name": "arcade", "port": 10101, "targetPort": 10101} in hub["service"]["extraPorts"]
    assert hub["config"]["ArcadeKubeSpawner"]["arcade_api_url"] == (
        "http://proxy-public/services/arcade/api/v1")
    assert "access:services!service=arcade" in hub["config"]["Spawner"]["server_token_scopes"]
    (egress,) = bare["proxy"]["chp"]["networkPolicy"]["egress"]
    assert egress["to"] == [{"podSelector": {"matchLabels": render.HUB_POD}}]
    assert bare["singleuser"]["image"] == {"name": "ghcr.io/arcade-hub/notebook", "tag": "0.1.0"}
    pulled = {f"{i['name']}:{i['tag']}" for i in bare["prePuller"]["extraImages"].values()}
    assert "ghcr.io/arcade-hub/notebook:0.1.0" in pulled
    # everything helm-values/values.yaml adds to that is site choices
    full = values_stack(None)
    for key in ("image", "services", "loadRoles", "service", "networkPolicy"):
        assert render.deep_merge(full["hub"][key], hub[key]) == full["hub"][key], key
    defaults, schema = z2jh
    jsonschema.Draft7Validator(schema).validate(render.deep_merge(defaults, bare))


def test_render_values_keeps_z2jhs_tornado_settings() -> None:
    """`hub.config.JupyterHub.tornado_settings` replaces the dict z2jh's config sets, so
    rendered values that have one carry z2jh's `slow_spawn_timeout: 0` as well."""
    base = values_stack(None)
    base["hub"]["config"]["JupyterHub"]["tornado_settings"] = {"xsrf_cookies": True}
    for web in ({}, {"public_url": "https://hub.example.org/"}):
        tornado = render.render_values(with_web(**web), base)["hub"]["config"]["JupyterHub"][
            "tornado_settings"]
        assert tornado["slow_spawn_timeout"] == 0 and tornado["xsrf_cookies"] is True


def test_render_values_refuses_a_local_document(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    document = values_stack(None)["hub"]["extraFiles"]["arcade-platform"]["data"]
    config = tmp_path / "platform.yaml"
    config.write_text(yaml.safe_dump({**document, "backend": {"kind": "local"}}))
    args = argparse.Namespace(config=str(config), base=None, storage_manifests=None)
    assert render.run(args) == 1
    assert "backend.kind: kubernetes" in capsys.readouterr().err


def test_render_values_reads_a_pipe_once(capsys: pytest.CaptureFixture[str]) -> None:
    """`arcade-hub render-values --config <(generate)`: the path is a pipe, read once."""
    document = values_stack(None)["hub"]["extraFiles"]["arcade-platform"]["data"]
    read, write = os.pipe()
    with os.fdopen(write, "w") as out:
        out.write(yaml.safe_dump(document))
    try:
        args = argparse.Namespace(config=f"/dev/fd/{read}", base=None, storage_manifests=None)
        assert render.run(args) == 0
    finally:
        os.close(read)
    rendered = yaml.safe_load(capsys.readouterr().out)
    assert rendered["hub"]["extraFiles"]["arcade-platform"]["data"] == document


HUB_LOGS = """
import json, logging, sys
from jupyterhub.app import JupyterHub
from traitlets.config import Config

c = Config()
for section, cfg in json.load(sys.stdin).items():  # as z2jh's jupyterhub_config.py does
    c[section].update(cfg)
app = JupyterHub(config=c)
app.init_logging()
app.log.warning("Stream closed while handling %s", sys.argv[1])
logging.getLogger("tornado.access").info("200 GET %s", sys.argv[1])
logging.getLogger("oauthlib").warning("redirecting to %s", sys.argv[1])
"""
"""A hub configured with the values' `hub.config` writes a warning of its own, an access
line and a line of oauthlib's, each naming a URL with secrets in its query (run apart:
JupyterHub's logging set-up renames tornado's loggers for the whole process)."""


def test_the_hubs_log_is_scrubbed_on_kubernetes_too() -> None:
    """The hub of the z2jh values writes no secret of a URL (an `_xsrf` token, an OAuth
    code and state, a token) to its log, as the embedded hub does (the same
    `log_scrub.hub_logging_config`, carried by the example values and rendered ones)."""
    from arcade_hub.auth.log_scrub import hub_logging_config

    config = values_stack(None)["hub"]["config"]
    assert config["JupyterHub"]["logging_config"] == hub_logging_config()
    assert render.base_values()["hub"]["config"]["JupyterHub"]["logging_config"] == (
        hub_logging_config())
    url = "/hub/api/users/lea/servers/nb/progress?_xsrf=XSRFVALUE&code=CODEVALUE&state=ST&n=1"
    run = subprocess.run([sys.executable, "-c", HUB_LOGS, url], input=json.dumps(config),
                         capture_output=True, text=True, timeout=60, check=True)
    lines = run.stderr.splitlines()
    assert len(lines) == 3, run.stderr
    assert all("?_xsrf=[secret]&code=[secret]&state=[secret]&n=1" in line for line in lines)
    assert "VALUE" not in run.stderr


def test_render_values_reports_bad_documents(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "platform.yaml"
    config.write_text("catalogue: []\n")
    args = argparse.Namespace(config=str(config), base=None, storage_manifests=None)
    assert render.run(args) == 1
    assert "not a valid Arcade Hub configuration" in capsys.readouterr().err


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifests_are_valid_kubernetes(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs
    for doc in docs:
        for version in ("1.29", "1.34"):
            kubernetes_validate.validate(doc, version, strict=True)


# --- the document's `web` section ----------------------------------------------------------

def with_web(**web: Any) -> dict[str, Any]:
    document: dict[str, Any] = values_stack(None)["hub"]["extraFiles"]["arcade-platform"][
        "data"]
    document = {**document, "web": web}
    if not web:
        del document["web"]
    return document


def test_web_becomes_the_hubs_public_url_subdomains_cookies_and_ingress(
    z2jh: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    """With per-user subdomains over https, the values carry what the embedded hub sets from
    `web` (arcade_hub.hub_config._web), and the ingress answers the hub's host and its
    subdomains (users' sessions, the service's `arcade--service.` host)."""
    document = with_web(public_url="https://hub.example.org/",
                        subdomain_host="https://hub.example.org")
    values = render.render_values(document, values_stack(None))
    hub = values["hub"]["config"]["JupyterHub"]
    assert hub["public_url"] == "https://hub.example.org/"
    assert hub["subdomain_host"] == "https://hub.example.org"
    # with z2jh's own tornado setting, which hub.config would otherwise drop
    assert hub["tornado_settings"] == {"slow_spawn_timeout": 0,
                                       "cookie_options": {"secure": True}}
    assert hub["cookie_host_prefix_enabled"] is True
    assert hub["spawner_class"] == render.SPAWNER  # the rest stays
    assert values["hub"]["config"]["ArcadeKubeSpawner"]["arcade_url"] == (
        "https://arcade--service.hub.example.org/services/arcade/")
    env = values["hub"]["services"]["arcade"]["environment"]
    assert json.loads(env["JUPYTERHUB_COOKIE_OPTIONS"]) == {"secure": True}
    assert env["ARCADE_SUBDOMAIN_HOST"] == "https://hub.example.org"
    assert env["ARCADE_PLATFORM_CONFIG"] == "/usr/local/etc/arcade/platform.yaml"
    assert values["ingress"]["hosts"] == ["hub.example.org", "*.hub.example.org"]

    defaults, schema = z2jh
    jsonschema.Draft7Validator(schema).validate(render.deep_merge(defaults, values))
    # JupyterHub knows every one of them (z2jh passes hub.config on as traitlets config,
    # and JupyterHub only warns about names it does not know)
    web = {k: v for k, v in hub.items() if k in (*render.WEB_HUB_CONFIG, "tornado_settings")}
    assert set(web) <= config_traits(JupyterHub)
    app = JupyterHub(config=Config({"JupyterHub": web}))
    assert app.subdomain_host == "https://hub.example.org"
    assert app.public_url == "https://hub.example.org/" and app.cookie_host_prefix_enabled
    assert app.tornado_settings["cookie_options"] == {"secure": True}
    assert app.subdomain_hook is subdomain_hook_idna  # JupyterHub 5's default
    assert "arcade_url" in config_traits(ArcadeKubeSpawner)
    # an Ingress with these hosts, as z2jh's template makes it, is valid Kubernetes
    rules = [{"host": h, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
        "service": {"name": "proxy-public", "port": {"name": "http"}}}}]}}
        for h in values["ingress"]["hosts"]]
    kubernetes_validate.validate({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                                  "metadata": {"name": "jupyterhub"}, "spec": {"rules": rules}},
                                 "1.34", strict=True)


@pytest.mark.parametrize(("web", "hub", "env", "hosts"), [
    ({}, {}, {}, None),
    ({"public_url": "http://hub.example.org:8080/"},
     {"public_url": "http://hub.example.org:8080/"}, {}, ["hub.example.org"]),
    ({"public_url": "https://10.1.2.3/"},
     {"public_url": "https://10.1.2.3/", "tornado_settings": {
         "slow_spawn_timeout": 0, "cookie_options": {"secure": True}}},
     {"JUPYTERHUB_COOKIE_OPTIONS": '{"secure": true}'}, None),
    ({"subdomain_host": "http://hub.example.org"},
     {"subdomain_host": "http://hub.example.org"},
     {"ARCADE_SUBDOMAIN_HOST": "http://hub.example.org"},
     ["hub.example.org", "*.hub.example.org"]),
])
def test_web_settings_follow_the_document(
    z2jh: tuple[dict[str, Any], dict[str, Any]], web: dict[str, str], hub: dict[str, Any],
    env: dict[str, str], hosts: list[str] | None
) -> None:
    """Rendering onto values that carry another document's `web` settings (here the example
    file's https `public_url`) leaves only this document's: nothing stale; plain http gives
    no `Secure` cookies; an IP address is no Ingress host (the base's hosts then stay)."""
    values = render.render_values(with_web(**web), values_stack(None))
    config = values["hub"]["config"]["JupyterHub"]
    assert {k: config[k] for k in (*render.WEB_HUB_CONFIG, "tornado_settings")
            if k in config} == hub
    service_env = values["hub"]["services"]["arcade"]["environment"]
    assert {k: service_env[k] for k in render.WEB_SERVICE_ENV if k in service_env} == env
    assert ("arcade_url" in values["hub"]["config"]["ArcadeKubeSpawner"]) == (
        "subdomain_host" in web)
    base_hosts = values_stack(None)["ingress"]["hosts"]
    assert values["ingress"]["hosts"] == (hosts if hosts is not None else base_hosts)
    defaults, schema = z2jh
    jsonschema.Draft7Validator(schema).validate(render.deep_merge(defaults, values))
    bare = render.render_values(with_web(**web))  # no base: what the document says
    assert ("ingress" in bare) == (hosts is not None)
    bare_env = bare["hub"]["services"]["arcade"]["environment"]
    assert {k: bare_env[k] for k in render.WEB_SERVICE_ENV if k in bare_env} == env
    jsonschema.Draft7Validator(schema).validate(render.deep_merge(defaults, bare))


def test_web_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "platform.yaml"
    config.write_text(yaml.safe_dump(with_web(subdomain_host="https://sky.example.org")))
    parser = argparse.ArgumentParser()
    render.add_parser(parser.add_subparsers(dest="command"))
    args = ["render-values", "--config", str(config), "--base", str(VALUES / "values.yaml")]
    assert render.run(parser.parse_args(args)) == 0
    out = yaml.safe_load(capsys.readouterr().out)
    assert out["hub"]["config"]["JupyterHub"]["subdomain_host"] == "https://sky.example.org"
    assert "public_url" not in out["hub"]["config"]["JupyterHub"]  # the base's is gone
    assert out["ingress"]["hosts"] == ["sky.example.org", "*.sky.example.org"]
    config.write_text(yaml.safe_dump(with_web(subdomain_host="https://10.0.0.1")))
    assert render.run(parser.parse_args(args)) == 1
    assert "IP address" in capsys.readouterr().err


@pytest.mark.parametrize("prefix", [{"baseUrl": "/jupyter/"},
                                    {"config": {"JupyterHub": {"base_url": "/jupyter"}}}])
def test_render_values_refuses_a_hub_under_a_prefix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], prefix: dict[str, Any]
) -> None:
    """The platform is served at the root of its host: base values that move the hub under a
    prefix are refused with what to do instead, not rendered into a hub whose links break."""
    base = render.deep_merge(values_stack(None), {"hub": prefix})
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    (tmp_path / "platform.yaml").write_text(yaml.safe_dump(with_web()))
    args = argparse.Namespace(config=str(tmp_path / "platform.yaml"),
                              base=str(tmp_path / "base.yaml"), storage_manifests=None)
    assert render.run(args) == 1
    err = capsys.readouterr().err
    assert "cannot be served under a prefix" in err and "/jupyter" in err, err
    assert "Traceback" not in err
    # "/" is the root: the chart's own default, accepted
    root = render.deep_merge(values_stack(None), {"hub": {"baseUrl": "/"}})
    assert render.render_values(with_web(), root)["hub"]["baseUrl"] == "/"


def test_web_leaves_the_operators_other_tornado_settings() -> None:
    base = values_stack(None)
    headers = {"Content-Security-Policy": "frame-ancestors 'self'"}
    base["hub"]["config"]["JupyterHub"]["tornado_settings"]["headers"] = headers
    for web, cookies in (({}, None), ({"public_url": "https://hub.example.org/"},
                                      {"secure": True})):
        tornado = render.render_values(with_web(**web), base)["hub"]["config"][
            "JupyterHub"]["tornado_settings"]
        assert tornado["headers"] == headers and tornado.get("cookie_options") == cookies


# --- the hub's pages ------------------------------------------------------------------------

def test_the_hub_gets_arcades_pages_as_the_embedded_hub_does() -> None:
    """The values give the hub on z2jh what `hub_pages` gives the embedded hub: Arcade's
    templates (hub/ then the shared ones), the arcade service's address for them, the logo and
    the Sessions page as where a login lands, read from the package where the hub image
    links it; every file they name is in the package."""
    for web in ({}, {"public_url": "https://hub.example.org/",
                     "subdomain_host": "https://hub.example.org"}):
        document = with_web(**web)
        config = PlatformConfig.model_validate(document)
        embedded = Config()
        hub_pages(embedded, config)
        rendered = render.render_values(document)["hub"]["config"]["JupyterHub"]
        image = Path("/usr/local/share/arcade-hub")
        assert image == render.HUB_PACKAGE
        for key in render.HUB_PAGES:
            assert rendered[key] == json.loads(json.dumps(embedded.JupyterHub[key]).replace(
                str(PACKAGE_DIR), str(image))), key
        assert rendered["template_vars"]["arcade_url"] == service_url(config)
        assert rendered["default_url"] == service_url(config) + "jobs"
    as_packaged = [Path(p.replace(str(image), str(PACKAGE_DIR)))
                   for p in [*rendered["template_paths"], rendered["logo_file"]]]
    hub_templates, templates, logo = as_packaged
    assert {"home.html", "page.html", "spawn.html"} <= {p.name for p in hub_templates.iterdir()}
    assert (templates / "shared" / "brand.html").is_file() and logo.is_file()


def test_values_without_the_pages_get_them_from_render_values() -> None:
    """A base without them (or with stale ones) gets the document's pages."""
    base = values_stack(None)
    pages = {k: base["hub"]["config"]["JupyterHub"].pop(k) for k in render.HUB_PAGES}
    rendered = render.render_values(with_web(), base)["hub"]["config"]["JupyterHub"]
    assert {k: rendered[k] for k in render.HUB_PAGES} == pages
    base["hub"]["config"]["JupyterHub"]["default_url"] = "/hub/spawn"
    rendered = render.render_values(with_web(), base)["hub"]["config"]["JupyterHub"]
    assert rendered["default_url"] == "/services/arcade/jobs"


# --- CASA entries ---------------------------------------------------------------------------

def test_casa_entries_render_like_other_entries() -> None:
    """The catalogue's CASA versions (an app and a batch entry each, one image per version)
    are in the example document as in the default catalogue, their images prepulled once
    each, and each renders to a valid restricted pod: the app on a desktop, the batch entry
    as a Job."""
    document = values_stack(None)["hub"]["extraFiles"]["arcade-platform"]["data"]
    config = PlatformConfig.model_validate(document)
    default = load_config(None)
    casa = [e for e in default.catalogue if e.casa_version]
    assert casa, "the default catalogue has CASA entries"
    for entry in casa:
        ours = config.entry(entry.name)
        assert (ours.kind, ours.image, ours.versions, ours.kubernetes) == (
            entry.kind, entry.image, entry.versions, entry.kubernetes)
    values = render.render_values(document)
    pulled = values["prePuller"]["extraImages"]
    for version in {e.casa_version for e in casa}:
        name, tag = "ghcr.io/arcade-hub/casa", str(version)
        assert [k for k, v in pulled.items() if v == {"name": name, "tag": tag}] == [
            f"casa-{str(version).replace('.', '-')}"]
    kube, desktop = config.backend.kubernetes, launch_spec(config, "desktop")
    owner = Owner("jupyter-alice", "uid-1")
    for entry in casa:
        if entry.kind == Kind.desktop_app:
            obj = build_app_pod(desktop, entry, kube, config.storage, name="arcade-app-x",
                                owner=owner, desktop_ip="10.0.0.7")
            pod = obj
        else:
            # the job's cmd is the script, as on the embedded backend (`local.cmd`)
            spec = launch_spec(config, entry.name, cmd=("reduce.py",))
            obj = build_job(spec, kube, config.storage, name="arcade-job-x", entry=entry)
            pod = {"spec": obj["spec"]["template"]["spec"]}
            (job,) = pod["spec"]["containers"]
            assert job["args"] == ["casa", "--python", "reduce.py"], entry.name
        for version in ("1.30", "1.32"):
            kubernetes_validate.validate(obj, version, strict=True)
        assert violations(pod, "restricted") == [], entry.name
        (container,) = pod["spec"]["containers"]
        assert container["image"] == entry.image

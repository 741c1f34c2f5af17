"""The platform document: the default loads, and a wrong one names the key path and problem."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from arcade_hub.casa.recipes import RECIPES
from arcade_hub.config import ConfigError, Kind, load_config, parse_config
from arcade_hub.local.availability import local_search_path

MINIMAL = """
catalogue:
  - {name: nb, title: Notebook, kind: notebook, image: "x/nb:1", local: {}}
"""


def test_default_document_offers_every_kind() -> None:
    config = load_config()
    kinds = {e.kind for e in config.catalogue}
    assert kinds == {Kind.notebook, Kind.desktop, Kind.desktop_app, Kind.headless}
    casa = {e.casa_version for e in config.catalogue if e.casa_version}
    assert casa == {r.version for r in RECIPES}, "every CASA recipe, nothing that cannot be built"
    assert {r.os_base.codename for r in RECIPES} == {"bookworm", "trixie"}
    assert config.default_entry.name == "notebook"
    demo = config.dataset("alma-demo")
    assert demo.casa_version is None and demo.casa_version_from_data


def test_minimal_document_gets_defaults() -> None:
    config = parse_config(MINIMAL)
    assert config.resources.cores.default == 1
    assert config.backend.kind == "local"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("catalogue: []", "catalogue: List should have at least 1 item"),
        (MINIMAL + "colour: blue\n", "colour: unknown setting"),
        (
            MINIMAL.replace("kind: notebook", "kind: notbook"),
            "catalogue[0] (nb).kind: Input should be 'notebook', 'desktop', 'desktop-app' or "
            "'headless' (got 'notbook')",
        ),
        (MINIMAL.replace("title: Notebook, ", ""), "catalogue[0] (nb).title: required setting"),
        (
            MINIMAL.replace("local: {}", "local: {cmnd: [x]}"),
            "catalogue[0] (nb).local.cmnd: unknown",
        ),
        (
            MINIMAL + "resources: {cores: {choices: [1, 64], default: 1, max: 8}}\n",
            "resources.cores: choices [64.0] lie outside min 1 .. max 8",
        ),
        (
            MINIMAL + "resources: {ram: {choices: [1], default: lots, max: 8}}\n",
            "resources.ram.default: 'lots' is not a size",
        ),
        (
            MINIMAL + "datasets: [{id: a, title: A, path: /d, casa_version: '9.9'}]\n",
            "dataset 'a' needs CASA 9.9 but no catalogue entry provides it",
        ),
        (MINIMAL + "policy: {default_image: nope}\n", "policy.default_image 'nope' is not"),
        (MINIMAL + MINIMAL.split("\n", 2)[2], "catalogue: 'nb' appears more than once"),
        ("catalogue: [\n", "line 2, column 1: not valid YAML"),
        ("- a\n- b\n", "the document must be a mapping"),
        (MINIMAL.replace("name: nb", "name: 'Bad Name'"), "catalogue[0] (Bad Name).name: String"),
        (
            MINIMAL.replace("local: {}", "kubernetes: {cmd: [x]}"),
            "`kubernetes.cmd` is for headless (batch) entries; nb is a notebook: remove its "
            "`kubernetes` block",
        ),
        (
            MINIMAL.replace("kind: notebook", "kind: headless").replace(
                "local: {}", "kubernetes: {cmd: []}"),
            "catalogue[0] (nb).kubernetes.cmd: List should have at least 1 item",
        ),
    ],
)
def test_wrong_documents_name_the_key_path(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "platform.yaml")
    assert any(problem in p for p in info.value.problems), info.value.problems
    assert str(info.value).startswith("platform.yaml is not a valid Arcade Hub configuration")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arcade_hub", *args], capture_output=True, text=True, timeout=60
    )


def test_check_config_accepts_a_good_document(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(MINIMAL)
    result = cli("check-config", str(good))
    assert result.returncode == 0
    assert "OK — 1 catalogue entries" in result.stdout


def test_check_config_rejects_a_bad_document_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("kind: notebook", "kind: notbook"))
    result = cli("check-config", str(bad))
    assert result.returncode == 2
    assert "catalogue[0] (nb).kind" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_refuses_a_public_url_with_a_path(tmp_path: Path) -> None:
    """A hub under a prefix is not supported: check-config says so and what to write."""
    doc = tmp_path / "prefixed.yaml"
    doc.write_text(MINIMAL + "web:\n  public_url: https://host.example.org/jupyter/\n")
    result = cli("check-config", str(doc))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "web.public_url: the address has a path (/jupyter/)" in result.stderr
    assert "cannot be served under a prefix: write https://host.example.org/" in result.stderr
    doc.write_text(MINIMAL + "web:\n  public_url: https://host.example.org/\n")
    assert cli("check-config", str(doc)).returncode == 0


def test_check_config_on_a_missing_file(tmp_path: Path) -> None:
    result = cli("check-config", str(tmp_path / "absent.yaml"))
    assert result.returncode == 2
    assert "cannot read the file" in result.stderr


def test_catalogue_json_lists_every_entry() -> None:
    import json

    result = cli("catalogue", "--json")
    assert result.returncode == 0
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == [e.name for e in load_config().catalogue]
    casa = next(r for r in rows if r["name"] == "casa-6.7.6")
    assert casa["versions"] == {"casa": "6.7.6"}
    if shutil.which("casa-6.7.6", path=local_search_path()) is None:
        assert "arcade-hub apps install casa-6.7.6" in casa["unavailable"]


def test_configuration_reference_is_up_to_date() -> None:
    """docs/reference/configuration.md is generated; regenerate it with
    `arcade-hub config-reference > docs/reference/configuration.md`."""
    from arcade_hub.reference import config_reference

    committed = Path(__file__).parents[2] / "docs" / "reference" / "configuration.md"
    assert committed.read_text() == config_reference()


def test_every_setting_has_a_title_and_description() -> None:
    from pydantic import BaseModel

    from arcade_hub.config import PlatformConfig
    from arcade_hub.reference import model_of

    seen: set[type[BaseModel]] = set()
    todo: list[type[BaseModel]] = [PlatformConfig]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            assert field.title and field.description, f"{model.__name__}.{name}"
            if (sub := model_of(field.annotation)) is not None:
                todo.append(sub)


def test_minimum_defaults_to_the_smallest_choice() -> None:
    config = parse_config(
        MINIMAL + "resources: {cores: {choices: [2, 1], default: 1, max: 4},"
        " ram: {choices: ['512M', 2], default: 2, max: 4}}\n"
    )
    assert (config.resources.cores.min, config.resources.ram.min) == (1, 0.5)
    assert config.resources.gpus.min == 0


def test_run_options_work_before_and_after_the_subcommand() -> None:
    from arcade_hub.cli import _parser

    before = _parser().parse_args(["--port", "9000", "--config", "a.yaml", "run"])
    after = _parser().parse_args(["run", "--port", "9000", "--config", "a.yaml"])
    for args in (before, after):
        assert (args.port, args.config) == (9000, "a.yaml")


def test_run_refuses_a_kubernetes_document_with_a_pointer(tmp_path: Path) -> None:
    doc = tmp_path / "kube.yaml"
    doc.write_text(MINIMAL + "backend: {kind: kubernetes}\n")
    result = cli("run", "--config", str(doc), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 2
    assert "deploy the Kubernetes backend with the zero-to-jupyterhub chart" in result.stderr


PASSWORD = "hunter2"
"""A password written into a URL by mistake: no configuration error may repeat it."""


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            MINIMAL + "web: {public_url: 'https://alice:hunter2@host.example.org/'}\n",
            "web.public_url: the address must name a host, and no user name or password, "
            "e.g. https://hub.example.org/ (got 'https://***@host.example.org/')",
        ),
        (
            MINIMAL + "images: {registries: [{url: 'https://alice:hunter2@reg.example.org/v2'}]}\n",
            "images.registries[0].url: registry url 'https://***@reg.example.org/v2' must not "
            "have a path, query or fragment",
        ),
        (
            MINIMAL + "auth: {method: {type: oidc, issuer: 'ftp://alice:hunter2@idp.example.org',"
            " client_id: hub, allow_any_user: true}}\n",
            "auth.method.oidc.issuer: String should match pattern '^https?://' "
            "(got 'ftp://***@idp.example.org')",
        ),
        (  # an image reference is logged with every launch
            MINIMAL.replace("x/nb:1", "https://alice:hunter2@reg.example.org/nb:1"),
            "catalogue[0] (nb).image: an image reference has no URL scheme and no user name or "
            "password: write host[:port]/repository:tag and give the registry's credentials in "
            "images.registries (password_env) (the value is not shown: it may be a secret)",
        ),
        (
            MINIMAL.replace("x/nb:1", "alice:hunter2@reg.example.org/nb:1"),
            "catalogue[0] (nb).image: an image reference has no URL scheme",
        ),
        (  # longer than a message quotes: the password goes before the value is cut
            MINIMAL + f"web: {{public_url: 'https://alice:hunter2{'x' * 80}@host.example.org/'}}\n",
            "(got 'https://***@host.example.org/')",
        ),
    ],
)
def test_config_errors_never_repeat_a_password_in_a_url(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "platform.yaml")
    assert any(problem in p for p in info.value.problems), info.value.problems
    assert PASSWORD not in str(info.value) and "alice" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (  # the secret itself where the name of its variable goes
            MINIMAL + "auth: {method: {type: oidc, issuer: 'https://idp.example.org',"
            " client_id: hub, client_secret_env: 'hunter2-Xy!9', allow_any_user: true}}\n",
            "auth.method.oidc.client_secret_env: the name of an environment variable "
            "(letters, digits and _), not the secret itself (the value is not shown: it may be "
            "a secret)",
        ),
        (
            MINIMAL + "images: {registries: [{url: 'https://reg.example.org', username: bot,"
            " password_env: 'hunter2 token'}]}\n",
            "images.registries[0].password_env: the name of an environment variable "
            "(letters, digits and _), not the secret itself (the value is not shown: it may be "
            "a secret)",
        ),
        (
            MINIMAL.replace("local: {}", "local: {env: {API_TOKEN: [hunter2]}}"),
            "catalogue[0] (nb).local.env.API_TOKEN: Input should be a valid string "
            "(the value is not shown: it may be a secret)",
        ),
    ],
)
def test_config_errors_never_repeat_a_secret_setting(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "platform.yaml")
    assert any(problem in p for p in info.value.problems), info.value.problems
    assert PASSWORD not in str(info.value)


def test_image_references_pinned_by_digest_are_no_credentials() -> None:
    digest = "sha256:" + "a" * 64
    for image in (f"python@{digest}", f"reg.example.org:5000/nb@{digest}"):
        assert parse_config(MINIMAL.replace("x/nb:1", image)).catalogue[0].image == image


def test_running_services_report_a_bad_document_without_the_password(tmp_path: Path) -> None:
    """The hub's spawners and the services read the document through the cache (at start and
    after an edit): what they log when it is wrong has no password either."""
    from arcade_hub.config.cache import platform_config

    doc = tmp_path / "platform.yaml"
    doc.write_text(MINIMAL + "web: {public_url: 'https://alice:hunter2@host.example.org/'}\n")
    with pytest.raises(ConfigError) as info:
        platform_config(str(doc))
    assert "web.public_url: the address must name a host" in str(info.value)
    assert PASSWORD not in str(info.value)


def test_config_errors_quote_at_most_80_characters_of_a_value() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(MINIMAL.replace("kind: notebook", f"kind: {'n' * 500}"))
    assert f"(got '{'n' * 80}…')" in info.value.problems[0]


@pytest.mark.parametrize("command", ["check-config", "render-values"])
def test_commands_print_config_errors_without_the_password(
    tmp_path: Path, command: str
) -> None:
    doc = tmp_path / "platform.yaml"
    doc.write_text(MINIMAL + "web: {public_url: 'https://alice:hunter2@host.example.org/'}\n")
    args = [str(doc)] if command == "check-config" else ["--config", str(doc)]
    result = cli(command, *args)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "web.public_url: the address must name a host" in result.stderr
    assert PASSWORD not in result.stderr + result.stdout


def test_the_arcade_service_refuses_a_bad_document_at_start_in_one_message(
    tmp_path: Path,
) -> None:
    """The service reads the document when it starts: a bad one ends it with the problems,
    as check-config says them (no password), not a traceback."""
    import os
    import socket

    from arcade_hub import contract

    doc = tmp_path / "platform.yaml"
    doc.write_text(MINIMAL + "web: {public_url: 'https://alice:hunter2@host.example.org/'}\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{port}",
        "JUPYTERHUB_API_URL": "http://127.0.0.1:9/hub/api",  # not reached
        "JUPYTERHUB_API_TOKEN": "unused",
        contract.PLATFORM_CONFIG: str(doc),
        contract.DATA_DIR: str(tmp_path / "data"),
    }
    result = subprocess.run([sys.executable, "-m", "arcade_hub.service"], env=env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "arcade service cannot start: " in result.stderr
    assert "web.public_url: the address must name a host" in result.stderr
    assert PASSWORD not in result.stderr

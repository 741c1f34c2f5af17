"""The storage service's pure rules: node paths, URIs, property changes, listing pages and the
documents it reads (no files, no network)."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from arcade_hub import contract
from arcade_hub.config import PlatformConfig
from arcade_hub.hub_config import STORAGE, RunOptions, hub_config
from arcade_hub.storage import documents
from arcade_hub.storage.documents import BadDocument
from arcade_hub.storage.names import BadPath, NodePath, from_uri, from_url, short_name_aliases
from arcade_hub.storage.views import group_name, page_of, permission_change
from tests.hub import PLATFORM

AUTH = "hub.example.org!arcade"


@pytest.mark.parametrize(
    ("raw", "parts"),
    [
        ("", ()),
        ("/home/alice/", ("home", "alice")),
        ("home/alice/a%20b.fits", ("home", "alice", "a b.fits")),
        ("projects/survey-team/%EF%BC%8E%EF%BC%8E", ("projects", "survey-team", "\uff0e\uff0e")),
    ],
)
def test_paths_name_nodes(raw: str, parts: tuple[str, ...]) -> None:
    assert from_url(raw).parts == parts


@pytest.mark.parametrize(
    "raw",
    [
        "home/alice/..",
        "home/alice/.",
        "home//alice",
        "home/alice/a%2Fb",
        "home/a%00b",
        "home/a%1Bb",
        "home/%E2%80%AEexe",
        "home/%C3",
        "etc/passwd",
        "home/" + "x" * 256,
        "/".join(["home", *["d"] * 200]),
    ],
)
def test_paths_that_could_mean_something_else_are_refused(raw: str) -> None:
    with pytest.raises(BadPath):
        from_url(raw)


def test_uris_of_this_service_and_its_short_name() -> None:
    aliases = tuple(
        a.removeprefix("ivo://").replace("/", "!")
        for a in short_name_aliases("ivo://hub.example.org/arcade")
    )
    assert aliases == ("cadc.nrc.ca!arcade", "opencadc.org!arcade")
    for uri in (
        f"vos://{AUTH}/home/alice/x",
        "vos://hub.example.org~arcade/home/alice/x",
        "vos://cadc.nrc.ca!arcade/home/alice/x",
    ):
        assert from_uri(uri, AUTH, aliases) == NodePath(("home", "alice", "x"))
    for uri in ("vos://other!arcade/home/alice/x", "http://hub/home", f"vos://{AUTH}/home/../x"):
        with pytest.raises(BadPath):
            from_uri(uri, AUTH, aliases)


class Groups:
    def user_of(self, uid: int) -> str | None:
        return None

    def group_of(self, gid: int) -> str | None:
        return {5001: "survey-team"}.get(gid)

    def gid_of(self, group: str) -> int | None:
        return {"survey-team": 5001, "other": 5002}.get(group)


def test_sharing_is_the_files_own_bits() -> None:
    public = permission_change({"ispublic": "true"}, Groups())
    assert public["set"] == stat.S_IROTH and public["dir_set"] == stat.S_IROTH | stat.S_IXOTH
    private = permission_change({"ispublic": "false"}, Groups())
    assert private["clear"] == stat.S_IRWXO and private["set"] == 0
    read = permission_change({"groupread": "ivo://cadc.nrc.ca/gms?survey-team"}, Groups())
    assert read["gid"] == 5001 and read["set"] == stat.S_IRGRP
    assert read["regroup_clear"] == stat.S_IWGRP  # read sharing carries no write bit over
    write = permission_change({"groupwrite": "survey-team"}, Groups())
    assert write["set"] == stat.S_IRGRP | stat.S_IWGRP and write["regroup_clear"] == 0
    cleared = permission_change({"groupread": None}, Groups())
    assert cleared["gid"] is None and cleared["clear"] == stat.S_IRGRP | stat.S_IXGRP
    assert group_name("ivo://hub/gms?x") == "x" and group_name("x") == "x"


@pytest.mark.parametrize(
    "props",
    [
        {"groupread": "ivo://x/gms?nobody-knows"},
        {"groupread": "survey-team other"},
        {"groupread": "survey-team", "groupwrite": "other"},
    ],
)
def test_sharing_names_one_known_group(props: dict[str, str | None]) -> None:
    with pytest.raises(BadDocument):
        permission_change(props, Groups())


def test_pages() -> None:
    assert page_of({}, 100, None) == {"cap": 100, "start": None}
    page = page_of({"limit": "0", "sort": f"{documents.CORE}#length", "order": "desc"}, 9, "a")
    assert page == {"cap": 9, "start": "a", "limit": 0, "sort": "length", "order": "desc"}
    for bad in ({"limit": "-1"}, {"limit": "1e9"}, {"sort": "name"}, {"order": "up"}):
        with pytest.raises(BadDocument):
            page_of(bad, 100, None)


def test_documents_are_bounded_and_entity_free() -> None:
    with pytest.raises(BadDocument, match="document type"):
        documents.read_node(b'<!DOCTYPE n [<!ENTITY e "x">]><node uri="vos://a/b">&e;</node>')
    with pytest.raises(BadDocument, match="at most"):
        documents.read_node(b"<node>" + b" " * documents.XML_LIMIT + b"</node>")
    with pytest.raises(BadDocument, match="well-formed"):
        documents.read_transfer(b"<transfer>")
    node = documents.read_node(
        b'<node xmlns="http://www.ivoa.net/xml/VOSpace/v2.0" '
        b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="vos:LinkNode" '
        b'uri="vos://a!b/home/x"><properties><property '
        b'uri="ivo://ivoa.net/vospace/core#ispublic" xsi:nil="true"/></properties>'
        b"<target>vos://a!b/home/y</target></node>"
    )
    assert node.type == "LinkNode" and node.target == "vos://a!b/home/y"
    assert node.properties == {"ispublic": None}


def test_capabilities_name_every_endpoint() -> None:
    caps = documents.capabilities("https://hub.example.org/services/vospace").decode()
    for standard in documents.STANDARDS.values():
        assert f'standardID="{standard}"' in caps
    assert 'use="base">https://hub.example.org/services/vospace/files<' in caps


def _hub(tmp_path: Path, **sections: object) -> Any:
    doc = yaml.safe_load(PLATFORM.read_text()) | sections
    return hub_config(PlatformConfig.model_validate(doc), RunOptions(tmp_path, None))


def test_the_hub_runs_the_storage_service_and_routes_the_registry(tmp_path: Path) -> None:
    c = _hub(tmp_path)
    storage = next(s for s in c.JupyterHub.services if s["name"] == STORAGE)
    assert storage["command"][-2:] == ["-m", "arcade_hub.storage"]
    assert c.Proxy.extra_routes == {"/reg/": storage["url"]}
    user = next(r for r in c.JupyterHub.load_roles if r["name"] == "user")
    assert f"access:services!service={STORAGE}" in user["scopes"]
    assert f"access:services!service={STORAGE}" in c.Spawner.server_token_scopes
    assert contract.STORAGE_URL not in storage["environment"]  # taken from each request
    public = _hub(tmp_path, web={"public_url": "https://hub.example.org/"})
    env = next(s for s in public.JupyterHub.services if s["name"] == STORAGE)["environment"]
    assert env[contract.STORAGE_URL] == "https://hub.example.org/services/vospace"
    sub = _hub(tmp_path, web={"subdomain_host": "https://hub.example.org"})
    assert list(sub.Proxy.extra_routes) == ["hub.example.org/reg/"]
    off = _hub(tmp_path, vospace={"enabled": False})
    assert all(s["name"] != STORAGE for s in off.JupyterHub.services)


def test_the_hub_serves_https_itself_with_a_certificate(tmp_path: Path) -> None:
    c = _hub(
        tmp_path,
        web={"tls_cert_file": "/etc/arcade/cert.pem", "tls_key_file": "/etc/arcade/key.pem"},
    )
    assert c.JupyterHub.bind_url.startswith("https://")
    assert c.JupyterHub.ssl_cert == "/etc/arcade/cert.pem"
    with pytest.raises(ValueError, match="go together"):
        _hub(tmp_path, web={"tls_cert_file": "/etc/arcade/cert.pem"})

"""What a hostile user or a stranger tries against the storage service, and what they get: a
clear 4xx, never a 500, and nothing outside their rights read, written or followed."""

from __future__ import annotations

import http.client as httpclient
import os
from pathlib import Path

import httpx
import pytest

from tests.storage.conftest import VosPlatform

pytestmark = pytest.mark.integration
SERVICE = "/services/vospace"
DOTS = "\uff0e\uff0e"
"""Two fullwidth full stops: a name, not the parent."""


def http(
    p: VosPlatform, method: str, path: str, user: str | None = "alice", **kwargs: object
) -> httpx.Response:
    headers = dict(kwargs.pop("headers", {}))  # type: ignore[call-overload]
    if user is not None:
        headers["Authorization"] = f"Bearer {p.token(user)}"
    return httpx.request(
        method, f"{p.hub.url}{path}", headers=headers, verify=p.hub.verify, timeout=60, **kwargs
    )  # type: ignore[arg-type]


def raw(
    p: VosPlatform,
    method: str,
    path: str,
    user: str | None = "alice",
    headers: dict[str, str] | None = None,
    direct: bool = False,
) -> tuple[int, str]:
    """A request with the path exactly as given (httpx would resolve `..` first), through the
    hub's proxy (https) or `direct` to the service."""
    sent = {"Authorization": f"Bearer {p.token(user)}"} if user else {}
    sent.update(headers or {})
    if direct:
        conn: httpclient.HTTPConnection = httpclient.HTTPConnection(*p.direct(), timeout=60)
    else:
        host, port = p.host.split(":")
        conn = httpclient.HTTPSConnection(host, int(port), context=p.hub.verify, timeout=60)  # type: ignore[arg-type]
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for key, value in sent.items():
            conn.putheader(key, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def plant(p: VosPlatform, name: str, target: str) -> Path:
    """A symlink in alice's home, as alice would make it in a session."""
    assert p.vos("alice", "vls", "arcade:home/alice").returncode == 0  # the home exists
    link = p.home("alice") / name
    link.symlink_to(target)
    uid = p.home("alice").stat().st_uid
    os.lchown(link, uid, uid)
    return link


def test_links_out_of_the_home_are_never_followed(vos_platform: VosPlatform) -> None:
    p = vos_platform
    plant(p, "passwd", "/etc/passwd")
    plant(p, "etc", "/etc")
    before = Path("/etc/passwd").read_bytes()
    got = p.vos("alice", "vcp", "-L", "arcade:home/alice/passwd", "got-passwd")
    assert got.returncode != 0 and not (p.work / "got-passwd").exists()
    direct = http(p, "GET", f"{SERVICE}/files/home/alice/passwd")
    assert direct.status_code == 404 and b"root:" not in direct.content
    through = http(p, "GET", f"{SERVICE}/files/home/alice/etc/passwd")
    assert through.status_code == 404 and b"root:" not in through.content
    listing = http(p, "GET", f"{SERVICE}/nodes/home/alice/etc")
    assert listing.status_code == 200 and b"vos:LinkNode" in listing.content
    assert http(p, "GET", f"{SERVICE}/nodes/home/alice/etc/passwd").status_code == 404
    (p.work / "evil.txt").write_text("overwritten\n")
    up = p.vos("alice", "vcp", "evil.txt", "arcade:home/alice/passwd")
    assert up.returncode != 0
    put = http(p, "PUT", f"{SERVICE}/files/home/alice/passwd", content=b"x")
    assert put.status_code == 409
    assert p.vos("alice", "vmkdir", "arcade:home/alice/etc/sub").returncode != 0
    assert p.vos("alice", "vrm", "arcade:home/alice/passwd").returncode == 0
    assert not (p.home("alice") / "passwd").is_symlink()
    assert Path("/etc/passwd").read_bytes() == before
    assert not Path("/etc/sub").exists()


@pytest.mark.parametrize(
    "path",
    [
        "nodes/home/alice/../bob/x",
        "nodes/home/alice/%2e%2e/bob",
        "nodes/home/alice/a%2Fb",
        "nodes/home/alice/a%00b",
        "nodes/home/alice/a%0Ab",
        "nodes/home/alice/%E2%80%AEtxt.exe",
        "nodes/home/alice/%FF%FE",
        "nodes/home/alice/" + "x" * 256,
        "nodes/home/alice/" + "/".join(["d"] * 200),
        "nodes/etc/passwd",
        "nodes/home/alice?limit=-1",
        "nodes/home/alice?limit=ten",
        "nodes/home/alice?sort=name",
        "nodes/home/alice?uri=vos://elsewhere!x/home/alice/a",
        "files/home/alice/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "files/home/alice/..%2f..%2f..%2fetc/passwd",
    ],
)
def test_bad_paths_get_a_clear_400(vos_platform: VosPlatform, path: str) -> None:
    """The service refuses each of these itself (400); through the proxy, which resolves dot
    segments first, the answer is a 400 or, for what became another user's node, a 404."""
    got, text = raw(vos_platform, "GET", f"{SERVICE}/{path}", direct=True)
    assert got == 400, (path, got, text)
    got, text = raw(vos_platform, "GET", f"{SERVICE}/{path}")
    if "%FF" in path:
        # configurable-http-proxy itself fails (500, the hub's error page) on a path whose
        # percent-encoding is not UTF-8, before the request reaches the service
        assert got == 500 and "<title>JupyterHub</title>" in text, (got, text)
        return
    assert got in (400, 404), (path, got, text)
    assert "Traceback" not in text and "root:" not in text


@pytest.mark.parametrize("path", ["xfer/nope", "transfers/nope/phase", "async-delete/nope"])
def test_unknown_jobs(vos_platform: VosPlatform, path: str) -> None:
    assert raw(vos_platform, "GET", f"{SERVICE}/{path}")[0] == 404


def test_unicode_names_are_names(vos_platform: VosPlatform) -> None:
    """Fullwidth dots and slashes are characters, not the parent or a separator."""
    p = vos_platform
    for name in (DOTS, "a\uff0fb", "ünïcødé ✓.txt"):
        r = http(p, "PUT", f"{SERVICE}/files/home/alice/{name}", content=b"data")
        assert r.status_code == 201, (name, r.text)
        assert (p.home("alice") / name).read_bytes() == b"data"
    assert not (p.hub.data_dir / "home" / DOTS).exists()


def test_bodies_and_documents_are_bounded(vos_platform: VosPlatform) -> None:
    p = vos_platform
    node = f"{SERVICE}/nodes/home/alice/new"
    big = http(p, "PUT", node, content=b"<" * (65 * 1024))
    assert big.status_code == 413
    doctype = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><node/>'
    assert http(p, "PUT", node, content=doctype).status_code == 400
    assert http(p, "PUT", node, content=b"<node").status_code == 400
    assert http(p, "POST", f"{SERVICE}/synctrans", content=b"<transfer/>").status_code == 400
    huge = {"Content-Length": str(300 * 2**30)}
    got, text = raw(p, "PUT", f"{SERVICE}/files/home/alice/huge", headers=huge, direct=True)
    assert got == 413 and "max_file_gib" in text
    assert not (p.home("alice") / "huge").exists()

    def chunks():  # no Content-Length
        yield b"abc"

    assert (
        http(p, "PUT", f"{SERVICE}/files/home/alice/chunked", content=chunks()).status_code == 411
    )
    kept = http(p, "PUT", f"{SERVICE}/files/home/alice/kept", content=b"old")
    assert kept.status_code == 201
    probe = http(
        p,
        "PUT",
        f"{SERVICE}/files/home/alice/kept",
        content=b"",
        headers={"x-put-txn-op": "start", "x-total-length": str(6 * 2**30)},
    )
    assert probe.status_code == 200 and "x-put-txn-id" not in probe.headers
    assert (p.home("alice") / "kept").read_bytes() == b"old"  # untouched until the real PUT
    md5 = http(
        p,
        "PUT",
        f"{SERVICE}/files/home/alice/checked",
        content=b"abc",
        headers={"Digest": "md5=" + "A" * 22 + "=="},
    )
    assert md5.status_code == 412 and not (p.home("alice") / "checked").exists()


def test_strangers_and_other_sites(vos_platform: VosPlatform) -> None:
    p = vos_platform
    anonymous = http(p, "GET", f"{SERVICE}/nodes/home/alice", user=None)
    assert anonymous.status_code == 401
    assert "ivoa_bearer" in anonymous.headers.get("www-authenticate", "")
    bad = http(
        p,
        "GET",
        f"{SERVICE}/nodes/home/alice",
        user=None,
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert bad.status_code == 401
    made = http(p, "PUT", f"{SERVICE}/files/home/alice/{DOTS}", content=b"data")
    assert made.status_code == 201, made.text
    assert http(p, "GET", f"{SERVICE}/nodes/home/alice", user="bob").status_code == 404
    assert http(p, "DELETE", f"{SERVICE}/nodes/home/alice/{DOTS}", user="bob").status_code == 403
    # a browser logged in to the hub sends its cookies, which the service never reads
    browser = p.hub.login("alice")
    r = browser.put(
        f"{SERVICE}/files/home/alice/from-a-page",
        content=b"x",
        headers={"Origin": "https://elsewhere.example"},
    )
    assert r.status_code == 401 and not (p.home("alice") / "from-a-page").exists()
    deleted = browser.delete(f"{SERVICE}/nodes/home/alice/{DOTS}")
    assert deleted.status_code == 401, p.hub.tail(60)
    assert (p.home("alice") / DOTS).exists()

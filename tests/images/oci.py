"""Build small OCI / Docker images in Python and push them over the Distribution API.

No docker, skopeo or buildah: a layer is a gzip'ed tarball made with :mod:`tarfile`, the image
config and manifests are JSON, and :class:`Pusher` uploads them with monolithic blob uploads
(``POST`` then ``PUT ?digest=``) and ``PUT /manifests/<ref>``. Everything is deterministic
(mtime 0), so the same inputs always give the same digests.

This helper deliberately shares no code with ``arcade_hub.images`` so that a bug in the client
cannot cancel out in the tests. It handles basic and bearer-token challenges on its own.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return sha256(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.data),
            **extra,
        }


def layer_tarball(files: Mapping[str, bytes]) -> tuple[bytes, str]:
    """A gzip'ed tar of ``files`` (path -> content) and its diff id (digest of the plain tar)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, content in sorted(files.items()):
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(content)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(content))
    plain = raw.getvalue()
    return gzip.compress(plain, mtime=0), sha256(plain)


@dataclass(frozen=True)
class Entry:
    """One file system entry of a layer: a file (``data``), a directory or a symlink."""

    path: str
    data: bytes | None = None
    mode: int = 0o644
    link: str | None = None
    directory: bool = False


def layer_from_entries(entries: list[Entry]) -> tuple[bytes, str]:
    """Like :func:`layer_tarball`, with modes, directories and symbolic links."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.path.lstrip("/"))
            info.mtime = 0
            info.mode = entry.mode
            if entry.directory:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif entry.link is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = entry.link
                tar.addfile(info)
            else:
                data = entry.data or b""
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    plain = raw.getvalue()
    return gzip.compress(plain, mtime=0, compresslevel=1), sha256(plain)


@dataclass(frozen=True)
class Image:
    """One single-platform image: layer + config blobs and the manifest that ties them."""

    config: Blob
    layers: tuple[Blob, ...]
    manifest: Blob
    architecture: str
    os: str = "linux"
    variant: str | None = None

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def platform(self) -> dict[str, str]:
        platform = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            platform["variant"] = self.variant
        return platform


def build_image(
    *,
    architecture: str = "amd64",
    os: str = "linux",
    variant: str | None = None,
    labels: Mapping[str, str] | None = None,
    user: str | None = None,
    entrypoint: list[str] | None = None,
    cmd: list[str] | None = None,
    env: Mapping[str, str] | None = None,
    exposed_ports: list[str] | None = None,
    working_dir: str | None = None,
    files: Mapping[str, bytes] | None = None,
    docker: bool = False,
    layers: list[tuple[bytes, str]] | None = None,
) -> Image:
    """An image with one layer (or ``layers``, from :func:`layer_from_entries`);
    ``docker=True`` uses Docker v2 schema 2 media types."""
    built = layers or [layer_tarball(files or {"etc/arcade-test": architecture.encode()})]
    layer_type = DOCKER_LAYER if docker else OCI_LAYER
    blobs = tuple(Blob(layer_type, data) for data, _ in built)
    container: dict[str, Any] = {}
    if user is not None:
        container["User"] = user
    if entrypoint is not None:
        container["Entrypoint"] = entrypoint
    if cmd is not None:
        container["Cmd"] = cmd
    if env:
        container["Env"] = [f"{k}={v}" for k, v in env.items()]
    if exposed_ports:
        container["ExposedPorts"] = {port: {} for port in exposed_ports}
    if labels:
        container["Labels"] = dict(labels)
    if working_dir:
        container["WorkingDir"] = working_dir
    config_doc: dict[str, Any] = {
        "architecture": architecture,
        "os": os,
        "config": container,
        "rootfs": {"type": "layers", "diff_ids": [diff_id for _, diff_id in built]},
        "history": [{"created_by": "tests/images/oci.py"}],
    }
    if variant:
        config_doc["variant"] = variant
    config = Blob(DOCKER_CONFIG if docker else OCI_CONFIG, canonical_json(config_doc))
    media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    manifest_doc = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config.descriptor(),
        "layers": [blob.descriptor() for blob in blobs],
    }
    return Image(
        config=config,
        layers=blobs,
        manifest=Blob(media_type, canonical_json(manifest_doc)),
        architecture=architecture,
        os=os,
        variant=variant,
    )


def build_index(images: list[Image], *, docker: bool = False) -> Blob:
    """An OCI image index (or Docker manifest list) over ``images``."""
    media_type = DOCKER_LIST if docker else OCI_INDEX
    doc = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [image.manifest.descriptor(platform=image.platform) for image in images],
    }
    return Blob(media_type, canonical_json(doc))


_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass
class ChallengeAuth(httpx.Auth):
    """httpx auth answering a registry's ``Basic`` or ``Bearer`` challenge (push + pull)."""

    username: str | None = None
    password: str | None = None
    _tokens: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.requires_response_body = True  # to read the token service's answer

    def _basic(self) -> str:
        raw = f"{self.username or ''}:{self.password or ''}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        response = yield request
        if response.status_code != 401:
            return
        header = response.headers.get("WWW-Authenticate", "")
        scheme, _, rest = header.partition(" ")
        if scheme.lower() == "basic":
            request.headers["Authorization"] = self._basic()
            yield request
            return
        params = dict(_PARAM.findall(rest))
        scope = params.get("scope", "")
        repo = re.match(r"repository:([^:]+):", scope)
        if repo:  # ask for push as well, whatever the challenge said
            scope = f"repository:{repo[1]}:pull,push"
        token = self._tokens.get(scope)
        if token is None:
            headers = {"Authorization": self._basic()} if self.username else {}
            token_response = yield httpx.Request(
                "GET",
                params["realm"],
                params={"service": params.get("service", ""), "scope": scope},
                headers=headers,
            )
            token_response.raise_for_status()
            token = token_response.json()["token"]
            self._tokens[scope] = token
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


class Pusher:
    """Pushes blobs and manifests to a registry at ``base_url`` (synchronous httpx)."""

    def __init__(self, base_url: str, auth: httpx.Auth | None = None) -> None:
        self.client = httpx.Client(base_url=base_url, auth=auth, timeout=30)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Pusher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def push_blob(self, repository: str, blob: Blob) -> None:
        if self.client.head(f"/v2/{repository}/blobs/{blob.digest}").status_code == 200:
            return
        started = self.client.post(f"/v2/{repository}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = started.headers["Location"]
        separator = "&" if "?" in location else "?"
        done = self.client.put(
            f"{location}{separator}digest={blob.digest}",
            content=blob.data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 201, done.text

    def push_manifest(self, repository: str, reference: str, manifest: Blob) -> str:
        response = self.client.put(
            f"/v2/{repository}/manifests/{reference}",
            content=manifest.data,
            headers={"Content-Type": manifest.media_type},
        )
        assert response.status_code == 201, response.text
        assert response.headers["Docker-Content-Digest"] == manifest.digest
        return manifest.digest

    def push_image(self, repository: str, tag: str, image: Image) -> str:
        """Push blobs then manifest; returns the manifest digest."""
        for blob in (*image.layers, image.config):
            self.push_blob(repository, blob)
        return self.push_manifest(repository, tag, image.manifest)

    def push_index(
        self, repository: str, tag: str, images: list[Image], *, docker: bool = False
    ) -> str:
        """Push every image by digest, then the index under ``tag``; returns the index digest."""
        for image in images:
            self.push_image(repository, image.digest, image)
        return self.push_manifest(repository, tag, build_index(images, docker=docker))

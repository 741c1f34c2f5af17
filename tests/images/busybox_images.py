"""Tiny images made from Debian's static busybox, pushed to the test registry for the
conformance tests: one good image per kind and images that break one rule each.

A "Jupyter server" here is a test double: a shell script named `jupyterhub-singleuser` that
serves `/user/<name>/api` (and `/desktop/`) with busybox httpd. The suite checks behaviour over
HTTP, so it cannot tell the difference, which is what makes the double useful.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .oci import Entry, Image, build_image, layer_from_entries

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "httpd", "mkdir", "touch", "cat", "ls", "id", "sleep", "true", "env", "echo")

FAKE_SERVER = b"""#!/bin/sh
# test double of jupyterhub-singleuser: answers like a Jupyter server's /api
www=/tmp/www
mkdir -p "$www${JUPYTERHUB_SERVICE_PREFIX}api" "$www${JUPYTERHUB_SERVICE_PREFIX}desktop"
echo '{"version": "2.99.0-test"}' > "$www${JUPYTERHUB_SERVICE_PREFIX}api/index.html"
[ -n "$ARCADE_TEST_DESKTOP" ] && echo desktop > "$www${JUPYTERHUB_SERVICE_PREFIX}desktop/index.html"
[ -n "$ARCADE_TEST_EXTRA_PORT" ] && httpd -p "127.0.0.1:$ARCADE_TEST_EXTRA_PORT" -h "$www"
exec httpd -f -p 127.0.0.1:8888 -h "$www"
"""
SWALLOW = b"""#!/bin/sh
"$@"
exit 0
"""


def _base_layer() -> tuple[bytes, str]:
    entries = [
        Entry("bin", directory=True, mode=0o755),
        Entry("bin/busybox", BUSYBOX.read_bytes(), mode=0o755),
        *(Entry(f"bin/{a}", link="busybox", mode=0o777) for a in APPLETS),
        Entry("tmp", directory=True, mode=0o1777),
        Entry("home", directory=True, mode=0o755),
        Entry("etc", directory=True, mode=0o755),
        Entry("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", mode=0o644),
    ]
    return layer_from_entries(entries)


def _layer(files: dict[str, tuple[bytes, int]]) -> tuple[bytes, str]:
    dirs = sorted({str(Path(p).parent) for p in files} - {"."})
    entries = [Entry(d, directory=True, mode=0o755) for d in dirs]
    entries += [Entry(p, data, mode=mode) for p, (data, mode) in sorted(files.items())]
    return layer_from_entries(entries)


SERVER_FILES = {"usr/local/bin/jupyterhub-singleuser": (FAKE_SERVER, 0o755)}
XVNC = {"usr/bin/Xvnc": (b"#!/bin/sh\nexit 0\n", 0o755)}
X_APP = {
    "usr/bin/xeyes": (b"#!/bin/sh\nexit 0\n", 0o755),
    "usr/lib/x86_64-linux-gnu/libX11.so.6": (b"\x7fELF not really", 0o644),
}


def labels(kind: str | None, title: str | None = "Test image", **extra: str) -> dict[str, str]:
    out = dict(extra)
    if kind:
        out["org.arcade-hub.kind"] = kind
    if title:
        out["org.arcade-hub.title"] = title
    return out


ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin"}


@dataclass(frozen=True)
class Case:
    """An image to push, and the check expected to fail (None for a good image)."""

    repository: str
    image: Image
    failing: str | None = None


def cases() -> list[Case]:
    base = _base_layer()
    server = _layer(SERVER_FILES)
    desktop = _layer({**SERVER_FILES, **XVNC})
    app = _layer(X_APP)
    no_x = _layer({"usr/bin/xeyes": X_APP["usr/bin/xeyes"]})
    swallow = _layer({"usr/local/bin/swallow": (SWALLOW, 0o755)})

    def img(layers: list[tuple[bytes, str]], **config: Any) -> Image:
        config.setdefault("user", "1000:100")
        config.setdefault("env", ENV)
        return build_image(layers=[base, *layers], **config)

    return [
        Case("good/notebook", img([server], labels=labels("notebook", **{
            "org.arcade-hub.python-version": "3.11"}), exposed_ports=["8888/tcp"])),
        Case("good/desktop", img([desktop], labels=labels("desktop"),
                                 env={**ENV, "ARCADE_TEST_DESKTOP": "1"})),
        Case("good/xeyes", img([app], labels=labels("desktop-app"), cmd=["xeyes"])),
        Case("good/batch", img([], labels=labels("headless"))),
        Case("bad/root", img([], labels=labels("headless"), user="root"), "non-root user"),
        Case("bad/unset-user", img([], labels=labels("headless"), user=""), "non-root user"),
        Case("bad/no-kind", img([server], labels=labels(None)), "label: kind"),
        Case("bad/no-title", img([], labels=labels("headless", title=None)), "label: title"),
        Case("bad/no-x-client", img([no_x], labels=labels("desktop-app"), cmd=["xeyes"]),
             "runtime: X client"),
        Case("bad/no-app-command", img([app], labels=labels("desktop-app")), "app command"),
        Case("bad/no-server", img([], labels=labels("notebook")), "runtime: jupyter server"),
        Case("bad/extra-port", img([server], labels=labels("notebook"),
                                   env={**ENV, "ARCADE_TEST_EXTRA_PORT": "5901"}),
             "runtime: listening ports"),
        Case("bad/exposes-port", img([server], labels=labels("notebook"),
                                     exposed_ports=["8888/tcp", "22/tcp"]), "exposed ports"),
        Case("bad/no-xvnc", img([server], labels=labels("desktop"),
                                env={**ENV, "ARCADE_TEST_DESKTOP": "1"}), "runtime: Xvnc"),
        Case("bad/no-desktop-proxy", img([desktop], labels=labels("desktop")),
             "runtime: desktop proxy"),
        Case("bad/swallows-status", img([swallow], labels=labels("headless"),
                                        entrypoint=["/usr/local/bin/swallow"]),
             "runtime: exit status"),
    ]  # fmt: skip

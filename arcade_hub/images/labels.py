"""The image label namespace: how an image declares its Arcade kind, title and versions.

One namespace, ``org.arcade-hub.*``:

- ``org.arcade-hub.kind``: ``notebook``, ``desktop``, ``desktop-app`` or ``headless``;
- ``org.arcade-hub.title`` and ``org.arcade-hub.description``: shown in the launch form;
- ``org.arcade-hub.group``: menu group (e.g. ``CASA``);
- ``org.arcade-hub.<software>-version``: a version the image provides, e.g.
  ``org.arcade-hub.casa-version=6.7`` (``versions: {casa: "6.7"}`` in the catalogue);
- ``org.arcade-hub.command``: for ``desktop-app`` images, the X program to start (optional when
  the image's own entrypoint/cmd starts it).
"""

from __future__ import annotations

from collections.abc import Mapping

PREFIX = "org.arcade-hub."
KIND = PREFIX + "kind"
TITLE = PREFIX + "title"
DESCRIPTION = PREFIX + "description"
GROUP = PREFIX + "group"
COMMAND = PREFIX + "command"
VERSION_SUFFIX = "-version"

KINDS = ("notebook", "desktop", "desktop-app", "headless")


def kind_of(labels: Mapping[str, str]) -> str | None:
    """The declared kind, or None when the label is missing (an invalid value is returned as is)."""
    value = labels.get(KIND)
    return value.strip() if value and value.strip() else None


def versions_of(labels: Mapping[str, str]) -> dict[str, str]:
    """``org.arcade-hub.casa-version=6.7`` -> ``{"casa": "6.7"}``."""
    versions: dict[str, str] = {}
    for key, value in labels.items():
        if key.startswith(PREFIX) and key.endswith(VERSION_SUFFIX) and value.strip():
            software = key[len(PREFIX) : -len(VERSION_SUFFIX)]
            if software:
                versions[software] = value.strip()
    return versions

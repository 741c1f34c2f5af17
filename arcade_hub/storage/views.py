"""Between files and VOSpace: a worker's description of a file as a node document, and a
client's property changes as permission bits.

The properties are the file system's own, as in CANFAR's cavern, so sessions and the service
always agree: `ispublic` is the file's read bit for others, `groupread`/`groupwrite` its group
(when it is a platform group) with the group's read/write bit; `length`, `date`, `creator`
and the `MD5` the service recorded when it received the file are read-only.
"""

from __future__ import annotations

import mimetypes
import stat
from datetime import UTC, datetime
from typing import Any, Protocol

from arcade_hub.storage.documents import CORE, BadDocument, NodeDoc
from arcade_hub.storage.names import NodePath, to_uri

TYPES = {"container": "vos:ContainerNode", "data": "vos:DataNode", "link": "vos:LinkNode"}
SORTS = {f"{CORE}#length": "length", f"{CORE}#date": "date"}
SETTABLE = ("ispublic", "groupread", "groupwrite")
READ_ONLY = ("length", "date", "MD5", "creator", "type", "ctime", "mtime", "quota")


class Names(Protocol):
    def user_of(self, uid: int) -> str | None: ...

    def group_of(self, gid: int) -> str | None: ...

    def gid_of(self, group: str) -> int | None: ...


def vos_date(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def group_uri(authority: str, group: str) -> str:
    """How a group is named in `groupread`/`groupwrite`: `ivo://<host>/gms?<group>`."""
    return f"ivo://{authority.split('!', 1)[0]}/gms?{group}"


def group_name(uri: str) -> str:
    """The platform group a client's group URI names: what follows `?` (CADC's client writes
    `ivo://cadc.nrc.ca/gms?<group>`), or the whole word."""
    return uri.rsplit("?", 1)[-1]


def node_doc(
    path: NodePath,
    info: dict[str, Any],
    names: Names,
    authority: str,
    children: list[dict[str, Any]] | None = None,
) -> NodeDoc:
    kind = TYPES[info["type"]]
    props: list[tuple[str, str, bool]] = [(f"{CORE}#date", vos_date(info["mtime"]), True)]
    if info["type"] == "data":
        props.append((f"{CORE}#length", str(info["size"]), True))
        guessed = mimetypes.guess_type(path.name)[0]
        if guessed:
            props.append((f"{CORE}#type", guessed, True))
        if info.get("md5"):
            props.append((f"{CORE}#MD5", info["md5"], True))
    props.append((f"{CORE}#creator", names.user_of(info["uid"]) or str(info["uid"]), True))
    if info["type"] != "link":
        mode, group = info["mode"], names.group_of(info["gid"])
        public = "true" if mode & stat.S_IROTH else "false"
        props.append((f"{CORE}#ispublic", public, False))
        if group and mode & stat.S_IRGRP:
            props.append((f"{CORE}#groupread", group_uri(authority, group), False))
        if group and mode & stat.S_IWGRP:
            props.append((f"{CORE}#groupwrite", group_uri(authority, group), False))
    doc = NodeDoc(to_uri(path, authority), kind, props, target=info.get("target"))
    if info["type"] == "container":
        doc.children = [
            node_doc(path.child(c["name"]), c, names, authority) for c in children or []
        ]
    return doc


def virtual_doc(path: NodePath, authority: str, children: list[str]) -> NodeDoc:
    """The root, `home` and `projects`: containers of the platform, read-only."""
    props = [
        (f"{CORE}#date", vos_date(0), True),
        (f"{CORE}#creator", "root", True),
        (f"{CORE}#ispublic", "false", False),
    ]
    doc = NodeDoc(to_uri(path, authority), "vos:ContainerNode", props)
    doc.children = [
        NodeDoc(to_uri(path.child(name), authority), "vos:ContainerNode", list(props))
        for name in children
    ]
    return doc


def permission_change(props: dict[str, str | None], names: Names) -> dict[str, Any]:
    """The bits to set and clear (files and containers apart) and the group to give, for the
    settable properties among `props`; other properties are ignored."""
    change: dict[str, Any] = {"gid": None, "set": 0, "clear": 0, "dir_set": 0, "dir_clear": 0}
    # shared with another group for reading only: the group's write bit (sessions make files
    # group-writable for the user's own group) does not carry over to the new group
    change["regroup_clear"] = 0 if "groupwrite" in props else stat.S_IWGRP
    if "ispublic" in props:
        if (props["ispublic"] or "").strip().lower() == "true":
            change["set"] |= stat.S_IROTH
            change["dir_set"] |= stat.S_IROTH | stat.S_IXOTH
        else:
            change["clear"] |= stat.S_IRWXO
            change["dir_clear"] |= stat.S_IRWXO
    for key, bits, dir_bits, clear in (
        ("groupread", stat.S_IRGRP, stat.S_IRGRP | stat.S_IXGRP, stat.S_IRGRP | stat.S_IXGRP),
        ("groupwrite", stat.S_IRGRP | stat.S_IWGRP, stat.S_IRWXG, stat.S_IWGRP),
    ):
        if key not in props:
            continue
        groups = (props[key] or "").split()
        if not groups:
            change["clear"] |= clear
            change["dir_clear"] |= clear
            continue
        change["gid"] = _one_gid(key, groups, names, change["gid"])
        change["set"] |= bits
        change["dir_set"] |= dir_bits
    change["clear"] &= ~change["set"]
    change["dir_clear"] &= ~change["dir_set"]
    return change


def _one_gid(key: str, groups: list[str], names: Names, before: int | None) -> int:
    if len(groups) > 1:
        raise BadDocument(f"{key}: a node is shared with one group here (its file group)")
    group = group_name(groups[0])
    gid = names.gid_of(group)
    if gid is None:
        raise BadDocument(f"{key}: there is no group {group[:80]!r} on this platform")
    if before is not None and before != gid:
        raise BadDocument("groupread and groupwrite must name the same group here")
    return gid


def page_of(arguments: dict[str, str], cap: int, uri_name: str | None) -> dict[str, Any]:
    """A listing's page from the query: `limit` (0: no children), `uri` of the first child
    (its name, `uri_name`), `sort` by length or date, `order` asc or desc."""
    page: dict[str, Any] = {"cap": cap, "start": uri_name}
    if "limit" in arguments:
        limit = arguments["limit"]
        if not limit.isdigit() or len(limit) > 9:
            raise BadDocument("limit is a number of children, 0 or more")
        page["limit"] = int(limit)
    sort = arguments.get("sort")
    if sort is not None:
        if sort not in SORTS:
            raise BadDocument(f"sort is one of {', '.join(SORTS)}")
        page["sort"] = SORTS[sort]
    order = arguments.get("order")
    if order is not None:
        if order not in ("asc", "desc"):
            raise BadDocument("order is asc or desc")
        page["order"] = order
    return page

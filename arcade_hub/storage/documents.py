"""The XML the storage service reads and writes: VOSpace 2.1 nodes and transfers, UWS jobs,
VOSI capabilities and availability. Documents are built as element trees (never from string
templates) and read with the standard library's expat parser, after refusing any document
type declaration (no entities, so no entity expansion) and anything over `XML_LIMIT` bytes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

VOS = "http://www.ivoa.net/xml/VOSpace/v2.0"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
UWS = "http://www.ivoa.net/xml/UWS/v1.0"
XLINK = "http://www.w3.org/1999/xlink"
VOSI_CAPS = "http://www.ivoa.net/xml/VOSICapabilities/v1.0"
VOSI_AVAIL = "http://www.ivoa.net/xml/VOSIAvailability/v1.0"
VS = "http://www.ivoa.net/xml/VODataService/v1.1"
CORE = "ivo://ivoa.net/vospace/core"
XML_LIMIT = 64 * 1024
"""The largest node, transfer or property document the service reads."""

for _prefix, _uri in (
    ("vos", VOS),
    ("xsi", XSI),
    ("uws", UWS),
    ("xlink", XLINK),
    ("vosi", VOSI_CAPS),
    ("vs", VS),
):
    ET.register_namespace(_prefix, _uri)

STANDARDS = {
    "capabilities": "ivo://ivoa.net/std/VOSI#capabilities",
    "availability": "ivo://ivoa.net/std/VOSI#availability",
    "nodes": "ivo://ivoa.net/std/VOSpace/v2.0#nodes",
    "transfers": "ivo://ivoa.net/std/VOSpace/v2.0#transfers",
    "synctrans": "ivo://ivoa.net/std/VOSpace#sync-2.1",
    "files": "ivo://ivoa.net/std/VOSpace#files-proto",
    "async-delete": "ivo://ivoa.net/std/VOSpace#recursive-delete-proto",
    "async-setprops": "ivo://ivoa.net/std/VOSpace#recursive-nodeprops-proto",
}
"""Each endpoint (path below the service's prefix) and the standard it implements."""
TOKEN_METHOD = "ivo://ivoa.net/sso#token"
BASE_URLS = ("nodes", "files")
"""Endpoints whose access URL is a base that node paths follow."""


class BadDocument(ValueError):
    """A body that is not a document of the expected kind; the message says why (400)."""


def _tag(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def serialize(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


def parse(body: bytes, what: str) -> ET.Element:
    if len(body) > XML_LIMIT:
        raise BadDocument(f"a {what} document is at most {XML_LIMIT:,} bytes")
    head = body[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in body.upper():
        raise BadDocument(f"a {what} document may not declare a document type or entities")
    try:
        return ET.fromstring(body)
    except ET.ParseError as e:
        raise BadDocument(f"the {what} document is not well-formed XML: {e}") from None


# --- nodes ------------------------------------------------------------------------------------


@dataclass
class NodeDoc:
    """A node as the service shows it: its URI, type (`vos:DataNode`, ...), properties
    (property URI -> value, read-only flag), link target, children."""

    uri: str
    type: str
    properties: list[tuple[str, str, bool]] = field(default_factory=list)
    target: str | None = None
    children: list[NodeDoc] | None = None

    def element(self) -> ET.Element:
        node = ET.Element(_tag(VOS, "node"), {"uri": self.uri, _tag(XSI, "type"): self.type})
        props = ET.SubElement(node, _tag(VOS, "properties"))
        for uri, value, read_only in self.properties:
            prop = ET.SubElement(
                props,
                _tag(VOS, "property"),
                {"uri": uri, "readOnly": "true" if read_only else "false"},
            )
            prop.text = value
        if self.type == "vos:LinkNode":
            ET.SubElement(node, _tag(VOS, "target")).text = self.target or ""
            return node
        ET.SubElement(node, _tag(VOS, "accepts"))
        ET.SubElement(node, _tag(VOS, "provides"))
        ET.SubElement(node, _tag(VOS, "capabilities"))
        if self.type == "vos:ContainerNode":
            nodes = ET.SubElement(node, _tag(VOS, "nodes"))
            for child in self.children or []:
                nodes.append(child.element())
        return node

    def document(self) -> bytes:
        return serialize(self.element())


@dataclass(frozen=True)
class NodeRequest:
    """A node document a client sent: its URI, type and properties (name -> value; None
    when the property is to be removed, `xsi:nil`), and a link's target."""

    uri: str
    type: str
    properties: dict[str, str | None]
    target: str | None


def property_name(uri: str) -> str:
    """`length` for `ivo://ivoa.net/vospace/core#length`; other URIs stay whole."""
    return uri.split("#", 1)[1] if uri.startswith(CORE + "#") else uri


def read_node(body: bytes) -> NodeRequest:
    root = parse(body, "node")
    if root.tag.rpartition("}")[2] != "node":
        raise BadDocument("expected a VOSpace node document")
    uri = root.get("uri") or ""
    kind = root.get(_tag(XSI, "type")) or "vos:DataNode"
    props: dict[str, str | None] = {}
    for prop in root.iterfind("{*}properties/{*}property"):
        name = property_name(prop.get("uri") or "")
        nil = (prop.get(_tag(XSI, "nil")) or "").lower() == "true"
        props[name] = None if nil else (prop.text or "")
    target = root.findtext("{*}target")
    return NodeRequest(uri=uri, type=kind.rpartition(":")[2], properties=props, target=target)


# --- transfers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransferRequest:
    target: str
    direction: str
    """`pushToVoSpace`, `pullFromVoSpace`, or a node URI to move or copy to."""
    keep_bytes: bool
    protocols: tuple[str, ...]


def read_transfer(body: bytes) -> TransferRequest:
    root = parse(body, "transfer")
    if root.tag.rpartition("}")[2] != "transfer":
        raise BadDocument("expected a VOSpace transfer document")
    target = (root.findtext("{*}target") or "").strip()
    direction = (root.findtext("{*}direction") or "").strip()
    if not target or not direction:
        raise BadDocument("a transfer names its target and its direction")
    keep = (root.findtext("{*}keepBytes") or "true").strip().lower() != "false"
    protocols = tuple(p.get("uri") or "" for p in root.iterfind("{*}protocol"))
    return TransferRequest(target, direction, keep, protocols)


def transfer_document(target: str, direction: str, endpoints: list[tuple[str, str]]) -> bytes:
    """The negotiated transfer: (protocol URI, endpoint URL) pairs."""
    root = ET.Element(_tag(VOS, "transfer"), {"version": "2.1"})
    ET.SubElement(root, _tag(VOS, "target")).text = target
    ET.SubElement(root, _tag(VOS, "direction")).text = direction
    for protocol, url in endpoints:
        element = ET.SubElement(root, _tag(VOS, "protocol"), {"uri": protocol})
        ET.SubElement(element, _tag(VOS, "endpoint")).text = url
    return serialize(root)


# --- UWS jobs ---------------------------------------------------------------------------------


def job_document(
    job_id: str, phase: str, owner: str | None, error: str | None, results: dict[str, str]
) -> bytes:
    root = ET.Element(_tag(UWS, "job"))
    ET.SubElement(root, _tag(UWS, "jobId")).text = job_id
    ET.SubElement(root, _tag(UWS, "ownerId")).text = owner or ""
    ET.SubElement(root, _tag(UWS, "phase")).text = phase
    found = ET.SubElement(root, _tag(UWS, "results"))
    for name, href in results.items():
        ET.SubElement(found, _tag(UWS, "result"), {"id": name, _tag(XLINK, "href"): href})
    if error:
        summary = ET.SubElement(root, _tag(UWS, "errorSummary"), {"type": "fatal"})
        ET.SubElement(summary, _tag(UWS, "message")).text = error
    return serialize(root)


# --- VOSI -------------------------------------------------------------------------------------


def capabilities(base: str) -> bytes:
    """Every endpoint with its standard; anonymous access and JupyterHub tokens (`Bearer`)."""
    root = ET.Element(_tag(VOSI_CAPS, "capabilities"))
    for path, standard in STANDARDS.items():
        cap = ET.SubElement(root, "capability", {"standardID": standard})
        interface = ET.SubElement(
            cap, "interface", {_tag(XSI, "type"): "vs:ParamHTTP", "role": "std"}
        )
        use = "base" if path in BASE_URLS else "full"
        ET.SubElement(interface, "accessURL", {"use": use}).text = f"{base}/{path}"
        if path not in ("capabilities", "availability"):
            ET.SubElement(interface, "securityMethod")
            ET.SubElement(interface, "securityMethod", {"standardID": TOKEN_METHOD})
    return serialize(root)


def availability(available: bool, note: str) -> bytes:
    root = ET.Element(_tag(VOSI_AVAIL, "availability"))
    ET.SubElement(root, _tag(VOSI_AVAIL, "available")).text = "true" if available else "false"
    ET.SubElement(root, _tag(VOSI_AVAIL, "note")).text = note
    return serialize(root)

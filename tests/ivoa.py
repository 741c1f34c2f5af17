"""IVOA documents the tests read: every one is validated against the standard's XML schema
(UWS 1.1, VOSI 1.0, shipped in tests/data/ivoa, see its README) and UWS documents are parsed
with pyvo's UWS parser, as VO clients read them."""

from __future__ import annotations

import io
import warnings
from functools import cache
from pathlib import Path

import xmlschema
from pyvo.io import uws

DATA = (Path(__file__).parent / "data" / "ivoa").resolve()
LOCATIONS = {
    "http://www.w3.org/1999/xlink": DATA / "xlink.xsd",
    "http://www.ivoa.net/xml/VOResource/v1.0": DATA / "VOResource-v1.3.xsd",
    "http://www.ivoa.net/xml/VODataService/v1.1": DATA / "VODataService-v1.3.xsd",
}
SCHEMAS = {
    "{http://www.ivoa.net/xml/UWS/v1.0}": "UWS-v1.1.xsd",
    "{http://www.ivoa.net/xml/VOSICapabilities/v1.0}": "VOSICapabilities-v1.0.xsd",
    "{http://www.ivoa.net/xml/VOSIAvailability/v1.0}": "VOSIAvailability-v1.0.xsd",
}


@cache
def schema(name: str) -> xmlschema.XMLSchema:
    """The schema file `name`, its imports from tests/data only (no network). VODataService
    imports the STC schema for coverage, which no document here uses and which is not
    shipped: the schema is built leniently for that import only."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Import of namespace .*STC", Warning)
        built = xmlschema.XMLSchema(
            str(DATA / name),
            locations=[(ns, str(path)) for ns, path in LOCATIONS.items()],
            allow="local",
            validation="lax",
        )
    unexpected = [e for e in built.all_errors if "stc" not in str(e).lower()]
    assert not unexpected, unexpected
    return built


def validate(document: bytes) -> str:
    """Validate `document` against the schema of its root element's namespace; its root tag."""
    root = xmlschema.XMLResource(io.BytesIO(document)).root.tag
    for namespace, name in SCHEMAS.items():
        if root.startswith(namespace):
            schema(name).validate(io.BytesIO(document))
            return root.split("}")[1]
    raise AssertionError(f"no schema for {root}")


def uws_job(document: bytes) -> uws.JobFile:
    """A job document: valid UWS 1.1, and what pyvo reads of it."""
    assert validate(document) == "job"
    return uws.parse_job(io.BytesIO(document))


def uws_jobs(document: bytes) -> list[uws.tree.JobSummary]:
    assert validate(document) == "jobs"
    return list(uws.parse_job_list(io.BytesIO(document)))

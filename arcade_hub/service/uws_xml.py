"""The UWS 1.1 and VOSI documents the service answers, built from vo-models' pydantic-xml
models (never from text templates). Pure: what they show is given to them.

Text from users (commands, parameter lines, file names) may hold characters XML 1.0 cannot
carry; they are shown as U+FFFD here (the job itself has them as sent).
"""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from lxml import etree
from pydantic import AnyUrl
from vo_models.uws import (
    ErrorSummary,
    Jobs,
    JobSummary,
    MultiValuedParameter,
    Parameter,
    Parameters,
    ResultReference,
    Results,
    ShortJobDescription,
)
from vo_models.uws.types import ErrorType, ExecutionPhase
from vo_models.vodataservice.models import ParamHTTP
from vo_models.voresource.models import AccessURL, Capability, Interface, SecurityMethod
from vo_models.vosi.availability.models import Availability
from vo_models.vosi.capabilities.models import VOSICapabilities

from arcade_hub.launch.request import LaunchRequest
from arcade_hub.launch.spec import LaunchSpec

XML = "application/xml"
JOBREF_CACHE = 20_000
"""Job references kept serialized (a few hundred bytes each)."""
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
UWS_ID = "ivo://ivoa.net/std/UWS#rest-1.1"
SKAHA_ID = "vos://cadc.nrc.ca~vospace/CADC/std/Proc#sessions-1.0"
"""The standard id CADC's skaha registers its sessions API under."""
VOSI_CAPABILITIES = "ivo://ivoa.net/std/VOSI#capabilities"
VOSI_AVAILABILITY = "ivo://ivoa.net/std/VOSI#availability"
SECURITY_METHODS = ("ivo://ivoa.net/sso#token", "ivo://ivoa.net/sso#cookie")
"""What the APIs accept: JupyterHub tokens (`Authorization: Bearer`), and the service's login
cookie (with the XSRF token for changes)."""


def _bytes(document: str | bytes) -> bytes:
    return document.encode() if isinstance(document, str) else document


def text(value: str) -> str:
    return NOT_XML.sub("\ufffd", value)


def when(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


class JobParameters(Parameters):
    """A job's parameters as asked (`env` values are not shown back: they may be secrets)."""

    name: Parameter | None = None
    image: Parameter | None = None
    cmd: Parameter | None = None
    args: Parameter | None = None
    cores: Parameter | None = None
    ram: Parameter | None = None
    gpus: Parameter | None = None
    dataset: Parameter | None = None
    instances: Parameter | None = None
    env: MultiValuedParameter | None = None
    param: MultiValuedParameter | None = None


@dataclass(frozen=True)
class Result:
    id: str
    href: str
    mime_type: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class Summary:
    """What a job document shows (`arcade_hub.service.uws.job_summary` gathers it)."""

    job_id: str
    owner: str
    phase: ExecutionPhase
    created: float | None
    started: float | None
    ended: float | None
    duration: int
    destruction: float | None
    run_id: str
    parameters: JobParameters
    results: list[Result]
    error: str
    fatal: bool


def parameters(name: str, request_json: str, spec_json: str | None) -> JobParameters:
    """From the job's request (what was asked), else from its first instance's spec (a job
    from before job records: what was planned)."""
    found: dict[str, Any] = {"name": name}
    if request_json:
        request = LaunchRequest.model_validate_json(request_json)
        found |= {"image": request.image, "cores": request.cores, "ram": request.ram_gib,
                  "gpus": request.gpus, "dataset": request.dataset,
                  "instances": request.instances, "cmd": _line(request.cmd),
                  "args": _line(request.args), "env": sorted(request.env),
                  "param": list(request.params)}  # fmt: skip
    elif spec_json:
        spec = LaunchSpec.model_validate_json(spec_json)
        found |= {"image": spec.entry or spec.image, "cores": spec.cores, "ram": spec.ram_gib,
                  "gpus": spec.gpus, "dataset": spec.dataset, "instances": spec.replicas,
                  "cmd": _line(spec.cmd), "args": _line(spec.args)}  # fmt: skip
    values: dict[str, Any] = {}
    for key, value in found.items():
        if isinstance(value, list):
            if value:
                values[key] = [Parameter(id=key, value=text(v)) for v in value]
        elif value not in (None, ""):
            values[key] = Parameter(id=key, value=text(f"{value:g}" if isinstance(
                value, float) else str(value)))  # fmt: skip
    return JobParameters(**values)


def _line(words: Iterable[str]) -> str:
    return shlex.join(words)


def job_document(summary: Summary) -> bytes:
    job = JobSummary[JobParameters](
        job_id=summary.job_id,
        run_id=text(summary.run_id) or None,
        owner_id=summary.owner,
        phase=summary.phase,
        quote=None,
        creation_time=when(summary.created),
        start_time=when(summary.started),
        end_time=when(summary.ended),
        execution_duration=summary.duration,
        destruction=when(summary.destruction),
        parameters=summary.parameters,
        results=results_model(summary.results),
        error_summary=ErrorSummary(
            message=text(summary.error), has_detail=True,
            type=ErrorType.FATAL if summary.fatal else ErrorType.TRANSIENT,
        ) if summary.error else None,
    )  # fmt: skip
    return _bytes(job.to_xml())


def results_model(results: list[Result]) -> Results:
    return Results(results=[
        ResultReference(id=text(r.id), href=r.href, mime_type=r.mime_type, size=r.size)
        for r in results
    ])  # fmt: skip


def results_document(results: list[Result]) -> bytes:
    return _bytes(results_model(results).to_xml(skip_empty=True))


def parameters_document(params: JobParameters) -> bytes:
    return _bytes(params.to_xml(skip_empty=True))


@dataclass(frozen=True)
class Ref:
    job_id: str
    href: str
    phase: ExecutionPhase
    owner: str
    created: float | None
    run_id: str


def list_document(refs: Iterable[Ref]) -> bytes:
    """A uws:jobs document. Each jobref is vo-models' element, made once for what it shows
    (`_jobref`) and copied into the list: a list of 1,000 jobs costs milliseconds, not the
    tens of milliseconds of serializing every model again at each request."""
    root = Jobs(jobref=[]).to_xml_tree(skip_empty=True)
    for ref in refs:
        root.append(copy.deepcopy(_jobref(ref)))
    etree.cleanup_namespaces(root)
    return _bytes(etree.tostring(root))


@lru_cache(maxsize=JOBREF_CACHE)
def _jobref(ref: Ref) -> etree._Element:
    return ShortJobDescription(
        job_id=ref.job_id, href=ref.href, phase=ref.phase, owner_id=ref.owner,
        run_id=text(ref.run_id) or None, creation_time=when(ref.created),
    ).to_xml_tree(skip_empty=True)  # fmt: skip


def result_href(job_url: str, result_id: str) -> str:
    return f"{job_url}/results/{quote(result_id, safe='/')}"


def availability_document(up_since: float, note: str) -> bytes:
    return _bytes(Availability(available=True, up_since=when(up_since), note=[note]).to_xml())


def capabilities_document(base: str, standard: str, endpoint: str) -> bytes:
    """The VOSI capabilities of a service at `base` (ending in `/`): the service's own
    (`standard` at `base + endpoint`, an interface for each authentication method it
    accepts), and its VOSI endpoints (anonymous)."""

    def capability(standard_id: str, url: str, secured: bool) -> Capability:
        # VOResource: one security method per interface, so one interface per method
        methods = [SecurityMethod(standard_id=AnyUrl(m)) for m in SECURITY_METHODS]
        interfaces: list[Interface] = [
            ParamHTTP(access_url=[AccessURL(value=AnyUrl(url), use="base" if secured else "full")],
                      role="std", security_method=[method] if method else [])
            for method in (methods if secured else [None])
        ]  # fmt: skip
        return Capability(standard_id=AnyUrl(standard_id), interface=interfaces)

    document = VOSICapabilities(capability=[
        capability(standard, base + endpoint, True),
        capability(VOSI_CAPABILITIES, base + "capabilities", False),
        capability(VOSI_AVAILABILITY, base + "availability", False),
    ])  # fmt: skip
    return _bytes(document.to_xml(skip_empty=True))

"""Random input to the sessions API never gets a 5xx, and whatever it creates is cleaned up.

Hypothesis draws parameter sets around the documented ones (right keys with wrong values,
unknown keys, odd strings) for every route of the OpenAPI document we publish.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hub import RunningHub
from tests.service.conftest import BATCH_IMAGE, Api

KEYS = [
    "name",
    "image",
    "cores",
    "ram",
    "gpus",
    "type",
    "replicas",
    "dataset",
    "cmd",
    "args",
    "env",
    "param",
    "params",
    "view",
    "action",
    "status",
]
odd_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=40,
)
values = st.one_of(
    odd_text,
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(
        [
            "headless",
            "notebook",
            "desktop",
            "batch",
            BATCH_IMAGE,
            "true",
            "-1",
            "0",
            "1e309",
            "A=B",
            "=x",
            "all",
            "logs",
            "events",
            "renew",
            "Running",
        ]
    ),
)
params = st.dictionaries(st.sampled_from(KEYS) | odd_text.filter(bool), values, max_size=8)
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def fuzzer(hub: RunningHub) -> Api:
    return Api(hub, "fuzzer")


def check(r: httpx.Response) -> None:
    assert r.status_code < 500, (r.request.method, r.request.url, r.status_code, r.text)
    if r.status_code >= 400 and r.headers.get("content-type", "").startswith("application/json"):
        assert r.json().get("message"), r.text


@FUZZ
@given(params)
def test_create_never_fails_with_a_server_error(fuzzer: Api, p: dict[str, Any]) -> None:
    if p.get("type") == "notebook" or p.get("type") == "desktop" or "type" not in p:
        p = {**p, "type": "headless"}  # interactive sessions would start real servers
    r = fuzzer.request("POST", "session", params=p)
    check(r)
    if r.status_code == 200:
        check(fuzzer.request("DELETE", f"session/{r.text.strip()}"))


@FUZZ
@given(odd_text, params)
def test_reading_and_acting_never_fail_with_a_server_error(
    fuzzer: Api, some_id: str, p: dict[str, Any]
) -> None:
    check(fuzzer.request("GET", "session", params=p))
    path = f"session/{quote(some_id, safe='') or 'x'}"
    check(fuzzer.request("GET", path, params=p))
    check(fuzzer.request("POST", path, params=p))
    check(fuzzer.request("DELETE", path))
    check(fuzzer.request("GET", "image", params=p))
    check(fuzzer.request("GET", "context", params=p))

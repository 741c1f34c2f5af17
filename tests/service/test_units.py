"""Pure parts of the sessions API and the job store, without a hub."""

from __future__ import annotations

from pathlib import Path

import pytest

from arcade_hub.config import Kind, load_config
from arcade_hub.jobs.model import Instance, Status, overall, parse_status
from arcade_hub.jobs.store import JobDatabase
from arcade_hub.launch.jobs import instance_ids
from arcade_hub.launch.request import LaunchRefused
from arcade_hub.service.skaha_params import Interactive, Job, parse_create
from tests.hub import PLATFORM

CONFIG = load_config(str(PLATFORM))


def test_the_canfar_clients_create_becomes_a_job_request() -> None:
    params = {
        "name": ["fit-2"],
        "image": ["ghcr.io/arcade-hub/headless:0.1.0"],
        "type": ["headless"],
        "cores": ["1"],
        "ram": ["2"],
        "cmd": ["python"],
        "args": ["fit.py --band 'u g'"],
        "env": ["A=1=2", "REPLICA_ID=2", "REPLICA_COUNT=3"],
    }
    request = parse_create(params, CONFIG)
    assert isinstance(request, Job)
    job = request.request
    assert job.image == "batch" and job.ram_gib == 2
    assert job.cmd == ("python",) and job.args == ("fit.py", "--band", "u g")
    assert job.env == {"A": "1=2", "REPLICA_ID": "2", "REPLICA_COUNT": "3"}


def test_interactive_create_keeps_the_forms_options() -> None:
    request = parse_create(
        {"name": ["nb"], "image": ["notebook"], "cores": ["2"], "env": ["REPLICA_ID=1"]}, CONFIG
    )
    assert request == Interactive(
        name="nb", kind=Kind.notebook, options={"image": "notebook", "cores": "2"}
    )


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(LaunchRefused) as e:
        parse_create({"image": ["x"], "type": ["carta"], "replicas": ["two"]}, CONFIG)
    assert set(e.value.errors) == {"name", "type", "replicas"}


def test_status_words() -> None:
    assert parse_status("completed") == Status.succeeded == parse_status("Succeeded")
    with pytest.raises(ValueError, match="Pending, Running"):
        parse_status("done")
    assert overall([Status.succeeded, Status.running]) == Status.running
    assert overall([Status.succeeded, Status.failed, Status.error]) == Status.error
    assert overall([Status.succeeded, Status.failed]) == Status.failed
    assert instance_ids("abc", 1) == ["abc"] and instance_ids("abc", 2) == ["abc-1", "abc-2"]


def test_store_round_trip(tmp_path: Path) -> None:
    store = JobDatabase(tmp_path / "jobs.sqlite")
    one = Instance("j-1", "j", "alice", "n-1", 1, 2, Status.pending, 1.0, "{}", "/l", ["a"])
    two = Instance("j-2", "j", "alice", "n-2", 2, 2, Status.pending, 1.0, "{}", "/l", [])
    store.add([one, two])
    one.status, one.exit_code, one.pid = Status.failed, 3, 42
    store.update(one)
    store.close()
    again = JobDatabase(tmp_path / "jobs.sqlite")
    assert again.job("j") == [one, two]
    assert again.with_status(Status.pending) == [two]
    assert again.exists("j") and again.exists("j-2") and not again.exists("k")
    again.remove(["j-1", "j-2"])
    assert again.of_owner("alice") == []




def test_the_openapi_document_is_made_from_the_models() -> None:
    """Generated, not kept by hand: every answer model is a schema, every query model's field
    a parameter, and the document is valid OpenAPI 3.1 JSON Schema."""
    import jsonschema

    from arcade_hub.service.openapi import document
    from arcade_hub.service.skaha_models import CreateQuery, SessionView

    doc = document("/services/arcade/skaha/v1/")
    schemas = doc["components"]["schemas"]
    assert {"SessionView", "InstanceView", "JobView", "ImageView", "ContextView", "StatsView",
            "ErrorView"} <= set(schemas)  # fmt: skip
    assert set(schemas["SessionView"]["properties"]) == set(SessionView.model_fields)
    create = {p["name"]: p for p in doc["paths"]["/session"]["post"]["parameters"]}
    assert set(create) == set(CreateQuery.model_fields)
    assert create["name"]["required"] and not create["cores"]["required"]
    assert create["env"]["explode"] and create["env"]["schema"]["type"] == "array"
    for schema in schemas.values():
        jsonschema.Draft202012Validator.check_schema(schema)

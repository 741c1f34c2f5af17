"""Every field of a create has a size limit and refuses NUL characters, with a 400 naming the
field and the limit, before anything is parsed; messages quote at most a little of the input."""

from __future__ import annotations

import pytest

from arcade_hub.config import load_config
from arcade_hub.launch.request import LaunchRefused
from arcade_hub.service import limits
from arcade_hub.service.skaha_params import Job, parse_create
from tests.hub import PLATFORM

CONFIG = load_config(str(PLATFORM))
JOB = {"name": ["fit"], "image": ["batch"], "type": ["headless"], "cmd": ["echo"]}


def refusal(params: dict[str, list[str]]) -> dict[str, str]:
    with pytest.raises(LaunchRefused) as e:
        parse_create({**JOB, **params}, CONFIG)
    assert e.value.status == 400
    return e.value.errors


@pytest.mark.parametrize(
    ("key", "limit", "fill"),
    [
        ("cmd", limits.CMD_LIMIT, "a "),
        ("args", limits.ARGS_LIMIT, "b "),
        ("image", limits.IMAGE_LIMIT, "x"),
        ("cores", limits.FIELD_LIMIT, "1"),
        ("dataset", limits.FIELD_LIMIT, "d"),
        ("params", limits.PARAM_FILE_LIMIT, "p" * 127 + "\n"),
    ],
)
def test_a_field_beyond_its_limit_is_refused_naming_the_limit(
    key: str, limit: int, fill: str
) -> None:
    at_limit = (fill * limit)[:limit]
    over = at_limit + "z"
    errors = refusal({key: [over]})
    assert errors == {key: f"{key} is {limit + 1:,} characters long; the limit is {limit:,}"}
    # At the limit the size check passes (other rules may still refuse the value).
    try:
        parse_create({**JOB, key: [at_limit]}, CONFIG)
    except LaunchRefused as e:
        assert "the limit is" not in str(e)


def test_names_env_and_parameter_lines_have_their_own_limits() -> None:
    long_name = "n" * (limits.NAME_LIMIT + 1)
    assert "the limit is 63" in refusal({"name": [long_name]})["name"]
    assert parse_create({**JOB, "name": ["n" * limits.NAME_LIMIT]}, CONFIG)

    many = [f"V{i}=x" for i in range(limits.ENV_COUNT_LIMIT + 1)]
    assert refusal({"env": many})["env"] == "65 env variables; the limit is 64"
    key = "K" * (limits.ENV_KEY_LIMIT + 1)
    assert "the limit is 128" in refusal({"env": [f"{key}=1"]})["env"]
    value = "v" * (limits.ENV_VALUE_LIMIT + 1)
    assert refusal({"env": [f"BIG={value}"]})["env"] == (
        "env 'BIG' is 32,769 characters long; the limit is 32,768"
    )
    ok = parse_create({**JOB, "env": [f"BIG={value[:-1]}"]}, CONFIG)
    assert isinstance(ok, Job) and len(ok.request.env["BIG"]) == limits.ENV_VALUE_LIMIT

    line = "q" * (limits.PARAM_LINE_LIMIT + 1)
    assert refusal({"params": [f"ok\n{line}"]})["params"] == (
        "parameter line 2 is 16,385 characters long; the limit is 16,384"
    )
    lines = "\n".join(["x"] * (limits.PARAM_LINES_LIMIT + 1))
    assert refusal({"params": [lines]})["params"] == (
        "10,001 parameter lines; the limit is 10,000"
    )
    assert "parameter lines" in refusal({"param": ["x"] * (limits.PARAM_LINES_LIMIT + 1)})[
        "params"
    ]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("cmd", "echo a\0b"),
        ("args", "a\0"),
        ("env", "SECRET=a\0b"),
        ("params", "m31\n\0"),
        ("param", "\0"),
        ("name", "fit\0"),
        ("image", "batch\0"),
        ("cores", "1\0"),
    ],
)
def test_a_nul_character_is_refused_naming_the_field(key: str, value: str) -> None:
    errors = refusal({key: [value]})
    assert list(errors) == [key]
    assert "NUL character" in errors[key]
    assert errors[key].startswith("env 'SECRET'" if key == "env" else key)


@pytest.mark.parametrize("key", ["A\n", "A\r", "\nA", "A B", "1A", ""])
def test_env_names_must_match_in_full(key: str) -> None:
    assert "is not KEY=VALUE" in refusal({"env": [f"{key}=1"]})["env"]


def test_messages_quote_little_of_a_long_value() -> None:
    for params, quoted in (
        ({"name": ["!" * 60_000]}, False),
        ({"type": ["t" * 200]}, True),
        ({"image": ["i" * 500]}, True),
        ({"replicas": ["r" * 250]}, True),
        ({"x" * 100_000: ["1"]}, True),
        ({"cmd": ["'" + "c" * 30_000]}, True),
        ({"env": ["E" * 100]}, True),
    ):
        message = str(LaunchRefused(refusal(params)))
        assert len(message) < 1000, (list(params), len(message))
        assert ("…" in message) == quoted, message

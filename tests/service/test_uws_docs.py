"""The UWS examples of docs/how-to/use-the-sessions-api.md run as written against the real
platform: the curl lines as one bash script, the pyvo example as a Python program, with
`HUB` and `TOKEN` set as the page says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hub import RunningHub

pytestmark = pytest.mark.integration

PAGE = Path(__file__).parents[2] / "docs" / "how-to" / "use-the-sessions-api.md"


def examples(language: str) -> list[str]:
    """The `language` code blocks of the page's UWS section."""
    text = PAGE.read_text()
    section = text[text.index("## UWS"):]
    section = section[: section.find("\n## ", 1)] if "\n## " in section[1:] else section
    return re.findall(rf"```{language}\n(.*?)```", section, re.DOTALL)


def run(hub: RunningHub, args: list[str], script: str) -> str:
    env = {**os.environ, "HUB": hub.url, "TOKEN": hub.user_token("docs")}
    done = subprocess.run([*args, script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def test_the_curl_example_runs_a_job_and_fetches_its_results(hub: RunningHub) -> None:
    (script,) = examples("bash")
    out = run(hub, ["bash", "-euc"], script).splitlines()
    assert out[0] == "PENDING" and out[1] == "COMPLETED", out
    assert "<uws:results" in out[2] and "files/flux-m31.txt" in out[2]
    assert out[3:] == ["fitted m33", "1.5"]


def test_the_pyvo_example_runs_a_job_and_prints_its_results(hub: RunningHub) -> None:
    (program,) = examples("python")
    out = run(hub, [sys.executable, "-c"], program)
    assert out.splitlines() == ["log-1 m31 done", "log-2 m33 done"]

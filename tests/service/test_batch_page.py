"""Batch from the web: the Batch page at /services/arcade/jobs/new submits headless jobs that
follow the sessions API's rules and show in the job list."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import closing

import httpx
import pytest

from arcade_hub.service.limits import BODY_LIMIT, PARAM_FILE_LIMIT
from tests.hub import RunningHub
from tests.service.conftest import FINAL, Api
from tests.service.test_job_page import page_client, xsrf_of

NEW = "/services/arcade/jobs/new"
ECHO = "sh -c 'echo $REPLICA_ID/$REPLICA_COUNT: $0 $1 [$ARCADE_JOB_PARAM]'"


@pytest.fixture(scope="module")
def browser(hub: RunningHub) -> Iterator[httpx.Client]:
    with closing(page_client(hub, "alice")) as client:
        yield client


def form_page(browser: httpx.Client) -> str:
    r = browser.get(NEW)
    assert r.status_code == 200 and "New batch job" in r.text
    return r.text


def submit(
    browser: httpx.Client, fields: dict[str, str], files: dict[str, tuple[str, bytes]] | None = None
) -> httpx.Response:
    data = {"_xsrf": xsrf_of(form_page(browser)), **fields}
    # Always multipart, as the browser sends it (an empty file input included).
    r = browser.post(
        NEW, data=data, files=files or {"params_file": ("", b"")}, follow_redirects=False
    )
    if r.status_code != 303:
        return r
    # Follow as a browser does: a plain GET (httpx would keep the multipart Content-Type).
    return browser.get(r.headers["location"])


def job_named(api: Api, name: str) -> dict:
    views = api.request("GET", "session").json()
    ids = {v["jobId"] for v in views if v["name"].rsplit("-", 1)[0] == name or v["name"] == name}
    assert len(ids) == 1, views
    return api.session(ids.pop())


def count(api: Api) -> int:
    return len(api.request("GET", "session").json())


def test_form_offers_batch_images_and_the_limits(browser: httpx.Client) -> None:
    page = form_page(browser)
    assert 'enctype="multipart/form-data"' in page and 'name="_xsrf"' in page
    select = page.split('id="image"')[1].split("</select>")[0]
    images = re.findall(r'<option value="([^"]+)"', select)
    assert images == ["batch"]  # headless entries only
    assert 'max="64"' in page and 'name="params_file"' in page
    assert 'id="mode-interactive" href="/services/arcade/new"' in page  # the launch form


def test_textarea_of_three_lines_makes_a_job_of_three_instances(
    browser: httpx.Client, alice: Api
) -> None:
    r = submit(browser, {"name": "web-three", "image": "batch", "cmd": ECHO, "cores": "1",
                         "ram": "1", "params": "m31 1.5\nm33 2.5\n\nngc1 3\n"})
    assert r.status_code == 200 and str(r.url).endswith("/services/arcade/jobs"), r.text[:800]
    job = job_named(alice, "web-three")
    assert job["replicaCount"] == 3
    for n in (1, 2, 3):
        assert f'id="row-{job["id"]}-{n}"' in r.text  # each instance is in the job list
    done = alice.wait_status(job["id"], FINAL)
    assert done["status"] == "Succeeded"
    logs = alice.request("GET", f"session/{job['id']}", params={"view": "logs"}).text
    for line in ("1/3: m31 1.5 [m31 1.5]", "2/3: m33 2.5 [m33 2.5]", "3/3: ngc1 3 [ngc1 3]"):
        assert line in logs
    alice.request("DELETE", f"session/{job['id']}")


def test_uploaded_parameter_file_wins_over_the_textarea(
    browser: httpx.Client, alice: Api
) -> None:
    r = submit(
        browser,
        {"name": "web-file", "image": "batch", "cmd": ECHO, "params": "ignored\nlines\nhere"},
        files={"params_file": ("targets.txt", b"alpha 1\nbeta 2\n")},
    )
    assert r.status_code == 200 and str(r.url).endswith("/services/arcade/jobs"), r.text[:800]
    job = job_named(alice, "web-file")
    assert job["replicaCount"] == 2
    alice.wait_status(job["id"], FINAL)
    logs = alice.request("GET", f"session/{job['id']}", params={"view": "logs"}).text
    assert "1/2: alpha 1 [alpha 1]" in logs and "2/2: beta 2 [beta 2]" in logs
    assert "ignored" not in logs
    alice.request("DELETE", f"session/{job['id']}")


def test_instances_without_parameters(browser: httpx.Client, alice: Api) -> None:
    r = submit(browser, {"name": "web-two", "image": "batch", "cmd": "true", "instances": "2"})
    assert r.status_code == 200, r.text[:800]
    job = job_named(alice, "web-two")
    assert job["replicaCount"] == 2
    alice.wait_status(job["id"], FINAL)
    alice.request("DELETE", f"session/{job['id']}")


BAD = [
    ({"cmd": ""}, "cmd", "no command of its own"),
    ({"instances": "0"}, "instances", "below the minimum of 1"),
    ({"instances": "65"}, "instances", "above the maximum of 64 instances"),
    ({"instances": "3", "params": "a\nb"}, "instances", "2 parameter lines"),
    ({"image": "notebook"}, "image", "is a notebook image, not headless"),
    ({"name": "bad name!"}, "name", "not a valid name"),
    ({"cores": "64"}, "cores", "above the maximum"),
    ({"params": "ok\nit's"}, "params", "parameter line 2"),
    ({"cmd": "echo a\0b"}, "cmd", "cmd contains a NUL character"),
    ({"params": "m31\nm\0"}, "params", "params contains a NUL character"),
    ({"cmd": "echo " + "x" * 40_000}, "cmd", "the limit is 32,768"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD)
def test_bad_input_re_renders_the_form_and_creates_nothing(
    browser: httpx.Client, alice: Api, change: dict[str, str], field: str, message: str
) -> None:
    fields = {"name": "web-bad", "image": "batch", "cmd": "echo hi", "instances": "",
              "params": "", **change}
    before = count(alice)
    r = submit(browser, fields)
    assert r.status_code == 400, r.text[:800]
    assert "The job was not started" in r.text
    shown = re.search(rf'id="error-{field}">([^<]*)<', r.text)
    assert shown and message in html.unescape(shown.group(1)), r.text
    # What was typed is kept.
    if fields["cmd"]:
        assert f'value="{html.escape(fields["cmd"], quote=True)}"' in r.text
    if fields["instances"]:
        assert f'value="{fields["instances"]}"' in r.text
    assert count(alice) == before


def test_refused_upload_comes_back_as_text(browser: httpx.Client, alice: Api) -> None:
    before = count(alice)
    r = submit(browser, {"name": "web-bad", "image": "batch", "cmd": "echo", "instances": "5"},
               files={"params_file": ("p.txt", b"one\ntwo\n")})
    assert r.status_code == 400 and "2 parameter lines" in r.text
    assert ">one\ntwo\n</textarea>" in r.text
    r = submit(browser, {"name": "web-bad", "image": "batch", "cmd": "echo"},
               files={"params_file": ("p.bin", b"\xff\xfe\x00")})
    assert r.status_code == 400 and 'id="error-params_file"' in r.text and "UTF-8" in r.text
    assert count(alice) == before


def test_a_form_beyond_the_body_limit_gets_a_413_page(browser: httpx.Client, alice: Api) -> None:
    before = count(alice)
    r = submit(browser, {"name": "web-big", "image": "batch", "cmd": "echo"},
               files={"params_file": ("big.txt", b"x\n" * (PARAM_FILE_LIMIT // 2 + 40_000))})
    assert r.status_code == 413, r.text[:300]
    message = html.unescape(re.search(r'id="message"[^>]*>([^<]*)<', r.text).group(1))  # type: ignore[union-attr]
    assert f"the limit is {BODY_LIMIT:,} bytes" in message
    assert f"a parameter file may have up to {PARAM_FILE_LIMIT:,} bytes" in message
    assert count(alice) == before


def test_post_without_xsrf_is_refused(browser: httpx.Client, alice: Api) -> None:
    before = count(alice)
    r = browser.post(NEW, data={"name": "web-forged", "image": "batch", "cmd": "true"},
                     files={"params_file": ("", b"")})
    assert r.status_code == 403
    assert count(alice) == before


def test_pages_link_the_batch_page(hub: RunningHub, browser: httpx.Client) -> None:
    jobs = browser.get("/services/arcade/jobs").text
    assert 'id="new-batch-job"' in jobs and NEW in jobs
    with closing(hub.login("carol")) as client:
        spawn = client.get("/hub/spawn").text
    assert 'id="arcade-batch-link"' in spawn and f'href="{NEW}"' in spawn


def test_batch_page_needs_login(hub: RunningHub) -> None:
    r = httpx.get(f"{hub.url}{NEW}", follow_redirects=False)
    assert r.status_code == 302 and "/hub/api/oauth2/authorize" in r.headers["location"]

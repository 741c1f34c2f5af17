"""The sessions API and UWS on the embedded platform, measured through the real hub and proxy.

1. The job list for a user with 1,000 jobs in the store: skaha's `GET /session` (target
   <= 100 ms median) and UWS's `GET uws/jobs` (the same jobs as a uws:jobs document, target
   <= 100 ms median), side by side; baseline in the same run: the hub's own
   `GET /hub/api/users/{name}` for the same user.
2. Create -> running, for one job that runs until told to stop: skaha `POST /session` until
   the job shows `Running`, and UWS `POST uws/jobs` with `PHASE=RUN` until it shows
   `EXECUTING`, alternated over `--starts` rounds (medians).
3. Time to start 20 headless instances (one create with replicas=20, the pool sized to 20):
   from the POST until every instance has started, and until every one has finished;
   baseline: 20 `true` processes started directly with subprocess.

    python benchmarks/api.py [--records 1000] [--instances 20] [--starts 5]
                                                                  prints one JSON document
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arcade_hub.jobs.model import Instance, Status
from arcade_hub.jobs.store import JobDatabase
from tests.conftest import shared_tmp
from tests.hub import PLATFORM, running_hub, wait_for

TARGETS = {"get_session_1000_median_ms": 100.0, "uws_get_jobs_1000_median_ms": 100.0}
RUNS_UNTIL_TOLD = 'while [ ! -e "$HOME/stop-$ARCADE_JOB_ID" ]; do sleep 0.01; done'
"""A job that runs until the benchmark creates its stop file."""


def timed(call: Any, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def fill_store(data_dir: Path, user: str, template: dict[str, Any], count: int) -> None:
    """Copies of a finished instance, as if the user had run `count` jobs."""
    store = JobDatabase(data_dir / "jobs" / "jobs.sqlite")
    now = time.time()
    store.add(
        [
            Instance(
                **{
                    **template,
                    "id": f"bench{n:05d}",
                    "job_id": f"bench{n:05d}",
                    "status": Status.succeeded,
                    "created": now - n,
                }
            )
            for n in range(count)
        ]
    )
    store.close()


def create_to_running(
    client: httpx.Client, base: str, uws: str, data_dir: Path, rounds: int
) -> dict[str, float]:
    """Seconds from the create until the job runs, skaha and UWS alternated (medians)."""
    home = data_dir / "home" / "bench"
    skaha_times, uws_times = [], []
    for _ in range(rounds):
        start = time.monotonic()
        job = client.post(f"{base}/session", params={
            "name": "run", "image": "batch", "type": "headless", "cmd": "sh",
            "args": f"-c '{RUNS_UNTIL_TOLD}'"}).text.strip()  # fmt: skip
        wait_for(lambda job=job: client.get(f"{base}/session/{job}").json()["status"]
                 == "Running", 60, "the skaha job to run", interval=0.01)  # fmt: skip
        skaha_times.append(time.monotonic() - start)
        (home / f"stop-{job}").touch()
        start = time.monotonic()
        r = client.post(uws, data={"image": "batch", "cmd": "sh", "PHASE": "RUN",
                                   "args": f"-c '{RUNS_UNTIL_TOLD}'"})  # fmt: skip
        url = r.headers["Location"]
        wait_for(lambda url=url: "<uws:phase>EXECUTING</uws:phase>" in client.get(url).text,
                 60, "the UWS job to execute", interval=0.01)  # fmt: skip
        uws_times.append(time.monotonic() - start)
        (home / f"stop-{url.rsplit('/', 1)[1]}").touch()
        for done in (f"{base}/session/{job}", url):
            client.delete(done)
    return {
        "skaha_create_to_running_median_s": round(statistics.median(skaha_times), 3),
        "uws_create_to_executing_median_s": round(statistics.median(uws_times), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--starts", type=int, default=5)
    opts = parser.parse_args()

    tmp = shared_tmp()
    config = yaml.safe_load(PLATFORM.read_text())
    config["jobs"] = {"max_concurrency": opts.instances, "max_replicas": max(64, opts.instances)}
    config_file = tmp / "platform.yaml"
    config_file.write_text(yaml.safe_dump(config))
    result: dict[str, Any] = {"records": opts.records, "instances": opts.instances}
    try:
        with running_hub(tmp, config=config_file) as hub:
            token = hub.user_token("bench")
            base = f"{hub.url}/services/arcade/skaha/v1"
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(headers=headers, timeout=60) as client:
                first = client.post(
                    f"{base}/session",
                    params={"name": "t", "image": "batch", "cmd": "true", "type": "headless"},
                ).text.strip()
                wait_for(
                    lambda: client.get(f"{base}/session/{first}").json()["status"] == "Succeeded",
                    30,
                    "the template job",
                )
                store = JobDatabase(hub.data_dir / "jobs" / "jobs.sqlite")
                template = vars(store.get(first))
                store.close()
                fill_store(hub.data_dir, "bench", template, opts.records)
                listed = client.get(f"{base}/session").json()
                assert len(listed) == opts.records + 1, len(listed)

                uws = f"{hub.url}/services/arcade/uws/jobs"
                listed_uws = client.get(uws)
                assert listed_uws.text.count("<uws:jobref ") == opts.records + 1
                # alternated, round by round: the machine's other load falls on all three alike
                api, uws_list, hub_api = [], [], []
                for _ in range(opts.rounds):
                    api += timed(lambda: client.get(f"{base}/session").raise_for_status(), 1)
                    uws_list += timed(lambda: client.get(uws).raise_for_status(), 1)
                    hub_api += timed(lambda: hub.api("GET", "/users/bench").raise_for_status(), 1)
                result["get_session_1000_median_ms"] = round(statistics.median(api), 1)
                result["get_session_1000_p95_ms"] = round(statistics.quantiles(api, n=20)[-1], 1)
                result["uws_get_jobs_1000_median_ms"] = round(statistics.median(uws_list), 1)
                result["uws_get_jobs_1000_p95_ms"] = round(
                    statistics.quantiles(uws_list, n=20)[-1], 1)
                result["hub_get_user_median_ms (baseline)"] = round(statistics.median(hub_api), 1)
                result.update(create_to_running(client, base, uws, hub.data_dir, opts.starts))

                start = time.monotonic()
                job = client.post(
                    f"{base}/session",
                    params={
                        "name": "twenty",
                        "image": "batch",
                        "cmd": "true",
                        "type": "headless",
                        "replicas": opts.instances,
                    },
                ).text.strip()
                submitted = time.monotonic() - start

                def instances() -> list[dict[str, Any]]:
                    found: list[dict[str, Any]] = client.get(f"{base}/session/{job}").json()[
                        "instances"
                    ]
                    return found

                wait_for(
                    lambda: all(i["status"] != "Pending" for i in instances()),
                    120,
                    "every instance to start",
                    interval=0.01,
                )
                all_started = time.monotonic() - start
                wait_for(
                    lambda: all(i["status"] == "Succeeded" for i in instances()),
                    120,
                    "every instance to finish",
                    interval=0.01,
                )
                all_finished = time.monotonic() - start
                client.delete(f"{base}/session/{job}")
            result["create_20_response_s"] = round(submitted, 3)
            result["start_20_instances_s"] = round(all_started, 3)
            result["finish_20_instances_s"] = round(all_finished, 3)
            start = time.monotonic()
            procs = [subprocess.Popen(["true"]) for _ in range(opts.instances)]
            for p in procs:
                p.wait()
            result["start_20_plain_processes_s (baseline)"] = round(time.monotonic() - start, 3)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result["targets"] = TARGETS
    result["met"] = {k: result[k] <= v for k, v in TARGETS.items()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

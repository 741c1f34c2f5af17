"""The sessions API on the embedded platform, measured through the real hub and proxy.

1. `GET /session` latency for a user with 1,000 jobs in the store (target <= 100 ms median);
   baseline in the same run: the hub's own `GET /hub/api/users/{name}` for the same user.
2. Time to start 20 headless instances (one create with replicas=20, the pool sized to 20):
   from the POST until every instance has started, and until every one has finished;
   baseline: 20 `true` processes started directly with subprocess.

    python benchmarks/api.py [--records 1000] [--instances 20]     prints one JSON document
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

TARGETS = {"get_session_1000_median_ms": 100.0}


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=30)
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

                api = timed(lambda: client.get(f"{base}/session").raise_for_status(), opts.rounds)
                hub_api = timed(
                    lambda: hub.api("GET", "/users/bench").raise_for_status(), opts.rounds
                )
                result["get_session_1000_median_ms"] = round(statistics.median(api), 1)
                result["get_session_1000_p95_ms"] = round(statistics.quantiles(api, n=20)[-1], 1)
                result["hub_get_user_median_ms (baseline)"] = round(statistics.median(hub_api), 1)

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

"""Another user's `GET /session` while one user sends the largest requests the limits allow
(and oversized ones), through the real hub and proxy; baseline in the same run: the same
requests with no load.

    python benchmarks/load.py [--rounds 150]      prints one JSON document

The load is tests/service/test_load.py's (which checks that the other user is answered, none
of it stalls, and nothing of the load runs); this measures how fast.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import shared_tmp
from tests.hub import running_hub
from tests.service.conftest import Api
from tests.service.test_load import figures, get_latencies, heavy_load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=150)
    rounds = parser.parse_args().rounds
    tmp = shared_tmp()
    try:
        with running_hub(tmp) as hub:
            alice, bob = Api(hub, "alice"), Api(hub, "bob")
            bob.create(name="one", image="batch", type="headless", cmd="true")
            quiet = get_latencies(bob, rounds)
            print("measured the quiet baseline; now under load", file=sys.stderr)
            with heavy_load(alice) as load:
                busy = get_latencies(bob, rounds)
                answers = dict(load.answers)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report = {
        "get_session_quiet": figures(quiet),
        "get_session_under_load": figures(busy),
        "load_answers": answers,
        "median_ratio_load_vs_quiet": round(figures(busy)["median_ms"]
                                            / figures(quiet)["median_ms"], 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""Image catalogue and launch policy: form render with 500 catalogue images, and launch
validation against a real docker-registry on loopback, cold (empty cache) and warm (cached).

The baseline in the same run: the form with the 6-entry test catalogue, and validation of a
static catalogue entry (no registry involved).

    python benchmarks/images.py [--rounds 50]       prints one JSON document
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arcade_hub.config import CatalogueEntry, PlatformConfig, load_config
from arcade_hub.form import render_form
from arcade_hub.images.discovery import Snapshot
from arcade_hub.images.registry import RegistryClient
from arcade_hub.images.services import ImageServices
from arcade_hub.launch.choices import UserContext
from arcade_hub.launch.planner import PlanContext, Purpose, plan
from arcade_hub.launch.request import Refusal, parse_user_options
from arcade_hub.launch.site import Site
from tests.images.oci import Pusher, build_image
from tests.images.registry_server import RegistryProcess

TARGETS = {"form_render_500_median_ms": 50.0, "validation_warm_median_ms": 5.0}
PLATFORM = Path(__file__).resolve().parents[1] / "tests" / "platform.yaml"


class Containers:
    runs_image_references = True

    def unavailable_reason(self, entry: CatalogueEntry) -> str | None:
        return None


def ms(samples: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(samples) * 1000, 3),
        "max_ms": round(max(samples) * 1000, 3),
    }


def time_sync(fn: Callable[[], Any], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def with_images(config: PlatformConfig, n: int) -> tuple[PlatformConfig, Snapshot]:
    entries = tuple(
        CatalogueEntry(
            name=f"img-{i}", title=f"Image {i}", description="discovered image",
            kind=("notebook", "desktop", "desktop-app")[i % 3],
            image=f"images.example.org/arcade/img:{i}", versions={"casa": f"6.{i % 9}"},
        )
        for i in range(n)
    )  # fmt: skip
    merged = config.model_copy(update={"catalogue": [*config.catalogue, *entries]})
    return merged, Snapshot(entries=entries)


async def validation(rounds: int, data_dir: Path) -> dict[str, Any]:
    registry = RegistryProcess(data_dir / "registry").start()
    try:
        with Pusher(registry.url) as p:
            p.push_image("users/nb", "1.0", build_image(
                labels={"org.arcade-hub.kind": "notebook"}, user="1000"))  # fmt: skip
        config = PlatformConfig.model_validate({
            **load_config(PLATFORM).model_dump(mode="json", exclude={"images"}),
            "images": {"registries": [{"url": registry.url}],
                       "policy": {"custom_image_groups": ["astro"]}},
        })  # fmt: skip
        user = UserContext("alice", frozenset({"astro"}))
        site = Site(data_dir=data_dir, availability=Containers(), datasets_on_host=False)

        async def one(options: dict[str, Any], services: ImageServices) -> None:
            context = PlanContext(config, site, "", images=services)
            planned = await plan(user, parse_user_options(options), Purpose.session, context)
            assert not isinstance(planned, Refusal), planned

        async def timed(make: Callable[[], Awaitable[None]], n: int) -> list[float]:
            out = []
            for _ in range(n):
                t = time.perf_counter()
                await make()
                out.append(time.perf_counter() - t)
            return out

        custom = {"image": f"{registry.host}/users/nb:1.0"}
        cold: list[float] = []
        for _ in range(max(5, rounds // 5)):
            client = RegistryClient(config.images.registries)
            services = ImageServices.create(config.images, client)
            cold += await timed(lambda s=services: one(custom, s), 1)  # type: ignore[misc]
            await client.aclose()
        client = RegistryClient(config.images.registries)
        services = ImageServices.create(config.images, client)
        await one(custom, services)
        warm = await timed(lambda: one(custom, services), rounds)
        static = await timed(lambda: one({"image": "notebook"}, services), rounds)
        await client.aclose()
        return {"cold": ms(cold), "warm": ms(warm), "baseline_static_entry": ms(static)}
    finally:
        registry.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    config = load_config(PLATFORM)
    big, snapshot = with_images(config, 500)
    user = UserContext("alice")
    render_form(big, Containers(), user, discovery=snapshot)  # templates compiled
    form_500 = time_sync(lambda: render_form(big, Containers(), user, discovery=snapshot),
                         args.rounds)  # fmt: skip
    form_base = time_sync(lambda: render_form(config, Containers(), user), args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        valid = asyncio.run(validation(args.rounds, Path(tmp)))
    result = {
        "form_render": {"catalogue_500": ms(form_500), "baseline_test_catalogue": ms(form_base)},
        "validation": valid,
        "targets": TARGETS,
        "met": {
            "form_render_500_median_ms": ms(form_500)["median_ms"]
            <= TARGETS["form_render_500_median_ms"],
            "validation_warm_median_ms": valid["warm"]["median_ms"]
            <= TARGETS["validation_warm_median_ms"],
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""Discovery and the image launch policy against a real registry: what the form offers, what
launches, every refusal, digest pinning, registry down and cache behaviour."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from arcade_hub.config import CatalogueEntry, PlatformConfig
from arcade_hub.form import render_form
from arcade_hub.images.registry import RegistryClient
from arcade_hub.images.services import ImageServices
from arcade_hub.launch.choices import UserContext
from arcade_hub.launch.request import LaunchRefused
from arcade_hub.launch.site import Site
from arcade_hub.launch.spec import LaunchSpec
from tests.planning import plan_now, planned

from .helpers import FakeClock
from .oci import Pusher, build_image
from .registry_server import RegistryProcess

NB_LABELS = {
    "org.arcade-hub.kind": "notebook",
    "org.arcade-hub.title": "CASA notebook",
    "org.arcade-hub.description": "JupyterLab with CASA",
    "org.arcade-hub.casa-version": "6.7",
}


class Containers:
    """Availability of a container backend: every entry runs, image references too."""

    runs_image_references = True

    def unavailable_reason(self, entry: CatalogueEntry) -> str | None:
        return None


class LocalOnly(Containers):
    runs_image_references = False

    def unavailable_reason(self, entry: CatalogueEntry) -> str | None:
        return None if entry.local is not None else "needs its container image"


@pytest.fixture(scope="module")
def pushed(registry: RegistryProcess) -> dict[str, str]:
    host = registry.host
    digests = {}
    with Pusher(registry.url) as p:
        nb = build_image(labels=NB_LABELS, user="1000")
        digests["nb"] = p.push_image("disc/casa-nb", "6.7", nb)
        p.push_image("disc/casa-nb", "latest", build_image(labels=NB_LABELS, user="1000"))
        p.push_image("disc/casa-nb", "root", build_image(labels=NB_LABELS, user="root"))
        p.push_image("disc/casa-nb", "unlabelled", build_image(user="1000"))
        digests["job"] = p.push_image(
            "disc/batch", "1.0",
            build_image(labels={"org.arcade-hub.kind": "headless"}, user="1000"),
        )
        digests["custom"] = p.push_image(
            "users/mine", "2.0", build_image(labels={"org.arcade-hub.kind": "desktop"}, user="1000")
        )
        p.push_image("users/mine", "plain", build_image(user="1000"))
        p.push_image("users/mine", "root", build_image(user="0:0"))
        p.push_image("users/mine", "app", build_image(
            labels={"org.arcade-hub.kind": "desktop-app"}, user="1000"))
        p.push_image("users/mine", "weird", build_image(
            labels={"org.arcade-hub.kind": "spaceship"}, user="1000"))
    return {k: f"{host}@{v}" for k, v in digests.items()}


def platform(registry: RegistryProcess, **policy: Any) -> PlatformConfig:
    return PlatformConfig.model_validate(
        {
            "catalogue": [
                {"name": "notebook", "title": "Notebook", "kind": "notebook",
                 "image": "quay.io/x/nb:1", "local": {}},
                {"name": "static-nb", "title": "Static", "kind": "notebook",
                 "image": f"{registry.host}/disc/casa-nb:6.7"},
            ],
            "images": {
                "registries": [{"url": registry.url, "cache_ttl": 60, "retries": 0}],
                "discovery": {"repositories": [f"{registry.host}/disc/casa-nb",
                                               f"{registry.host}/disc/batch"]},
                "policy": {
                    "custom_image_groups": ["astro"],
                    "allowed_repositories": [f"{registry.host}/users/*"],
                    **policy,
                },
            },
        }
    )  # fmt: skip


@pytest.fixture
async def services(registry: RegistryProcess) -> AsyncIterator[Callable[..., ImageServices]]:
    made: list[ImageServices] = []

    def make(config: PlatformConfig, clock: FakeClock | None = None) -> ImageServices:
        client = RegistryClient(config.images.registries, clock=clock or FakeClock(), environ={})
        s = ImageServices.create(config.images, client)
        if clock is not None:
            s.discovery.clock = clock
        made.append(s)
        return s

    yield make
    for s in made:
        await s.client.aclose()


async def launch(
    options: dict[str, Any],
    config: PlatformConfig,
    services: ImageServices,
    tmp_path: Path,
    groups: frozenset[str] = frozenset(),
    availability: Any = None,
) -> LaunchSpec:
    """The planner's spec for a session, asking the registry through `services`."""
    user = UserContext("alice", groups)
    site = Site(data_dir=tmp_path, availability=availability or Containers())
    return await planned(options, config, user, site, images=services)


async def refusal(*args: Any, **kwargs: Any) -> str:
    with pytest.raises(LaunchRefused) as info:
        await launch(*args, **kwargs)
    assert info.value.status == 400
    return info.value.errors["image"]


async def test_discovered_images_are_offered_and_launch_pinned(
    registry: RegistryProcess, pushed: dict[str, str], services: Any, tmp_path: Path
) -> None:
    config = platform(registry)
    s = services(config)
    snapshot = await s.discovery.current()
    names = {e.name: e for e in snapshot.entries}
    # latest refused, root skipped, unlabelled ignored; headless kept for jobs
    assert set(names) == {"casa-nb-6.7", "batch-1.0"}
    entry = names["casa-nb-6.7"]
    assert (entry.title, entry.versions, entry.kind.value) == (
        "CASA notebook", {"casa": "6.7"}, "notebook")
    html = render_form(config.model_copy(update={"catalogue": [*config.catalogue, entry]}),
                       Containers(), UserContext("alice"), discovery=snapshot)
    assert "CASA notebook" in html and "from registry" in html
    spec = await launch({"image": "casa-nb-6.7"}, config, s, tmp_path)
    assert spec.image == f"{registry.host}/disc/casa-nb@{pushed['nb'].split('@')[1]}"
    assert spec.kind.value == "notebook" and spec.entry == "casa-nb-6.7"


async def test_static_entries_need_no_registry_unless_asked(
    registry: RegistryProcess, pushed: dict[str, str], services: Any, tmp_path: Path
) -> None:
    config = platform(registry)
    s = services(config)
    spec = await launch({"image": "static-nb"}, config, s, tmp_path)
    assert spec.image == f"{registry.host}/disc/casa-nb:6.7"  # as configured, not pinned
    pinned = platform(registry, resolve_catalogue=True)
    spec = await launch({"image": "static-nb"}, pinned, services(pinned), tmp_path)
    assert spec.image.endswith(pushed["nb"].split("@")[1]) and "@sha256:" in spec.image


async def test_custom_image_for_group_members_is_pinned_with_its_kind(
    registry: RegistryProcess, pushed: dict[str, str], services: Any, tmp_path: Path
) -> None:
    config = platform(registry)
    ref = f"{registry.host}/users/mine:2.0"
    spec = await launch({"image": ref}, config, services(config), tmp_path, frozenset({"astro"}))
    assert spec.image == f"{registry.host}/users/mine@{pushed['custom'].split('@')[1]}"
    assert spec.kind.value == "desktop" and spec.entry is None


@pytest.mark.parametrize(
    ("image", "groups", "expected"),
    [
        ("users/mine:2.0", frozenset(), "only for members of astro"),
        ("other/thing:1.0", {"astro"}, "are not allowed on this platform (allowed:"),
        ("users/mine", {"astro"}, "a reference without tag means 'latest'"),
        ("users/mine:latest", {"astro"}, "the tag 'latest'"),
        ("users/mine:9.9", {"astro"}, "does not exist in its registry"),
        ("users/mine:root", {"astro"}, "runs as user '0:0'"),
        ("users/mine:app", {"astro"}, "is a desktop-app image; only notebook and desktop"),
        ("users/mine:weird", {"astro"}, "unknown kind 'spaceship'"),
        ("Users/Mine:1", {"astro"}, "must be lower case"),
    ],
)
async def test_every_custom_refusal_is_a_clear_400(
    registry: RegistryProcess, pushed: dict[str, str], services: Any, tmp_path: Path,
    image: str, groups: set[str], expected: str,
) -> None:  # fmt: skip
    config = platform(registry)
    message = await refusal(
        {"image": f"{registry.host}/{image}"}, config, services(config), tmp_path,
        frozenset(groups),
    )  # fmt: skip
    assert expected in message


async def test_kind_label_rules(
    registry: RegistryProcess, pushed: dict[str, str], services: Any, tmp_path: Path
) -> None:
    strict = platform(registry, require_kind_label=True)
    plain = f"{registry.host}/users/mine:plain"
    astro = frozenset({"astro"})
    assert "does not say what it is" in await refusal(
        {"image": plain}, strict, services(strict), tmp_path, astro)
    lax = platform(registry)
    spec = await launch({"image": plain}, lax, services(lax), tmp_path, astro)
    assert spec.kind.value == "notebook"
    wrong = platform(registry, resolve_catalogue=True)
    wrong = wrong.model_copy(update={"catalogue": [*wrong.catalogue, CatalogueEntry(
        name="mislabelled", title="M", kind="desktop", image=f"{registry.host}/disc/casa-nb:6.7")]})
    assert "is labelled as a notebook image, but it is offered as a desktop" in await refusal(
        {"image": "mislabelled"}, wrong, services(wrong), tmp_path)


async def test_root_images_allowed_when_the_operator_says_so(
    registry: RegistryProcess, pushed: dict[str, str], services: Any, tmp_path: Path
) -> None:
    config = platform(registry, allow_root=True)
    spec = await launch({"image": f"{registry.host}/users/mine:root"}, config,
                           services(config), tmp_path, frozenset({"astro"}))
    assert "@sha256:" in spec.image


async def test_local_backend_refuses_custom_images_without_registry_traffic(
    registry: RegistryProcess, pushed: dict[str, str], services: Any, tmp_path: Path
) -> None:
    config = platform(registry).model_copy(update={"images": platform(registry).images.model_copy(
        update={"discovery": platform(registry).images.discovery.model_copy(
            update={"repositories": []})})})
    message = await refusal({"image": f"{registry.host}/users/mine:2.0"}, config,
                            services(config), tmp_path, frozenset({"astro"}), LocalOnly())
    assert "runs sessions as local processes" in message


def test_a_plan_without_the_registry_refuses_instead_of_bypassing(
    registry: RegistryProcess, tmp_path: Path
) -> None:
    config = platform(registry, resolve_catalogue=True)
    with pytest.raises(LaunchRefused) as info:
        plan_now({"image": "static-nb"}, config, UserContext("a"), Site(tmp_path, Containers()))
    assert "could not be checked against its registry" in info.value.errors["image"]


async def test_registry_down_keeps_discovered_entries_and_says_so(
    make_registry: Callable[..., RegistryProcess], services: Any, tmp_path: Path
) -> None:
    server = make_registry()
    with Pusher(server.url) as p:
        p.push_image("disc/casa-nb", "6.7", build_image(labels=NB_LABELS, user="1000"))
        p.push_image("disc/batch", "1.0", build_image(user="1000"))  # no label: not offered
    config = platform(server)
    clock = FakeClock()
    s = services(config, clock)
    first = await s.discovery.current()
    assert first.unavailable is None and first.names == {"casa-nb-6.7"}
    spec = await launch({"image": "casa-nb-6.7"}, config, s, tmp_path)
    server.stop()
    clock.advance(config.images.discovery.refresh_seconds + 1)  # stale: asks again, fails
    later = await s.discovery.current()
    assert later.names == {"casa-nb-6.7"}
    assert later.unavailable and "Image discovery is unavailable" in later.unavailable
    html = render_form(config, Containers(), UserContext("alice"), discovery=later)
    assert 'id="arcade-discovery-unavailable"' in html
    # the registry client's stale-if-error cache still pins the digest it saw
    again = await launch({"image": "casa-nb-6.7"}, config, s, tmp_path)
    assert again.image == spec.image
    # a custom image never seen before cannot be checked: a clear refusal
    message = await refusal({"image": f"{server.host}/users/new:1"}, config, s, tmp_path,
                            frozenset({"astro"}))
    assert "cannot be checked right now because its registry is unavailable" in message


async def test_warm_validation_uses_the_cache(
    registry: RegistryProcess, pushed: dict[str, str], services: Any, tmp_path: Path,
    transport: Any,
) -> None:  # fmt: skip
    config = platform(registry)
    client = RegistryClient(config.images.registries, transport=transport, environ={})
    s = ImageServices.create(config.images, client)
    try:
        await launch({"image": "casa-nb-6.7"}, config, s, tmp_path)
        cold = len(transport.requests)
        await launch({"image": "casa-nb-6.7"}, config, s, tmp_path)
        assert len(transport.requests) == cold > 0
    finally:
        await client.aclose()

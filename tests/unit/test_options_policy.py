"""Form data and REST user_options give the same spec, and every bad input a clear refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from arcade_hub.config import Kind, load_config
from arcade_hub.launch.choices import UserContext
from arcade_hub.launch.request import LaunchRefused
from arcade_hub.launch.site import Site
from arcade_hub.launch.spec import LaunchSpec, MountKind
from tests.planning import AllLocal, plan_now

PLATFORM = Path(__file__).parent.parent / "platform.yaml"


@pytest.fixture
def site(tmp_path: Path) -> Site:
    for d in ("alma-2019", "public-sky", "secret"):
        (tmp_path / "datasets" / d).mkdir(parents=True)
    return Site(data_dir=tmp_path, availability=AllLocal())


def spec_for(
    options: dict[str, Any] | None,
    site: Site,
    user: str = "alice",
    groups: frozenset[str] = frozenset(),
) -> LaunchSpec:
    return plan_now(options, load_config(PLATFORM), UserContext(user, groups), site)


FORM_AND_JSON = [
    (
        {"image": ["notebook"], "cores": ["2"], "ram": ["2"]},
        {"image": "notebook", "cores": 2, "ram": 2},
    ),
    ({"image": ["notebook"], "ram": ["512M"]}, {"image": "notebook", "ram": 0.5}),
    ({"image": ["xterm"], "dataset": ["public-sky"]}, {"image": "xterm", "dataset": "public-sky"}),
    (
        {"image": ["desktop"], "cores": ["0.5"], "ram": ["1.5G"]},
        {"image": "desktop", "cores": 0.5, "ram": "1.5G"},
    ),
    (
        {"image": ["casa-5.4"], "dataset": ["alma-2019"]},
        {"image": "casa-5.4", "dataset": "alma-2019"},
    ),
    ({"dataset": [""], "cores": [""]}, {}),
]


@pytest.mark.parametrize(("form", "rest"), FORM_AND_JSON)
def test_form_and_rest_give_the_same_spec(
    form: dict[str, Any], rest: dict[str, Any], site: Site
) -> None:
    assert spec_for(form, site) == spec_for(rest, site)


def test_defaults_when_nothing_is_given(site: Site) -> None:
    spec = spec_for({}, site)
    assert (spec.kind, spec.entry, spec.cores, spec.ram_gib, spec.gpus) == (
        Kind.notebook,
        "notebook",
        1,
        1,
        0,
    )
    assert [m.kind for m in spec.mounts] == [MountKind.home, MountKind.scratch]
    assert spec.home.source == str(site.data_dir / "home" / "alice")


def test_desktop_app_opens_on_the_desktop(site: Site) -> None:
    spec = spec_for({"image": "xterm"}, site)
    assert (spec.kind, spec.desktop) == (Kind.desktop_app, "desktop")


def test_dataset_is_mounted_read_only(site: Site) -> None:
    spec = spec_for({"dataset": "public-sky"}, site)
    (ds,) = spec.mounts_of(MountKind.dataset)
    assert (ds.name, ds.read_only, ds.source) == (
        "public-sky",
        True,
        str(site.data_dir / "datasets" / "public-sky"),
    )


def test_group_members_get_their_dataset_and_project(site: Site) -> None:
    spec = spec_for(
        {"dataset": "secret-survey"}, site, user="carol", groups=frozenset({"survey-team"})
    )
    assert spec.dataset == "secret-survey"
    assert [m.name for m in spec.mounts_of(MountKind.project)] == ["survey-team"]


BAD = [
    ({"image": "nope"}, 400, "image", "'nope' is not in the catalogue"),
    (
        {"image": "ghcr.io/evil/miner:latest"},
        400,
        "image",
        "custom image references are not allowed",
    ),
    ({"image": "batch"}, 400, "image", "is a batch image"),
    ({"image": "casa-4.7"}, 400, "image", "CASA 4.7 is not available here"),
    ({"image": "missing-tool"}, 400, "image", "Install the arcade-no-such-tool package"),
    ({"cores": 0}, 400, "cores", "0 is below the minimum of 0.25 cores"),
    ({"cores": "0"}, 400, "cores", "0 is below the minimum of 0.25 cores"),
    ({"cores": -1}, 400, "cores", "below the minimum"),
    ({"cores": 1000}, 400, "cores", "1000 is above the maximum of 2 cores per session"),
    ({"cores": "abc"}, 400, "cores", "'abc' is not a number"),
    ({"cores": True}, 400, "cores", "must be a number"),
    ({"cores": "nan"}, 400, "cores", "not a finite number"),
    ({"cores": ["1", "2"]}, 400, "cores", "give one value, not 2"),
    ({"cores": {"x": 1}}, 400, "cores", "must be a number"),
    ({"ram": 64}, 400, "ram", "64 is above the maximum of 4 GiB of RAM"),
    ({"ram": "64G"}, 400, "ram", "above the maximum"),
    ({"ram": "lots"}, 400, "ram", "'lots' is not a size"),
    ({"gpus": 1}, 400, "gpus", "1 is above the maximum of 0 GPUs"),
    ({"gpus": 0.5}, 400, "gpus", "not a whole number"),
    (
        {"dataset": "nope"},
        400,
        "dataset",
        "unknown dataset 'nope' (available: alma-2019, public-sky)",
    ),
    ({"dataset": "secret-survey"}, 403, "dataset", "it is for members of survey-team"),
    (
        {"image": "casa-6.7", "dataset": "alma-2019"},
        400,
        "dataset",
        "needs CASA 5.4, but CASA 6.7 provides CASA 6.7: choose CASA 5.4 (casa-5.4)",
    ),
    ({"image": 7}, 400, "image", "must be a string"),
    ({"colour": "blue"}, 400, "colour", "unknown option 'colour'; accepted: image, cores, ram"),
    ({"image": "custom", "custom_image": ""}, 400, "custom_image", "enter an image reference"),
]


@pytest.mark.parametrize(("options", "status", "field", "message"), BAD)
def test_bad_input_is_refused_with_a_clear_message(
    options: dict[str, Any], status: int, field: str, message: str, site: Site
) -> None:
    with pytest.raises(LaunchRefused) as info:
        spec_for(options, site)
    assert info.value.status == status
    assert message in info.value.errors[field]


def test_every_bad_field_is_reported_at_once(site: Site) -> None:
    with pytest.raises(LaunchRefused) as info:
        spec_for({"cores": 99, "ram": 99, "dataset": "nope"}, site)
    assert set(info.value.errors) == {"cores", "ram", "dataset"}


def test_missing_dataset_data_is_explained(site: Site) -> None:
    (site.data_dir / "datasets" / "public-sky").rmdir()
    with pytest.raises(LaunchRefused, match="its data is missing on this machine"):
        spec_for({"dataset": "public-sky"}, site)


def test_spec_is_frozen(site: Site) -> None:
    spec = spec_for({}, site)
    with pytest.raises(ValueError):
        spec.cores = 8  # type: ignore[misc]

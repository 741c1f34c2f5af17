"""Run in the z2jh hub's place (`python -m tests.kube.z2jh_hub`), inside a private mount
namespace where the rendered ConfigMap and Secret sit where the chart mounts them
(/usr/local/etc/jupyterhub, /usr/local/etc/arcade): load the chart's own
`jupyterhub_config.py`, make the spawner it selects and let it build a notebook and a desktop
pod, and an app pod for that desktop. Prints JSON for the test (`test_z2jh_chart.py`).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from traitlets.config import Config

from arcade_hub.kube.objects import Owner, build_app_pod, serialize
from arcade_hub.render_values import HUB_PAGES
from tests.kube.conftest import MockHub, MockOrmSpawner, MockUser

HUB_CONFIG = Path("/usr/local/etc/jupyterhub/jupyterhub_config.py")


def load_hub_config() -> Config:
    """What JupyterHub does with `-f jupyterhub_config.py`."""
    c = Config()
    code = compile(HUB_CONFIG.read_text(), str(HUB_CONFIG), "exec")
    exec(code, {"get_config": lambda: c, "__file__": str(HUB_CONFIG), "__name__": "config"})
    return c


def spawner_class(c: Config) -> Any:
    module, _, name = str(c.JupyterHub.spawner_class).rpartition(".")
    return getattr(importlib.import_module(module), name)


async def pods(c: Config) -> dict[str, Any]:
    cls = spawner_class(c)
    out: dict[str, Any] = {"spawner_class": f"{cls.__module__}.{cls.__name__}"}
    for server, image in (("lab", "notebook"), ("desk", "desktop")):
        spawner = cls(config=c, user=MockUser(name="alice"), orm_spawner=MockOrmSpawner(
            name=server), hub=MockHub(api_url="http://hub:8081/hub/api"))
        await spawner.plan_launch({"image": image})
        spawner.apply_pieces(spawner.render(spawner.launch_spec))
        out[image] = serialize(await spawner.get_pod_manifest())
        if image == "desktop":
            out["desktop_spec"] = spawner.launch_spec.model_dump_json()
            platform = spawner.platform
            out["app"] = build_app_pod(
                spawner.launch_spec, platform.entry("xterm"), platform.backend.kubernetes,
                platform.storage, name="arcade-app-x", owner=Owner(spawner.pod_name, "uid-1"),
                desktop_ip="10.0.0.7")
    return out


def main() -> None:
    c = load_hub_config()
    result = asyncio.run(pods(c))
    result["tornado_settings"] = dict(c.JupyterHub.tornado_settings)
    result["services"] = [s["name"] for s in c.JupyterHub.services]
    result["pages"] = {key: c.JupyterHub[key] for key in HUB_PAGES}
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()

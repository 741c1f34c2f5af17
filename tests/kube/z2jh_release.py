"""The real z2jh chart (`$ARCADE_Z2JH_DIR/chart`, 4.4.0 as released) rendered by Helm's own
Go library (PyPI helm-python-sdk, offline): the chart-level tests (`test_z2jh_chart.py`) and
the hub pod on the real cluster (`test_real_hub_pod.py`) share it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RELEASE, NAMESPACE = "arcade", "arcade"
Manifest = dict[str, Any]


def chart_dir() -> Path:
    where = os.environ.get("ARCADE_Z2JH_DIR")
    if not where or not (Path(where) / "chart" / "Chart.yaml").exists():
        pytest.skip("the z2jh chart is needed: set ARCADE_Z2JH_DIR to ../shared/z2jh "
                    "(scripts/test.sh does)")
    return Path(where) / "chart"


def example_values() -> Manifest:
    values: Manifest = yaml.safe_load((ROOT / "helm-values" / "values.yaml").read_text())
    return values


class Release:
    """The chart rendered with one set of values: its objects by kind and name."""

    def __init__(self, values: Manifest, namespace: str = NAMESPACE) -> None:
        import helm_python as helm

        self.values = values
        chart = helm.Chart.load(str(chart_dir()))
        try:
            chart.validate_schema(values)
            files = chart.render(values, name=RELEASE, namespace=namespace, is_install=True)
        finally:
            chart.close()
        self.objects: list[Manifest] = [
            obj for path, text in sorted(files.items()) if path.endswith((".yaml", ".yml"))
            for obj in yaml.safe_load_all(text) if obj]

    def get(self, kind: str, name: str) -> Manifest:
        (found,) = [o for o in self.objects
                    if o["kind"] == kind and o["metadata"]["name"] == name]
        return found

    def of_kind(self, kind: str) -> list[Manifest]:
        return [o for o in self.objects if o["kind"] == kind]

"""`kubectl` (the cluster's own v1.20.2 binary unless another is named) on the real cluster
of `ARCADE_TEST_KUBECONFIG`, for the real-cluster tests that apply manifests as an operator
would (`test_storage_real.py`, `test_real_hub_pod.py`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def kubectl_binary() -> str:
    found = os.environ.get("ARCADE_TEST_KUBECTL") or shutil.which("kubectl")
    if not found:
        kube_dir = os.environ.get("ARCADE_KUBE_DIR", "/var/tmp/arcade-kube")
        found = str(Path(kube_dir) / "bin" / "kubectl")
    return found


def kubectl(*args: str, stdin: str | None = None, check: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run kubectl with the test cluster's kubeconfig; an AssertionError with its stderr when
    it fails (unless `check` is false)."""
    done = subprocess.run(
        [kubectl_binary(), f"--kubeconfig={os.environ.get('ARCADE_TEST_KUBECONFIG')}", *args],
        input=stdin, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr}")
    return done


def package_dir(namespace: str, image: str) -> str:
    """Where `image` has the arcade_hub package (its Python's site-packages): the tests mount
    this checkout's package there, as the image may predate the checkout."""
    return kubectl(
        "run", "-n", namespace, "where", "--rm", "-i", "--restart=Never",
        f"--image={image}", "--image-pull-policy=IfNotPresent", "--command", "--",
        "python3", "-c", "import arcade_hub, os; print(os.path.dirname(arcade_hub.__file__))",
        timeout=180).stdout.split()[0]

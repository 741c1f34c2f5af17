"""The service's Kubernetes client configuration (`arcade_hub.kube.client.connect`): an explicit
kubeconfig, else the pod's service account (also without the KUBERNETES_SERVICE_* variables,
which JupyterHub does not pass to managed services), else $KUBECONFIG; clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import certifi
import pytest
from kubernetes_asyncio.client import CoreV1Api
from kubernetes_asyncio.client.rest import ApiException

from arcade_hub.kube.client import (
    KubeUnavailable,
    api_error,
    connect,
)

from .conftest import NAMESPACE, Cluster
from .fake_api import FakeKubeAPI
from .service import kubeconfig_for


def service_account(tmp_path: Path, namespace: str = "arcade") -> Path:
    folder = tmp_path / "serviceaccount"
    folder.mkdir()
    (folder / "token").write_text("the-token")
    shutil.copy(certifi.where(), folder / "ca.crt")  # any valid CA bundle
    (folder / "namespace").write_text(namespace + "\n")
    return folder


async def test_explicit_kubeconfig_reaches_the_api(fake_api: FakeKubeAPI,
                                                   tmp_path: Path) -> None:
    path = kubeconfig_for(Cluster(fake_api.url, NAMESPACE, fake_api), tmp_path)
    for kube in (await connect(path, environ={}),
                 await connect(environ={"ARCADE_KUBECONFIG": path})):
        try:
            assert kube.namespace == NAMESPACE and kube.source == path
            pods = await CoreV1Api(kube.api).list_namespaced_pod(kube.namespace)
            assert pods.items == []
        finally:
            await kube.close()
    assert fake_api.counts[("list", "pods")] == 2


async def test_in_a_pod_without_service_variables(tmp_path: Path) -> None:
    """JupyterHub starts managed services with a trimmed environment: the API is then found
    at kubernetes.default.svc, with the pod's token and namespace."""
    folder = service_account(tmp_path)
    kube = await connect(environ={}, service_account=folder)
    try:
        configuration = kube.api.configuration
        assert configuration.host == "https://kubernetes.default.svc:443"
        assert configuration.api_key["BearerToken"] == "Bearer the-token"
        assert configuration.ssl_ca_cert == str(folder / "ca.crt")
        assert kube.namespace == "arcade" and kube.source == "in-cluster"
    finally:
        await kube.close()
    kube = await connect(environ={"KUBERNETES_SERVICE_HOST": "10.96.0.1",
                                  "KUBERNETES_SERVICE_PORT": "6443"}, service_account=folder)
    try:
        assert kube.api.configuration.host == "https://10.96.0.1:6443"
    finally:
        await kube.close()


async def test_kubeconfig_variable_when_not_in_a_pod(fake_api: FakeKubeAPI,
                                                     tmp_path: Path) -> None:
    path = kubeconfig_for(Cluster(fake_api.url, NAMESPACE, fake_api), tmp_path)
    kube = await connect(environ={"KUBECONFIG": path}, service_account=tmp_path / "none")
    try:
        assert kube.source == path and kube.api.configuration.host == fake_api.url
    finally:
        await kube.close()


async def test_no_credentials_or_broken_ones_say_so(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(KubeUnavailable, match="no Kubernetes credentials"):
        await connect(environ={}, service_account=tmp_path / "none")
    broken = tmp_path / "broken"
    broken.write_text("apiVersion: v1\nkind: Config\ncurrent-context: nowhere\n")
    with pytest.raises(KubeUnavailable, match="cannot configure the Kubernetes client"):
        await connect(str(broken), environ={})
    (tmp_path / "serviceaccount").mkdir()
    (tmp_path / "serviceaccount" / "token").write_text("t")
    with pytest.raises(KubeUnavailable, match="cannot configure"):  # no ca.crt
        await connect(environ={}, service_account=tmp_path / "serviceaccount")


def test_api_errors_become_statuses_and_messages() -> None:
    denied = ApiException(status=403, reason="Forbidden")
    denied.body = '{"kind": "Status", "message": "jobs.batch is forbidden"}'
    status, message = api_error(denied, "create the job")
    assert status == 502 and "jobs.batch is forbidden" in message and "RBAC" in message
    status, message = api_error(ApiException(status=500, reason="Internal"), "read the log")
    assert (status, message) == (502, "could not read the log: Kubernetes answered 500: "
                                      "Internal")
    status, message = api_error(ConnectionRefusedError("refused"), "delete the job")
    assert status == 503 and "could not be reached" in message
    status, message = api_error(TimeoutError(), "start CASA")
    assert (status, message) == (503, "could not start CASA: the Kubernetes API did not "
                                      "answer in time")

"""The real z2jh chart 4.4.0 (`$ARCADE_Z2JH_DIR/chart`, as released) rendered with our values
by Helm's own Go library (PyPI helm-python-sdk, offline), every object validated strictly,
then the chart's hub configuration loaded as the hub pod loads it, and session pods built
by the spawner it selects. What the values' golden files could not show:

- z2jh's labels (`hub.jupyter.org/network-access-hub`), user-pool tolerations and tornado
  settings (`slow_spawn_timeout`) survive next to Arcade's;
- the chart's NetworkPolicies, evaluated for the pods they select, let sessions reach the hub
  and the proxy, the proxy reach the arcade service (by pod selector: IP-range rules do not
  count for pods of the cluster), and app pods reach the desktop's X port.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from arcade_hub import render_values as render
from arcade_hub.config import PlatformConfig
from arcade_hub.kube.objects import Owner, build_x11_network_policy
from arcade_hub.kube.restricted import violations
from arcade_hub.launch.spec import LaunchSpec

from .z2jh_release import NAMESPACE, ROOT, Manifest, Release, example_values

VERSIONS = ("1.30", "1.32")
Z2JH_TOLERATIONS = [
    {"effect": "NoSchedule", "key": "hub.jupyter.org/dedicated", "operator": "Equal",
     "value": "user"},
    {"effect": "NoSchedule", "key": "hub.jupyter.org_dedicated", "operator": "Equal",
     "value": "user"},
]


def rendered_without_base() -> Manifest:
    document = example_values()["hub"]["extraFiles"]["arcade-platform"]["data"]
    return render.render_values(document)


def rendered_with_subdomains() -> Manifest:
    document = example_values()["hub"]["extraFiles"]["arcade-platform"]["data"]
    document = {**document, "web": {"public_url": "https://hub.example.org/",
                                    "subdomain_host": "https://hub.example.org"}}
    return render.render_values(document, example_values())


CASES = {
    "helm-values": example_values,
    "render-values": rendered_without_base,
    "render-values-web": rendered_with_subdomains,
}


@pytest.fixture(scope="module", params=sorted(CASES))
def release(request: pytest.FixtureRequest) -> Release:
    return Release(CASES[request.param]())


def test_every_object_is_valid_kubernetes(release: Release) -> None:
    assert {"Deployment", "ConfigMap", "Secret", "NetworkPolicy", "Service"} <= {
        o["kind"] for o in release.objects}
    for obj in release.objects:
        for version in VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)


# --- the hub pod's configuration, loaded as the hub loads it ---------------------------------

def volume_files(release: Release) -> dict[str, bytes]:
    """The hub container's files under /usr/local/etc, from its volumes as the kubelet makes
    them (ConfigMap and Secret keys, `items`, `subPath`)."""
    deployment = release.get("Deployment", "hub")["spec"]["template"]["spec"]
    (container,) = deployment["containers"]
    volumes = {v["name"]: v for v in deployment["volumes"]}
    files: dict[str, bytes] = {}
    for mount in container["volumeMounts"]:
        if not mount["mountPath"].startswith("/usr/local/etc/"):
            continue
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            data = {k: v.encode() for k, v in
                    release.get("ConfigMap", volume["configMap"]["name"])["data"].items()}
            items = volume["configMap"].get("items")
        else:
            secret = release.get("Secret", volume["secret"]["secretName"])
            data = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
            data |= {k: v.encode() for k, v in (secret.get("stringData") or {}).items()}
            items = volume["secret"].get("items")
        tree = {i["path"]: data[i["key"]] for i in items} if items else data
        if "subPath" in mount:
            files[mount["mountPath"]] = tree[mount["subPath"]]
        else:
            for name, content in tree.items():
                files[f"{mount['mountPath'].rstrip('/')}/{name}"] = content
    return files


def service_env(release: Release) -> dict[str, str]:
    """What Kubernetes tells every pod about the namespace's Services (`HUB_SERVICE_PORT`...)."""
    env = {}
    for n, service in enumerate(release.of_kind("Service"), start=10):
        key = service["metadata"]["name"].upper().replace("-", "_")
        env[f"{key}_SERVICE_HOST"] = f"10.96.0.{n}"
        env[f"{key}_SERVICE_PORT"] = str(service["spec"]["ports"][0]["port"])
    return env


def container_env(release: Release) -> dict[str, str]:
    (container,) = release.get("Deployment", "hub")["spec"]["template"]["spec"]["containers"]
    env = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "secretKeyRef" in item.get("valueFrom", {}):
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = base64.b64decode(
                release.get("Secret", ref["name"])["data"][ref["key"]]).decode()
        elif item.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == \
                "metadata.namespace":
            env[item["name"]] = NAMESPACE
    return env


@pytest.fixture(scope="module")
def hub(release: Release, tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    """Run tests/kube/z2jh_hub.py with the hub pod's files at their paths (a private mount
    namespace: /usr/local/etc of this machine is untouched) and the hub pod's environment."""
    if os.geteuid() != 0:
        pytest.skip("mounting the hub's files where the chart mounts them needs root "
                    "(a private mount namespace)")
    tmp = tmp_path_factory.mktemp("z2jh-hub")
    etc = tmp / "etc"
    for path, content in volume_files(release).items():
        target = etc / Path(path).relative_to("/usr/local/etc")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    kubeconfig = tmp / "kubeconfig"  # the spawner is never connected: no API needed
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp), "KUBECONFIG": str(kubeconfig),
           "PYTHONPATH": str(ROOT), **container_env(release), **service_env(release)}
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
         'mount --bind "$0" /usr/local/etc && exec "$1" -m tests.kube.z2jh_hub',
         str(etc), sys.executable],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result: Manifest = json.loads(done.stdout.splitlines()[-1])  # after the config's prints
    return result


def test_the_chart_config_selects_arcade_and_keeps_z2jh_settings(release: Release,
                                                                  hub: Manifest) -> None:
    assert hub["spawner_class"] == render.SPAWNER
    assert hub["tornado_settings"]["slow_spawn_timeout"] == 0
    assert "arcade" in hub["services"]
    document = release.values["hub"]["extraFiles"]["arcade-platform"]["data"]
    # the hub's pages, as on the embedded hub, through the chart's pass-through config
    assert hub["pages"] == render.page_values(PlatformConfig.model_validate(document))


@pytest.mark.parametrize("kind", ["notebook", "desktop", "app"])
def test_pods_keep_z2jh_labels_and_tolerations(hub: Manifest, kind: str) -> None:
    pod = hub[kind]
    labels = pod["metadata"]["labels"]
    assert labels["arcade-hub.org/kind"] == ("desktop-app" if kind == "app" else kind)
    for version in VERSIONS:
        kubernetes_validate.validate(pod, version, strict=True)
    assert violations(pod, "restricted") == []
    if kind == "app":  # not a session: z2jh's policies do not select it
        return
    assert labels["hub.jupyter.org/network-access-hub"] == "true"
    assert labels["component"] == "singleuser-server"
    tolerations = pod["spec"]["tolerations"]
    assert all(t in tolerations for t in Z2JH_TOLERATIONS), tolerations
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert env["ARCADE_API_URL"] == "http://proxy-public/services/arcade/api/v1"


# --- network policy reachability -----------------------------------------------------------

def selects(selector: Manifest, labels: dict[str, str]) -> bool:
    match = selector.get("matchLabels") or {}
    assert not selector.get("matchExpressions"), "only matchLabels are evaluated here"
    return all(labels.get(k) == v for k, v in match.items())


def port_matches(rule: Manifest, port: int, names: dict[str, int]) -> bool:
    wanted = rule.get("ports")
    if not wanted:
        return True
    return any(names.get(p["port"], p["port"]) == port if isinstance(p["port"], str)
               else p["port"] == port for p in wanted)


def peer_matches(rule: Manifest, key: str, labels: dict[str, str]) -> bool:
    """Pod-selector peers only: ipBlock peers do not count for pods of the cluster (Cilium)."""
    peers = rule.get(key)
    if peers is None:
        return True
    return any("podSelector" in peer and selects(peer["podSelector"], labels)
               for peer in peers)


def allowed(policies: list[Manifest], src: dict[str, str], dst: dict[str, str], port: int,
            dst_ports: dict[str, int]) -> bool:
    """Whether the policies let a pod labelled `src` open `port` of a pod labelled `dst`."""
    def side(direction: str, own: dict[str, str], peer: dict[str, str], key: str) -> bool:
        relevant = [p["spec"] for p in policies if selects(p["spec"]["podSelector"], own)
                    and direction in p["spec"].get("policyTypes", ["Ingress"])]
        if not relevant:
            return True
        rules = [r for spec in relevant for r in spec.get(direction.lower(), [])]
        return any(peer_matches(r, key, peer) and port_matches(r, port, dst_ports)
                   for r in rules)

    return side("Egress", src, dst, "to") and side("Ingress", dst, src, "from")


def template_labels(release: Release, name: str) -> dict[str, str]:
    labels: dict[str, str] = release.get("Deployment", name)["spec"]["template"]["metadata"][
        "labels"]
    return labels


def named_ports(pod_spec: Manifest) -> dict[str, int]:
    """A pod's named container ports (what `port: http` in a policy means for it)."""
    return {p["name"]: p["containerPort"] for c in pod_spec["containers"]
            for p in c.get("ports", []) if "name" in p}


def test_network_paths(release: Release, hub: Manifest) -> None:
    policies = release.of_kind("NetworkPolicy")
    for path in ("app-pods-network-policy.yaml",):  # applied with the chart (the guide)
        policies += [d for d in yaml.safe_load_all(
            (ROOT / "helm-values" / "manifests" / path).read_text()) if d]
    hub_pod, proxy = template_labels(release, "hub"), template_labels(release, "proxy")
    notebook, desktop = hub["notebook"]["metadata"]["labels"], hub["desktop"]["metadata"][
        "labels"]
    app = hub["app"]["metadata"]["labels"]
    hub_ports = named_ports(release.get("Deployment", "hub")["spec"]["template"]["spec"])
    proxy_ports = named_ports(release.get("Deployment", "proxy")["spec"]["template"]["spec"])
    session_ports = named_ports(hub["notebook"]["spec"])
    assert hub_ports["http"] == 8081 and session_ports["notebook-port"] == 8888
    assert allowed(policies, notebook, hub_pod, 8081, hub_ports), "session -> hub API"
    assert allowed(policies, desktop, hub_pod, 8081, hub_ports), "desktop -> hub API"
    assert allowed(policies, notebook, proxy, 8000, proxy_ports), \
        "session -> proxy (ARCADE_API_URL)"
    assert allowed(policies, proxy, hub_pod, render.SERVICE_PORT, hub_ports), \
        "proxy -> arcade service"
    assert allowed(policies, proxy, notebook, 8888, session_ports), "proxy -> session"
    assert not allowed(policies, notebook, hub_pod, render.SERVICE_PORT, hub_ports), \
        "sessions reach the service through the proxy only"
    # the desktop's own policy (made by the spawner with the pod) admits the user's apps
    desktop_spec = LaunchSpec.model_validate_json(hub["desktop_spec"])
    x11 = build_x11_network_policy(desktop_spec, Owner("desk", "uid-1"))
    assert allowed([*policies, x11], app, desktop, 6000, {}), "app -> desktop X relay"
    assert not allowed([*policies, x11], notebook, desktop, 6000, {}), "others -> X relay"

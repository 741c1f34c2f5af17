"""A checker for the Kubernetes Pod Security Standards (baseline and restricted).

Works on a serialized pod (camelCase dict, as sent to the API). It implements the controls of
https://kubernetes.io/docs/concepts/security/pod-security-standards/ that a pod manifest can
violate; the spawner refuses pods with violations, tests assert there are none.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from arcade_hub.config.kubernetes import PodSecurityLevel

BASELINE_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
})
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t",
                           "container_engine_t"})
RESTRICTED_VOLUMES = frozenset({
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
})
_VOLUME_META = frozenset({"name"})

Obj = Mapping[str, Any]


class PodSecurityViolation(ValueError):
    """A pod does not meet the configured Pod Security level."""

    def __init__(self, level: str, problems: list[str]) -> None:
        self.level = level
        self.problems = problems
        super().__init__(f"pod violates Pod Security {level!r}: " + "; ".join(problems))


def _containers(spec: Obj) -> Iterator[tuple[str, Obj]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(field) or []:
            yield f"{field}[{c.get('name', '?')}]", c


def _ctx(obj: Obj) -> Obj:
    return obj.get("securityContext") or {}


def baseline_violations(pod: Obj) -> list[str]:
    """Violations of the `baseline` level."""
    spec: Obj = pod.get("spec") or {}
    psc = _ctx(spec)
    out: list[str] = []
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(host):
            out.append(f"spec.{host} must not be true")
    contexts: list[tuple[str, Obj]] = [("spec.securityContext", psc)]
    for where, c in _containers(spec):
        csc = _ctx(c)
        contexts.append((f"{where}.securityContext", csc))
        if csc.get("privileged"):
            out.append(f"{where} must not be privileged")
        added = set((csc.get("capabilities") or {}).get("add") or []) - BASELINE_CAPABILITIES
        if added:
            out.append(f"{where} adds capabilities {sorted(added)}")
        if csc.get("procMount") not in (None, "Default"):
            out.append(f"{where} procMount must be Default")
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                out.append(f"{where} must not use hostPort")
    for where, sc in contexts:
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            out.append(f"{where}.windowsOptions.hostProcess must not be true")
        if (sc.get("seccompProfile") or {}).get("type") == "Unconfined":
            out.append(f"{where}.seccompProfile must not be Unconfined")
        if (sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
            out.append(f"{where}.appArmorProfile must not be Unconfined")
        se = sc.get("seLinuxOptions") or {}
        if se.get("type", "") not in SELINUX_TYPES or se.get("user") or se.get("role"):
            out.append(f"{where}.seLinuxOptions is not allowed")
    for sysctl in psc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            out.append(f"sysctl {sysctl.get('name')} is not allowed")
    for vol in spec.get("volumes") or []:
        if "hostPath" in vol:
            out.append(f"volume {vol.get('name')} must not be a hostPath")
    return out


def restricted_violations(pod: Obj) -> list[str]:
    """Violations of the `restricted` level (which includes `baseline`)."""
    spec: Obj = pod.get("spec") or {}
    psc = _ctx(spec)
    out = baseline_violations(pod)
    for vol in spec.get("volumes") or []:
        kinds = set(vol) - _VOLUME_META
        if not kinds <= RESTRICTED_VOLUMES:
            out.append(f"volume {vol.get('name')} has a forbidden type {sorted(kinds)}")
    if psc.get("runAsUser") == 0:
        out.append("spec.securityContext.runAsUser must not be 0")
    pod_non_root = psc.get("runAsNonRoot") is True
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    for where, c in _containers(spec):
        csc = _ctx(c)
        if csc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{where} must set allowPrivilegeEscalation: false")
        non_root = csc.get("runAsNonRoot", pod_non_root)
        if non_root is not True:
            out.append(f"{where} must run with runAsNonRoot: true")
        if csc.get("runAsUser") == 0:
            out.append(f"{where} must not run as uid 0")
        seccomp = (csc.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{where} needs seccompProfile RuntimeDefault or Localhost")
        caps = csc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{where} must drop ALL capabilities")
        extra = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
        if extra:
            out.append(f"{where} may only add NET_BIND_SERVICE, not {sorted(extra)}")
    return out


def violations(pod: Obj, level: PodSecurityLevel = "restricted") -> list[str]:
    """Violations of `level`; `privileged` allows everything."""
    if level == "restricted":
        return restricted_violations(pod)
    if level == "baseline":
        return baseline_violations(pod)
    return []


def check(pod: Obj, level: PodSecurityLevel = "restricted") -> None:
    """Raise `PodSecurityViolation` when `pod` does not meet `level`."""
    problems = violations(pod, level)
    if problems:
        raise PodSecurityViolation(level, problems)

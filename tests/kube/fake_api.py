"""A test-only fake of the Kubernetes API: enough for KubeSpawner, on 127.0.0.1.

- list + watch (with resourceVersion, label and field selectors, timeoutSeconds) for pods,
  events, PVCs, secrets, services, configmaps and networkpolicies;
- create (validated strictly with kubernetes-validate, 422 when invalid, 409 on conflict),
  get, merge-patch, delete (with the garbage collector's cascade to ownerReferences);
- helpers to mark a pod Running, emit events, inject failures and slow responses, and wait on
  a condition; a request counter per verb and resource (and per method and path).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import socket
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kubernetes_validate
from aiohttp import web

Obj = dict[str, Any]

CORE = {
    "pods": "Pod",
    "events": "Event",
    "persistentvolumeclaims": "PersistentVolumeClaim",
    "secrets": "Secret",
    "services": "Service",
    "configmaps": "ConfigMap",
}
NETWORKING = {"networkpolicies": "NetworkPolicy"}
KINDS = {**CORE, **NETWORKING}
API_VERSION = {**dict.fromkeys(CORE, "v1"), **dict.fromkeys(NETWORKING, "networking.k8s.io/v1")}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _lookup(obj: Obj, dotted: str) -> Any:
    value: Any = obj
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _matches(obj: Obj, label_selector: str, field_selector: str) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, label_selector.split(",")):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k) != v:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    for term in filter(None, field_selector.split(",")):
        negate = "!=" in term
        k, v = term.replace("!=", "=").replace("==", "=").split("=", 1)
        if (str(_lookup(obj, k)) == v) == negate:
            return False
    return True


def _merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = _merge_patch(result.get(k), v)
    return result


@dataclass
class Fault:
    verb: str
    resource: str
    status: int = 500
    delay: float = 0.0
    times: int | None = 1  # None: every matching request


class FakeKubeAPI:
    """Start with `await api.start()` (or `async with FakeKubeAPI() as api`)."""

    def __init__(self, validate_version: str = "1.33") -> None:
        self.validate_version = validate_version
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.history: list[tuple[int, str, str, Obj]] = []  # (rv, type, resource, object)
        self.rv = 1
        self.counts: Counter[tuple[str, str]] = Counter()
        self.paths: Counter[tuple[str, str]] = Counter()
        self.faults: list[Fault] = []
        self.rejected: list[tuple[str, str]] = []  # (resource, validation message)
        self.changed = asyncio.Condition()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FakeKubeAPI:
        app = web.Application()
        for prefix in ("/api/v1", "/apis/networking.k8s.io/v1"):
            app.router.add_route("GET", prefix + "/{resource}", self._list)
            app.router.add_route("GET", prefix + "/namespaces/{ns}/{resource}", self._list)
            app.router.add_route("POST", prefix + "/namespaces/{ns}/{resource}", self._create)
            item = prefix + "/namespaces/{ns}/{resource}/{name}"
            app.router.add_route("GET", item, self._get)
            app.router.add_route("PATCH", item, self._patch)
            app.router.add_route("DELETE", item, self._delete)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, handle_signals=False)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()
        return self

    async def stop(self) -> None:
        self._closing.set()
        async with self.changed:
            self.changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeKubeAPI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- state helpers for tests ---------------------------------------------------------
    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        return self.objects.get((resource, namespace, name))

    def list(self, resource: str, namespace: str | None = None) -> list[Obj]:
        return [o for (r, ns, _), o in sorted(self.objects.items())
                if r == resource and namespace in (None, ns)]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10,
                       recheck: float = 0.05) -> None:
        """Wait until `predicate()` holds: re-checked on every change of the fake, and every
        `recheck` seconds for client-side state (e.g. a spawner's reflector)."""
        async def waiter() -> None:
            async with self.changed:
                while not predicate():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.changed.wait(), recheck)
        await asyncio.wait_for(waiter(), timeout)

    def fail(self, verb: str, resource: str, status: int = 500,
             times: int | None = 1) -> None:
        """Answer the next `times` `verb` requests on `resource` with `status`."""
        self.faults.append(Fault(verb, resource, status=status, times=times))

    def slow(self, verb: str, resource: str, seconds: float, times: int | None = 1) -> None:
        """Delay the next `times` `verb` requests on `resource` by `seconds`."""
        self.faults.append(Fault(verb, resource, status=0, delay=seconds, times=times))

    async def put(self, resource: str, namespace: str, obj: Obj, event: str = "ADDED") -> Obj:
        """Store `obj` as the server would (no validation) and notify watchers."""
        meta = obj.setdefault("metadata", {})
        meta["namespace"] = namespace
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        obj.setdefault("kind", KINDS[resource])
        obj.setdefault("apiVersion", API_VERSION[resource])
        key = (resource, namespace, meta["name"])
        if event == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = obj
        self.history.append((self.rv, event, resource, copy.deepcopy(obj)))
        async with self.changed:
            self.changed.notify_all()
        return obj

    async def mark_running(self, namespace: str, name: str, pod_ip: str = "10.0.0.7") -> None:
        pod = copy.deepcopy(self.objects[("pods", namespace, name)])
        statuses = [
            {"name": c["name"], "ready": True, "restartCount": 0, "image": c["image"],
             "imageID": "", "state": {"running": {"startedAt": _now()}}}
            for c in pod["spec"]["containers"]
        ]
        pod["status"] = {"phase": "Running", "podIP": pod_ip, "containerStatuses": statuses}
        await self.put("pods", namespace, pod, "MODIFIED")

    async def mark_terminated(self, namespace: str, name: str, exit_code: int = 0) -> None:
        pod = copy.deepcopy(self.objects[("pods", namespace, name)])
        statuses = [
            {"name": c["name"], "ready": False, "restartCount": 0, "image": c["image"],
             "imageID": "", "state": {"terminated": {"exitCode": exit_code}}}
            for c in pod["spec"]["containers"]
        ]
        pod["status"] = {"phase": "Failed" if exit_code else "Succeeded",
                         "containerStatuses": statuses}
        await self.put("pods", namespace, pod, "MODIFIED")

    async def emit_event(self, namespace: str, pod_name: str, message: str,
                         reason: str = "Scheduled", type_: str = "Normal") -> Obj:
        now = _now()
        event = {
            "metadata": {"name": f"{pod_name}.{uuid.uuid4().hex[:12]}"},
            "involvedObject": {"kind": "Pod", "name": pod_name, "namespace": namespace},
            "reason": reason,
            "message": message,
            "type": type_,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        return await self.put("events", namespace, event)

    # -- HTTP handlers -------------------------------------------------------------------
    def _status(self, code: int, message: str, reason: str = "") -> web.Response:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "code": code}
        return web.json_response(body, status=code)

    async def _fault(self, verb: str, request: web.Request) -> web.Response | None:
        resource = request.match_info["resource"]
        self.counts[(verb, resource)] += 1
        self.paths[(request.method, request.path)] += 1
        if resource not in KINDS:
            return self._status(404, f"the server could not find resource {resource}", "NotFound")
        for fault in list(self.faults):
            if fault.verb != verb or fault.resource != resource:
                continue
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
            if fault.delay:
                await asyncio.sleep(fault.delay)  # simulated latency, not a test wait
            if fault.status:
                return self._status(fault.status, f"injected failure for {verb} {resource}",
                                    "InternalError")
            break
        return None

    async def _list(self, request: web.Request) -> web.StreamResponse:
        watching = request.query.get("watch") in ("1", "true", "True")
        failed = await self._fault("watch" if watching else "list", request)
        if failed:
            return failed
        resource = request.match_info["resource"]
        ns = request.match_info.get("ns")
        labels = request.query.get("labelSelector", "")
        fields = request.query.get("fieldSelector", "")
        if watching:
            return await self._watch(request, resource, ns, labels, fields)
        items = [o for o in self.list(resource, ns) if _matches(o, labels, fields)]
        return web.json_response({
            "kind": KINDS[resource] + "List", "apiVersion": API_VERSION[resource],
            "metadata": {"resourceVersion": str(self.rv)}, "items": items,
        })

    async def _watch(self, request: web.Request, resource: str, ns: str | None,
                     labels: str, fields: str) -> web.StreamResponse:
        since = int(request.query.get("resourceVersion") or self.rv)
        timeout = float(request.query.get("timeoutSeconds") or 30)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        sent = since
        while not self._closing.is_set():
            for rv, kind, res, obj in [h for h in self.history if h[0] > sent]:
                sent = rv
                if res != resource or ns not in (None, obj["metadata"]["namespace"]):
                    continue
                if _matches(obj, labels, fields):
                    line = json.dumps({"type": kind, "object": obj}) + "\n"
                    await response.write(line.encode())
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            newest = sent

            def moved(newest: int = newest) -> bool:
                return self.rv > newest or self._closing.is_set()

            try:
                async with self.changed:
                    await asyncio.wait_for(self.changed.wait_for(moved), remaining)
            except TimeoutError:
                break
        with contextlib.suppress(ConnectionResetError):  # the client went away first
            await response.write_eof()
        return response

    async def _body(self, request: web.Request) -> Obj:
        data: Obj = await request.json()
        return data

    async def _create(self, request: web.Request) -> web.Response:
        failed = await self._fault("create", request)
        if failed:
            return failed
        resource, ns = request.match_info["resource"], request.match_info["ns"]
        obj = await self._body(request)
        obj.setdefault("kind", KINDS[resource])
        obj.setdefault("apiVersion", API_VERSION[resource])
        try:
            kubernetes_validate.validate(obj, self.validate_version, strict=True)
        except kubernetes_validate.ValidationError as e:
            message = f"{KINDS[resource]} is invalid: {'.'.join(map(str, e.path))}: {e.message}"
            self.rejected.append((resource, message))
            return self._status(422, message, "Invalid")
        name = obj.get("metadata", {}).get("name")
        if not name:
            return self._status(422, "metadata.name: Required value", "Invalid")
        if (resource, ns, name) in self.objects:
            return self._status(409, f'{resource} "{name}" already exists', "AlreadyExists")
        if resource == "pods":
            obj["status"] = {"phase": "Pending"}
        stored = await self.put(resource, ns, obj)
        return web.json_response(stored, status=201)

    async def _get(self, request: web.Request) -> web.Response:
        failed = await self._fault("get", request)
        if failed:
            return failed
        key = (request.match_info["resource"], request.match_info["ns"],
               request.match_info["name"])
        obj = self.objects.get(key)
        if obj is None:
            return self._status(404, f'{key[0]} "{key[2]}" not found', "NotFound")
        return web.json_response(obj)

    async def _patch(self, request: web.Request) -> web.Response:
        failed = await self._fault("patch", request)
        if failed:
            return failed
        resource, ns, name = (request.match_info["resource"], request.match_info["ns"],
                              request.match_info["name"])
        obj = self.objects.get((resource, ns, name))
        if obj is None:
            return self._status(404, f'{resource} "{name}" not found', "NotFound")
        patch = await request.json()
        if not isinstance(patch, dict):
            return self._status(415, "only merge patches are supported", "UnsupportedMediaType")
        patched = _merge_patch(obj, patch)
        patched["metadata"]["name"] = name
        stored = await self.put(resource, ns, patched, "MODIFIED")
        return web.json_response(stored)

    async def _delete(self, request: web.Request) -> web.Response:
        failed = await self._fault("delete", request)
        if failed:
            return failed
        resource, ns, name = (request.match_info["resource"], request.match_info["ns"],
                              request.match_info["name"])
        obj = self.objects.get((resource, ns, name))
        if obj is None:
            return self._status(404, f'{resource} "{name}" not found', "NotFound")
        stored = await self.remove(resource, ns, name)
        return web.json_response(stored)

    async def remove(self, resource: str, namespace: str, name: str) -> Obj:
        """Delete an object, then (as the garbage collector does) everything it owns."""
        gone = copy.deepcopy(self.objects[(resource, namespace, name)])
        gone["metadata"]["deletionTimestamp"] = _now()
        stored = await self.put(resource, namespace, gone, "DELETED")
        uid = gone["metadata"]["uid"]
        for (r, ns, n), obj in list(self.objects.items()):
            refs = obj["metadata"].get("ownerReferences") or []
            if ns == namespace and any(ref.get("uid") == uid for ref in refs):
                await self.remove(r, ns, n)
        return stored

"""A test-only fake of the Kubernetes API: enough for KubeSpawner, on 127.0.0.1.

- list + watch (with resourceVersion, label and field selectors, timeoutSeconds) for pods,
  events, PVCs, secrets, services, configmaps, networkpolicies and batch/v1 Jobs;
- create (validated strictly with kubernetes-validate, 422 when invalid, 409 on conflict),
  get, merge-patch (Jobs are validated again after a patch), delete with `propagationPolicy`
  (the garbage collector's cascade to ownerReferences: Foreground deletes the dependents
  first, Background after, Orphan not at all; Jobs default to Orphan, as on a real server);
- `pods/{name}/log` (what `write_log` wrote; 400 while the container waits to start);
- helpers to mark a pod Running or terminated, emit events, play the Job controller (`run_job`
  makes a pod per completion index, terminating pods updates the Job's status,
  `expire_job` stops it at its deadline), inject failures and slow responses, and wait on a
  condition; a request counter per verb and resource (and per method and path).
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
BATCH = {"jobs": "Job"}
KINDS = {**CORE, **NETWORKING, **BATCH}
API_VERSION = {**dict.fromkeys(CORE, "v1"), **dict.fromkeys(NETWORKING, "networking.k8s.io/v1"),
               **dict.fromkeys(BATCH, "batch/v1")}
INDEX = "batch.kubernetes.io/job-completion-index"
DEFAULT_PROPAGATION = {"jobs": "Orphan"}
"""batch/v1 Jobs keep their pods when deleted without a propagationPolicy."""


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


def kubelet_expand(value: str, env: dict[str, str]) -> str:
    """What the kubelet does to a container's command, args and env values: `$(NAME)` of a
    variable defined before becomes its value (others stay as written), `$$` becomes `$`."""
    out = []
    i = 0
    while i < len(value):
        if value[i] != "$" or i + 1 == len(value):
            out.append(value[i])
            i += 1
        elif value[i + 1] == "$":
            out.append("$")
            i += 2
        elif value[i + 1] == "(":
            end = value.find(")", i + 2)
            if end < 0:
                out.append("$(")
                i += 2
            else:
                name = value[i + 2:end]
                out.append(env[name] if name in env else value[i:end + 1])
                i = end + 1
        else:
            out.append("$" + value[i + 1])
            i += 2
    return "".join(out)


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
        self.delayed = 0  # requests held by a `slow` fault (their client may have given up)
        self.rejected: list[tuple[str, str]] = []  # (resource, validation message)
        self.deletions: list[tuple[str, str, str]] = []  # (resource, name, propagationPolicy)
        self.logs: dict[tuple[str, str], str] = {}  # (namespace, pod) -> its log
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
        app.router.add_route("GET", "/api/v1/namespaces/{ns}/pods/{name}/log", self._log)
        for prefix in ("/api/v1", "/apis/networking.k8s.io/v1", "/apis/batch/v1"):
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

    async def mark_terminated(self, namespace: str, name: str, exit_code: int = 0,
                              reason: str | None = None) -> None:
        """The pod's containers ended with `exit_code` (and the Job owning it, if any, is
        brought up to date as the Job controller would)."""
        pod = copy.deepcopy(self.objects[("pods", namespace, name)])
        now = _now()
        terminated: Obj = {"exitCode": exit_code, "finishedAt": now, "startedAt": now,
                           "reason": reason or ("Error" if exit_code else "Completed")}
        statuses = [
            {"name": c["name"], "ready": False, "restartCount": 0, "image": c["image"],
             "imageID": "", "state": {"terminated": terminated}}
            for c in pod["spec"]["containers"]
        ]
        pod["status"] = {"phase": "Failed" if exit_code else "Succeeded",
                         "containerStatuses": statuses}
        await self.put("pods", namespace, pod, "MODIFIED")
        await self._sync_owner_job(namespace, pod)

    async def mark_waiting(self, namespace: str, name: str, reason: str, message: str) -> None:
        """The pod's containers wait, e.g. `ImagePullBackOff`."""
        pod = copy.deepcopy(self.objects[("pods", namespace, name)])
        statuses = [
            {"name": c["name"], "ready": False, "restartCount": 0, "image": c["image"],
             "imageID": "", "state": {"waiting": {"reason": reason, "message": message}}}
            for c in pod["spec"]["containers"]
        ]
        pod["status"] = {"phase": "Pending", "containerStatuses": statuses}
        await self.put("pods", namespace, pod, "MODIFIED")

    async def write_log(self, namespace: str, pod: str, text: str) -> None:
        """Append `text` to the pod's log (what its containers printed)."""
        self.logs[(namespace, pod)] = self.logs.get((namespace, pod), "") + text
        async with self.changed:
            self.changed.notify_all()

    # -- the Job controller, played by tests ---------------------------------------------
    async def run_job(self, namespace: str, name: str) -> list[str]:
        """Create the Job's pods, one per completion index, from its template (each checked
        as strictly as any created object); their names in index order."""
        job = self.objects[("jobs", namespace, name)]
        spec, template = job["spec"], job["spec"]["template"]
        uid = job["metadata"]["uid"]
        names = []
        for index in range(spec.get("completions", 1)):
            pod_name = f"{name}-{index}-{uuid.uuid4().hex[:5]}"
            meta = copy.deepcopy(template.get("metadata") or {})
            meta["name"] = pod_name
            meta["labels"] = {**meta.get("labels", {}), "batch.kubernetes.io/job-name": name,
                              "job-name": name, "batch.kubernetes.io/controller-uid": uid,
                              "controller-uid": uid, INDEX: str(index)}
            meta["annotations"] = {**meta.get("annotations", {}), INDEX: str(index)}
            meta["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": name,
                                        "uid": uid, "controller": True,
                                        "blockOwnerDeletion": True}]
            pod_spec = copy.deepcopy(template["spec"])
            for c in pod_spec["containers"]:
                c["env"] = [*c.get("env", []), {"name": "JOB_COMPLETION_INDEX", "valueFrom": {
                    "fieldRef": {"fieldPath": f"metadata.annotations['{INDEX}']"}}}]
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec}
            try:
                kubernetes_validate.validate(pod, self.validate_version, strict=True)
            except kubernetes_validate.ValidationError as e:
                raise AssertionError(f"the Job's pod template is invalid: {e.message}") from e
            pod["status"] = {"phase": "Pending"}
            await self.put("pods", namespace, pod)
            names.append(pod_name)
        job = copy.deepcopy(job)
        job["status"] = {**job.get("status", {}), "startTime": _now(), "active": len(names)}
        await self.put("jobs", namespace, job, "MODIFIED")
        return names

    def job_pods(self, namespace: str, name: str) -> list[Obj]:
        """The Job's pods, by completion index."""
        pods = [p for p in self.list("pods", namespace)
                if (p["metadata"].get("labels") or {}).get("job-name") == name]
        return sorted(pods, key=lambda p: int(p["metadata"]["annotations"][INDEX]))

    async def expire_job(self, namespace: str, name: str) -> list[str]:
        """What the Job controller does at `activeDeadlineSeconds`: delete the pods that
        still run (they terminate gracefully: `finish_deletion` removes them) and fail the
        Job with reason DeadlineExceeded. The names of those pods."""
        stopping = []
        for pod in self.job_pods(namespace, name):
            if pod.get("status", {}).get("phase") not in ("Succeeded", "Failed"):
                pod = copy.deepcopy(pod)
                pod["metadata"]["deletionTimestamp"] = _now()
                pod["metadata"]["deletionGracePeriodSeconds"] = 30
                await self.put("pods", namespace, pod, "MODIFIED")
                stopping.append(pod["metadata"]["name"])
        job = copy.deepcopy(self.objects[("jobs", namespace, name)])
        status = job.setdefault("status", {})
        status["active"] = 0
        status["conditions"] = [{"type": "Failed", "status": "True", "reason":
                                 "DeadlineExceeded", "lastTransitionTime": _now(),
                                 "message": "Job was active longer than specified deadline"}]
        await self.put("jobs", namespace, job, "MODIFIED")
        return stopping

    async def finish_deletion(self, namespace: str, pod: str) -> None:
        """A pod being deleted has stopped: it goes."""
        await self.remove("pods", namespace, pod)

    def log_reads(self, namespace: str, pod: str) -> int:
        """How often the pod's log was asked for."""
        return self.paths[("GET", f"/api/v1/namespaces/{namespace}/pods/{pod}/log")]

    async def _sync_owner_job(self, namespace: str, pod: Obj) -> None:
        for ref in pod["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "Job" and ("jobs", namespace, ref["name"]) in self.objects:
                await self._sync_job(namespace, ref["name"])

    async def _sync_job(self, namespace: str, name: str) -> None:
        job = copy.deepcopy(self.objects[("jobs", namespace, name)])
        done: dict[int, bool] = {}
        active = 0
        for pod in self.job_pods(namespace, name):
            phase = pod.get("status", {}).get("phase")
            index = int(pod["metadata"]["annotations"][INDEX])
            if phase in ("Succeeded", "Failed"):
                done[index] = phase == "Succeeded"
            else:
                active += 1

        def ranges(indexes: list[int]) -> str:
            return ",".join(str(i) for i in sorted(indexes))

        status = job.setdefault("status", {})
        status.update(active=active, succeeded=sum(done.values()),
                      failed=len(done) - sum(done.values()),
                      completedIndexes=ranges([i for i, ok in done.items() if ok]))
        if "backoffLimitPerIndex" in job["spec"]:
            status["failedIndexes"] = ranges([i for i, ok in done.items() if not ok])
        if len(done) == job["spec"].get("completions", 1):
            now = _now()
            if all(done.values()):
                status["completionTime"] = now
                status["conditions"] = [{"type": "Complete", "status": "True",
                                         "lastTransitionTime": now}]
            else:
                status["conditions"] = [{"type": "Failed", "status": "True",
                                         "reason": "FailedIndexes", "lastTransitionTime": now,
                                         "message": "Job has failed indexes"}]
        await self.put("jobs", namespace, job, "MODIFIED")

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
                self.delayed += 1
                try:
                    await asyncio.sleep(fault.delay)  # simulated latency, not a test wait
                finally:
                    self.delayed -= 1
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
                    try:
                        await response.write(line.encode())
                    except ConnectionResetError:  # the client went away
                        return response
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
        obj = await self._body(request)  # received in full, even if answered slowly
        failed = await self._fault("create", request)
        if failed:
            return failed
        resource, ns = request.match_info["resource"], request.match_info["ns"]
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
        if resource == "jobs":
            try:
                kubernetes_validate.validate(patched, self.validate_version, strict=True)
            except kubernetes_validate.ValidationError as e:
                message = f"Job is invalid: {'.'.join(map(str, e.path))}: {e.message}"
                self.rejected.append((resource, message))
                return self._status(422, message, "Invalid")
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
        policy = request.query.get("propagationPolicy")
        if request.can_read_body:
            with contextlib.suppress(ValueError):
                body = await request.json()
                if isinstance(body, dict):
                    policy = body.get("propagationPolicy") or policy
        policy = policy or DEFAULT_PROPAGATION.get(resource, "Background")
        if policy not in ("Foreground", "Background", "Orphan"):
            return self._status(400, f"unknown propagationPolicy {policy}", "BadRequest")
        self.deletions.append((resource, name, policy))
        stored = await self.remove(resource, ns, name, policy)
        return web.json_response(stored)

    async def remove(self, resource: str, namespace: str, name: str,
                     propagation: str = "Background") -> Obj:
        """Delete an object and (as the garbage collector does) everything it owns: after it
        (Background), before it (Foreground, which first marks it as being deleted), or not
        at all (Orphan)."""
        gone = copy.deepcopy(self.objects[(resource, namespace, name)])
        gone["metadata"]["deletionTimestamp"] = _now()
        uid = gone["metadata"]["uid"]
        dependents = [
            (r, n) for (r, ns, n), obj in list(self.objects.items())
            if ns == namespace
            and any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])
        ]
        if propagation == "Foreground":
            gone["metadata"]["finalizers"] = ["foregroundDeletion"]
            await self.put(resource, namespace, copy.deepcopy(gone), "MODIFIED")
            for r, n in dependents:
                if (r, namespace, n) in self.objects:
                    await self.remove(r, namespace, n)
            gone["metadata"].pop("finalizers")
        stored = await self.put(resource, namespace, gone, "DELETED")
        if propagation == "Background":
            for r, n in dependents:
                if (r, namespace, n) in self.objects:
                    await self.remove(r, namespace, n)
        if resource == "pods":
            self.logs.pop((namespace, name), None)
        return stored

    async def _log(self, request: web.Request) -> web.Response:
        self.counts[("log", "pods")] += 1
        self.paths[(request.method, request.path)] += 1
        for fault in list(self.faults):
            if fault.verb == "log" and fault.resource == "pods":
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                return self._status(fault.status, "injected failure for log pods",
                                    "InternalError")
        ns, name = request.match_info["ns"], request.match_info["name"]
        pod = self.objects.get(("pods", ns, name))
        if pod is None:
            return self._status(404, f'pods "{name}" not found', "NotFound")
        container = request.query.get("container") or pod["spec"]["containers"][0]["name"]
        if container not in [c["name"] for c in pod["spec"]["containers"]]:
            return self._status(400, f"container {container} is not valid for pod {name}",
                                "BadRequest")
        states = [s.get("state", {}) for s in pod.get("status", {}).get("containerStatuses", [])
                  if s["name"] == container]
        if not any("running" in s or "terminated" in s for s in states):
            return self._status(400, f'container "{container}" in pod "{name}" is waiting to '
                                "start: ContainerCreating", "BadRequest")
        text = self.logs.get((ns, name), "")
        if "limitBytes" in request.query:
            text = text.encode()[:int(request.query["limitBytes"])].decode(errors="ignore")
        return web.Response(text=text, content_type="text/plain")

"""Every entry point that launches goes through `plan()`.

The entry points are enumerated from the code itself: the arcade service's routes whose
handlers change something, and the spawners' `apply_user_options` (the launch form and the
hub's REST API both arrive there). Each must be listed below with the planner purpose it
asks for, and its code must reach `arcade_hub.launch.planner.plan` (a call graph over
arcade_hub, by name). A new route or spawner that launches without planning fails here; so
does an entry point nobody listed. And no module outside the planner makes a `LaunchSpec`.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path
from types import SimpleNamespace

from jupyterhub.services.auth import HubOAuth
from tornado.web import RequestHandler

import arcade_hub
from arcade_hub.service.app import make_app
from arcade_hub.service.settings import ServiceSettings
from arcade_hub.spawners.mixin import ArcadeSpawnerMixin

PACKAGE = Path(arcade_hub.__file__).parent
STATE_CHANGING = ("post", "put", "patch", "delete")

# handler class -> (methods that launch, the planner's purpose), or None: changes something
# without launching (its reason given)
ENTRY_POINTS: dict[str, tuple[tuple[str, ...], str] | str] = {
    "SessionListHandler": (("post",), "job (headless) or session (through the hub)"),
    "AppsHandler": (("post",), "app"),
    "BatchPage": (("post",), "job"),
    "JobListHandler": (("post",), "job (UWS create; held jobs are planned now and at RUN)"),
    "PhaseHandler": (("post",), "job (UWS PHASE=RUN of a held job; ABORT launches nothing)"),
    "SessionHandler": "renews or deletes a session or job: launches nothing",
    "JobHandler": "UWS: deletes a job: launches nothing",
    "TimeHandler": "UWS: sets a job's destruction time or execution duration",
    "TokenHandler": "IVOA SSO login: the hub makes a token from a password",
    "JobActionPage": "renews or terminates from the job list: launches nothing",
    "HubOAuthCallbackHandler": "completes the service's OAuth login",
}
SPAWNER_ENTRY = ("ArcadeSpawnerMixin", "plan_launch", "session (the form and the hub REST API)")
"""JupyterHub runs `apply_user_options` (the mixin's default: `plan_launch`) for form and REST
spawns alike; interactive sessions of the sessions API go through the hub's REST API."""


def called_names(node: ast.AST) -> set[str]:
    """Names of the functions and methods `node` calls itself."""
    found = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            func = sub.func
            if isinstance(func, ast.Attribute):
                found.add(func.attr)
            elif isinstance(func, ast.Name):
                found.add(func.id)
    return found


PLANS = {"plan"}
DELEGATES: dict[tuple[str, str], set[str]] = {
    # what an entry point may call instead of plan() itself, and what that must call
    ("arcade_hub.service.sessions:Sessions", "create"): {"_submit", "_hold", "start_server"},
    ("arcade_hub.service.sessions:Sessions", "_submit"): PLANS,
    ("arcade_hub.service.sessions:Sessions", "_hold"): PLANS,
    ("arcade_hub.service.sessions:Sessions", "run"): {"_submit"},
    ("arcade_hub.service.apps:AppsHandler", "_plan"): PLANS,
}
"""`Sessions.create` sends interactive sessions to the hub's REST API (`start_server`), where
the spawner plans them (SPAWNER_ENTRY), and plans jobs in `_submit` (or, held for UWS, in
`_hold`, and again in `_submit` when `run` starts them)."""


def resolve(path: str) -> type:
    module, name = path.split(":")
    obj: type = getattr(__import__(module, fromlist=[name]), name)
    return obj


def method_node(cls: type, name: str) -> ast.AST:
    return ast.parse(textwrap.dedent(inspect.getsource(getattr(cls, name))))


def service_handlers() -> dict[str, type[RequestHandler]]:
    settings = ServiceSettings(
        name="arcade", hub_api_url="http://127.0.0.1:1/hub/api", api_token="x" * 32,
        prefix="/services/arcade/", port=1, data_dir=Path("/nonexistent"), config_file="",
    )  # fmt: skip
    try:
        app = make_app(settings, SimpleNamespace(hub=None))  # type: ignore[arg-type]
    finally:
        HubOAuth.clear_instance()  # the service's singleton: others' tests make their own
    found: dict[str, type[RequestHandler]] = {}
    for rule in app.wildcard_router.rules:
        target = rule.target
        if isinstance(target, type) and issubclass(target, RequestHandler):
            found[target.__name__] = target
    return found


def test_every_service_route_that_changes_something_is_listed() -> None:
    handlers = service_handlers()
    changing = {
        name for name, cls in handlers.items()
        if any(m in vars(cls) or any(m in vars(b) for b in cls.__mro__[1:-1]
                                     if b.__module__.startswith("arcade_hub"))
               for m in STATE_CHANGING)
    }  # fmt: skip
    unlisted = changing - set(ENTRY_POINTS)
    assert not unlisted, (
        f"{sorted(unlisted)} change something: list each in ENTRY_POINTS (and make it plan "
        "through arcade_hub.launch.planner.plan if it launches)"
    )
    assert set(ENTRY_POINTS) - set(handlers) == set(), "ENTRY_POINTS lists a route that is gone"


def test_every_entry_point_that_launches_calls_plan() -> None:
    """Each launching method calls `plan()` itself or one of DELEGATES, each of which calls
    what it must: checked call by call, so that an entry point that stops planning fails."""
    for (owner, method), must in DELEGATES.items():
        calls = called_names(method_node(resolve(owner), method))
        assert calls & must, f"{owner}.{method} calls none of {sorted(must)}"
    allowed = PLANS | {method for _, method in DELEGATES}
    handlers = service_handlers()
    missing = []
    for name, listed in ENTRY_POINTS.items():
        if isinstance(listed, str):
            continue
        for method in listed[0]:
            if not called_names(method_node(handlers[name], method)) & allowed:
                missing.append(f"{name}.{method}")
    cls_name, method, _ = SPAWNER_ENTRY
    if not called_names(method_node(ArcadeSpawnerMixin, method)) & PLANS:
        missing.append(f"{cls_name}.{method}")
    assert not missing, f"these launch without arcade_hub.launch.planner.plan: {missing}"


def test_routes_that_do_not_launch_start_nothing() -> None:
    """A route listed as not launching calls nothing that starts a session, app or job."""
    starters = {"plan", "_submit", "start_server", "launch_app", "submit", "_plan"}
    handlers = service_handlers()
    for name, listed in ENTRY_POINTS.items():
        if not isinstance(listed, str) or name not in handlers:
            continue
        for method in STATE_CHANGING:
            if method in vars(handlers[name]):
                calls = called_names(method_node(handlers[name], method))
                assert not calls & starters, f"{name}.{method} starts something: list it"


def test_the_spawners_plan_in_apply_user_options() -> None:
    """The hook JupyterHub calls for every spawn, form and REST alike, is `plan_launch`."""
    hook = ArcadeSpawnerMixin.__dict__["_default_apply_user_options"]
    assert "plan_launch" in inspect.getsource(hook.func)


def test_only_the_planner_makes_launch_specs() -> None:
    makers = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("launch/"):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
                node.func.id == "LaunchSpec"
            ):
                makers.append(f"{relative}:{node.lineno}")
    assert not makers, f"LaunchSpec made outside arcade_hub/launch/: {makers}"

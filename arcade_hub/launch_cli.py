"""`arcade-launch APP`: start a desktop app on this desktop session, as the menu does.

Runs inside a session; uses the session's own token and the platform API. `--list` prints
what can be launched.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

import httpx

from arcade_hub.desktop.menu import apps_endpoint


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="arcade-launch", description=__doc__.splitlines()[0])
    p.add_argument("app", nargs="?", help="catalogue name of the app, e.g. xterm or casa-6.7")
    p.add_argument("--list", action="store_true", help="list the apps that can be launched")
    p.add_argument("--json", action="store_true", help="with --list: the list as JSON")
    args = p.parse_args(argv)
    try:
        url, token = apps_endpoint(os.environ)
    except KeyError as e:
        print(
            f"arcade-launch: {e.args[0]} is not set: run this inside an Arcade session",
            file=sys.stderr,
        )
        return 2
    headers = {"Authorization": f"token {token}"}
    try:
        if args.list or not args.app:
            r = httpx.get(url, headers=headers, timeout=30)
        else:
            r = httpx.post(url, headers=headers, json={"app": args.app}, timeout=30)
    except httpx.HTTPError as e:
        print(f"arcade-launch: cannot reach the platform at {url}: {e}", file=sys.stderr)
        return 1
    data = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    if r.status_code >= 400:
        message = data.get("message") or r.reason_phrase
        print(f"arcade-launch: {message}", file=sys.stderr)
        _show(message)
        return 1
    if "apps" in data and args.json:
        print(json.dumps(data["apps"]))
    elif "apps" in data:
        for app in data["apps"]:
            why = "" if app.get("available", True) else f"  (unavailable: {app.get('reason')})"
            print(f"{app['name']:<16} {app['title']}{why}")
    else:
        # a process on one machine, a pod on Kubernetes
        where = f"pod {data['pod']}" if "pod" in data else f"pid {data['pid']}"
        print(f"Launched {data['title']} on display {data['display']} ({where})")
    return 0


def _show(message: str) -> None:
    """Started from the desktop's menu (no terminal to read stderr): show the refusal in a
    small window on the desktop."""
    if os.environ.get("DISPLAY") and not sys.stderr.isatty() and shutil.which("xmessage"):
        subprocess.Popen(
            ["xmessage", "-center", "-fn", "10x20", f"Cannot open the app: {message}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())

"""`arcade-hub`: run the embedded platform and inspect its configuration."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from arcade_hub import contract
from arcade_hub import render_values as render_values_cli
from arcade_hub.apps import cli as apps_cli
from arcade_hub.apps import datasets_cli
from arcade_hub.apps.demo import DEMO_ID
from arcade_hub.backends import NotEmbedded, require_embedded
from arcade_hub.config import ConfigError, PlatformConfig, load_config
from arcade_hub.config.storage import default_data_dir
from arcade_hub.hub_config import RunOptions, SetupError, shared_password
from arcade_hub.images.conformance import cli as image_cli
from arcade_hub.launch.storage import expand
from arcade_hub.local.availability import LocalAvailability, local_search_path


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    command = args.command or "run"
    try:
        if command == "run":
            return _run(args)
        if command == "check-config":
            return _check_config(args)
        if command == "catalogue":
            return _catalogue(args)
        if command == "apps":
            return apps_cli.run(args)
        if command == "datasets":
            return datasets_cli.run(args)
        if command == "render-values":
            return render_values_cli.run(args)
        if command == "image":
            return image_cli.run(args)
        if command == "config-reference":
            from arcade_hub.reference import config_reference

            sys.stdout.write(config_reference())
            return 0
    except (ConfigError, SetupError) as e:
        print(f"arcade-hub: {e}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {command!r}")
    return 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="arcade-hub",
        description="Arcade Hub: notebooks, desktops, CASA and batch jobs for astronomers.",
    )
    sub = p.add_subparsers(dest="command")
    run = sub.add_parser("run", help="start the embedded platform (the default command)")
    _run_options(p)
    _run_options(run, defaults=False)  # options may come before or after `run`
    check = sub.add_parser("check-config", help="validate a platform document")
    check.add_argument("file", help="the YAML document to check")
    cat = sub.add_parser("catalogue", help="print the catalogue the configuration offers")
    cat.add_argument("--config", metavar="FILE", help="platform document (default: built-in)")
    cat.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sub.add_parser("config-reference", help="print the configuration reference (Markdown)")
    apps_cli.add_parser(sub)
    datasets_cli.add_parser(sub)
    render_values_cli.add_parser(sub)
    image_cli.add_parser(sub)
    return p


def _run_options(p: argparse.ArgumentParser, defaults: bool = True) -> None:
    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    p.add_argument("--config", metavar="FILE", default=default(None),
                   help="platform document (default: built-in)")
    p.add_argument("--data-dir", metavar="DIR", type=Path, default=default(None),
                   help="state directory")
    p.add_argument("--port", type=int, default=default(8000),
                   help="port to serve on (default 8000)")
    p.add_argument("--ip", default=default("127.0.0.1"),
                   help="address to serve on (default 127.0.0.1)")


def _check_config(args: argparse.Namespace) -> int:
    config = load_config(args.file)
    print(
        f"{args.file}: OK — {len(config.catalogue)} catalogue entries, "
        f"{len(config.datasets)} datasets, backend {config.backend.kind}"
    )
    return 0


def _catalogue(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    rows: list[dict[str, Any]] = [
        {
            "name": e.name,
            "kind": e.kind.value,
            "title": e.title,
            "image": e.image,
            "versions": e.versions,
            "unavailable": LocalAvailability(path=local_search_path()).unavailable_reason(e),
        }
        for e in config.catalogue
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'NAME':<12} {'KIND':<12} {'VERSIONS':<10} {'TITLE':<22} IMAGE")
    for r in rows:
        versions = ",".join(f"{k} {v}" for k, v in r["versions"].items()) or "-"
        mark = "" if r["unavailable"] is None else "  (unavailable here)"
        print(f"{r['name']:<12} {r['kind']:<12} {versions:<10} {r['title']:<22} {r['image']}{mark}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from jupyterhub.app import JupyterHub

    from arcade_hub.hub_config import hub_config

    config = load_config(args.config)
    data_dir: Path = (args.data_dir or default_data_dir()).resolve()
    os.umask(0o077)  # hub state (database, secrets) is private; session trees set their modes
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o711)
    opts = RunOptions(
        data_dir=data_dir,
        config_file=str(Path(args.config).resolve()) if args.config else None,
        ip=args.ip,
        port=args.port,
        admin_token=os.environ.get(contract.ADMIN_TOKEN) or None,
    )
    _check_sessions_can_run(config)
    _claim_uids(config, data_dir)
    c = hub_config(config, opts)
    _create_managed_datasets(config, data_dir)
    _banner(config, opts, shared_password(config, data_dir))
    os.chdir(data_dir)
    # Started in the background by a shell (`arcade-hub run &`), SIGINT arrives ignored and
    # every child would inherit that. JupyterHub stops services and sessions with SIGINT
    # first, and would then wait out each one's interrupt timeout before SIGTERM.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    JupyterHub.instance(config=c)  # launch_instance() picks up this singleton
    JupyterHub.launch_instance(argv=[])
    return 0


def _check_sessions_can_run(config: PlatformConfig) -> None:
    """Fail at start, not at the first spawn, when unprivileged session users cannot run us."""
    from arcade_hub.local.identity import Identity
    from arcade_hub.local.paths import unreachable_message, unreachable_reason
    from arcade_hub.spawners.local import ArcadeLocalSpawner

    local = config.backend.local
    try:
        require_embedded(config)
    except NotEmbedded as e:
        raise SetupError(str(e)) from None
    if local.run_as == "per-user" and os.geteuid() != 0:
        raise SetupError(
            "backend.local.run_as is per-user, which needs root to switch uids; run as root "
            "or set run_as: auto"
        )
    if os.geteuid() != 0 or local.run_as == "hub-user":
        return
    probe = Identity(uid=local.uid_range[0], gid=local.uid_range[0])
    reason = unreachable_reason(ArcadeLocalSpawner.singleuser_command(), probe)
    if reason:
        raise SetupError(unreachable_message(reason))


def _claim_uids(config: PlatformConfig, data_dir: Path) -> None:
    """Per-user uids of this platform are its own on this machine (see `claim_uid_range`)."""
    from arcade_hub.local.identity import UID_CLAIMS, UidRangeTaken, claim_uid_range
    from arcade_hub.local.session import per_user

    if not per_user(config):
        return
    claims = Path(os.environ.get(contract.UID_CLAIMS) or UID_CLAIMS)
    try:
        claim_uid_range(data_dir, config.backend.local.uid_range, claims)
    except UidRangeTaken as e:
        raise SetupError(str(e)) from None


def _create_managed_datasets(config: PlatformConfig, data_dir: Path) -> None:
    """Datasets placed inside the data directory (like the default's demo) are created empty."""
    for d in config.datasets:
        path = expand(d.path, data_dir)
        if path.is_relative_to(data_dir) and not path.exists():
            path.mkdir(parents=True, mode=0o755)
            path.chmod(0o755)
            path.parent.chmod(0o755)
            readme = path / "README.txt"
            make = (
                "Make it with `arcade-hub datasets demo`."
                if d.id == DEMO_ID
                else f"Put the dataset's files in {path}."
            )
            readme.write_text(f"{d.title}\n\n{d.description}\n{make}\n")
            readme.chmod(0o644)


def _banner(config: PlatformConfig, opts: RunOptions, password: str) -> None:
    host = "localhost" if opts.ip in ("127.0.0.1", "0.0.0.0", "") else opts.ip
    method = config.auth.method
    if method.type != "shared-password":
        login = f"  Log in through the identity provider {method.issuer}\n"
    elif sys.stdout.isatty():
        login = (
            f"  Log in with any username and the password: {password}\n"
            f"  (kept in {expand(method.password_file, opts.data_dir)})\n"
        )
    else:  # a log (the systemd journal, a file): no secrets in logs
        login = (
            "  Log in with any username and the password kept in "
            f"{expand(method.password_file, opts.data_dir)}\n"
        )
    print(
        f"\n  {config.title} is starting at http://{host}:{opts.port}/\n"
        + login
        + (
            f"  Admins ({', '.join(config.auth.admin_users)}) log in with the password in "
            f"{opts.data_dir / 'admin-password'}\n"
            if config.auth.admin_users
            else ""
        )
        + f"  Data directory: {opts.data_dir}\n",
        flush=True,
    )

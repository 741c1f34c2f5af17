"""`arcade-hub apps install|uninstall|list`: wire with `add_parser(sub)` and `run(args)`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from arcade_hub.apps.install import install, list_installed, uninstall
from arcade_hub.apps.layout import (
    AppsError,
    IndexOptions,
    default_bin_dir,
    default_kernel_dir,
    default_prefix,
    default_python,
)
from arcade_hub.apps.registry import APPS


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add `apps` and its subcommands to the `arcade-hub` command line."""
    apps = subparsers.add_parser(
        "apps",
        help="install application environments (CASA versions) for the embedded backend",
        description="Install, list and remove application environments that sessions of the "
        f"embedded backend run. Known: {', '.join(a.name for a in APPS)}.",
    )
    sub = apps.add_subparsers(dest="apps_command", metavar="{install,uninstall,list}")
    sub.required = True
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument(
        "--prefix",
        type=Path,
        help=f"where environments live (default here: {default_prefix()})",
    )
    where.add_argument(
        "--bin-dir",
        type=Path,
        help=f"where the command is linked, on the session PATH (default: {default_bin_dir()})",
    )
    where.add_argument(
        "--kernel-dir",
        type=Path,
        help="where the Jupyter kernel spec goes, where the sessions' Jupyter looks "
        f"(default: {default_kernel_dir()})",
    )
    inst = sub.add_parser(
        "install", parents=[where], help="create or repair an environment (re-run to upgrade)"
    )
    inst.add_argument("name", help=", ".join(a.name for a in APPS))
    inst.add_argument(
        "--python", help=f"the interpreter of the environment (default: {default_python()})"
    )
    inst.add_argument("--dry-run", action="store_true", help="print what would be done")
    inst.add_argument("--index-url", help="pip --index-url")
    inst.add_argument(
        "--extra-index-url", action="append", default=[], help="pip --extra-index-url (repeat)"
    )
    inst.add_argument("--find-links", action="append", default=[], help="pip --find-links")
    rm = sub.add_parser("uninstall", parents=[where], help="remove an environment and its link")
    rm.add_argument("name")
    ls = sub.add_parser("list", help="list installed environments")
    ls.add_argument("--prefix", type=Path, help="where environments live")
    return apps


def run(args: argparse.Namespace) -> int:
    """Run the `apps` subcommand parsed by `add_parser`; errors are one line, exit status 1."""
    try:
        if args.apps_command == "install":
            install(
                args.name,
                args.prefix,
                python=args.python,
                bin_dir=args.bin_dir,
                kernel_dir=args.kernel_dir,
                dry_run=args.dry_run,
                index=IndexOptions(
                    index_url=args.index_url,
                    extra_index_urls=tuple(args.extra_index_url),
                    find_links=tuple(args.find_links),
                ),
            )
        elif args.apps_command == "uninstall":
            uninstall(args.name, args.prefix, args.bin_dir, kernel_dir=args.kernel_dir)
        elif args.apps_command == "list":
            _list(args.prefix)
        else:
            print(f"arcade-hub apps: unknown command {args.apps_command!r}", file=sys.stderr)
            return 2
    except AppsError as e:
        print(f"arcade-hub apps: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("arcade-hub apps: interrupted; run the command again to finish", file=sys.stderr)
        return 130
    return 0


def _list(prefix: Path | None) -> None:
    root = prefix or default_prefix()
    found = list_installed(root)
    if not found:
        print(f"no applications installed in {root}; known: {', '.join(a.name for a in APPS)}")
        return
    print(f"{'NAME':<12} {'COMMAND':<12} {'PYTHON':<7} {'INSTALLED':<21} PATH")
    for a in found:
        when = a.installed_at if a.complete else "incomplete: re-run install"
        print(f"{a.name:<12} {a.command:<12} {a.python or '-':<7} {when:<21} {a.env}")

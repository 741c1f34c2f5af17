"""`arcade-hub datasets demo|casa-version`: wire with `add_parser(sub)` and `run(args)`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from arcade_hub.apps.demo import DEMO_ID, DemoError, make_demo
from arcade_hub.apps.layout import default_prefix
from arcade_hub.casa.detect import can_read_history, dataset_casa_version, detect_casa_version
from arcade_hub.config import load_config
from arcade_hub.config.storage import default_data_dir, expand


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add `datasets` and its subcommands to the `arcade-hub` command line."""
    datasets = subparsers.add_parser(
        "datasets",
        help="make the ALMA demo dataset; show the CASA version a dataset needs",
        description="Datasets of the platform document: make the simulated ALMA demo with an "
        "installed CASA, and show which CASA version each dataset needs.",
    )
    sub = datasets.add_subparsers(dest="datasets_command", metavar="{demo,casa-version}")
    sub.required = True
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--config", metavar="FILE", help="platform document (default: built-in)")
    where.add_argument("--data-dir", type=Path, help="the platform's data directory")
    demo = sub.add_parser(
        "demo",
        parents=[where],
        help=f"simulate the ALMA demo dataset ({DEMO_ID}) with an installed CASA (seconds)",
    )
    demo.add_argument("--dataset", default=DEMO_ID, help=f"dataset id (default {DEMO_ID})")
    demo.add_argument("--path", type=Path, help="make it here instead of the dataset's path")
    demo.add_argument("--casa", help="the CASA environment (default: the newest installed)")
    demo.add_argument(
        "--prefix", type=Path, help=f"where CASA environments live (default: {default_prefix()})"
    )
    demo.add_argument("--force", action="store_true", help="replace an existing dataset")
    version = sub.add_parser(
        "casa-version", parents=[where], help="the CASA version each dataset needs, and why"
    )
    version.add_argument("path", nargs="?", type=Path, help="a directory to look at instead")
    return datasets


def run(args: argparse.Namespace) -> int:
    data_dir = (args.data_dir or default_data_dir()).absolute()
    if args.datasets_command == "demo":
        path = args.path
        if path is None:
            config = load_config(args.config)
            try:
                path = expand(config.dataset(args.dataset).path, data_dir)
            except KeyError:
                print(f"arcade-hub datasets: no dataset {args.dataset!r}", file=sys.stderr)
                return 1
        try:
            make_demo(path, args.casa, args.prefix, force=args.force)
        except DemoError as e:
            print(f"arcade-hub datasets: {e}", file=sys.stderr)
            return 1
        return 0
    if args.path is not None:
        found = detect_casa_version(args.path)
        print(f"{args.path}: " + (f"CASA {found.version} ({found.source})" if found else "-"))
    else:
        for d in load_config(args.config).datasets:
            found = dataset_casa_version(d, expand(d.path, data_dir))
            print(f"{d.id}: " + (f"CASA {found.version} ({found.source})" if found else "-"))
    if not can_read_history():
        print("(MeasurementSet histories are not read: pip install 'arcade-hub[casa]')")
    return 0

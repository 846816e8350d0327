"""Subcommands for setting up and previewing: `schema`, `init` and `serve`.

The main CLI registers them with add_commands(); each has its parser setup and handler here.
"""

from __future__ import annotations

import argparse
import logging
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from reportgen.errors import OutputError

logger = logging.getLogger(__name__)

SCHEMA_FILE = "config.schema.json"


def add_commands(sub: Any) -> None:
    """Register `schema`, `init` and `serve` on an argparse subparsers object."""
    p = sub.add_parser(
        "schema",
        help="print the JSON Schema of config.yaml (for editors)",
        description="Print the JSON Schema (draft 2020-12) of config.yaml, generated from the "
        "option declarations. Save it next to config.yaml and start config.yaml with "
        f"`# yaml-language-server: $schema={SCHEMA_FILE}` for completion and checks as you type.",
    )
    p.add_argument("--out", type=Path, metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(func=cmd_schema, own_config=True)

    p = sub.add_parser(
        "init",
        help="write a commented starter config.yaml (and its schema) into DIR",
        description="Write DIR/config.yaml, a commented starter config that `reportgen validate` "
        f"accepts, and DIR/{SCHEMA_FILE} for editors. An existing config.yaml is never "
        "overwritten.",
    )
    p.add_argument("dir", nargs="?", type=Path, default=Path("."), metavar="DIR")
    p.set_defaults(func=cmd_init, own_config=True)

    p = sub.add_parser(
        "serve",
        help="preview the output folder on http://127.0.0.1 (optionally rebuilding on change)",
        description="Serve the output folder on 127.0.0.1 only, for a preview in a browser. "
        "With --watch, rebuild (as `reportgen build`) when config.yaml or the data changes.",
    )
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free one)")
    p.add_argument("--watch", action="store_true", help="rebuild when config or data change")
    p.add_argument(
        "--poll", type=float, default=1.0, metavar="SECONDS", help=argparse.SUPPRESS
    )  # tests poll faster
    p.set_defaults(func=cmd_serve, own_config=True)


def cmd_schema(args: argparse.Namespace) -> int:
    """Print (or write) the JSON Schema of config.yaml."""
    from reportgen.config import jsonschema as schema
    from reportgen.report import publish

    text = schema.dumps()
    if args.out is None:
        sys.stdout.write(text)
        return 0
    publish.write_atomic(args.out, text.encode())
    logger.info("wrote %s", args.out)
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Write a starter config.yaml and its schema; refuse to overwrite a config."""
    from reportgen.config import jsonschema as schema
    from reportgen.report import publish

    target = args.dir / "config.yaml"
    refuse = OutputError(
        f"{target}: already exists; init never overwrites a config: move it away or run "
        "init with another folder"
    )
    if target.exists() or target.is_symlink():
        raise refuse
    text = resources.files("reportgen").joinpath("assets/config.init.yaml").read_text("utf-8")
    with publish.writing(args.dir):
        args.dir.mkdir(parents=True, exist_ok=True)
        try:
            with target.open("x", encoding="utf-8") as fh:  # "x": never over one made meanwhile
                fh.write(text)
        except FileExistsError:
            raise refuse from None
        publish.write_atomic(args.dir / SCHEMA_FILE, schema.dumps().encode())
    print(target)
    logger.info("next: edit %s, check it with `reportgen validate`, then `reportgen build`", target)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve output/ on 127.0.0.1 until interrupted; with --watch, rebuild on change."""
    from reportgen.cli import load_config, serve

    cfg = load_config(args)
    serve.run(cfg, Path(args.config), port=args.port, watch=args.watch, poll=args.poll)
    return 0

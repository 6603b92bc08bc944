"""The ``python -m lab`` entry point: each module in ``lab/commands`` registers one subcommand.

A command module defines ``register(subparsers)``, which adds its parser and sets ``func`` (called with the parsed
arguments, returning an exit code). Adding a command is adding a module; this file never changes.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

import lab.commands


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every command module's subcommand."""
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(lab.commands.__path__), key=lambda i: i.name):
        importlib.import_module(f"lab.commands.{info.name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the chosen command; errors from bad input print one line and exit 2."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

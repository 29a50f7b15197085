"""The ``eiegen`` command line. Each subcommand lives in its own module under
``eiegen.commands`` and exposes ``register(subparsers)``; the module list below is the
only place that knows them all."""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

# Modules under eiegen.commands, in the order `eiegen --help` lists them.
COMMAND_MODULES = ("demo", "compress", "compile", "info", "config", "verilog", "simulate",
                   "asic", "build", "run")


class CliError(Exception):
    """A user error: printed as one line, exit status 2, no traceback."""


def print_notes(command: str, net) -> None:
    """Print what the importer changed in ``net`` (``Network.notes``) on stderr."""
    for note in getattr(net, "notes", ()):
        print(f"eiegen {command}: note: {note}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eiegen",
        description="Generator and simulator for EIE-style sparse neural-network accelerators.")
    parser.add_argument("--version", action="version", version=f"eiegen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"eiegen.commands.{name}").register(sub)
    return parser


def main(argv=None) -> int:
    from .arch import ConfigError
    from .safeio import OutputError
    from eiegen.compiler.network import NetworkError
    from eiegen.compiler.program import ProgramError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except (CliError, ConfigError, NetworkError, ProgramError, OutputError) as e:
        print(f"eiegen {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

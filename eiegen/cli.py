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
                   "asic", "build", "run", "explore")


class CliError(Exception):
    """A user error: printed as one line, exit status 2, no traceback."""


def print_notes(command: str, net) -> None:
    """Print what the importer changed in ``net`` (``Network.notes``) on stderr."""
    for note in getattr(net, "notes", ()):
        print(f"eiegen {command}: note: {note}", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the bad option and why, and where the usage is,
    instead of the usage block above the message (subcommands inherit this class)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
    prefix = f"eiegen {args.command}"
    try:
        return args.func(args) or 0
    except (CliError, ConfigError, NetworkError, ProgramError, OutputError) as e:
        return _fail(prefix, str(e))
    except BrokenPipeError:
        # the reader went away (`eiegen info prog | head`): nothing to say to anyone; point
        # stdout at /dev/null so the interpreter's final flush does not complain either
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        # Ctrl-C is the user's decision, not a failure to explain: every writer leaves the
        # previous output in place (eiegen.safeio), so there is nothing to add
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001: classified below, never swallowed
        message = environment_error(e)
        if message is not None:
            _debug_traceback()
            return _fail(prefix, message)
        # Anything else is a bug in eiegen, not in the user's input: say so in one line and
        # keep the traceback one variable away, so a user's terminal is not buried in it
        # and a developer still gets it
        print(f"{prefix}: internal error: {type(e).__name__}: {_one_line(str(e))}",
              file=sys.stderr)
        if not _debug_traceback():
            print(f"{prefix}: this is a bug in eiegen; run with EIEGEN_DEBUG=1 for the "
                  f"traceback", file=sys.stderr)
        return 3


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _fail(prefix: str, message: str) -> int:
    print(f"{prefix}: error: {message}", file=sys.stderr)
    return 2


def _debug_traceback() -> bool:
    """Print the traceback being handled when EIEGEN_DEBUG is set; True if printed."""
    import os
    import traceback

    if os.environ.get("EIEGEN_DEBUG", "") in ("", "0"):
        return False
    traceback.print_exc()
    return True


def environment_error(e: BaseException) -> str | None:
    """One line for an error that comes from the user's files or machine rather than from
    eiegen (a full disk, an unwritable folder, a corrupt archive, a file that is not text,
    an array too large for memory); None for anything else, which is a bug."""
    import zipfile

    if isinstance(e, MemoryError):
        return ("out of memory (an input file declares arrays larger than this machine can "
                "hold, or the network is too large); check the inputs' shapes")
    if isinstance(e, zipfile.BadZipFile):
        return f"a corrupt .npz/zip archive: {_one_line(str(e))}; re-create the file"
    if isinstance(e, UnicodeDecodeError):
        return (f"a file that should be UTF-8 text is not ({_one_line(str(e))}); check the "
                f"file given (a config or manifest must be JSON text)")
    if isinstance(e, OSError):
        where = f" {e.filename}" if getattr(e, "filename", None) else ""
        what = e.strerror or _one_line(str(e)) or type(e).__name__
        hints = {IsADirectoryError: "a folder was given where a file is needed",
                 NotADirectoryError: "a file was given (or lies on the path) where a folder "
                                     "is needed",
                 FileNotFoundError: "check the path",
                 PermissionError: "choose a location you may write to"}
        hint = next((h for t, h in hints.items() if isinstance(e, t)),
                    "check the path and the free space")
        return f"cannot use{where}: {what}; {hint}"
    return None


if __name__ == "__main__":
    sys.exit(main())

"""The ``gankit`` command: parse -> validated config -> call the library.

Each subcommand lives in ``gankit/commands/<name>.py`` with ``add_parser`` (which sets
``handler``) and ``run``; this file only lists them. Every `UserError` becomes one line on
stderr and exit status 2, and so does a file operation the system refuses (`OSError`).
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

from gankit.errors import UserError, os_error_line

# Subcommands, in the order --help lists them.
COMMANDS = ["train", "sample", "eval", "twosample", "sweep", "tune", "report", "export", "lab"]


class Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line and exit 2, like every other bad input."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="gankit",
        description="Train, watch and test generative adversarial networks.",
    )
    parser.add_argument("--version", action="version", version=f"gankit {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        import_module(f"gankit.commands.{name}").add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except UserError as err:
        print(f"gankit: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the filesystem said no: read-only, full, a path under a file, ...
        print(f"gankit: error: {os_error_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:  # a download's says what was stopped (gankit.data.download)
        print(f"gankit: interrupted{' ' + str(err) if str(err) else ''}", file=sys.stderr)
        return 128 + int(getattr(err, "signum", 2))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gankit")
    except PackageNotFoundError:
        return "unknown"

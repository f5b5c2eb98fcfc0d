"""The ``calolab`` command line: one verb per pipeline stage.

Every subcommand lives in its own module of :mod:`calolab.cli` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a function taking the
parsed arguments and returning an exit code. User errors (:class:`CalolabError`) become one
line on stderr and exit code 2; nothing else is printed.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import sys
from collections.abc import Sequence
from typing import NoReturn

from calolab.cli.common import read_options
from calolab.core.errors import CalolabError, ConfigError

#: Modules that register subcommands, in the order they appear in ``--help``.
COMMAND_MODULES = [
    "calolab.cli.detector",
    "calolab.cli.simulate",
    "calolab.cli.conditions",
    "calolab.cli.importers",
    "calolab.cli.info",
    "calolab.cli.train",
    "calolab.cli.evaluate",
    "calolab.cli.events",
    "calolab.cli.campaign",
    "calolab.cli.optimize",
    "calolab.cli.report",
    "calolab.cli.validate",
    "calolab.cli.compare",
    "calolab.cli.demo",
    "calolab.cli.diffopt",
]


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors that point to ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    from calolab.core.provenance import package_version

    __version__ = package_version()

    parser = ArgumentParser(
        prog="calolab",
        description="Machine-learning calorimetry: design, simulate, build datasets, train, "
        "evaluate and optimise calorimeters.",
    )
    parser.add_argument("--version", action="version", version=f"calolab {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # command not part of this build
            raise
        mod.register(sub)
    return parser


def check_finite_options(args: argparse.Namespace) -> None:
    """Refuse NaN and ±inf in every floating-point option (``--theta nan`` and the like)."""
    for dest, value in vars(args).items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"--{dest.replace('_', '-')} {value} must be a finite number")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        check_finite_options(args)
        with read_options(args):
            return int(args.func(args) or 0)
    except CalolabError as exc:
        print(f"calolab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"calolab {args.command}: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()

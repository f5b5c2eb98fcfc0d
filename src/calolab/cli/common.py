"""Helpers shared by the subcommands: progress bars, tables, JSON output."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

#: Width of tables and messages when the output is not a terminal (a pipe or a file) and
#: COLUMNS is not set: wide enough that no table is cut or wrapped for ``grep`` and ``less``.
PIPE_WIDTH = 250


def _console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    if tty or os.environ.get("COLUMNS"):
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=PIPE_WIDTH)


console = _console()
err_console = _console(stderr=True)


@contextlib.contextmanager
def progress_bar(
    description: str, total: int, enabled: bool = True
) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr; yields ``advance(n)``."""
    if not enabled:
        yield lambda n: None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("•"),
        TimeElapsedColumn(),
        TextColumn("•"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=False) as prog:
        task = prog.add_task(description, total=total)
        yield lambda n: prog.advance(task, n)


def add_read_arguments(p: argparse.ArgumentParser) -> None:
    """Options that loosen the limits on data files a command reads (hostile files are
    refused by default; see calolab.data.hdf5.ReadLimits and docs/scale-out.md)."""
    g = p.add_argument_group("reading untrusted files (defaults refuse hostile files)")
    g.add_argument(
        "--allow-external-data",
        action="store_true",
        help="follow HDF5 external links, external storage and virtual datasets (files other "
        "than the one given)",
    )
    g.add_argument(
        "--max-inflation",
        type=float,
        metavar="RATIO",
        help="largest ratio of a dataset's declared size to its stored bytes [1100; 0 = none]",
    )
    g.add_argument(
        "--max-chunk-mb",
        type=float,
        metavar="MB",
        help="largest inflated chunk (HDF5) or step of entries (ROOT) "
        "[256, or 1/16 of the memory]",
    )
    g.add_argument(
        "--max-memory-mb",
        type=float,
        metavar="MB",
        help="largest per-event arrays kept in memory [half the memory]",
    )


@contextlib.contextmanager
def read_options(args: argparse.Namespace) -> Iterator[None]:
    """Apply the options of :func:`add_read_arguments` to every reader of this command (and
    its worker processes) through the ``CALOLAB_*`` environment variables; restored after."""
    names = ("allow_external_data", "max_inflation", "max_chunk_mb", "max_memory_mb")
    if all(getattr(args, k, None) in (None, False) for k in names):
        yield
        return
    from calolab.core.errors import ConfigError
    from calolab.data import hdf5

    env: dict[str, str] = {}
    if getattr(args, "allow_external_data", False):
        env[hdf5.ENV_ALLOW_EXTERNAL] = "1"
    for dest, name in (
        ("max_inflation", hdf5.ENV_MAX_INFLATION),
        ("max_chunk_mb", hdf5.ENV_MAX_CHUNK_MB),
        ("max_memory_mb", hdf5.ENV_MAX_MEMORY_MB),
    ):
        value = getattr(args, dest, None)
        if value is not None:
            if value < 0 or (value == 0 and dest != "max_inflation"):
                raise ConfigError(f"--{dest.replace('_', '-')} {value:g} must be > 0")
            env[name] = repr(float(value))
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def help_command(p: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """The ``func`` of a command given without its subcommand: print its help, exit code 2."""

    def show_help(args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    return show_help


def print_json(data: Any) -> None:
    """Print JSON to stdout (no rich markup)."""
    sys.stdout.write(json.dumps(data, indent=2, default=_jsonable) + "\n")


def _jsonable(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def fmt(value: float, digits: int = 3) -> str:
    return f"{value:,.{digits}f}"

"""``calolab report INPUTS... -o report.html``: one self-contained HTML page."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape

from calolab.cli.common import add_read_arguments, console


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "report",
        help="an HTML report (detectors, datasets, training, resolution, event display)",
        description="Build one self-contained HTML page from calolab outputs: dataset files "
        "(.h5), training runs (directories with history.csv), evaluations (metrics.json), "
        "detector presets or TOML files, or directories holding any of them.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, directories or presets")
    p.add_argument("-o", "--output", default="report.html", help="output file [report.html]")
    p.add_argument("--title", default="calolab report", help="page title")
    p.add_argument(
        "--events",
        type=int,
        default=1,
        metavar="N",
        help="events shown per particle species and dataset [1]",
    )
    p.add_argument(
        "--event-energy",
        type=float,
        metavar="GEV",
        help="show events near this energy [50 GeV, or the sample's median]",
    )
    p.add_argument("--max-events", type=int, default=8, metavar="N", help="most events shown [8]")
    p.add_argument(
        "--events-from",
        action="append",
        default=[],
        metavar="GLOB",
        help="take displayed events only from dataset files matching GLOB (repeatable)",
    )
    p.add_argument("--plots-dir", metavar="DIR", help="also write every plot as a PNG file here")
    add_read_arguments(p)
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from calolab.report import ReportOptions, build_report

    opts = ReportOptions(
        title=args.title,
        events_per_species=args.events,
        event_energy=args.event_energy,
        max_events=args.max_events,
        event_files=tuple(args.events_from),
        plots_dir=Path(args.plots_dir) if args.plots_dir else None,
    )
    with console.status("building the report"):
        res = build_report(args.inputs, args.output, opts)
    console.print(
        f"[bold]wrote {escape(str(res.path))}[/bold] ({res.size_bytes / 1e6:.1f} MB): "
        f"{', '.join(res.sections)}; {res.n_plots} plots, {res.n_events} events displayed"
    )
    for title, why in res.omitted:
        console.print(f"  [yellow]omitted[/yellow] {escape(title)}: {escape(why)}")
    for note in res.notes:
        console.print(f"  [yellow]note[/yellow] {escape(note.source)}: {escape(note.message)}")
    return 0

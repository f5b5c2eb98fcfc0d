"""``calolab campaign``: multi-detector simulation campaigns from one TOML file."""

from __future__ import annotations

import argparse
import time

from calolab.cli.common import console, print_json, progress_bar
from calolab.cli.request import add_execution_arguments, execution_from_args


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "campaign",
        help="simulate detectors × particles × energy spectra from a campaign file",
        description="Run a multi-detector simulation campaign described by a TOML file "
        "(see calolab.simulation.campaign_config.CampaignConfig for the schema).",
    )
    csub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = csub.add_parser("run", help="run (or resume) every job of the campaign")
    run.add_argument("config", help="campaign file (TOML)")
    add_execution_arguments(
        run, chunk_size=False, title="scale-out and resume (the file's [execution] by default)"
    )
    run.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_run)
    st = csub.add_parser("status", help="show the jobs of a campaign and how far they are")
    st.add_argument("config", help="campaign file (TOML)")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=cmd_status)


def cmd_run(args: argparse.Namespace) -> int:
    from calolab.simulation.campaign_config import load_campaign_config, run_campaign_config

    workers, scheduler = execution_from_args(args)
    cfg = load_campaign_config(args.config)
    total = sum(j.spec.n_events for j in cfg.jobs)
    t0 = time.perf_counter()
    with progress_bar(f"campaign {cfg.name} ({len(cfg.jobs)} jobs)", total, not args.quiet) as adv:
        paths = run_campaign_config(
            cfg,
            resume=args.resume,
            workers=workers,
            scheduler=scheduler,
            keep_chunks=args.keep_chunks,
            progress=adv,
        )
    if not args.quiet:
        dt = time.perf_counter() - t0
        console.print(f"{len(paths)} files, {total:,} events in {cfg.output_dir} ({dt:.1f} s)")
        for path in paths:
            console.print(f"  {path.name}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from calolab.simulation.campaign import Campaign
    from calolab.simulation.campaign_config import load_campaign_config

    cfg = load_campaign_config(args.config)
    rows = [
        {"job": j.name, "seed": j.spec.seed, **Campaign(j.output, j.spec).status()}
        for j in cfg.jobs
    ]
    if args.json:
        print_json({"name": cfg.name, "output_dir": str(cfg.output_dir), "jobs": rows})
        return 0
    from rich.table import Table

    table = Table(title=f"campaign {cfg.name} → {cfg.output_dir}")
    for col in ("job", "events", "chunks", "state"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["job"], f"{r['n_events']:,}", f"{r['chunks_done']}/{r['n_chunks']}", r["state"]
        )
    console.print(table)
    return 0

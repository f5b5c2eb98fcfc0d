"""``calolab conditions``: dead and noisy channels for existing files."""

from __future__ import annotations

import argparse

from calolab.cli.common import console, help_command
from calolab.cli.simulate import add_dead_arguments, conditions_from_args
from calolab.core.errors import ConfigError, DataError
from calolab.core.files import check_output


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "conditions", help="dead and noisy channels: apply a mask to an existing dataset"
    )
    verbs = p.add_subparsers(dest="conditions_command", metavar="VERB")
    a = verbs.add_parser(
        "apply",
        help="write a copy of a dataset with dead (and noisy) channels applied",
        description="Dead cells read zero in every event (true and digitised energies, "
        "times); the mask is stored in calolab/conditions. See docs/conditions.md.",
    )
    a.add_argument("input", help="calolab HDF5 dataset")
    add_dead_arguments(a)
    a.add_argument(
        "--noise-seed", type=int, default=0, help="seed of the noisy channels' extra noise [0]"
    )
    a.add_argument("--output", "-o", required=True, help="output HDF5 file")
    a.add_argument("--quiet", "-q", action="store_true")
    a.set_defaults(func=cmd_apply)
    sc = verbs.add_parser(
        "scan",
        help="resolution and response of a trained run against the dead-channel fraction",
        description="Evaluate a trained run on copies of a test file with dead channels "
        "(random cells and clustered blocks, several masks per fraction), and rank regions of "
        "the detector by the resolution lost when each alone is dead. Writes dead_scan.json, "
        "dead_scan.png and each point's metrics.json under points/. See docs/conditions.md.",
    )
    sc.add_argument("run", help="run directory written by 'calolab train'")
    sc.add_argument("--data", required=True, help="healthy test file (same detector)")
    sc.add_argument("--output", "-o", required=True, help="output directory")
    sc.add_argument(
        "--fractions",
        default="0.01,0.05,0.1,0.2",
        help="dead fractions besides 0 [0.01,0.05,0.1,0.2]",
    )
    sc.add_argument("--patterns", default="random,clustered", help="random and/or clustered [both]")
    sc.add_argument("--masks", type=int, default=3, help="masks per fraction and pattern [3]")
    sc.add_argument("--seed", type=int, default=0, help="seed of the first mask [0]")
    sc.add_argument("--block", default="4x4", help="cells per clustered block [4x4]")
    sc.add_argument("--no-regions", action="store_true", help="do not rank the regions")
    sc.add_argument(
        "--depth-groups", type=int, default=3, help="longitudinal groups per section [3]"
    )
    sc.add_argument("--bins", default="5", help="bins of true energy per evaluation [5]")
    sc.add_argument("--max-events", type=int, help="use only the first N test events")
    sc.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    sc.add_argument("--quiet", "-q", action="store_true")
    sc.set_defaults(func=cmd_scan)
    p.set_defaults(func=help_command(p))


def cmd_apply(args: argparse.Namespace) -> int:
    from calolab.data.conditions import apply_conditions_to_file
    from calolab.data.hdf5 import ShowerFile

    check_output(args.output, inputs=[args.input], what="--output")
    with ShowerFile(args.input) as f:
        det = f.detector
    if det is None and args.dead_map is None and args.dead_clustered:
        raise DataError(
            f"'{args.input}' has no calolab detector: clustered masks need one (give "
            "--dead-channels without --dead-clustered, or a --dead-map of cell indices)"
        )
    if args.dead_channels is None and args.dead_map is None:
        raise ConfigError("give --dead-channels FRACTION or --dead-map FILE")
    if det is None:
        from calolab.data.conditions import random_dead

        with ShowerFile(args.input) as f:
            n = f.n_cells
        if args.dead_map is not None:
            raise DataError(f"'{args.input}' has no calolab detector: a --dead-map needs one")
        cond = random_dead(n, args.dead_channels, args.dead_seed)
    else:
        asked = conditions_from_args(args, det)
        if asked is None:  # not reached: one of the two options is given (checked above)
            raise ConfigError("give --dead-channels FRACTION or --dead-map FILE")
        cond = asked
    path = apply_conditions_to_file(args.input, args.output, cond, seed=args.noise_seed)
    if not args.quiet:
        console.print(
            f"wrote {path}: {cond.n_dead:,} of {cond.n_cells:,} cells dead "
            f"({100 * cond.dead_fraction:.2f} %)"
        )
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    from rich.table import Table

    from calolab.core.config import check_int
    from calolab.core.files import check_output_dir
    from calolab.data.conditions import parse_block, parse_fractions
    from calolab.evaluation.conditions import dead_scan
    from calolab.evaluation.regression import EnergyBinning
    from calolab.training import load_run

    fractions = parse_fractions(args.fractions, "--fractions")
    patterns = [p.strip() for p in args.patterns.split(",") if p.strip()]
    check_int("--masks", args.masks, minimum=1, maximum=100)
    check_int("--seed", args.seed, minimum=0)
    check_int("--depth-groups", args.depth_groups, minimum=1, maximum=100)
    check_output_dir(args.output, inputs=[args.data], what="--output")
    run = load_run(args.run, device=args.device)

    def say(name: str) -> None:
        if not args.quiet:
            console.print(f"  evaluating {name}", highlight=False)

    res = dead_scan(
        run,
        args.data,
        args.output,
        fractions=fractions,
        patterns=patterns,
        n_masks=args.masks,
        seed=args.seed,
        block=parse_block(args.block),
        rank_regions=not args.no_regions,
        depth_groups=args.depth_groups,
        max_events=args.max_events,
        binning=EnergyBinning.parse(args.bins),
        progress=say,
    )
    t = Table(title=f"{res.model} on {res.detector}: σ/E against dead channels")
    for col in ("pattern", "dead", "σ/E", "stat", "mask spread", "response"):
        t.add_column(col, justify="right")
    for p in [res.nominal, *res.points]:
        t.add_row(
            p.pattern,
            f"{100 * p.dead_fraction:.1f} %",
            f"{100 * p.value:.2f} %",
            f"{100 * p.stat_err:.2f} %",
            f"{100 * p.mask_spread:.2f} %",
            f"{p.response:.4f} ± {p.response_err:.4f}",
        )
    console.print(t)
    if res.regions:
        r = Table(title="regions ranked by the resolution lost when they alone are dead")
        for col in ("region", "cells", "σ/E", "loss"):
            r.add_column(col, justify="right")
        for g in res.regions:
            r.add_row(
                g.region,
                str(g.n_cells),
                f"{100 * g.resolution:.2f} ± {100 * g.resolution_err:.2f} %",
                f"{100 * g.loss:+.1f} ± {100 * g.loss_err:.1f} %",
            )
        console.print(r)
    console.print(f"wrote {args.output}/dead_scan.json and dead_scan.png")
    return 0

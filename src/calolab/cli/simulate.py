"""``calolab simulate``: shoot particles into a detector and write an HDF5 dataset."""

from __future__ import annotations

import argparse
import time

from rich.markup import escape

from calolab.cli.common import console, progress_bar
from calolab.cli.request import add_request_arguments, request_from_args
from calolab.core.config import check_int
from calolab.core.errors import ConfigError
from calolab.core.files import check_output
from calolab.data.conditions import ChannelConditions
from calolab.geometry import resolve_detector
from calolab.geometry.detector import Calorimeter
from calolab.simulation import simulator_for
from calolab.simulation.run import detector_inputs


def add_dead_arguments(p: argparse.ArgumentParser) -> None:
    """Dead and noisy channel options (see docs/conditions.md)."""
    g = p.add_argument_group(
        "dead and noisy channels (dead cells read zero in every event; the mask is stored in "
        "calolab/conditions)"
    )
    g.add_argument(
        "--dead-channels",
        type=float,
        metavar="FRACTION",
        help="kill this fraction of the cells (0.05 = 5 %%), chosen at random",
    )
    g.add_argument("--dead-seed", type=int, default=0, metavar="S", help="seed of the mask [0]")
    g.add_argument(
        "--dead-clustered",
        action="store_true",
        help="kill whole blocks of cells (readout boards, --dead-block) instead of single cells",
    )
    g.add_argument(
        "--dead-block",
        default="4x4",
        metavar="NXxNY",
        help="cells of one readout layer per clustered block [4x4]",
    )
    g.add_argument(
        "--dead-map",
        metavar="FILE",
        help="dead (and noisy) channels from a file: cell indices (text) or TOML with cells, "
        "[[regions]] (section, layers, x, y) and [[noisy]] (sigma_mev)",
    )


def conditions_from_args(
    args: argparse.Namespace, detector: Calorimeter
) -> ChannelConditions | None:
    """The :class:`ChannelConditions` the options ask for, or ``None``."""
    from calolab.data.conditions import make_conditions, parse_block

    if args.dead_channels is None and args.dead_map is None:
        if args.dead_clustered:
            raise ConfigError("--dead-clustered needs --dead-channels FRACTION")
        return None
    check_int("--dead-seed", args.dead_seed, minimum=0, maximum=2**63 - 1)
    return make_conditions(
        detector,
        fraction=args.dead_channels,
        seed=args.dead_seed,
        clustered=args.dead_clustered,
        block=parse_block(args.dead_block),
        dead_map=args.dead_map,
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("simulate", help="simulate particles in a detector into an HDF5 dataset")
    p.add_argument("detector", help="preset name or TOML detector file")
    p.add_argument("--output", "-o", required=True, help="output HDF5 file")
    add_request_arguments(p)
    add_dead_arguments(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_simulate)


def cmd_simulate(args: argparse.Namespace) -> int:
    request = request_from_args(args)
    check_output(args.output, inputs=detector_inputs(args.detector), what="--output")
    det = resolve_detector(args.detector)
    digi = request.digitizer
    sim = simulator_for(det, request.backend, digitizer=digi)
    for g in request.guns:
        sim.check_gun(g)
    conditions = conditions_from_args(args, det)
    t0 = time.perf_counter()
    with progress_bar(f"simulate {args.particle} → {det.name}", args.events, not args.quiet) as adv:
        path = request.run(args.output, det, conditions=conditions, progress=adv)
    dt = time.perf_counter() - t0
    if not args.quiet:
        console.print(
            f"wrote {args.events:,} events to {path} in {dt:.1f} s ({args.events / dt:,.0f} events/s)"
        )
        if digi is None:
            console.print("not digitised (--no-digitize): true visible energies only")
        else:
            console.print(
                escape(f"digitised ({digi.calibration} scale) with the readout of '{det.name}':"),
                highlight=False,
            )
            for s in det.sections:
                console.print(escape(f"  {s.name}: {s.readout.describe()}"), highlight=False)
        if conditions is not None:
            console.print(
                f"dead channels: {conditions.n_dead:,} of {conditions.n_cells:,} "
                f"({100 * conditions.dead_fraction:.2f} %), stored in calolab/conditions"
            )
    return 0

"""``calolab conditions``: dead and noisy channels for existing files."""

from __future__ import annotations

import argparse

from calolab.cli.common import console
from calolab.cli.simulate import add_dead_arguments, conditions_from_args
from calolab.core.errors import ConfigError, DataError
from calolab.core.files import check_output


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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
    p.set_defaults(func=lambda args: p.print_help() or 2)


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
        cond = conditions_from_args(args, det)
    path = apply_conditions_to_file(args.input, args.output, cond, seed=args.noise_seed)
    if not args.quiet:
        console.print(
            f"wrote {path}: {cond.n_dead:,} of {cond.n_cells:,} cells dead "
            f"({100 * cond.dead_fraction:.2f} %)"
        )
    return 0

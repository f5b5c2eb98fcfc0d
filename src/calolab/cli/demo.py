"""``calolab demo``: the main job on a small default."""

from __future__ import annotations

import argparse
from pathlib import Path

from calolab.cli.common import console, progress_bar
from calolab.cli.info import cmd_info
from calolab.simulation import ParticleGun, simulate_to_file


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="run the pipeline end to end on a small default")
    p.add_argument("--output", "-o", default="calolab-demo", help="output directory [calolab-demo]")
    p.add_argument("--quick", action="store_true", help="a smaller version (for tests)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    n = 200 if args.quick else 2000
    path = out / "photons.h5"
    with progress_bar("simulate photons → course_pbwo4", n) as adv:
        simulate_to_file(
            path, "course_pbwo4", ParticleGun("gamma", "10:100"), n, seed=1, progress=adv
        )
    console.print(f"[bold]simulated {n} photons (10–100 GeV) into course_pbwo4[/bold]")
    return cmd_info(argparse.Namespace(file=str(path), json=False))

"""``calolab optimize-gradient``: differentiable design (MODE) — gradient descent over the
torch optimiser's own small space (``pbscint-ecal`` of :mod:`calolab.differentiable.optimize`)
and its reconstruction, joint vs factorised, measured at the end.

The study-based gradient method — any design space, every accepted design a trial of the
study (same outputs and report as the Optuna search) — is ``calolab optimize run SPACE
--method gradient`` (:mod:`calolab.optimization.gradient`); this command is kept as the quick
standalone joint-vs-factorised comparison (docs/differentiable.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from calolab.cli.common import console, print_json
from calolab.core.errors import ConfigError


def _energies(text: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(
            f"--energies {text!r} must be comma-separated GeV values, e.g. 5,20,50"
        ) from None
    if not vals or min(vals) <= 0:
        raise ConfigError(f"--energies {text!r} must be positive GeV values")
    return vals


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "optimize-gradient",
        help="quick joint-vs-factorised gradient optimisation of pbscint-ecal (MODE); for a "
        "study of any space use: calolab optimize run SPACE --method gradient",
        description="Standalone form of the gradient method (for design-space studies with "
        "trials, Pareto front and report use 'calolab optimize run SPACE --method gradient'). "
        "Gradient descent through the differentiable (torch) simulator over the "
        "continuous parameters of a design space and the longitudinal weights of the energy "
        "reconstruction, with a smooth length penalty. --compare also runs the factorised "
        "baseline (design for a fixed plain-sum reconstruction, then the reconstruction "
        "re-trained) and measures both optima and the start design with the reference "
        "simulator.",
    )
    p.add_argument("space", nargs="?", default="pbscint-ecal", help="design space [pbscint-ecal]")
    p.add_argument("--steps", type=int, default=40, help="gradient steps [40]")
    p.add_argument("--events", type=int, default=150, help="showers per energy per step [150]")
    p.add_argument("--energies", default="5,20,50", help="training energies, GeV [5,20,50]")
    p.add_argument("--particle", default="e-", help="particle [e-]")
    p.add_argument("--lr", type=float, default=0.03, help="design learning rate [0.03]")
    p.add_argument("--seed", type=int, default=1, help="seed [1]")
    p.add_argument("--device", default="cpu", help="torch device: cpu or cuda [cpu]")
    p.add_argument("--compare", action="store_true", help="joint vs factorised, measured")
    p.add_argument(
        "--measure-events", type=int, default=1000, help="reference showers per energy [1000]"
    )
    p.add_argument("-o", "--output", type=Path, help="write the result as JSON here")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_optimize_gradient)


def cmd_optimize_gradient(args: argparse.Namespace) -> int:
    from calolab.core.files import check_output, write_json
    from calolab.differentiable.optimize import JointConfig, compare, get_space, optimize_design

    if args.steps < 1 or args.events < 2 or args.measure_events < 20:
        raise ConfigError(
            f"--steps {args.steps} must be >= 1, --events {args.events} >= 2 and "
            f"--measure-events {args.measure_events} >= 20"
        )
    if args.device not in ("cpu", "cuda") and not args.device.startswith("cuda:"):
        raise ConfigError(f"--device {args.device!r} must be cpu or cuda")
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA device is available here; use --device cpu")
    out = check_output(args.output, suffix_hint="result.json") if args.output else None
    space = get_space(args.space)
    cfg = JointConfig(
        particle=args.particle,
        energies=_energies(args.energies),
        events=args.events,
        steps=args.steps,
        lr_design=args.lr,
        seed=args.seed,
        device=args.device,
    )
    if args.compare:
        res = compare(space, cfg, measure_events=args.measure_events).to_dict()
    else:
        res = optimize_design(space, cfg).to_dict()
    if out is not None:
        write_json(out, res)
    if args.json:
        print_json(res)
        return 0
    if args.compare:
        console.print(f"[bold]{space.name}[/]: utility = mean σ/E (reference simulator)")
        for key in ("start", "factorised", "joint"):
            m = res[key]
            console.print(
                f"  {key:11s} {m['utility']:.4f} ± {m['utility_error']:.4f}  "
                f"length {m['length_cm']:.1f} cm  {m['parameters']}"
            )
    else:
        console.print(f"best loss {res['best_loss']:.5f} at step {res['best_step']}")
        console.print(f"parameters {res['parameters']}")
    return 0

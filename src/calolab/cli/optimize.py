"""``calolab optimize spaces|run|confirm|show``: search calorimeter designs."""

from __future__ import annotations

import argparse
import contextlib
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from calolab.cli.common import console, err_console, print_json
from calolab.core.config import check_int
from calolab.core.errors import ConfigError

#: Modules that register further search methods (calolab.optimization.methods) when imported:
#: a package that adds a method adds its module here, one line, e.g. the gradient method.
METHOD_MODULES: tuple[str, ...] = ("calolab.optimization.gradient",)


def _methods() -> list[tuple[str, str]]:
    """``(name, summary)`` of every registered search method, plug-ins imported first."""
    import importlib

    from calolab.optimization.methods import METHODS

    for module in METHOD_MODULES:
        importlib.import_module(module)
    return [(m.name, m.summary) for m in METHODS.values()]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "optimize",
        help="search calorimeter designs for the best resolution under a budget",
        description="Multi-objective search of a design space (Optuna on Dask, resumable): "
        "Pareto fronts of resolution against cost, confirmed with more statistics.",
    )
    osub = p.add_subparsers(dest="optimize_command", metavar="ACTION", required=True)

    ps = osub.add_parser("spaces", help="list the built-in design spaces, or show one")
    ps.add_argument("space", nargs="?", help="a built-in space or a space file (TOML) to show")
    ps.add_argument("--json", action="store_true", help="print JSON")
    ps.set_defaults(func=cmd_spaces)

    pr = osub.add_parser("run", help="run (or resume) a study of a design space")
    pr.add_argument("space", help="a built-in space (calolab optimize spaces) or a TOML file")
    pr.add_argument("--trials", type=int, metavar="N", help="designs to measure in total")
    pr.add_argument(
        "--events", type=int, required=True, metavar="N", help="showers per particle and energy"
    )
    pr.add_argument("--output", "-o", required=True, metavar="DIR", help="study directory")
    pr.add_argument("--seed", type=int, default=0, metavar="S", help="study seed (default 0)")
    methods = _methods()
    pr.add_argument(
        "--method",
        default="nsga2",
        choices=[name for name, _ in methods],
        help="search method (default nsga2): "
        + "; ".join(f"{name}: {summary}" for name, summary in methods),
    )
    pr.add_argument("--workers", type=int, metavar="K", help="local Dask cluster of K processes")
    pr.add_argument("--scheduler", metavar="ADDRESS", help="existing Dask scheduler address")
    pr.add_argument("--resume", action="store_true", help="continue the study in --output")
    pr.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    g = pr.add_argument_group("--method gradient (docs/optimization.md)")
    g.add_argument(
        "--gradient-steps",
        type=int,
        metavar="K",
        help="gradient steps between two measured designs [5]",
    )
    g.add_argument(
        "--step-events",
        type=int,
        metavar="N",
        help="torch showers per energy in every gradient step [100]",
    )
    g.add_argument("--lr", type=float, help="design learning rate, per unit of range [0.03]")
    g.add_argument("--device", help="torch device of the gradient steps: cpu or cuda [cpu]")
    g.add_argument(
        "--sequential",
        action="store_true",
        help="optimise the design for a fixed calibrated-sum reconstruction (the factorised "
        "baseline) instead of jointly with it",
    )
    g.add_argument(
        "--relax-materials",
        action="store_true",
        help="relax the material choices through logits (softmax over the candidates) "
        "instead of holding them at the start's",
    )
    pr.set_defaults(func=cmd_run)

    pg = osub.add_parser(
        "gradcheck",
        help="autodiff derivatives (torch simulator) vs finite differences (reference)",
        description="For every continuous parameter of a space at a point (its centre by "
        "default): the derivative of the space's first physics objective (a resolution, "
        "response or leakage, at the simulator level) by autodiff through the torch "
        "simulator, and a central finite difference with the reference simulator (common "
        "random numbers, error from repeats; showers multiplied by 4 until the error is "
        "below 20 %% of the difference or --max-events is reached). Prints "
        '{"<parameter>": {"autodiff", "finite_difference", "fd_error", "agrees", ...}}.',
    )
    pg.add_argument("space", help="a built-in space or a TOML space file")
    pg.add_argument("--at", metavar="PARAMS.json", help="the point: {parameter: value} (JSON)")
    pg.add_argument("--events", type=int, default=1000, metavar="N", help="showers to start [1000]")
    pg.add_argument("--max-events", type=int, metavar="N", help="most showers [16 x --events]")
    pg.add_argument("--repeats", type=int, default=4, metavar="R", help="repeats (seeds) [4]")
    pg.add_argument("--seed", type=int, default=0, metavar="S", help="base seed [0]")
    pg.add_argument(
        "--quantity",
        default="objective",
        choices=["objective", "resolution", "response", "leakage"],
        help="what is differentiated [objective: the space's first physics objective]",
    )
    pg.add_argument(
        "--parameter", action="append", metavar="NAME", help="check only this parameter"
    )
    pg.add_argument("--device", default="cpu", help="torch device: cpu or cuda [cpu]")
    pg.add_argument("-o", "--output", metavar="FILE", help="write the full report as JSON")
    pg.add_argument("--json", action="store_true", help="print the per-parameter table as JSON")
    pg.set_defaults(func=cmd_gradcheck)

    pc = osub.add_parser("confirm", help="measure the front again with more statistics")
    pc.add_argument("study", help="study directory")
    pc.add_argument(
        "--events", type=int, required=True, metavar="N", help="showers per particle and energy"
    )
    pc.add_argument(
        "--designs",
        default="front",
        metavar="WHICH",
        help="front: every front design (default); beating: those that beat a reference in "
        "the search; best: the best front design for each objective and the cheapest; or "
        "trial numbers, e.g. 401,365",
    )
    pc.add_argument(
        "--seed",
        type=int,
        metavar="S",
        help="seed of the confirmation stream (default: the study's; always independent of "
        "the search's showers)",
    )
    pc.add_argument("--workers", type=int, metavar="K", help="local Dask cluster of K processes")
    pc.add_argument("--scheduler", metavar="ADDRESS", help="existing Dask scheduler address")
    pc.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    pc.set_defaults(func=cmd_confirm)

    pw = osub.add_parser("show", help="the front and the references of a study")
    pw.add_argument("study", help="study directory")
    pw.add_argument("--json", action="store_true", help="print pareto.json")
    pw.set_defaults(func=cmd_show)


@contextlib.contextmanager
def _bar(description: str, enabled: bool) -> Iterator[Callable[..., None]]:
    """A rich progress bar on stderr; yields ``update(done, total, status="")``."""
    if not enabled:
        yield lambda done, total, status="": None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("•"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
    )
    with Progress(*columns, console=err_console) as prog:
        task = prog.add_task(description, total=None, status="")

        def update(done: int, total: int, status: str = "") -> None:
            prog.update(task, completed=done, total=total, status=status)

        yield update


def _workers(args: argparse.Namespace) -> int | None:
    if args.workers is None:
        return None
    return check_int("--workers", args.workers, minimum=1, maximum=1024)


def cmd_spaces(args: argparse.Namespace) -> int:
    from calolab.optimization import builtin_spaces, load_space

    if args.space:
        space = load_space(args.space)
        info = space.describe()
        if args.json:
            print_json(info)
            return 0
        console.print(f"[bold]{space.name}[/bold]  {space.description}")
        console.print(f"constraints: {info['constraints']}")
        console.print(
            f"measurement: {', '.join(info['particles'])} at "
            f"{', '.join(f'{e:g}' for e in info['energies_gev'])} GeV "
            f"({space.measurement.reconstruction} reconstruction on the "
            f"{'digitised' if space.measurement.energies == 'digitized' else 'true visible'} "
            "energies)"
        )
        t = Table(title="parameters")
        for col in ("parameter", "kind", "values"):
            t.add_column(col)
        for p in info["parameters"]:
            t.add_row(p["name"], p["kind"], p["values"])
        console.print(t)
        console.print(f"objectives (minimised): {', '.join(info['objectives'])}")
        if info["recorded"]:
            console.print(f"recorded: {', '.join(info['recorded'])}")
        if info["references"]:
            console.print(f"reference designs: {', '.join(info['references'])}")
        return 0
    rows = []
    for name in builtin_spaces():
        space = load_space(name)
        rows.append(space.describe())
    if args.json:
        print_json(rows)
        return 0
    t = Table(title="built-in design spaces")
    for col in ("name", "parameters", "objectives", "constraints", "references"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            r["name"],
            str(len(r["parameters"])),
            ", ".join(r["objectives"]),
            r["constraints"],
            ", ".join(r["references"]),
        )
    console.print(t)
    console.print("details: calolab optimize spaces NAME")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from calolab.optimization import load_space, load_study, run_study

    workers = _workers(args)
    # everything a user can get wrong is checked before the progress bar appears
    if args.trials is not None:
        check_int("--trials", args.trials, minimum=1, maximum=1_000_000)
    check_int("--events", args.events, minimum=4, maximum=10_000_000)
    check_int("--seed", args.seed, minimum=0)
    if workers is not None and args.scheduler:
        raise ConfigError("give either --workers (a local Dask cluster) or --scheduler, not both")
    space = load_space(args.space)
    method_options = _gradient_options(args)
    t0 = time.perf_counter()
    with _bar("trials", not args.quiet) as update:

        def progress(p: Any) -> None:
            status = f"• {p.infeasible} infeasible skipped"
            if p.failed:
                status += f", {p.failed} failed"
            if p.running:
                status += f", {p.running} running"
            update(p.done, p.total, status)

        run = run_study(
            space,
            args.output,
            trials=args.trials,
            events=args.events,
            seed=args.seed,
            method=args.method,
            workers=workers,
            scheduler=args.scheduler,
            resume=args.resume,
            progress=progress,
            method_options=method_options,
        )
    results = load_study(run.directory)
    if not args.quiet:
        _print_front(results)
        console.print(
            f"{run.measured} trials measured ({run.infeasible} infeasible proposals skipped, "
            f"{run.failed} failed), {run.showers:,} showers this session in "
            f"{time.perf_counter() - t0:.0f} s → {run.directory}/pareto.json"
        )
    return 0


def _gradient_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """The --method gradient options given (refused with another method)."""
    given = {
        "steps_per_trial": args.gradient_steps,
        "step_events": args.step_events,
        "lr": args.lr,
        "device": args.device,
        "joint": False if args.sequential else None,
        "relax_materials": True if args.relax_materials else None,
    }
    given = {k: v for k, v in given.items() if v is not None}
    if args.method != "gradient":
        if given:
            flags = {
                "steps_per_trial": "--gradient-steps",
                "step_events": "--step-events",
                "joint": "--sequential",
                "relax_materials": "--relax-materials",
            }
            names = ", ".join(flags.get(k, f"--{k}") for k in given)
            raise ConfigError(f"{names} apply to --method gradient only")
        return None
    from calolab.optimization.gradient import options

    options(given)  # checked before the study starts
    return given


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from calolab.core.config import read_json
    from calolab.core.files import check_output, write_json
    from calolab.optimization.gradcheck import gradcheck

    at = None
    if args.at:
        at = read_json(args.at, "--at point")
        if not isinstance(at, dict):
            raise ConfigError(f"--at {args.at}: must hold a JSON object {{parameter: value}}")
    out = check_output(args.output, suffix_hint="gradcheck.json") if args.output else None
    if args.device != "cpu":
        import torch

        if not args.device.startswith("cuda"):
            raise ConfigError(f"--device {args.device!r} must be cpu or cuda")
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA device is available here; use --device cpu")
    with _bar("gradcheck", not args.json) as update:
        res = gradcheck(
            args.space,
            at,
            events=args.events,
            max_events=args.max_events,
            repeats=args.repeats,
            seed=args.seed,
            quantity=args.quantity,
            parameters=args.parameter,
            device=args.device,
            progress=lambda s: update(0, 0, s),
        )
    if out is not None:
        write_json(out, res.report())
    if args.json:
        print_json(res.to_dict())
        for note in res.notes:
            err_console.print(f"note: {note}")
        return 0
    tgt = res.target
    if tgt is not None:
        console.print(
            f"[bold]{res.space}[/]: d({tgt.quantity} of {tgt.particle} at {tgt.energy_gev:g} GeV)"
            f"/d(parameter) — objective {tgt.objective}"
        )
    t = Table()
    for col in ("parameter", "autodiff", "finite difference", "ratio", "agrees", "showers"):
        t.add_column(col)
    for name, c in res.parameters.items():
        ratio = c.autodiff / c.finite_difference if c.finite_difference else math.nan
        t.add_row(
            name,
            f"{c.autodiff:.4g} ± {c.autodiff_error:.2g}",
            f"{c.finite_difference:.4g} ± {c.fd_error:.2g}" + ("" if c.reached else " (!)"),
            f"{ratio:.3f}",
            "—" if c.agrees is None else "yes" if c.agrees else "NO",
            f"{c.events} x {c.repeats}",
        )
    console.print(t)
    if any(not c.reached for c in res.parameters.values()):
        console.print(
            "(!) FD error above 20 % of the FD at the most showers allowed: no agreement claimed"
        )
    for name, why in res.held.items():
        console.print(f"held: {name} ({why})")
    for note in res.notes:
        console.print(f"note: {note}")
    return 0


def _fmt(v: float, err: float, frac: bool) -> str:
    if not math.isfinite(v):
        return "—"
    if frac:
        return f"{100 * v:.2f} ± {100 * err:.2f} %"
    return f"{v:.3g} ± {err:.2g}"


def _print_front(results: Any, limit: int = 30) -> None:
    front = sorted(results.front(), key=results.cost)
    refs = results.references()
    perf = results.performance_objectives
    c = results.space.constraints
    t = Table(
        title=f"Pareto front of '{results.space.name}' ({len(front)} designs)",
        caption=f"constraints: {c.describe()}; cost = {c.cost_label}",
    )
    t.add_column("trial", justify="right")
    t.add_column(c.cost_short.replace(" (", "\n("), justify="right")
    t.add_column("length (cm)", justify="right")
    for o in perf:
        t.add_column(o.label.replace(" (", "\n("), justify="right")
    t.add_column("beats")
    on_front = {x.number for x in front}
    for r in refs:
        if r.number in on_front:
            continue  # shown with the front
        t.add_row(
            f"[italic]{r.reference}[/italic]",
            f"{results.cost(r):,.0f}",
            f"{r.design.get('length_cm', math.nan):.1f}",
            *(_fmt(r.value(o.name), r.error_of(o.name), o.is_fraction) for o in perf),
            "" if r.feasible else "(outside the constraints)",
        )
    for x in front[:limit]:
        beats = [r.reference or "" for r in refs if results.beats(x, r)]
        t.add_row(
            f"{x.number} ({x.reference})" if x.reference else str(x.number),
            f"{results.cost(x):,.0f}",
            f"{x.design.get('length_cm', math.nan):.1f}",
            *(_fmt(x.value(o.name), x.error_of(o.name), o.is_fraction) for o in perf),
            ", ".join(beats),
        )
    console.print(t)
    if len(front) > limit:
        console.print(f"... {len(front) - limit} more in pareto.json")


def cmd_confirm(args: argparse.Namespace) -> int:
    from calolab.optimization import confirm_study, load_study

    workers = _workers(args)
    check_int("--events", args.events, minimum=4, maximum=100_000_000)
    if args.seed is not None:
        check_int("--seed", args.seed, minimum=0)
    if workers is not None and args.scheduler:
        raise ConfigError("give either --workers (a local Dask cluster) or --scheduler, not both")
    load_study(args.study)  # a clear error before the progress bar
    with _bar("confirming designs", not args.quiet) as update:
        result = confirm_study(
            args.study,
            events=args.events,
            workers=workers,
            scheduler=args.scheduler,
            designs=args.designs,
            seed=args.seed,
            progress=update,
        )
    if args.quiet:
        return 0
    results = load_study(args.study)
    perf = results.performance_objectives
    t = Table(
        title=f"search ({results.info.get('events')} showers/point) vs confirmation "
        f"({result.events} showers/point)"
    )
    t.add_column("design")
    t.add_column(results.space.constraints.cost_short.replace(" (", "\n("), justify="right")
    for o in perf:
        t.add_column(o.label.replace(" (", "\n("), justify="right")
    t.add_column("confirmation")
    for x in result.designs:
        name = x.reference or f"trial {x.trial}"
        why = result.disagreements.get(x.trial, [])
        t.add_row(
            name,
            f"{x.cost:,.0f}",
            *(
                f"{_fmt(x.search[o.name].value, x.search[o.name].error, o.is_fraction)}\n"
                f"→ {_fmt(x.confirm[o.name].value, x.confirm[o.name].error, o.is_fraction)}"
                for o in perf
            ),
            "[red]disagrees[/red]: " + "; ".join(why) if why else "agrees",
        )
    console.print(t)
    for name, r in result.ranking.items():
        flips = r["reversed_pairs"]
        console.print(
            f"ranking by {name}: "
            + ("holds" if r["holds"] else f"[red]does not hold[/red] ({len(flips)} pairs reversed)")
            + f" (Kendall τ {r['kendall_tau']:.2f} over {r['designs']} designs; best in the "
            f"search: trial {r['best_in_search']}, confirmed: trial {r['best_confirmed']})"
        )
    basis = results.space.constraints.cost
    for c in result.comparisons:
        beaten = c["beaten_by_confirmed"]
        console.print(
            f"{c['reference']}: beaten on every performance objective at equal or lower "
            f"{basis} cost by "
            + (", ".join(f"trial {n}" for n in beaten) if beaten else "no front design")
            + " (confirmed)"
        )
    console.print(f"→ {result.path}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from calolab.optimization import load_study
    from calolab.optimization.results import pareto_table

    results = load_study(args.study)
    if args.json:
        print_json(pareto_table(results))
        return 0
    counts: dict[str, int] = {}
    for tr in results.trials:
        counts[tr.state] = counts.get(tr.state, 0) + 1
    console.print(
        f"study of '{results.space.name}' in {results.directory}: "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
        + f"; {results.showers:,} showers, {results.wall_seconds:.0f} s"
    )
    _print_front(results)
    return 0

"""``calolab demo``: the main job on a small default, ending in ``calolab-demo/report.html``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from contextlib import AbstractContextManager

from calolab.cli.common import console, progress_bar


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run the pipeline end to end and write an HTML report",
        description="Simulate electrons (and pions) of 1-100 GeV in two calorimeter designs, "
        "train four energy regressions (sum of cells, alpha*sum+beta, per-layer calibration, "
        "MLP), evaluate response and resolution, compare the designs including cost, and "
        "write OUTPUT/report.html.",
    )
    p.add_argument("--output", "-o", default="calolab-demo", help="output directory [calolab-demo]")
    p.add_argument("--quick", action="store_true", help="a smaller version (for tests)")
    p.add_argument("--seed", type=int, default=1, help="seed of the whole demo [1]")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (for logs and CI)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    import dataclasses

    from calolab.demo import DemoConfig, run_demo

    cfg = DemoConfig.quick() if args.quick else DemoConfig()
    cfg = dataclasses.replace(cfg, seed=args.seed)
    enabled = not args.no_progress

    def progress(description: str, total: int) -> AbstractContextManager[Callable[[int], None]]:
        return progress_bar(description, total, enabled)

    res = run_demo(args.output, cfg, progress=progress)
    t = res.timings
    console.print(
        f"[bold]demo finished in {t['total']:.0f} s[/bold] (simulate {t['simulate']:.0f} s, "
        f"train {t['train']:.0f} s, evaluate {t['evaluate']:.0f} s, report {t['report']:.0f} s)"
    )
    for row in res.table:
        if row["model"] == "mlp" and row["rmse_ratio_to_sum"] is not None:
            console.print(
                f"  {row['design']}, {row['particle']}: MLP relative RMSE "
                f"{100 * row['rmse_rel']:.1f}% = {row['rmse_ratio_to_sum']:.2f} × that of the "
                f"sum of cells ({-row['msre_diff_to_sum'] / row['msre_diff_err']:.0f} s.e.)"
            )
    console.print(f"open [bold]{res.report}[/bold] in a browser")
    return 0

"""``calolab evaluate``: response, resolution and metrics of a trained run on a test file."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from calolab.cli.common import add_read_arguments, console, print_json, progress_bar
from calolab.core.config import check_int
from calolab.core.errors import ConfigError
from calolab.core.files import check_output_dir
from calolab.data.hdf5 import ShowerFile


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "evaluate",
        help="evaluate a trained run on a test file (metrics.json + plots)",
        description="Predict a test file with a run of 'calolab train' and write metrics.json, "
        "predictions.h5 and plots (pred_vs_true.png, response.png, resolution.png; roc.png "
        "and confusion.png for classifiers).",
    )
    p.add_argument("run", help="run directory written by 'calolab train'")
    p.add_argument("--data", required=True, help="test file (same detector as the training)")
    p.add_argument("--output", "-o", required=True, help="output directory")
    p.add_argument("--bins", type=int, default=10, help="bins of true energy [10]")
    p.add_argument("--max-events", type=int, help="evaluate only the first N events")
    p.add_argument(
        "--tracker",
        action="store_true",
        help="also combine with a tracker of sigma/E = 20%% x E/TeV (inverse-variance average)",
    )
    p.add_argument(
        "--tracker-resolution",
        type=float,
        default=0.2,
        metavar="REL",
        help="tracker sigma/E at 1 TeV [0.2]",
    )
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu", help="[cpu]")
    p.add_argument("--batch-size", type=int, default=1024, help="[1024]")
    p.add_argument("--no-plots", action="store_true", help="metrics only")
    p.add_argument("--threads", type=int, help="CPU threads of torch [torch's default]")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print metrics.json")
    add_read_arguments(p)
    p.set_defaults(func=cmd_evaluate)


def _table(metrics: dict[str, Any]) -> Table:
    t = Table(title=f"{metrics['model']} on {metrics['detector']} ({metrics['n_events']} events)")
    for col in ("E [GeV]", "n", "response", "σ/E (core)", "μ [GeV]", "σ [GeV]", "μ_rel", "σ_rel"):
        t.add_column(col, justify="right")
    for b in metrics["bins"]:
        t.add_row(
            f"{b['e_lo']:.4g}–{b['e_hi']:.4g}",
            str(b["n"]),
            f"{b['response']:.4f} ± {b['response_err']:.4f}",
            f"{100 * b['resolution']:.2f} ± {100 * b['resolution_err']:.2f} %",
            f"{b['mu']:.3g}",
            f"{b['sigma']:.3g}",
            f"{100 * b['mu_rel']:.2f} %",
            f"{100 * b['sigma_rel']:.2f} %",
        )
    return t


def cmd_evaluate(args: argparse.Namespace) -> int:
    check_int("--bins", args.bins, minimum=1, maximum=1000)
    check_int("--batch-size", args.batch_size, minimum=1, maximum=1 << 20)
    if args.max_events is not None:
        check_int("--max-events", args.max_events, minimum=2)
    check_output_dir(args.output, inputs=[args.data], what="--output")
    if args.threads is not None:
        import torch

        if args.threads < 1:
            raise ConfigError(f"--threads {args.threads} must be >= 1")
        torch.set_num_threads(args.threads)
    from calolab.evaluation.evaluate import evaluate_run
    from calolab.training import load_run

    run = load_run(args.run, device=args.device)
    n = 0
    if run.config.data.kind == "showers":
        with ShowerFile(args.data) as f:
            n = min(len(f), args.max_events or len(f))
    with progress_bar("evaluate", n, enabled=n > 0 and not (args.quiet or args.json)) as advance:
        metrics = evaluate_run(
            run,
            args.data,
            args.output,
            n_bins=args.bins,
            max_events=args.max_events,
            tracker=args.tracker,
            tracker_rel_at_1tev=args.tracker_resolution,
            batch_size=args.batch_size,
            plots=not args.no_plots,
            progress=advance,
        )
    if args.json:
        print_json(metrics)
        return 0
    if metrics["task"] == "classification":
        console.print(f"accuracy {100 * metrics['accuracy']:.2f} %  AUC {metrics['auc']}")
        return 0
    console.print(_table(metrics))
    console.print(
        f"RMSE {metrics['rmse']:.4g} GeV  MAE {metrics['mae']:.4g} GeV  "
        f"μ {metrics['mu']:.4g} GeV  σ {metrics['sigma']:.4g} GeV  "
        f"μ_rel {100 * metrics['mu_rel']:.2f} %  σ_rel {100 * metrics['sigma_rel']:.2f} %"
    )
    fit = metrics.get("fit")
    if fit:
        console.print(
            f"σ/E = {100 * fit['a']:.2f}%/√E ⊕ {fit['b']:.3g}/E ⊕ {100 * fit['c']:.2f}% "
            f"(±{100 * fit['a_err']:.2f}, ±{fit['b_err']:.2g}, ±{100 * fit['c_err']:.2f}; "
            f"χ²/ndf {fit['chi2']:.1f}/{fit['ndf']})"
        )
    console.print(f"wrote {args.output}/metrics.json and plots")
    return 0

"""``calolab compare A B``: two sets of showers compared with the CaloChallenge metrics."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from calolab.cli.common import console, print_json
from calolab.core.errors import ConfigError


def _layer_sizes(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        sizes = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(
            f"--layer-sizes {text!r} must be comma-separated cell counts, e.g. 3,144,96"
        ) from None
    if any(s < 1 for s in sizes):
        raise ConfigError(f"--layer-sizes {text!r}: every layer needs at least one cell")
    return sizes


def _depth_bounds(text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    from calolab.evaluation.shower_compare import check_depth_bounds

    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(
            f"--depth {text!r} must be comma-separated fractions between 0 and 1, e.g. 0.1,0.9"
        ) from None
    return check_depth_bounds(values)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "compare",
        help="compare two sets of showers (classifier AUC, separation power, plots)",
        description="Compare two sets of showers with the CaloChallenge metrics: classifier "
        "AUCs on low-level (cells) and high-level features (layer energies, centres, widths, "
        "sparsity, E_tot/E_inc), the separation power of every high-level histogram and "
        "overlaid distributions with ratio panels. A and B are calolab or CaloChallenge HDF5 "
        "files, Geant4 reference files (.npz) or geant4:NAME for a file of the reference set "
        "shipped with calolab (e.g. geant4:V1_e-_20GeV).",
    )
    p.add_argument("a", help="first sample (the reference, e.g. geant4:V1_e-_20GeV)")
    p.add_argument("b", help="second sample (e.g. a file of calolab simulate)")
    p.add_argument("-o", "--output", type=Path, help="directory for compare.json and the plots")
    p.add_argument(
        "--classifier",
        default="gbdt",
        help="gbdt (gradient-boosted trees, CPU-fast), dnn (the CaloChallenge network; needs "
        "torch) or gbdt,dnn [gbdt]",
    )
    p.add_argument(
        "--features",
        default="low,high,longitudinal,total",
        help="feature sets to classify on [low,high,longitudinal,total]",
    )
    p.add_argument(
        "--depth",
        nargs="?",
        const="0.1,0.9",
        metavar="BOUNDS",
        help="also train on depth windows of the profile, cut where A's cumulative mean energy "
        "reaches BOUNDS (comma-separated fractions) [0.1,0.9: the first 10 %%, the middle "
        "80 %%, the last 10 %%]: where along the shower the samples differ",
    )
    p.add_argument(
        "--match-response",
        action="store_true",
        help="scale B's energies by one factor so that its mean E_vis/E_inc equals A's, then "
        "compare: the shapes and fluctuations without the calibration (the factor is reported)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the splits and trainings [0]")
    p.add_argument(
        "--repeats", type=int, default=1, help="train each classifier this many times [1]"
    )
    p.add_argument("--epochs", type=int, default=50, help="DNN training epochs [50]")
    p.add_argument("--max-events", type=int, help="read at most this many events per sample")
    p.add_argument("--layer-sizes", help="cells per layer of CaloChallenge files, comma-separated")
    p.add_argument(
        "--cell-threshold",
        type=float,
        default=0.0,
        help="cell energy (MeV) at or below which a cell counts as empty (sparsity) [0]",
    )
    p.add_argument("--no-plots", action="store_true", help="write compare.json only")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from calolab.evaluation.shower_compare import compare_samples, write_comparison
    from calolab.evaluation.shower_features import load_sample

    classifiers = [c.strip() for c in args.classifier.split(",") if c.strip()]
    features = [f.strip() for f in args.features.split(",") if f.strip()]
    if args.max_events is not None and args.max_events < 10:
        raise ConfigError(f"--max-events {args.max_events} must be >= 10")
    if args.epochs < 1:
        raise ConfigError(f"--epochs {args.epochs} must be >= 1")
    if args.cell_threshold < 0:
        raise ConfigError(f"--cell-threshold {args.cell_threshold} must be >= 0 MeV")
    if args.output is not None:
        from calolab.core.files import check_output_dir

        check_output_dir(args.output, what="--output")
    sizes = _layer_sizes(args.layer_sizes)
    depth = _depth_bounds(args.depth)
    kw = {
        "layer_sizes": sizes,
        "max_events": args.max_events,
        "cell_threshold": args.cell_threshold / 1000.0,
    }
    a = load_sample(args.a, **kw)
    b = load_sample(args.b, **kw)
    res = compare_samples(
        a,
        b,
        classifiers=classifiers,
        feature_sets=features,
        seed=args.seed,
        repeats=args.repeats,
        dnn_epochs=args.epochs,
        depth_bounds=depth,
        match_response=args.match_response,
    )
    if args.output is not None:
        res = write_comparison(res, a, b, args.output, plots=not args.no_plots)
    if args.json:
        print_json(res.to_dict())
        return 0
    t = Table(title=f"{a.name} ({len(a)} events) vs {b.name} ({len(b)} events)")
    for c in ("classifier", "features", "inputs", "AUC", "± stat", "spread", "JSD"):
        t.add_column(c, justify="left" if c in ("classifier", "features") else "right")
    for r in res.classifiers:
        t.add_row(
            r.classifier,
            r.features + (f" ({res.low_level})" if r.features == "low" else ""),
            str(r.n_features),
            f"{r.auc:.3f}",
            f"{r.auc_err:.3f}",
            "—" if r.auc_spread is None else f"{r.auc_spread:.3f}",
            f"{r.jsd:.3f}",
        )
    m = res.response_match
    if m is not None:
        console.print(
            f"B's energies x {m.factor:.4f} ± {m.error:.4f} (mean E_vis/E_inc: A "
            f"{m.response_a:.5g}, B {m.response_b:.5g}): the classifiers see the response matched"
        )
    console.print(t)
    if res.depth_windows:
        console.print(
            "depth windows (share of A's mean energy): "
            + ", ".join(
                f"{w.features}: {w.energy_lo:.0%}-{w.energy_hi:.0%}" for w in res.depth_windows
            )
        )
    s = Table(title="largest separation powers (S; expected for identical samples)")
    s.add_column("histogram")
    s.add_column("S", justify="right")
    s.add_column("if identical", justify="right")
    for name, v, noise in res.worst_separation(8):
        s.add_row(name, f"{v:.4f}", f"{noise:.4f}")
    console.print(s)
    if args.output is not None:
        console.print(
            f"wrote {args.output / 'compare.json'}"
            + (f" and {len(res.plots)} plots" if res.plots else "")
        )
    return 0

"""``calolab evaluate``: response, resolution and metrics of a trained run on a test file."""

from __future__ import annotations

import argparse
import math
from typing import Any

from rich.table import Table

from calolab.cli.common import add_read_arguments, console, err_console, print_json, progress_bar
from calolab.core.config import check_float, check_int
from calolab.core.errors import ConfigError
from calolab.core.files import check_output_dir
from calolab.data.hdf5 import ShowerFile

#: Exit code of ``--strict`` when a sanity check failed.
EXIT_FLAGGED = 3


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a trained run on a test file (metrics.json + plots)",
        description="Predict a test file with a run of 'calolab train' and write metrics.json, "
        "predictions.h5 and plots (pred_vs_true.png, response.png, resolution.png, "
        "tracker.png; roc.png, confusion.png and efficiency.png for classifiers). Sanity "
        "checks (response, energy scale, bias correction, fit quality, bin populations) are "
        "printed and recorded under 'warnings' in metrics.json; with --strict any warning "
        f"makes the exit code {EXIT_FLAGGED}.",
    )
    p.add_argument("run", help="run directory written by 'calolab train'")
    p.add_argument("--data", required=True, help="test file (same detector as the training)")
    p.add_argument("--output", "-o", required=True, help="output directory")
    p.add_argument(
        "--bins",
        default="10",
        metavar="N|EDGES",
        help="number of bins of true energy, or their edges in GeV (e.g. 1,5,10,50,100) [10]",
    )
    p.add_argument(
        "--binning",
        choices=["quantile", "lin", "log"],
        help="how N bins are placed: equal populations (quantile), linear or logarithmic "
        "[quantile]",
    )
    p.add_argument(
        "--by",
        metavar="FIELD[:N]",
        help="also measure per group of a truth field: particle, energy, theta, ... "
        "(a continuous field in N equal-population ranges, default 4)",
    )
    p.add_argument(
        "--fit-terms",
        metavar="TERMS",
        help="terms of the fit sigma/E = a/sqrt(E) + b/E + c (in quadrature), e.g. a,c "
        "[a,b,c; a term that ends at 0 is fixed to 0]",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help=f"exit with code {EXIT_FLAGGED} when a sanity check fails (pipelines, optimiser)",
    )
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
    p.add_argument(
        "--systematics",
        metavar="FILE",
        help="declared variations (TOML/JSON: energy_scale, core_range, bias_correction, "
        "dead_fraction, dead_seed; see docs/conditions.md) [1%% scale, ±1.5/2.5σ core, bias "
        "fit ±1σ]",
    )
    p.add_argument("--no-systematics", action="store_true", help="statistical uncertainties only")
    p.add_argument(
        "--timing",
        action="store_true",
        help="also measure the timing resolution sigma_t(E) = A/sqrt(E) + B (in quadrature) of "
        "the test file's digitised cell times (simulate with --timing)",
    )
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu", help="[cpu]")
    p.add_argument("--batch-size", type=int, default=1024, help="[1024]")
    p.add_argument("--no-plots", action="store_true", help="metrics only")
    p.add_argument("--threads", type=int, help="CPU threads of torch [torch's default]")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print metrics.json")
    add_read_arguments(p)
    p.set_defaults(func=cmd_evaluate)


def _pct(v: float | None, err: float | None = None) -> str:
    """Percent with the value rounded like its error (two significant digits of the error),
    or to three significant digits without one."""
    if v is None:
        return "–"
    x = 100 * v
    if err is None or not err > 0:
        return f"{x:.3g} %"
    e = 100 * err
    dec = max(0, 1 - math.floor(math.log10(e)))
    return f"{x:.{dec}f} ± {e:.{dec}f} %"


def _num(v: float | None, fmt: str = ".4f") -> str:
    return "–" if v is None else format(v, fmt)


def bins_table(title: str, res: Any) -> Table:
    """The measured bins of a :class:`~calolab.evaluation.regression.RegressionResult`."""
    t = Table(title=title)
    for col in ("E [GeV]", "n", "response", "σ/E (core)", "μ [GeV]", "σ [GeV]", "μ_rel", "σ_rel"):
        t.add_column(col, justify="right")
    for b in res.bins:
        t.add_row(
            f"{b.e_lo:.4g}–{b.e_hi:.4g}",
            str(b.n),
            f"{b.response:.4f} ± {_num(b.response_err)}",
            _pct(b.resolution, b.resolution_err),
            f"{b.mu:.3g}",
            f"{b.sigma:.3g}",
            _pct(b.mu_rel),
            _pct(b.sigma_rel),
        )
    return t


def fit_text(res: Any) -> str:
    fit = res.fit
    if fit is None:
        return res.fit_note or "no resolution fit"
    terms = []
    if "a" in fit.terms:
        terms.append(f"{100 * fit.a:.2f} ± {100 * fit.a_err:.2f} %/√E")
    if "b" in fit.terms:
        terms.append(f"{fit.b:.3g} ± {fit.b_err:.2g} GeV/E")
    if "c" in fit.terms:
        terms.append(f"{100 * fit.c:.2f} ± {100 * fit.c_err:.2f} %")
    extra = f"; fixed to 0: {', '.join(fit.dropped)}" if fit.dropped else ""
    return (
        f"fit σ/E = {' ⊕ '.join(terms)}  (χ²/ndf {fit.chi2:.1f}/{fit.ndf}, "
        f"{fit.e_min:.3g}–{fit.e_max:.3g} GeV{extra})"
    )


def summary_text(res: Any) -> str:
    return (
        f"RMSE {res.rmse:.4g} GeV  MAE {res.mae:.4g} GeV  μ {res.mu:.4g} GeV  "
        f"σ {res.sigma:.4g} GeV  μ_rel {100 * res.mu_rel:.2f} %  σ_rel {100 * res.sigma_rel:.2f} %"
    )


def print_regression(r: Any) -> None:
    head = f"{r.model} on {r.detector or r.dataset} ({r.n_events} events, {r.binning.describe()})"
    console.print(bins_table(f"{head}: raw predictions", r.raw))
    console.print(summary_text(r.raw))
    console.print(fit_text(r.raw))
    bc = r.bias_correction
    if bc is not None and bc.fit is not None:
        state = "applied" if bc.applied else f"NOT applied ({bc.reason})"
        console.print(
            f"bias correction from the {bc.source}: E = (E_pred − {bc.fit.intercept:.4g}) / "
            f"{bc.fit.slope:.4g}, {state}"
        )
    if r.corrected is not None:
        console.print(bins_table(f"{head}: after the bias correction", r.corrected))
        console.print(summary_text(r.corrected))
        console.print(fit_text(r.corrected))
    if r.systematics is not None:
        print_systematics(r.systematics)
    if r.timing is not None:
        print_timing(r.timing)
    if r.groups:
        t = Table(title=f"by {r.by}")
        for col in ("group", "events", "σ/E mean over bins", "fit", "μ_rel", "σ_rel"):
            t.add_column(col, justify="right")
        for g in r.groups:
            best = g.corrected or g.raw
            t.add_row(
                g.value,
                str(g.n_events),
                _pct(best.core_resolution),
                fit_text(best).removeprefix("fit "),
                _pct(best.mu_rel),
                _pct(best.sigma_rel),
            )
        console.print(t)
    if r.tracker is not None:
        tr = r.tracker
        t = Table(
            title=f"tracker combination (tracker σ/E = {100 * tr.rel_at_1tev:g} % × E/TeV, "
            f"calorimeter: {tr.source} predictions, weights from its {tr.calo_resolution})"
        )
        for col in ("E [GeV]", "n", "calo σ/E", "tracker σ/E", "combined σ/E", "expected"):
            t.add_column(col, justify="right")
        for b in tr.bins:
            t.add_row(
                f"{b.e_lo:.4g}–{b.e_hi:.4g}",
                str(b.n),
                _pct(b.calo),
                _pct(b.tracker),
                _pct(b.combined, b.combined_err),
                _pct(b.expected),
            )
        console.print(t)


def _pm(v: float | None, stat: float | None, syst: float | None, scale: float = 100.0) -> str:
    if v is None:
        return "–"
    return (
        f"{scale * v:.3g} ± {scale * (stat or 0.0):.2g} (stat) ± {scale * (syst or 0.0):.2g} (syst)"
    )


def print_systematics(s: Any) -> None:
    """σ/E with its statistical and systematic uncertainties, and the table of sources."""
    from calolab.evaluation.systematics import systematics_table

    t = Table(title=f"systematic uncertainties ({s.part} predictions)")
    for col in ("source", "varied", "Δ σ/E (mean)", "Δa [%/√GeV]", "Δb [GeV]", "Δc [%]"):
        t.add_column(col, justify="right")
    for row in systematics_table(s):
        t.add_row(
            row["source"],
            row["note"],
            f"{100 * row['core_resolution']:.3f} %",
            "–" if row["a"] is None else f"{100 * row['a']:.3f}",
            "–" if row["b"] is None else f"{row['b']:.3g}",
            "–" if row["c"] is None else f"{100 * row['c']:.3f}",
        )
    console.print(t)
    console.print(
        f"σ/E (mean over bins) = {_pm(s.core_resolution, s.core_resolution_stat, s.core_resolution_syst)} %"
    )
    terms = []
    if s.a is not None:
        terms.append(f"a = {_pm(s.a, s.a_stat, s.a_syst)} %/√GeV")
    if s.b is not None:
        terms.append(f"b = {_pm(s.b, s.b_stat, s.b_syst, 1.0)} GeV")
    if s.c is not None:
        terms.append(f"c = {_pm(s.c, s.c_stat, s.c_syst)} %")
    if terms:
        console.print("fit: " + ";  ".join(terms))
    for n in s.notes:
        console.print(f"  note: {n}", highlight=False)


def print_timing(tr: Any) -> None:
    t = Table(title=f"timing resolution of the shower time ({tr.source} cell times)")
    for col in ("E [GeV]", "n", "⟨t⟩ [ns]", "σ_t [ps]"):
        t.add_column(col, justify="right")
    for b in tr.bins:
        t.add_row(
            f"{b.e_lo:.4g}–{b.e_hi:.4g}",
            str(b.n),
            f"{b.mean_ns:.3f}",
            f"{1000 * b.sigma_ns:.1f} ± {1000 * b.sigma_err_ns:.1f}",
        )
    console.print(t)
    if tr.a_ns is not None:
        console.print(
            f"fit σ_t = {1000 * tr.a_ns:.1f} ± {1000 * tr.a_err_ns:.1f} ps·√GeV/√E ⊕ "
            f"{1000 * tr.b_ns:.1f} ± {1000 * tr.b_err_ns:.1f} ps  (χ²/ndf {tr.chi2:.1f}/{tr.ndf})"
        )


def print_classification(r: Any) -> None:
    c = r.classification
    console.print(f"{r.model} on {r.detector or r.dataset}: {c.n_events} events")
    t = Table(title="confusion matrix (rows: true class, columns: predicted)")
    t.add_column("true \\ predicted")
    for name in c.classes:
        t.add_column(name, justify="right")
    for name, row in zip(c.classes, c.confusion_matrix):
        t.add_row(name, *[str(v) for v in row])
    console.print(t)
    console.print(f"accuracy {100 * c.accuracy:.2f} %")
    t = Table(title="class pairs (signal vs background)")
    for col in ("pair", "AUC", "signal eff.", "background eff.", "rejection 1/ε_b"):
        t.add_column(col, justify="right")
    for p in c.pairs:
        for w in p.working_points:
            t.add_row(
                p.name,
                _num(p.auc),
                f"{100 * w.signal_efficiency:.1f} %",
                f"{100 * w.background_efficiency:.2f} %",
                w.rejection_text(),
            )
    console.print(t)
    for p in c.pairs:
        for dep in p.by_energy:
            t = Table(title=f"{p.name} at the threshold of ε = {dep.efficiency:g}, per energy bin")
            for col in ("E [GeV]", "signal", "background", "signal eff.", "rejection"):
                t.add_column(col, justify="right")
            for b in dep.bins:
                t.add_row(
                    f"{b.e_lo:.4g}–{b.e_hi:.4g}",
                    str(b.n_signal),
                    str(b.n_background),
                    "–" if b.signal_efficiency is None else f"{100 * b.signal_efficiency:.1f} %",
                    b.rejection_text(),
                )
            console.print(t)


def print_warnings(r: Any, quiet_if_none: bool = False) -> None:
    if not r.warnings:
        if not quiet_if_none:
            console.print("sanity checks: all passed")
        return
    err_console.print(f"[bold yellow]{len(r.warnings)} sanity check(s) failed:[/bold yellow]")
    for w in r.warnings:
        err_console.print(f"  warning {w}", markup=False, highlight=False)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from calolab.evaluation.fits import check_terms
    from calolab.evaluation.regression import EnergyBinning

    binning = EnergyBinning.parse(args.bins, args.binning)
    terms = check_terms(args.fit_terms, "--fit-terms") if args.fit_terms is not None else None
    check_int("--batch-size", args.batch_size, minimum=1, maximum=1 << 20)
    if args.max_events is not None:
        check_int("--max-events", args.max_events, minimum=2)
    check_float("--tracker-resolution", args.tracker_resolution, exclusive_minimum=0.0)
    if args.by is not None and not args.by.strip():
        raise ConfigError("--by needs a truth field, e.g. particle")
    check_output_dir(args.output, inputs=[args.data], what="--output")
    if args.threads is not None:
        import torch

        check_int("--threads", args.threads, minimum=1)
        torch.set_num_threads(args.threads)
    from calolab.evaluation.evaluate import evaluate_run
    from calolab.evaluation.systematics import SystematicsConfig
    from calolab.training import load_run

    if args.no_systematics and args.systematics:
        raise ConfigError("give --systematics FILE or --no-systematics, not both")
    systematics = (
        None
        if args.no_systematics
        else SystematicsConfig.load(args.systematics) if args.systematics else SystematicsConfig()
    )

    run = load_run(args.run, device=args.device)
    n = 0
    if run.config.data.kind == "showers":
        with ShowerFile(args.data) as f:
            n = min(len(f), args.max_events or len(f))
    with progress_bar("evaluate", n, enabled=n > 0 and not (args.quiet or args.json)) as advance:
        result = evaluate_run(
            run,
            args.data,
            args.output,
            binning=binning,
            by=args.by,
            fit_terms=terms,
            max_events=args.max_events,
            tracker=args.tracker,
            tracker_rel_at_1tev=args.tracker_resolution,
            batch_size=args.batch_size,
            plots=not args.no_plots,
            progress=advance,
            systematics=systematics,
            timing=args.timing,
        )
    if args.json:
        print_json(result.to_table())
    else:
        if result.task == "classification":
            print_classification(result)
        else:
            print_regression(result)
        console.print(f"wrote {args.output}/metrics.json and plots")
    print_warnings(result, quiet_if_none=args.json)
    return EXIT_FLAGGED if args.strict and result.warnings else 0

"""``calolab validate``: the fast simulation against the Geant4 reference showers."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from calolab.cli.common import console, print_json, progress_bar
from calolab.core import files
from calolab.core.errors import ConfigError

if TYPE_CHECKING:
    from calolab.simulation.validation import ReferenceSample


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("validate", help="compare the fast simulation with Geant4 reference showers")
    p.add_argument(
        "--reference",
        type=Path,
        help="directory of the reference .npz files "
        "(default: $CALOLAB_GEANT4_REFERENCE, else the set shipped with calolab)",
    )
    p.add_argument("--config", help="only these configurations, e.g. V1,V3")
    p.add_argument("--particle", help="only this particle, e.g. e-")
    p.add_argument(
        "--events", type=int, default=500, help="at most this many events per sample [500]"
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--classifier",
        action="store_true",
        help="also train calolab compare's classifier (GBDT, 3 trainings) to tell the fast e±/γ "
        "showers from the reference's, on the layer energies and on the total alone; in "
        "sampling stacks also with the mean response matched (issue 13's goals: AUC <= 0.7 "
        "and <= 0.6). Give --events 2000 for the reference files' full samples",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--output", "-o", type=Path, help="also write the results as JSON here")
    p.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    # imported here: scipy.optimize (~0.1 s) would slow every other command's start
    from calolab.simulation.validation import (
        CONTAINMENT_RADII_CM,
        compare,
        default_reference_dir,
        find_references,
    )

    if args.events < 10:
        raise ConfigError(f"--events {args.events} must be >= 10")
    if args.output:
        files.check_output(args.output, what="--output", suffix_hint="validation.json")
    samples = find_references(args.reference or default_reference_dir())
    if args.config:
        wanted = {c.strip().upper() for c in args.config.split(",")}
        samples = [s for s in samples if s.config in wanted]
    if args.particle:
        samples = [s for s in samples if s.particle == args.particle]
    if not samples:
        raise ConfigError("no reference sample matches --config/--particle")
    from calolab.core.errors import ConfigError as Unsupported

    results = []
    with progress_bar("validate", len(samples), not args.json) as adv:
        for s in samples:
            try:
                ref_n = min(args.events, 2000)
                results.append(compare(s, n_events=ref_n, seed=args.seed))
            except Unsupported as exc:
                results.append({"sample": s.label, "skipped": str(exc)})
            if args.classifier and "skipped" not in results[-1]:
                results[-1]["classifier"] = _classifier(s, ref_n, args.seed)
            adv(1)
    if args.output:
        files.write_json(args.output, results, what="--output")
    if args.json:
        print_json(results)
        return 0
    t = Table(title="fast simulation vs Geant4 reference (ref / fast)")
    cols = ["sample", "visible/E", "σ/mean", "T (layers)"] + [
        f"r≤{r:g} cm" for r in CONTAINMENT_RADII_CM
    ]
    for c in cols:
        t.add_column(c, justify="left" if c == "sample" else "right")
    for r in results:
        if "skipped" in r:
            t.add_row(
                r["sample"], f"[dim]skipped: {r['skipped'][:60]}[/dim]", *[""] * (len(cols) - 2)
            )
            continue
        ref, fast = r["reference"], r["fast"]
        tmax = (
            f"{ref['shower_max_layers']:.2f} / {fast['shower_max_layers']:.2f}"
            if "shower_max_layers" in fast
            else "—"
        )
        t.add_row(
            r["sample"],
            f"{ref['visible_over_e']:.4f} / {fast['visible_over_e']:.4f}",
            f"{ref['sigma_over_mean']:.4f} / {fast['sigma_over_mean']:.4f}",
            tmax,
            *[f"{a:.3f} / {b:.3f}" for a, b in zip(ref["containment"], fast["containment"])],
        )
    console.print(t)
    if args.classifier:
        console.print(_classifier_table(results))
    return 0


def _classifier(sample: ReferenceSample, n_events: int, seed: int) -> dict[str, Any] | None:
    from calolab.evaluation.reference_classifier import EM_PARTICLES, classify_against_reference

    if sample.particle not in EM_PARTICLES:
        return None
    return classify_against_reference(sample, n_events=n_events, seed=seed).to_dict()


def _classifier_table(results: list[dict[str, Any]]) -> Table:
    from calolab.evaluation.reference_classifier import LONGITUDINAL_GOAL, TOTAL_GOAL

    t = Table(
        title="classifier AUC, Geant4 against fast (GBDT; 0.5: indistinguishable; goals "
        f"<= {LONGITUDINAL_GOAL:g} longitudinal, <= {TOTAL_GOAL:g} total)"
    )
    for name in (
        "sample",
        "events",
        "longitudinal",
        "total",
        "response x",
        "matched: long.",
        "total",
    ):
        t.add_column(name, justify="left" if name == "sample" else "right")

    def auc(r: dict[str, Any] | None) -> str:
        return "—" if r is None else f"{r['auc']:.3f} ± {r['auc_err']:.3f}"

    for r in results:
        c = r.get("classifier")
        if not c:
            continue
        m = c["response_match"]
        t.add_row(
            c["sample"],
            " / ".join(str(n) for n in c["events"]),
            auc(c["longitudinal"]),
            auc(c["total"]),
            "—" if m is None else f"{m['factor']:.4f} ± {m['error']:.4f}",
            auc(c["longitudinal_matched"]),
            auc(c["total_matched"]),
        )
    return t

"""``calolab detector list|show|export``."""

from __future__ import annotations

import argparse
from typing import Any

from rich.markup import escape
from rich.table import Table

from calolab.cli.common import console, print_json
from calolab.core.files import check_output
from calolab.geometry import PRESETS, Calorimeter, preset, resolve_detector, save_detector


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("detector", help="list, show and export detector designs")
    dsub = p.add_subparsers(dest="detector_command", metavar="ACTION", required=True)

    pl = dsub.add_parser("list", help="list the built-in detectors")
    pl.add_argument("--json", action="store_true", help="print JSON")
    pl.set_defaults(func=cmd_list)

    ps = dsub.add_parser("show", help="layers, depth (cm, X0, λI), channels and cost of a detector")
    ps.add_argument("detector", help="preset name or TOML file")
    ps.add_argument(
        "--budget",
        type=float,
        metavar="CHF",
        help="compare the cost to a budget (exit status 1 when a constraint is violated)",
    )
    ps.add_argument("--max-depth", type=float, metavar="CM", help="compare the depth to a maximum")
    ps.add_argument("--layers", action="store_true", help="print every physical layer")
    ps.add_argument("--json", action="store_true", help="print JSON")
    ps.set_defaults(func=cmd_show)

    pe = dsub.add_parser("export", help="write a detector to a TOML, JSON or GDML file")
    pe.add_argument("detector", help="preset name or TOML file")
    pe.add_argument(
        "-o",
        "--output",
        required=True,
        help="output file: .toml or .json (calolab; both read back) or .gdml (Geant4/DD4hep)",
    )
    pe.set_defaults(func=cmd_export)


def cmd_list(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = []
    for name in PRESETS:
        d = preset(name)
        rows.append(
            {
                "name": name,
                "depth_cm": d.depth_cm,
                "depth_x0": d.depth_x0,
                "depth_lambda_i": d.depth_lambda_i,
                "channels": d.n_channels,
                "cost_chf": d.cost_chf,
                "material_cost_chf": d.material_cost_chf,
                "channel_cost_chf": d.channel_cost_chf,
                "description": d.description,
            }
        )
    if args.json:
        print_json(rows)
        return 0
    t = Table(title="built-in detectors")
    for col in ("name", "depth (cm)", "X0", "λI", "channels", "cost (CHF)", "of it channels"):
        t.add_column(col, justify="left" if col == "name" else "right", no_wrap=True)
    for r in rows:
        t.add_row(
            r["name"],
            f"{r['depth_cm']:.1f}",
            f"{r['depth_x0']:.1f}",
            f"{r['depth_lambda_i']:.2f}",
            f"{r['channels']:,}",
            f"{r['cost_chf']:,.0f}",
            f"{r['channel_cost_chf']:,.0f}",
        )
    console.print(t)
    console.print("details: calolab detector show NAME")
    return 0


def _show_table(det: Calorimeter, budget: float | None, max_depth: float | None) -> list[str]:
    s = det.summary()
    console.print(f"[bold]{escape(det.name)}[/bold]  {escape(det.description)}", highlight=False)
    console.print(
        f"transverse size {det.transverse_size_cm[0]:g} x {det.transverse_size_cm[1]:g} cm, "
        f"depth {s['depth_cm']:.2f} cm = {s['depth_x0']:.2f} X0 = {s['depth_lambda_i']:.2f} λI, "
        f"{s['readout_layers']} readout layers, {s['channels']:,} channels"
    )
    t = Table(title="sections")
    for col in ("section", "pattern", "repeat", "cm", "X0", "λI", "f_mip", "cells", "channels"):
        t.add_column(col, justify="left" if col in ("section", "pattern") else "right")
    for sec in s["sections"]:
        t.add_row(
            escape(str(sec["name"])),
            escape(str(sec["pattern"])),
            str(sec["repeat"]),
            f"{sec['depth_cm']:.2f}",
            f"{sec['depth_x0']:.2f}",
            f"{sec['depth_lambda_i']:.3f}",
            f"{sec['mip_sampling_fraction']:.4f}",
            f"{sec['cells'][0]}x{sec['cells'][1]} @ {sec['cell_size_cm'][0]:g} cm",
            f"{sec['channels']:,}",
        )
    console.print(t)
    r = Table(title="readout (per channel; 1 MIP = dE/dx|min × thickness of the sensitive layer)")
    for col in (
        "section",
        "technology",
        "MIP (MeV)",
        "pe/MIP",
        "F",
        "noise (MIP)",
        "noise (MeV)",
        "threshold (MIP)",
        "range (MIP)",
        "noise hits/event",
    ):
        r.add_column(col, justify="left" if col in ("section", "technology") else "right")
    for sec, secobj in zip(s["sections"], det.sections):
        for lay in sec["readout_layers"]:
            cr = secobj.readout.for_layer(lay["mip_mev"])
            r.add_row(
                escape(
                    sec["name"]
                    + ("" if len(sec["readout_layers"]) == 1 else f" ({lay['material']})")
                ),
                secobj.readout.technology,
                f"{cr.mip_mev:.3g}",
                f"{cr.photoelectrons_per_mip:.3g}" if cr.photoelectrons_per_mip else "–",
                f"{cr.excess_noise_factor:g}" if cr.photoelectrons_per_mip else "–",
                f"{cr.noise_mip:.3g}" if cr.noise_mip else "–",
                f"{cr.noise_mip * cr.mip_mev:.3g}" if cr.noise_mip else "–",
                (
                    f"{secobj.readout.threshold_sigma:g}σ ({cr.threshold_mip:.3g})"
                    if cr.noise_mip
                    else "–"
                ),
                f"{cr.saturation_mip:,.4g}" if cr.saturation_mip != float("inf") else "–",
                f"{sec['noise_hits_per_event']:.3g}",
            )
    console.print(r)
    c = Table(title="mass and cost")
    for col in ("item", "mass (kg)", "price", "cost (CHF)"):
        c.add_column(col, justify="left" if col == "item" else "right")
    prices = {
        layer.material.name: layer.material.price_chf_per_kg
        for sec in det.sections
        for layer in sec.layers
    }
    for m, mass in s["mass_kg"].items():
        c.add_row(escape(m), f"{mass:,.1f}", f"{prices[m]:,.2f} CHF/kg", f"{s['cost_chf'][m]:,.0f}")
    for sec in s["sections"]:
        per = sec["channel_cost_chf"] / sec["channels"] if sec["channels"] else 0.0
        c.add_row(
            escape(
                f"{sec['name']}: {sec['channels']:,} channels "
                f"({sec['readout'].get('technology', 'ideal')})"
            ),
            "",
            f"{per:,.2f} CHF/channel",
            f"{sec['channel_cost_chf']:,.0f}",
        )
    c.add_row(
        "[bold]total[/bold]",
        f"{s['total_mass_kg']:,.1f}",
        f"materials {s['material_cost_chf']:,.0f} + channels {s['channel_cost_chf']:,.0f}",
        f"[bold]{s['total_cost_chf']:,.0f}[/bold]",
    )
    console.print(c)
    for w in s["readout_warnings"]:
        console.print(f"[yellow]readout warning[/yellow]: {escape(w)}", highlight=False)
    if budget is not None or max_depth is not None:
        problems = det.check_constraints(budget_chf=budget, max_depth_cm=max_depth)
        if budget is not None and not any("budget" in p for p in problems):
            console.print(
                f"[green]within budget[/green]: {det.cost_chf:,.0f} of {budget:,.0f} CHF "
                f"({100 * det.cost_chf / budget:.1f} %; materials {det.material_cost_chf:,.0f}, "
                f"readout channels {det.channel_cost_chf:,.0f})"
            )
        if max_depth is not None and not any("depth" in p for p in problems):
            console.print(f"[green]within length[/green]: {det.depth_cm:.2f} of {max_depth:.2f} cm")
        for p in problems:
            console.print(f"[red]constraint violated[/red]: {p}")
        return problems
    return []


def cmd_show(args: argparse.Namespace) -> int:
    det = resolve_detector(args.detector)
    if args.json:
        out = det.summary()
        out["readout"] = [r.to_dict() for r in det.readout_layers]
        if args.layers:
            out["layers"] = det.layer_table()
        problems: list[str] = []
        if args.budget is not None or args.max_depth is not None:
            problems = det.check_constraints(budget_chf=args.budget, max_depth_cm=args.max_depth)
            out["constraint_violations"] = problems
        print_json(out)
        return 1 if problems else 0
    problems = _show_table(det, args.budget, args.max_depth)
    if args.layers:
        t = Table(title="layers")
        for col in (
            "#",
            "section",
            "period",
            "material",
            "cm",
            "sensitive",
            "z end (cm)",
            "X0 end",
            "λI end",
        ):
            t.add_column(col, justify="right")
        for i, r in enumerate(det.layer_table()):
            t.add_row(
                str(i),
                escape(str(r["section"])),
                str(r["period"]),
                escape(str(r["material"])),
                f"{r['thickness_cm']:g}",
                "yes" if r["sensitive"] else "",
                f"{r['z_end_cm']:.3f}",
                f"{r['depth_x0_end']:.2f}",
                f"{r['depth_lambda_end']:.3f}",
            )
        console.print(t)
    return 1 if problems else 0


def cmd_export(args: argparse.Namespace) -> int:
    from calolab.simulation.run import detector_inputs

    inputs = tuple(detector_inputs(args.detector))
    check_output(args.output, inputs=inputs, what="--output", suffix_hint="detector.toml")
    det = resolve_detector(args.detector)
    if str(args.output).lower().endswith(".gdml"):
        from calolab.geometry.gdml import save_gdml

        path = save_gdml(det, args.output, inputs=inputs)
    else:
        path = save_detector(det, args.output, inputs=inputs)
    console.print(f"wrote {escape(str(path))}", highlight=False)
    return 0

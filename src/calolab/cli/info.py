"""``calolab info FILE``: what is in a dataset."""

from __future__ import annotations

import argparse

from rich.markup import escape
from rich.table import Table

from calolab.cli.common import add_read_arguments, console, print_json
from calolab.data.summary import summarize


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("info", help="summarise an HDF5 dataset")
    p.add_argument("file", help="HDF5 file (calolab or CaloChallenge)")
    p.add_argument("--json", action="store_true", help="print JSON, including the layer list")
    add_read_arguments(p)
    p.set_defaults(func=cmd_info)


def cmd_info(args: argparse.Namespace) -> int:
    s = summarize(args.file)
    if args.json:
        print_json(s)
        return 0
    t = Table(title=f"{s['file']}", show_header=False)
    t.add_column("key", style="bold")
    t.add_column("value")
    t.add_row("format", s["format"])
    t.add_row("events", f"{s['events']:,}")
    t.add_row("cells per event", f"{s['cells']:,}")
    t.add_row(
        "cell layout",
        (
            "dense (CaloChallenge 'showers')"
            if s["layout"] == "dense"
            else "sparse (non-zero cells in calolab/sparse)"
        ),
    )
    t.add_row("file size", f"{s['size_bytes'] / 1e6:,.1f} MB")
    e = s["energy_gev"]
    if e["min"] is not None:
        t.add_row("energy (GeV)", f"{e['min']:.4g} – {e['max']:.4g} (mean {e['mean']:.4g})")
    t.add_row("particles", ", ".join(f"{k}: {v:,}" for k, v in s["particles"].items()))
    if s["mean_visible_over_energy"] is not None:
        t.add_row("mean visible / E", f"{s['mean_visible_over_energy']:.4f}")
    prov = s.get("provenance") or {}
    cfg = prov.get("config", {}) if isinstance(prov, dict) else {}
    digi = cfg.get("digitizer") if isinstance(cfg, dict) else None
    if s["digitized"] and isinstance(digi, dict):
        sections = digi.get("sections") or {}
        t.add_row(
            "digitised cells",
            escape(
                f"yes ({digi.get('calibration', '?')} scale): "
                + "; ".join(
                    f"{k}: {v.get('summary', '') if isinstance(v, dict) else v}"
                    for k, v in sections.items()
                )
            ),
        )
    else:
        t.add_row("digitised cells", "yes" if s["digitized"] else "no")
    if "detector" in s:
        d = s["detector"]
        t.add_row(
            "detector",
            f"{d['name']}: {d['depth_cm']:.1f} cm, {d['depth_x0']:.1f} X0, {d['depth_lambda_i']:.2f} λI, "
            f"{len(s['layers'])} readout layers",
        )
    source = cfg.get("source") if isinstance(cfg, dict) else None
    if isinstance(source, dict) and source.get("format") == "edm4hep":
        files = prov.get("source_files")
        files = files if isinstance(files, list) else []
        mapping = source.get("mapping")
        by = mapping.get("by", "?") if isinstance(mapping, dict) else "?"
        t.add_row(
            "imported from",
            escape(
                f"{len(files)} EDM4hep file(s), collection '{source.get('collection')}', "
                f"cells by {by}: "
                + ", ".join(str(f.get("path")) for f in files[:3] if isinstance(f, dict))
                + (" …" if len(files) > 3 else "")
            ),
        )
    elif prov:
        t.add_row(
            "made by",
            f"calolab {prov.get('calolab_version')} ({cfg.get('backend')}), "
            f"seed {cfg.get('seed')}, config {str(prov.get('config_hash', ''))[:12]}",
        )
    console.print(t)
    return 0

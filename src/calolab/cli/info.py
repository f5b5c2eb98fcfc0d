"""``calolab info FILE``: what is in a dataset."""

from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np
from rich.table import Table

from calolab.cli.common import console, print_json
from calolab.data.hdf5 import ShowerFile
from calolab.simulation.gun import particle_name


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("info", help="summarise an HDF5 dataset")
    p.add_argument("file", help="HDF5 file (calolab or CaloChallenge)")
    p.add_argument("--json", action="store_true", help="print JSON, including the layer list")
    p.set_defaults(func=cmd_info)


def summarize(path: str, max_events: int = 200_000) -> dict[str, Any]:
    """Summary of a dataset file as plain data (energies in GeV)."""
    with ShowerFile(path) as f:
        n = len(f)
        m = min(n, max_events)
        energies = np.zeros(0)
        pdgs = np.zeros(0, dtype=np.int64)
        vis_over_e = np.zeros(0)
        for batch in f.iter_batches(4096):
            if len(energies) >= m:
                break
            energies = np.concatenate([energies, batch.energy])
            pdgs = np.concatenate([pdgs, batch.pdg.astype(np.int64)])
            vis_over_e = np.concatenate(
                [vis_over_e, batch.total() / np.maximum(batch.energy, 1e-12)]
            )
        out: dict[str, Any] = {
            "file": str(path),
            "size_bytes": os.path.getsize(path),
            "format": "calolab" if f.is_calolab else "CaloChallenge (showers + incident_energies)",
            "events": n,
            "cells": f.n_cells,
            "digitized": f.has_digitized,
            "energy_gev": {
                "min": float(energies.min()) if len(energies) else None,
                "max": float(energies.max()) if len(energies) else None,
                "mean": float(energies.mean()) if len(energies) else None,
            },
            "particles": {
                (particle_name(int(p)) if p else "unknown"): int(c)
                for p, c in zip(*np.unique(pdgs, return_counts=True))
            },
            "mean_visible_over_energy": float(vis_over_e.mean()) if len(vis_over_e) else None,
            "summarised_events": int(len(energies)),
        }
        det = f.detector
        if det is not None:
            out["detector"] = {
                "name": det.name,
                "hash": det.hash,
                "depth_cm": det.depth_cm,
                "depth_x0": det.depth_x0,
                "depth_lambda_i": det.depth_lambda_i,
                "channels": det.n_channels,
                "cost_chf": det.cost_chf,
            }
            out["layers"] = [
                {
                    "section": r.section,
                    "material": r.material,
                    "thickness_cm": r.thickness_cm,
                    "depth_x0_start": r.depth_x0_start,
                    "depth_x0_end": r.depth_x0_end,
                    "nx": r.nx,
                    "ny": r.ny,
                    "cell_size_cm": list(r.cell_size_cm),
                    "offset": r.offset,
                }
                for r in det.readout_layers
            ]
        out["provenance"] = f.provenance
    return out


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
    t.add_row("file size", f"{s['size_bytes'] / 1e6:,.1f} MB")
    e = s["energy_gev"]
    if e["min"] is not None:
        t.add_row("energy (GeV)", f"{e['min']:.4g} – {e['max']:.4g} (mean {e['mean']:.4g})")
    t.add_row("particles", ", ".join(f"{k}: {v:,}" for k, v in s["particles"].items()))
    if s["mean_visible_over_energy"] is not None:
        t.add_row("mean visible / E", f"{s['mean_visible_over_energy']:.4f}")
    t.add_row("digitised cells", "yes" if s["digitized"] else "no")
    if "detector" in s:
        d = s["detector"]
        t.add_row(
            "detector",
            f"{d['name']}: {d['depth_cm']:.1f} cm, {d['depth_x0']:.1f} X0, {d['depth_lambda_i']:.2f} λI, "
            f"{len(s['layers'])} readout layers",
        )
    prov = s.get("provenance") or {}
    if prov:
        cfg = prov.get("config", {})
        t.add_row(
            "made by",
            f"calolab {prov.get('calolab_version')} ({cfg.get('backend')}), "
            f"seed {cfg.get('seed')}, config {str(prov.get('config_hash', ''))[:12]}",
        )
    console.print(t)
    return 0

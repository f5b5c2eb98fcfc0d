"""A summary of a dataset file as plain data: events, energies, particles, detector, provenance."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from calolab.core.particles import particle_name
from calolab.data.hdf5 import ShowerFile


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
            "layout": f.layout,
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

"""Sweep materials, particles and energies outside the Geant4 reference set, for pathologies.

    python scripts/sweep_showers.py blocks [--materials PbWO4,Al,...] [--energies 0.1,2,200]
    python scripts/sweep_showers.py stacks [--particles e-,pi+,...] [--energies 0.5,10,100]

``blocks``: e⁻ and γ into homogeneous blocks 10 Molière radii wide and 60 X0 deep (cells of
R_M/4, layers of X0/2): the depth of the maximum from a Gamma fit against the PDG rule
ln(E/E_c) ∓ 0.5, the visible energy and its spread, the energy leaving the block, the
containment within 1 and 2 R_M of the axis, non-finite cells, warnings, CPU time per shower.
``stacks``: every particle into six sampling stacks 10 λ_I deep (at most 400 periods) and
2 m wide: response, resolution, invisible and leaked energy, negative or non-finite cells.
A few minutes on one core with the defaults. The sweep of 2026-12-05 found the lateral
leakage of low-energy showers in light media that EM model hybrid-26 fixed
(docs/validation.md, "`hybrid-26`").
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from calolab.geometry import Calorimeter, Layer, Section, get_material
from calolab.simulation import ParticleGun, simulate
from calolab.simulation.validation import fit_gamma_maximum

MATERIALS = "PbWO4,BGO,CsI,LYSO,PbF2,W,Cu,Fe,Al,Si,LAr,polystyrene,brass"
#: name: [(material, thickness cm, active)] of one period
STACKS: dict[str, list[tuple[str, float, bool]]] = {
    "Pb/LAr 2/4": [("Pb", 0.2, False), ("LAr", 0.4, True)],
    "Cu/scint 10/3": [("Cu", 1.0, False), ("polystyrene", 0.3, True)],
    "W/scint 3/2": [("W", 0.3, False), ("polystyrene", 0.2, True)],
    "Fe/LAr 20/5": [("Fe", 2.0, False), ("LAr", 0.5, True)],
    "brass/scint 50/4": [("brass", 5.0, False), ("polystyrene", 0.4, True)],
    "W/Si 3.5/0.3": [("W", 0.35, False), ("Si", 0.03, True)],
}


def _run(det: Calorimeter, particle: str, energy: float, n: int, seed: int):  # type: ignore[no-untyped-def]
    t0 = time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = simulate(det, ParticleGun(particle, energy), n, seed=seed)
    return s, len(caught), (time.process_time() - t0) / n


def blocks(args: argparse.Namespace) -> None:
    for name in args.materials.split(","):
        m = get_material(name)
        step, cell, n_cell = 0.5, 0.25 * m.moliere_radius_cm, 40
        layer = Layer(m, step * m.x0_cm, True)
        det = Calorimeter("block", n_cell * cell, [Section("b", [layer], 120, cell)])
        xc = (np.arange(n_cell) + 0.5 - n_cell / 2) * cell
        r = np.hypot(xc[:, None], xc[None, :]) / m.moliere_radius_cm
        for particle, c in (("e-", -0.5), ("gamma", 0.5)):
            for e in (float(x) for x in args.energies.split(",")):
                n = args.events if e <= 100 else max(args.events // 5, 20)
                s, n_warn, cpu = _run(det, particle, e, n, args.seed)
                cells = np.asarray(s.grid(), dtype=np.float64)
                t_max = fit_gamma_maximum(cells.sum(axis=(2, 3)).mean(axis=0) / e, step)
                pdg = np.log(e / m.critical_energy_gev) + c
                grid = cells.sum(axis=(0, 1))
                vis, leak = s.truth["visible"], s.truth["leaked"]
                print(
                    f"{name:11s} {particle:5s} {e:7.1f} GeV  t_max {t_max:6.2f} X0 (PDG {pdg:6.2f})"
                    f"  vis/E {vis.mean() / e:.4f} σ/mean {vis.std() / vis.mean():.4f}"
                    f"  leaked/E {leak.mean() / e:.4f}"
                    f"  R_M {grid[r <= 1].sum() / grid.sum():.3f} 2 R_M {grid[r <= 2].sum() / grid.sum():.3f}"
                    f"  non-finite {int(np.sum(~np.isfinite(cells)))} warnings {n_warn}"
                    f"  {cpu * 1e3:.2f} ms",
                    flush=True,
                )


def stacks(args: argparse.Namespace) -> None:
    for name, period in STACKS.items():
        layers = [Layer(get_material(m), t, active) for m, t, active in period]
        per_lambda = sum(t / get_material(m).lambda_i_cm for m, t, _ in period)
        n_periods = int(min(400, np.ceil(10.0 / per_lambda)))
        det = Calorimeter("stack", 200.0, [Section("s", layers, n_periods, 5.0)])
        for particle in args.particles.split(","):
            for e in (float(x) for x in args.energies.split(",")):
                s, n_warn, cpu = _run(det, particle, e, args.events, args.seed)
                cells = np.asarray(s.cells)
                t = s.truth
                vis = t["visible"]
                bad = int(np.sum(~np.isfinite(cells)) + np.sum(cells < 0))
                print(
                    f"{name:17s} {particle:7s} {e:6.1f} GeV  vis/E {vis.mean() / e:.4f}"
                    f" σ/mean {vis.std() / max(vis.mean(), 1e-12):.3f}"
                    f"  invisible/E {t['invisible'].mean() / e:.3f} leaked/E {t['leaked'].mean() / e:.3f}"
                    f"  bad cells {bad} warnings {n_warn}  {cpu * 1e3:.1f} ms",
                    flush=True,
                )


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="what", required=True)
    b = sub.add_parser("blocks")
    b.add_argument("--materials", default=MATERIALS)
    b.add_argument("--energies", default="0.1,0.5,2,20,200,2000")
    b.add_argument("--events", type=int, default=200)
    b.add_argument("--seed", type=int, default=3)
    st = sub.add_parser("stacks")
    st.add_argument("--particles", default="e-,gamma,pi+,pi-,pi0,proton,neutron,K0L,mu-")
    st.add_argument("--energies", default="0.5,2,10,100")
    st.add_argument("--events", type=int, default=100)
    st.add_argument("--seed", type=int, default=4)
    args = ap.parse_args()
    (blocks if args.what == "blocks" else stacks)(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

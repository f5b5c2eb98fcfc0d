"""Cell times at the cells' centres against a per-deposit proxy (docs/conditions.md, section 3).

    python scripts/timing_cells_vs_deposits.py [--events 400] [--energies 10,50] [--factor 4]

``calolab.simulation.timing`` gives every cell the time of flight to its centre, after
binning. The showers do not depend on the binning, so the ECAL of ``course_pbwo4`` simulated
with cells ``factor`` times finer in depth and in x and y holds the same events: its fine cells
stand in for the deposits. Their times, energy-weighted into the real cells, are compared with
the real cells' centre times through the shower time of ``calolab evaluate --timing``
(:func:`calolab.evaluation.timing.shower_times`, true times, photons: prompt EM showers).
Prints a Markdown table.
"""

from __future__ import annotations

import argparse

import numpy as np

from calolab.data.showers import Showers
from calolab.evaluation.fits import gaussian_core_fit
from calolab.evaluation.timing import shower_times
from calolab.geometry import Calorimeter, Layer, Section, resolve_detector
from calolab.simulation import ParticleGun, simulate
from calolab.simulation.timing import TimingModel, cell_times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=400)
    ap.add_argument("--energies", default="10,50", help="photon energies, GeV")
    ap.add_argument("--factor", type=int, default=4, help="fine cells per real cell and axis")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    k, n = args.factor, args.events
    ecal = resolve_detector("course_pbwo4").sections[0]
    layer = ecal.layers[0]
    size = resolve_detector("course_pbwo4").transverse_size_cm

    def ecal_only(name: str, f: int) -> Calorimeter:
        cell = (ecal.cell_size_cm[0] / f, ecal.cell_size_cm[1] / f)
        lay = Layer(layer.material.name, layer.thickness_cm / f, sensitive=True)
        return Calorimeter(name, size, [Section("ecal", [lay], ecal.repeat * f, cell)])

    coarse, fine = ecal_only("coarse", 1), ecal_only("fine", k)
    nl = ecal.repeat
    nx, ny = coarse.readout_layers[0].nx, coarse.readout_layers[0].ny
    model = TimingModel()
    print(
        "| photons | shower time, per deposit | per cell | difference per event: mean, spread "
        "| σ_t, per deposit | σ_t, per cell |"
    )
    print("|---|---|---|---|---|---|")
    for energy in (float(e) for e in args.energies.split(",")):
        gun = ParticleGun("gamma", energy)
        sf = simulate(fine, gun, n, seed=args.seed, digitizer=None, timing=model)
        sc = simulate(coarse, gun, n, seed=args.seed, digitizer=None)
        if not np.allclose(sf.total(), sc.total(), rtol=1e-4):
            raise SystemExit("the fine and the real detector do not hold the same events")
        ef = sf.cells.reshape(n, nl, k, nx, k, ny, k).astype(np.float64)
        tf = sf.times.reshape(n, nl, k, nx, k, ny, k).astype(np.float64)
        e_cell = ef.sum(axis=(2, 4, 6)).reshape(n, -1)
        weighted = (ef * tf).sum(axis=(2, 4, 6)).reshape(n, -1)
        t_dep = np.where(e_cell > 0, weighted / np.where(e_cell > 0, e_cell, 1.0), 0.0)
        cells = e_cell.astype(np.float32)
        rebinned = Showers(cells=cells, truth=sf.truth, detector=coarse, extras=sf.extras)
        t_cell = cell_times(rebinned, model, seed=args.seed)
        a = Showers(cells=cells, truth=sf.truth, detector=coarse, times=t_dep.astype(np.float32))
        b = Showers(cells=cells, truth=sf.truth, detector=coarse, times=t_cell)
        ta, tb = shower_times(a, digitized=False), shower_times(b, digitized=False)
        d = 1000 * (ta - tb)
        ga, gb = gaussian_core_fit(ta), gaussian_core_fit(tb)
        print(
            f"| {energy:g} GeV | {1000 * ta.mean():.1f} ps | {1000 * tb.mean():.1f} ps "
            f"| {d.mean():.1f} ps, {d.std():.1f} ps "
            f"| {1000 * ga.sigma:.1f} ± {1000 * ga.sigma_err:.1f} ps "
            f"| {1000 * gb.sigma:.1f} ± {1000 * gb.sigma_err:.1f} ps |"
        )


if __name__ == "__main__":
    main()

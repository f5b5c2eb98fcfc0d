"""Speed of the differentiable torch simulator (issue 20).

    python benchmarks/bench_diff.py [--events 500] [--repeats 3] [--device cpu|cuda]

Showers per second of 10 GeV electrons in a 40-period Pb/scintillator ECAL (4 mm + 4 mm,
3 cm cells), one process:

* the reference numba simulator (``FastSimulator``, cells) — the comparison, in the same
  process;
* the torch backend, forward only (``torch.no_grad``, per-layer energies, float32);
* the torch backend, forward + backward (the gradient of σ/E with respect to the two
  thicknesses and the number of periods) — one gradient step's simulation cost.

Medians of ``--repeats`` runs after a warm-up; the ratios torch/numba are the numbers to
quote. With ``--device cuda`` the torch rates are measured on the GPU.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from common import machine, median, save, timed  # noqa: E402

from calolab.differentiable import DesignParameters, TorchSimulator  # noqa: E402
from calolab.geometry.detector import Calorimeter, Layer, Section  # noqa: E402
from calolab.simulation.fast import FastSimulator  # noqa: E402
from calolab.simulation.gun import ParticleGun  # noqa: E402


def detector() -> Calorimeter:
    sec = Section("ecal", [Layer("Pb", 0.4), Layer("polystyrene", 0.4, sensitive=True)], 40, 3.0)
    return Calorimeter("bench_pbscint", (30.0, 30.0), [sec])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--energy", type=float, default=10.0)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    det = detector()
    n, e = args.events, args.energy
    ref = FastSimulator(det)
    t_ref = median(timed(lambda: ref.run(ParticleGun("e-", e), n, seed=1), args.repeats))

    def forward() -> None:
        with torch.no_grad():
            TorchSimulator(DesignParameters(det, device=args.device)).simulate(
                "e-", e, n, seed=1
            ).layers.sum().item()

    def forward_backward() -> None:
        d = DesignParameters(det, device=args.device).requires_grad_()
        v = TorchSimulator(d).simulate("e-", e, n, seed=1).visible
        (v.std() / v.mean()).backward()

    t_fwd = median(timed(forward, args.repeats))
    t_bwd = median(timed(forward_backward, args.repeats))
    out = {
        "command": " ".join(["python benchmarks/bench_diff.py", *sys.argv[1:]]),
        "machine_note": "shared machine, loaded by other jobs: ratios are the numbers to quote",
        "device": args.device,
        "events": n,
        "energy_gev": e,
        "threads": torch.get_num_threads(),
        "numba_showers_per_s": n / t_ref,
        "torch_forward_showers_per_s": n / t_fwd,
        "torch_forward_backward_showers_per_s": n / t_bwd,
        "ratio_forward_to_numba": t_ref / t_fwd,
        "ratio_forward_backward_to_numba": t_ref / t_bwd,
        "machine": machine(),
    }
    path = save(f"diff_{args.device}", out)
    for k, v in out.items():
        print(f"{k}: {v}")
    print(f"saved {path}")


if __name__ == "__main__":
    main()

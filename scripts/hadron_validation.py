"""Print the e/h and pion-resolution table of docs/validation.md (hadronic response).

python scripts/hadron_validation.py [--pions 400] [--electrons 100] [--seed 1] [--json out.json]

For every published design of :mod:`calolab.simulation.hadron_references`: the model's
e/mip, h/mip components and e/h (:func:`calolab.physics.hadronic.section_response`), and a
fast simulation of e- and π+ at 5, 10, 20, 50 and 100 GeV in a 10 λ_I deep, 2 m wide block
(e/π per energy, σ/E = a/√E ⊕ c fitted with its statistical errors), next to the published
numbers. Takes a few minutes on one core.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from calolab.core.files import write_json
from calolab.physics.hadronic import section_response
from calolab.simulation.hadron_references import REFERENCES, measure_hadron_response


def _fmt(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--pions", type=int, default=400, help="π+ per energy")
    ap.add_argument("--electrons", type=int, default=100, help="e- per energy")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None, help="also store the numbers here")
    args = ap.parse_args()
    rows = []
    print(
        "| design | e/mip | p/mip | n/mip (to H) | h/mip | e/h model | e/h published "
        "| e/π 10 / 20 / 50 GeV (sim.) | π σ/E sim.: a ⊕ c | π σ/E published |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for ref in REFERENCES:
        r = section_response(ref.section())
        m = measure_hadron_response(
            ref, n_pions=args.pions, n_electrons=args.electrons, seed=args.seed
        )
        epi = dict(zip(m.energies, zip(m.e_over_pi, m.e_over_pi_error)))
        epi_txt = " / ".join(f"{epi[e][0]:.2f}" for e in (10.0, 20.0, 50.0))
        pub_eh = (
            "> 1 (not compensating)"
            if ref.e_over_h is None
            else f"{ref.e_over_h:.2f} ± {ref.e_over_h_error:.2f}"
        )
        pub_res = (
            "–"
            if ref.stochastic is None
            else f"{100 * ref.stochastic:.1f} %"
            + ("" if ref.constant is None else f" ⊕ {100 * ref.constant:.1f} %")
        )
        print(
            f"| {ref.description} | {r.ehat:.3f} | {r.p_over_mip:.2f} | {r.n_over_mip:.2f} "
            f"({r.neutron_to_hydrogen:.2f}) | {r.h_over_mip:.3f} | **{r.e_over_h:.2f}** | "
            f"{pub_eh} | {epi_txt} (± {epi[20.0][1]:.2f}) | "
            f"{100 * m.stochastic:.1f} ± {100 * m.stochastic_error:.1f} % ⊕ "
            f"{100 * m.constant:.1f} ± {100 * m.constant_error:.1f} % | {pub_res} |",
            flush=True,
        )
        rows.append(
            {
                "name": ref.name,
                "source": ref.source,
                "model": dataclasses.asdict(r) | {"e_over_h": r.e_over_h},
                "simulation": dataclasses.asdict(m),
                "published": {
                    "e_over_h": ref.e_over_h,
                    "e_over_h_error": ref.e_over_h_error,
                    "stochastic": ref.stochastic,
                    "constant": ref.constant,
                },
            }
        )
    if args.json is not None:
        write_json(args.json, {"designs": rows, "pions": args.pions, "seed": args.seed})
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

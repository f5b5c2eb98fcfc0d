"""Study C: differentiable design (MODE) — a detector and its reconstruction optimised
together by gradient descent through calolab's differentiable simulator.

The space ``pbscint-ecal``: a Pb/scintillator sampling ECAL whose lead and scintillator
thicknesses (0.1–1.2 cm) and number of periods (10–60) are free, at most 30 cm long; the
utility is the mean σ/E of electrons at the chosen energies. Two optimisations from the same
start: *joint* (design and a depth-weighted energy reconstruction updated together, MODE's
proposal) and *factorised* (the design optimised with a fixed reconstruction, then the
reconstruction re-trained). Every design is then measured with the reference (numba)
simulator on fresh showers — the gradients come from the torch simulator, the numbers that
rank the designs do not.

    python examples/mode-design/run.py --quick --output build/examples/mode-design

``--quick``: electrons at 5 and 20 GeV, 100 showers per energy and step, 20 steps, 800
measurement showers per energy (with 40 showers a step the loss of one step varies by a
factor 2.5 from its showers alone, and the design wanders instead of descending; with 400
measurement showers a 14 % better σ/E is 2.9 standard errors, the check asks for 3);
the default: 3 energies, 150 showers, 40 steps, 2,000 showers.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from study import Study, options, run  # noqa: E402

from calolab.differentiable.optimize import JointConfig, compare, get_space  # noqa: E402

SPACE = "pbscint-ecal"


def main() -> int:
    args = options(__doc__.split("\n")[0], "mode-design")
    study = Study("mode-design", args)
    if args.quick:
        config = JointConfig(
            energies=(5.0, 20.0),
            events=100,
            steps=20,
            seed=args.seed,
            device=args.device,
        )
        n_measure = 800
    else:
        config = JointConfig(
            energies=(5.0, 20.0, 50.0), events=150, steps=40, seed=args.seed, device=args.device
        )
        n_measure = 2000
    study.log(f"joint and factorised optimisation of '{SPACE}' ({config.steps} steps each)")
    result = compare(get_space(SPACE), config, measure_events=n_measure)
    study.number("comparison", result.to_dict())
    start, joint, fact = result.start, result.joint, result.factorised
    for m, label in ((start, "start"), (joint, "joint"), (fact, "factorised")):
        study.log(
            f"{label}: mean σ/E {100 * m.utility:.2f} ± {100 * m.utility_error:.2f} %, "
            f"{m.length_cm:.1f} cm, {m.parameters}"
        )
    best = min(joint, fact, key=lambda m: m.utility)
    gain = (start.utility - best.utility) / (start.utility_error**2 + best.utility_error**2) ** 0.5
    study.check(
        "the optimised design beats the start",
        gain,
        lo=3.0,
        why="mean σ/E measured with the reference simulator on fresh showers, in standard errors",
    )
    for m, label in ((joint, "joint"), (fact, "factorised")):
        study.check(
            f"{label} optimum within the length limit",
            m.length_cm,
            hi=get_space(SPACE).max_length_cm * 1.02,
            why="the length is a smooth penalty: at most 2 % over 30 cm",
        )
    diff = (fact.utility - joint.utility) / (fact.utility_error**2 + joint.utility_error**2) ** 0.5
    study.number("joint better than factorised (standard errors)", diff)
    study.compare(
        "joint vs factorised optimum",
        f"joint {100 * joint.utility:.2f} %, factorised {100 * fact.utility:.2f} % "
        f"(difference {diff:+.1f} standard errors)",
        "the joint optimum differs from, and beats, the factorised one (MODE's claim)",
        "a short, unconverged run on one small space; not a test of the claim",
    )
    return study.finish()


if __name__ == "__main__":
    run(main)

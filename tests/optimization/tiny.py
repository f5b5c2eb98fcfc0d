"""A small design space whose trials take a fraction of a second (shared by the tests)."""

from __future__ import annotations

from pathlib import Path

TINY_SPACE = """
name = "tiny"
description = "a small Pb/W + scintillator stack for the tests"
transverse_size_cm = [10.0, 10.0]
objectives = [{ metric = "resolution", particle = "e-" }, { metric = "cost" }]
recorded = [{ metric = "stochastic", particle = "e-" }, { metric = "leakage", particle = "e-" }]

[constraints]
budget_chf = 800.0
max_length_cm = 30.0

[measurement]
particles = ["e-"]
energies_gev = [5.0, 20.0]

[[sections]]
name = "ecal"
repeat = { range = [4, 16] }
cell_size_cm = { choices = [2.5, 5.0] }
layers = [
  { name = "absorber", material = { choices = ["Pb", "W"] }, thickness_cm = { range = [0.2, 0.8] } },
  { name = "active", material = "polystyrene", thickness_cm = 0.4, sensitive = true },
]

[references.thin]
"ecal.repeat" = 8
"ecal.cell_size_cm" = 5.0
"ecal.absorber.material" = "Pb"
"ecal.absorber.thickness_cm" = 0.4
"""


def write_space(directory: Path, text: str = TINY_SPACE, name: str = "tiny.toml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def make_study(directory: Path, trials: int = 5, events: int = 40, seed: int = 2) -> Path:
    """Run a tiny serial study into ``directory`` and return it."""
    from calolab.optimization import loads_space, run_study

    run_study(loads_space(TINY_SPACE, "tiny"), directory, trials=trials, events=events, seed=seed)
    return directory

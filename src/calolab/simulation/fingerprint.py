"""A physics fingerprint: fixed-seed showers of a few particles in two detectors, summarised.

:func:`physics_fingerprint` simulates a small fixed set of cases (EM, hadronic and muon
showers in a homogeneous block and in a sampling calorimeter) with fixed seeds and returns
their per-layer mean visible energies and the mean and spread of the totals, together with
the physics model versions (:data:`calolab.physics.versions.MODEL_VERSIONS`).

The values stored in the repository (``tests/simulation/fingerprint.json``) pin the showers:
a change of the physics fails ``tests/simulation/test_fingerprint.py`` until the model
version is bumped and the values are regenerated on purpose with
``python scripts/fingerprint.py --write``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from calolab.physics.versions import MODEL_VERSIONS
from calolab.simulation.gun import ParticleGun
from calolab.simulation.run import simulate

#: (detector preset, particle, energy GeV, events, seed).
CASES: tuple[tuple[str, str, float, int, int], ...] = (
    ("course_pbscint", "e-", 20.0, 100, 11),
    ("course_pbscint", "gamma", 5.0, 100, 12),
    ("course_pbscint", "pi+", 20.0, 100, 13),
    ("course_pbwo4", "pi0", 30.0, 100, 14),
    ("course_pbwo4", "proton", 50.0, 60, 15),
    ("muon_block", "e-", 50.0, 60, 16),
    ("muon_block", "mu-", 1000.0, 60, 17),
)


def case_key(detector: str, particle: str, energy: float) -> str:
    return f"{detector}/{particle}/{energy:g}GeV"


def physics_fingerprint() -> dict[str, Any]:
    """``{"model_versions": {...}, "cases": {key: {"layers", "total_mean", "total_std"}}}``,
    energies in GeV."""
    cases: dict[str, Any] = {}
    for det, particle, energy, n, seed in CASES:
        sh = simulate(det, ParticleGun(particle, energy), n, seed=seed)
        total = sh.total()
        cases[case_key(det, particle, energy)] = {
            "events": n,
            "seed": seed,
            "layers": [float(v) for v in sh.layer_energies().mean(axis=0)],
            "total_mean": float(np.mean(total)),
            "total_std": float(np.std(total)),
        }
    return {"model_versions": dict(MODEL_VERSIONS), "cases": cases}

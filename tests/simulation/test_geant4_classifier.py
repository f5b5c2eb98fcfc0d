"""Issue 13's goals, held by a classifier against the shipped Geant4 reference showers.

One point per design of the reference set, at its largest sample: calolab's showers (seed
1, as many as the reference file holds) against Geant4's, with ``calolab compare``'s
gradient-boosted classifier (3 trainings, splits seed 0) on the longitudinal features (the
layer energies over E_inc and E_tot/E_inc) and on the total alone. The goals are AUC ≤ 0.7
and ≤ 0.6; the tolerance is 3 standard errors of the AUC (Hanley–McNeil for one test split
of 20 % of the showers: ±0.020-0.029 here), so a model change that moves a point past its
goal by more than the statistics of the reference set allow fails here. In the sampling stacks of Pb/polystyrene
and W/Si the fast showers are compared with their mean response matched to Geant4's
(``--match-response``): their sampling fractions are 3 % and 8 % below the reference's, a
calibration that separates the totals at high energy (docs/validation.md, "Where the
classifier stands"); the factor itself is held to the e/mip table there. Measured with EM
model ``hybrid-28`` (docs/validation.md): 0.63-0.70 longitudinal, 0.49-0.60 total.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from calolab.evaluation.shower_compare import compare_samples
from calolab.evaluation.shower_features import ShowerSample, load_geant4_npz
from calolab.simulation import ParticleGun, simulate
from calolab.simulation.validation import find_references

LONGITUDINAL_GOAL = 0.7
TOTAL_GOAL = 0.6
N_SIGMA = 3.0

# (reference, match the response?, the factor's expected range: Geant4 / fast response)
POINTS = [
    ("V1_e-_20GeV", False, None),
    ("V1_gamma_5GeV", False, None),
    ("V2_e-_20GeV", False, None),
    ("V3_e-_10GeV", True, (1.00, 1.05)),
    ("V4_e-_20GeV", True, (1.04, 1.12)),
    ("V5_e-_10GeV", False, None),
]


def _fast_sample(ref, n: int) -> ShowerSample:
    s = simulate(ref.preset, ParticleGun(ref.particle, ref.energy_gev), n, seed=1)
    return ShowerSample(
        name="calolab",
        source=ref.path.stem,
        kind="calolab",
        energy=np.full(n, ref.energy_gev),
        total=np.asarray(s.total(), dtype=float),
        layers=np.asarray(s.layer_energies(), dtype=float),
    )


@pytest.mark.slow
@pytest.mark.parametrize("stem,match,factor_range", POINTS, ids=[p[0] for p in POINTS])
def test_classifier_against_geant4_meets_the_goals(stem, match, factor_range):
    ref = next(r for r in find_references() if r.path.stem == stem)
    g4 = load_geant4_npz(ref.path, name="Geant4")
    fast = _fast_sample(ref, len(g4))
    res = compare_samples(
        g4,
        fast,
        feature_sets=("longitudinal", "total"),
        seed=0,
        repeats=3,
        match_response=match,
    )
    for r, goal in zip(res.classifiers, (LONGITUDINAL_GOAL, TOTAL_GOAL)):
        # one test split's Hanley–McNeil error: the 3 trainings split the same showers, so
        # their mean is no better known than the sample they share
        err = r.auc_err * math.sqrt(len(r.repeats))
        assert r.auc <= goal + N_SIGMA * err, (stem, r.features, r.auc, err)
    if match:
        m = res.response_match
        assert m is not None and factor_range is not None
        assert factor_range[0] <= m.factor <= factor_range[1], (stem, m.factor)

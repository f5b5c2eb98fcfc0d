"""Issue 13's goals, held by a classifier against the shipped Geant4 reference showers
(`calolab validate --classifier`, :mod:`calolab.evaluation.reference_classifier`).

One point per design of the reference set, at its largest sample: calolab's showers (seed
1, as many as the reference file holds) against Geant4's, with ``calolab compare``'s
gradient-boosted classifier (3 trainings, splits seed 0) on the longitudinal features (the
layer energies over E_inc and E_tot/E_inc) and on the total alone. The goals are AUC ≤ 0.7
and ≤ 0.6; the tolerance is 3 standard errors of the AUC (Hanley–McNeil for one test split
of 20 % of the showers: ±0.018-0.029 here), so a model change that moves a point past its
goal by more than the statistics of the reference set allow fails here.

The Pb/polystyrene and W/Si stacks are held to the goals with their mean response matched
to Geant4's (``--match-response``): their sampling fractions are 3 % and 8 % below the
reference's, a calibration that separates their totals at high energy (docs/validation.md,
"Where the classifier stands"; unmatched, V3's total is at 0.684 ± 0.019 and V4's at 0.892,
which fail); the matching factors of the sampling stacks are held to their measured ranges.
Measured with EM model ``hybrid-28``: 0.60-0.70 longitudinal, 0.49-0.56 total.
"""

from __future__ import annotations

import math

import pytest

from calolab.core.errors import ConfigError
from calolab.evaluation.reference_classifier import (
    LONGITUDINAL_GOAL,
    TOTAL_GOAL,
    classify_against_reference,
)
from calolab.simulation.validation import find_references

N_SIGMA = 3.0

# (reference, the matched factor's expected range: Geant4 / fast response; None: a block)
POINTS = [
    ("V1_e-_20GeV", None),
    ("V1_gamma_5GeV", None),
    ("V2_e-_20GeV", None),
    ("V3_e-_10GeV", (1.00, 1.05)),
    ("V4_e-_20GeV", (1.04, 1.12)),
    ("V5_e-_10GeV", (0.97, 1.03)),
]


def _reference(stem: str):  # type: ignore[no-untyped-def]
    return next(r for r in find_references() if r.path.stem == stem)


@pytest.mark.slow
@pytest.mark.parametrize("stem,factor_range", POINTS, ids=[p[0] for p in POINTS])
def test_classifier_against_geant4_meets_the_goals(stem, factor_range):
    res = classify_against_reference(_reference(stem))
    # V3 and V4 are held to the goals with their response matched (their raw totals are
    # separated by the sampling fraction); the blocks and V5 as they are
    matched = stem.startswith(("V3", "V4"))
    pairs = [(res.longitudinal, LONGITUDINAL_GOAL), (res.total, TOTAL_GOAL)]
    if matched:
        assert res.longitudinal_matched is not None and res.total_matched is not None
        pairs = [(res.longitudinal_matched, LONGITUDINAL_GOAL), (res.total_matched, TOTAL_GOAL)]
    for r, goal in pairs:
        # one test split's Hanley–McNeil error: the 3 trainings split the same showers, so
        # their mean is no better known than the sample they share
        err = r.auc_err * math.sqrt(len(r.repeats))
        assert r.auc <= goal + N_SIGMA * err, (stem, r.features, r.auc, err)
    if factor_range is None:  # homogeneous blocks: no matching
        assert res.response_match is None and res.longitudinal_matched is None
    else:
        m = res.response_match
        assert m is not None and factor_range[0] <= m.factor <= factor_range[1], (stem, m)
    assert res.to_dict()["events"] == list(res.events)


def test_only_electromagnetic_references_and_enough_events():
    muons = next(r for r in find_references() if r.particle == "mu-")
    with pytest.raises(ConfigError, match="e± and γ showers only"):
        classify_against_reference(muons)
    with pytest.raises(ConfigError, match="must be >= 10"):
        classify_against_reference(_reference("V1_e-_20GeV"), n_events=5)


@pytest.mark.slow
def test_validate_command_with_the_classifier(cli):
    import json

    r = cli("validate", "--config", "V2,V4", "--events", "100", "--classifier", "--json")
    assert r.returncode == 0, r.stderr
    by_sample = {x["sample"]: x["classifier"] for x in json.loads(r.stdout)}
    block, wsi = by_sample["V2 e- 20 GeV"], by_sample["V4 e- 20 GeV"]
    assert block["events"] == [100, 100] and block["response_match"] is None
    assert 0.0 <= block["longitudinal"]["auc"] <= 1.0 and block["total_matched"] is None
    assert 1.04 <= wsi["response_match"]["factor"] <= 1.12
    assert wsi["longitudinal_matched"]["n_test"] == 40  # 20 % of each sample
    table = cli("validate", "--config", "V4", "--particle", "e-", "--events", "60", "--classifier")
    assert table.returncode == 0 and "matched: long." in table.stdout

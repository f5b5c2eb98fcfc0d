"""`calolab compare`: the classifier AUC is ~0.5 for two samples of one simulation and ~1 for
clearly different showers; separation power, errors and files behave as documented.

Tolerances: the AUC of a classifier that cannot tell the samples apart scatters around 0.5
with the Hanley–McNeil standard error of the test split (the Mann–Whitney null spread,
sqrt((n1 + n2 + 1)/(12 n1 n2))); the tests allow 4 of those.
"""

from __future__ import annotations

import json
import logging
import math

import h5py
import numpy as np
import pytest

from calolab.core.errors import ConfigError, DataError
from calolab.evaluation.shower_compare import (
    common_bins,
    compare_samples,
    depth_windows,
    hanley_mcneil_error,
    separation_noise,
    separation_power,
    train_classifier,
)
from calolab.evaluation.shower_features import ShowerSample, load_sample, sample_from_batches
from calolab.geometry import Calorimeter, Layer, Section
from calolab.simulation import ParticleGun, simulate

BLOCK = Calorimeter("block", 20.0, [Section("b", [Layer("PbWO4", 0.89, True)], 16, 2.0)])


def _sample(particle: str, energy: float, n: int, seed: int, name: str) -> ShowerSample:
    s = simulate(BLOCK, ParticleGun(particle, energy), n, seed=seed)
    return sample_from_batches([s], name=name, source=name)


@pytest.fixture(scope="module")
def electrons() -> tuple[ShowerSample, ShowerSample]:
    return _sample("e-", 10.0, 500, 1, "a"), _sample("e-", 10.0, 500, 2, "b")


def _null_error(n_test_per_class: int) -> float:
    n = n_test_per_class
    return math.sqrt((2 * n + 1) / (12 * n * n))


def test_hanley_mcneil_at_one_half_is_the_mann_whitney_null_spread():
    for n1, n2 in ((50, 50), (200, 120)):
        expected = math.sqrt((n1 + n2 + 1) / (12 * n1 * n2))
        assert hanley_mcneil_error(0.5, n1, n2) == pytest.approx(expected, rel=1e-12)
    assert hanley_mcneil_error(1.0, 100, 100) == pytest.approx(0.0, abs=1e-12)


def test_two_samples_of_one_simulation_give_auc_near_one_half(electrons):
    a, b = electrons
    res = compare_samples(a, b, classifiers=("gbdt",), seed=3, repeats=2)
    assert res.low_level == "cells" and res.shape_features  # both have cells and grids
    for r in res.classifiers:
        tol = 4 * _null_error(r.n_test // 2) / math.sqrt(2)
        assert abs(r.auc - 0.5) < tol, (r.features, r.auc, tol)
    # and the histograms separate no more than statistical fluctuations allow
    excess = [res.separation[k] / max(res.separation_noise[k], 1e-9) for k in res.separation]
    assert np.median(excess) < 2.0


def test_clearly_different_showers_give_auc_near_one(electrons):
    a, _ = electrons
    pions = _sample("pi+", 10.0, 500, 4, "pions")
    res = compare_samples(a, pions, classifiers=("gbdt",), feature_sets=("high",), seed=1)
    assert res.auc("gbdt", "high") > 0.95
    assert res.worst_separation(1)[0][1] > 0.3


def test_a_miscalibration_shows_in_the_total_alone(electrons):
    a, b = electrons
    scaled = ShowerSample(
        name="b x 1.1",
        source="",
        kind="calolab",
        energy=b.energy,
        total=b.total * 1.1,
        layers=b.layers * 1.1,
    )
    r = compare_samples(a, scaled, feature_sets=("total",), seed=0).classifiers[0]
    # a 10 % scale, against a spread of the total of a few per cent (this short block leaks):
    # the separation is near complete
    spread = float(np.std(a.total / a.energy) / np.mean(a.total / a.energy))
    assert spread < 0.05
    assert r.auc > 0.9


def test_matching_the_response_takes_out_a_scale_and_nothing_else(electrons, caplog):
    """B with every energy × 1.1 (a 10 % different sampling fraction): matched to A's mean
    response, the factor comes back as 1/1.1 within 4 of its errors (A and B are one
    simulation), and the classifiers no longer tell the total or the profile apart (AUC
    within 4 null errors of 0.5; unmatched, the total alone separates them, the test
    above). A difference in shape still shows: π⁺ against e⁻, matched, AUC > 0.95."""
    a, b = electrons
    res = compare_samples(
        a, b.scaled(1.1), feature_sets=("longitudinal", "total"), seed=0, match_response=True
    )
    m = res.response_match
    assert m is not None and m.error > 0.0
    assert abs(m.factor - 1.0 / 1.1) < 4 * m.error, (m.factor, m.error)
    assert m.response_b == pytest.approx(1.1 * float(np.mean(b.total / b.energy)), rel=1e-12)
    assert res.b["visible_over_e"] == pytest.approx(m.response_b, rel=1e-12)  # as given
    for r in res.classifiers:
        assert abs(r.auc - 0.5) < 4 * _null_error(r.n_test // 2), (r.features, r.auc)
    assert res.to_dict()["response_match"]["factor"] == m.factor
    pions = _sample("pi+", 10.0, 300, 4, "pions")
    res = compare_samples(a, pions, feature_sets=("longitudinal",), seed=1, match_response=True)
    assert res.response_match is not None and res.auc("gbdt", "longitudinal") > 0.95
    # the block sees all the energy: a scale is no calibration there, and the user is told
    with caplog.at_level(logging.WARNING, logger="calolab.evaluation.shower_compare"):
        compare_samples(a, b, feature_sets=("total",), seed=0, match_response=True)
    assert "homogeneous calorimeter" in caplog.text
    # without the option nothing is scaled
    assert compare_samples(a, b, feature_sets=("total",), seed=0).response_match is None


def test_scaled_sample_keeps_shapes_and_rejects_bad_factors(electrons):
    a, _ = electrons
    s = a.scaled(2.0)
    np.testing.assert_allclose(s.layers, 2.0 * a.layers)
    np.testing.assert_allclose(s.total, 2.0 * a.total)
    assert a.cells is not None and s.cells is not None
    np.testing.assert_allclose(s.cells, 2.0 * a.cells)
    for k in a.shapes:
        np.testing.assert_array_equal(s.shapes[k], a.shapes[k])
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(DataError, match="scale factor"):
            a.scaled(bad)
    empty = ShowerSample(
        name="empty", source="", kind="calolab", energy=a.energy, total=0 * a.total, layers=a.layers
    )
    with pytest.raises(DataError, match="empty.*cannot be matched"):
        compare_samples(a, empty, feature_sets=("total",), match_response=True)


def test_storage_precision_alone_does_not_separate_the_totals(electrons):
    """A quarter of sample A loses nothing and has E_tot/E_inc = 1 exactly (as a Geant4
    file records it); the same showers in B carry the rounding of a sum of float32 cells
    (±10⁻⁸ of E_inc, either side of 1). The inputs are float32, as the CaloChallenge's
    files: the classifier must not tell A from B by that rounding (AUC within 4 null errors
    of 0.5; on float64 inputs a split at 1 separates them)."""
    a, _ = electrons
    rng = np.random.default_rng(4)
    ratio = a.total / a.energy
    exact = rng.random(len(ratio)) < 0.25
    ratio = np.where(exact, 1.0, ratio)
    noisy = np.where(exact, 1.0 + rng.choice([-1.0, 1.0], len(ratio)) * 1e-8, ratio)

    def sample(r: np.ndarray, name: str) -> ShowerSample:
        return ShowerSample(
            name=name,
            source="",
            kind="calolab",
            energy=a.energy,
            total=r * a.energy,
            layers=a.layers,
        )

    r = compare_samples(
        sample(ratio, "exact"), sample(noisy, "rounded"), feature_sets=("total",), seed=0
    ).classifiers[0]
    assert abs(r.auc - 0.5) < 4 * _null_error(r.n_test // 2), r.auc


def test_same_seed_same_numbers(electrons):
    a, b = electrons
    kw = {"classifiers": ("gbdt",), "feature_sets": ("longitudinal",), "seed": 5}
    r1 = compare_samples(a, b, **kw).classifiers[0]
    r2 = compare_samples(a, b, **kw).classifiers[0]
    assert r1.auc == r2.auc and r1.repeats == r2.repeats


def test_depth_windows_group_the_layers_by_the_reference_energy(electrons):
    a, _ = electrons
    windows = depth_windows(a, (0.1, 0.9))
    # consecutive, every layer once
    assert windows[0].first == 0 and windows[-1].last == a.n_layers - 1
    for w, nxt in zip(windows, windows[1:]):
        assert nxt.first == w.last + 1
    # each layer's midpoint share of the reference's cumulative mean energy lies in its window
    mean = (a.layers / a.energy[:, None]).mean(axis=0)
    cum = np.cumsum(mean) / mean.sum()
    mid = cum - 0.5 * mean / mean.sum()
    for w in windows:
        assert np.all(mid[w.first : w.last + 1] >= w.energy_lo)
        assert np.all(mid[w.first : w.last + 1] < w.energy_hi)
    assert [(w.energy_lo, w.energy_hi) for w in windows] == [(0.0, 0.1), (0.1, 0.9), (0.9, 1.0)]
    # a window that would hold no layer is left out: all of this sample's energy is in layer 0,
    # whose midpoint share (0.5) puts it in the core; no layer for the start; the empty layers
    # behind it (share 1) are the tail
    front = ShowerSample(
        name="front",
        source="",
        kind="calolab",
        energy=a.energy,
        total=a.total,
        layers=np.column_stack([a.total, np.zeros((len(a), a.n_layers - 1))]),
    )
    only = depth_windows(front, (0.1, 0.9))
    assert [(w.first, w.last, w.energy_lo) for w in only] == [(0, 0, 0.1), (1, a.n_layers - 1, 0.9)]


def test_depth_windows_locate_a_difference_in_the_tail(electrons):
    """B's layers of A's last 10 % doubled: the whole profile and the tail window separate the
    samples, the start and the core windows do not (within 4 null errors of 0.5)."""
    a, b = electrons
    tail = depth_windows(a, (0.1, 0.9))[-1]
    layers = b.layers.copy()
    layers[:, tail.first :] *= 2.0
    changed = ShowerSample(
        name="tail x 2", source="", kind="calolab", energy=b.energy, total=b.total, layers=layers
    )
    res = compare_samples(
        a, changed, feature_sets=("longitudinal",), seed=2, depth_bounds=(0.1, 0.9)
    )
    aucs = {r.features: r for r in res.classifiers}
    assert [w.features for w in res.depth_windows][-1] == tail.features
    assert aucs["longitudinal"].auc > 0.9
    assert aucs[tail.features].auc > 0.9
    for w in res.depth_windows[:-1]:
        r = aucs[w.features]
        assert abs(r.auc - 0.5) < 4 * _null_error(r.n_test // 2), (w.features, r.auc)
    js = res.to_dict()["depth_windows"]
    assert js[-1]["first_layer"] == tail.first and js[-1]["reference_energy"] == [0.9, 1.0]


def test_dnn_separates_different_showers():
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    xa = rng.normal(0.0, 1.0, (400, 6))
    xb = rng.normal(0.6, 1.0, (400, 6))
    r = train_classifier(xa, xb, classifier="dnn", seed=0, dnn_epochs=15)
    # Bayes AUC of two unit Gaussians 0.6·√6 apart: Φ(0.6·√6/√2) = 0.85
    assert r.auc == pytest.approx(0.85, abs=4 * hanley_mcneil_error(0.85, 80, 80) + 0.03)
    same = train_classifier(xa[:200], xa[200:], classifier="dnn", seed=0, dnn_epochs=5)
    assert abs(same.auc - 0.5) < 4 * _null_error(40)


def test_separation_power_limits_and_noise_floor():
    rng = np.random.default_rng(1)
    x = rng.normal(size=2000)
    assert separation_power(x, x) == 0.0
    assert separation_power(x, x + 100.0) == pytest.approx(1.0)
    floors, values = [], []
    for _ in range(20):
        a, b = rng.normal(size=1000), rng.normal(size=1500)
        e = common_bins(a, b)
        values.append(separation_power(a, b, e))
        floors.append(separation_noise(a, b, e))
    # the floor (B-1)(1/Na + 1/Nb)/4 is the expectation for identical distributions
    assert np.mean(values) == pytest.approx(np.mean(floors), rel=0.2)


def test_bad_inputs_are_clear_errors(electrons, tmp_path):
    a, _ = electrons
    with pytest.raises(ConfigError, match="unknown classifier"):
        compare_samples(a, a, classifiers=("svm",))
    with pytest.raises(ConfigError, match="unknown feature set"):
        compare_samples(a, a, feature_sets=("voxels",))
    other = Calorimeter("b2", 20.0, [Section("b", [Layer("PbWO4", 0.89, True)], 12, 2.0)])
    s = simulate(other, ParticleGun("e-", 10.0), 20, seed=1)
    with pytest.raises(DataError, match="readout layers"):
        compare_samples(a, sample_from_batches([s], name="x", source="x"))
    for bounds in ((0.9, 0.1), (0.0, 0.5), (0.5, 1.0), ("x",), ()):
        with pytest.raises(ConfigError, match="depth bounds"):
            compare_samples(a, a, depth_bounds=bounds)
    with pytest.raises(DataError, match="does not exist"):
        load_sample(tmp_path / "missing.h5")
    with pytest.raises(DataError, match="named like"):
        load_sample("geant4:electrons")


def test_calochallenge_file_with_layer_sizes(tmp_path, electrons):
    a, _ = electrons
    s = simulate(BLOCK, ParticleGun("e-", 10.0), 200, seed=8)
    p = tmp_path / "cc.h5"
    with h5py.File(p, "w") as f:
        f["incident_energies"] = (s.energy * 1000.0)[:, None]
        f["showers"] = s.cells * 1000.0
    sizes = tuple([100] * 16)
    cc = load_sample(p, layer_sizes=sizes)
    assert cc.kind == "calochallenge" and cc.n_layers == 16 and "centre_x" not in cc.shapes
    np.testing.assert_allclose(cc.layers, s.layer_energies(), rtol=1e-5)
    res = compare_samples(a, cc, feature_sets=("longitudinal",), seed=0)
    assert abs(res.classifiers[0].auc - 0.5) < 4 * _null_error(res.classifiers[0].n_test // 2)


@pytest.mark.slow
def test_compare_command_writes_json_and_plots(cli, tmp_path):
    f = tmp_path / "v2.h5"
    r = cli(
        "simulate",
        "geant4_v2",
        "--particle",
        "e-",
        "--energy",
        "20",
        "-n",
        "120",
        "--seed",
        "1",
        "-o",
        str(f),
        "-q",
    )
    assert r.returncode == 0, r.stderr
    out = tmp_path / "cmp"
    r = cli(
        "compare",
        "geant4:V2_e-_20GeV",
        str(f),
        "-o",
        str(out),
        "--features",
        "longitudinal,total",
        "--max-events",
        "400",
        "--depth",
    )
    assert r.returncode == 0, r.stderr
    assert "depth windows" in r.stdout
    res = json.loads((out / "compare.json").read_text())
    assert res["task"] == "shower-comparison"
    windows = [w["features"] for w in res["depth_windows"]]
    assert len(windows) == 3 and windows[0].startswith("layers 0-")
    assert {c["features"] for c in res["classifiers"]} == {"longitudinal", "total", *windows}
    assert res["a"]["events"] == 400 and res["b"]["events"] == 120
    for name in res["plots"]:
        assert (out / name).stat().st_size > 1000
    assert "etot" in res["separation_power"]
    bad = cli("compare", "geant4:V2_e-_20GeV", str(tmp_path / "nope.h5"))
    assert bad.returncode == 2 and "does not exist" in bad.stderr
    wrong = cli("compare", "geant4:V4_e-_20GeV", str(f), "--features", "total")
    assert wrong.returncode == 2 and "readout layers" in wrong.stderr
    matched = cli(
        "compare",
        "geant4:V2_e-_20GeV",
        str(f),
        "--features",
        "total",
        "--max-events",
        "400",
        "--match-response",
        "--json",
    )
    assert matched.returncode == 0, matched.stderr
    m = json.loads(matched.stdout)["response_match"]
    assert m["factor"] == pytest.approx(m["response_a"] / m["response_b"], rel=1e-12)
    bounds = cli("compare", "geant4:V2_e-_20GeV", str(f), "--depth", "0.9,0.1")
    assert bounds.returncode == 2 and "strictly increasing" in bounds.stderr

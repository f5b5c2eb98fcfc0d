"""Cell times: causal, prompt EM showers, the slow hadronic component, the readout's σ_t, the
time window, storage and reproducibility; the timing resolution fit."""

from __future__ import annotations

import numpy as np
import pytest

from calolab.core.errors import ConfigError
from calolab.data.showers import Showers
from calolab.evaluation.timing import timing_resolution
from calolab.simulation import ParticleGun, simulate, simulate_to_file
from calolab.simulation.timing import CellGeometry, TimingModel, _beta, flight_times
from tests.synthetic import tiny_detector


@pytest.fixture(scope="module")
def events():
    det = tiny_detector()
    model = TimingModel()
    gam = simulate(det, ParticleGun("gamma", "5:50", theta_deg=10), 150, seed=3, timing=model)
    pion = simulate(det, ParticleGun("pi+", "20:50"), 150, seed=4, timing=model)
    return det, model, gam, pion


def _tof(det, s, j, front=False):
    geo = CellGeometry.of(det)
    beta = _beta(int(s.pdg[j]), float(s.energy[j]))
    return flight_times(geo, s.truth["entry_point"][j], s.truth["direction"][j], beta, 0.0, front)[
        0
    ]


def test_times_are_causal(events):
    det, _, gam, pion = events
    for s in (gam, pion):
        assert s.times is not None and s.times.shape == s.cells.shape
        assert np.all(s.times[s.cells == 0] == 0)
        for j in range(len(s)):
            hit = s.cells[j] > 0
            # nothing before the primary reached the depth of the cell's front face
            reach = _tof(det, s, j, front=True)
            assert np.all(s.times[j][hit] >= reach[hit] - 1e-5)


def test_em_showers_are_prompt_and_hadrons_have_the_slow_component(events):
    det, model, gam, pion = events
    for j in range(len(gam)):
        hit = gam.cells[j] > 0
        assert np.allclose(gam.times[j][hit], _tof(det, gam, j)[hit], atol=1e-5)
    geo = CellGeometry.of(det)
    ratios = []
    for j in range(len(pion)):
        fe, zi = pion.extras["em_fraction"][j], pion.extras["first_interaction_z_cm"][j]
        if not np.isfinite(fe):
            continue
        hit = (pion.cells[j] > 0) & (geo.z >= zi)
        share = (1 - fe) * model.slow_fraction
        ratios.append((pion.times[j][hit] - _tof(det, pion, j)[hit]) / share)
    r = np.concatenate(ratios)
    assert len(r) > 500 and np.all(r >= -1e-3)
    # each ratio is the mean of k exponential delays: mean τ, spread ≤ τ; 5σ of the mean
    assert r.mean() == pytest.approx(model.slow_tau_ns, abs=5 * model.slow_tau_ns / np.sqrt(len(r)))


def test_readout_time_resolution_pulls(events):
    det, _, gam, _ = events
    geo = CellGeometry.of(det)
    sig = gam.cells > 0
    digi = sig & (gam.digitized > 0)
    e_mip = np.where(sig, gam.cells / geo.gev_per_mip, 1.0)
    sigma = np.sqrt(geo.a_ns**2 / e_mip + geo.b_ns**2)
    pulls = ((gam.digitized_times - gam.times) / sigma)[digi]
    n = len(pulls)
    assert n > 1000
    assert abs(pulls.mean()) < 5 / np.sqrt(n)
    assert pulls.std() == pytest.approx(1.0, abs=5 / np.sqrt(2 * n))
    assert np.all(gam.digitized_times[gam.digitized == 0] == 0)


def test_time_window_and_showers_untouched(tmp_path):
    det = tiny_detector()
    gun = ParticleGun("pi+", 30)
    plain = simulate(det, gun, 40, seed=9)
    cut = simulate(det, gun, 40, seed=9, timing=TimingModel(window_ns=(-0.5, 2.0)))
    assert np.array_equal(plain.cells, cut.cells)  # timing never changes the showers
    fired = cut.digitized != 0
    assert np.all((cut.digitized_times[fired] >= -0.5) & (cut.digitized_times[fired] <= 2.0))
    lost = (plain.digitized != 0) & ~fired
    assert lost.sum() > 0  # the late hadronic cells were cut
    assert np.all(cut.digitized[~lost] == plain.digitized[~lost])
    # stored with the layout of the cells; same events whatever the batch size
    path = simulate_to_file(
        tmp_path / "t.h5",
        det,
        gun,
        40,
        seed=9,
        batch_size=7,
        timing=TimingModel(window_ns=(-0.5, 2.0)),
    )
    back = Showers.load(str(path))
    assert np.array_equal(back.times, cut.times)
    assert np.array_equal(back.digitized_times, cut.digitized_times)
    assert back.provenance["config"]["timing"]["window_ns"] == [-0.5, 2.0]


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"slow_fraction": 1.5}, "slow_fraction"),
        ({"slow_tau_ns": 0}, "slow_tau_ns"),
        ({"window_ns": (3, 1)}, "window_ns"),
    ],
)
def test_bad_timing_models(kw, match):
    with pytest.raises(ConfigError, match=match):
        TimingModel(**kw)


def test_timing_resolution_fit_recovers_a_and_b():
    """Synthetic events: one cell whose measured time has σ_t = A/√E ⊕ B exactly."""
    rng = np.random.default_rng(2)
    det = tiny_detector()
    n = 6000
    e = rng.uniform(1, 100, n)
    a, b = 0.2, 0.03
    cells = np.zeros((n, det.n_channels), np.float32)
    cells[:, 5] = e
    t = rng.standard_normal(n) * np.sqrt(a * a / e + b * b)
    times = np.zeros_like(cells)
    times[:, 5] = t
    s = Showers(
        cells=cells,
        truth={"energy": e, "pdg": np.full(n, 22)},
        detector=det,
        digitized=cells.copy(),
        times=times,
        digitized_times=times.copy(),
    )
    r = timing_resolution(s, n_bins=8)
    assert r.a_ns == pytest.approx(a, abs=5 * r.a_err_ns)
    assert r.b_ns == pytest.approx(b, abs=5 * r.b_err_ns)
    assert r.sigma_at(25.0) == pytest.approx(np.hypot(a / 5, b), rel=0.1)

"""What the active layers of sampling stacks see: the compound Poisson of samples (no
sub-keV signals in cells that saw nothing), the followed leptons' ionisation at the MIP
response with Landau fluctuations, against the Geant4 reference showers.

Tolerances: binomial and Gaussian standard errors of both samples (4 σ) on top of the stated
model tolerance.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from calolab.geometry import preset
from calolab.physics.sampling import crossing_samples
from calolab.simulation import ParticleGun, simulate
from calolab.simulation.binning import Binner
from calolab.simulation.stack import MODE_EM, StackModel


def _binomial(p: float, n: int) -> float:
    return math.sqrt(max(p * (1.0 - p), 1e-12) / n)


def _assert_empty_as_often(lay: np.ndarray, ref: np.ndarray, layers: tuple[int, ...]) -> None:
    """Each of ``layers`` (1-based) is empty in ``lay`` as often as in Geant4's ``ref``,
    within 4 binomial standard errors of both samples."""
    for layer in layers:
        empty = float(np.mean(lay[:, layer - 1] <= 0))
        p_g4 = float(np.mean(ref[:, layer - 1] <= 0))
        err = math.hypot(_binomial(empty, len(lay)), _binomial(p_g4, len(ref)))
        assert abs(empty - p_g4) <= 4 * err, (layer, empty, p_g4, err)


def test_samples_keep_the_mean_and_the_variance_and_leave_empty_cells_empty():
    """One W/Si cell (V4) with a fixed EM deposit, 200,000 times: the visible energy has mean
    share·E and relative variance q/E (4 standard errors), is exactly 0 with the Poisson
    probability exp(-λ_c - λ_r) of no crossing and no broad sample, and otherwise never
    below a few keV (the Beta draws of `hybrid-12` put 15–50 % of the values of small
    deposits below 1 keV). The Poisson rates are restated here from the physics inputs
    (:func:`calolab.physics.sampling.crossing_samples`), not taken from the binning."""
    st = StackModel.build(preset("geant4_v4"))
    binner = Binner(st)
    cell = st.ro_offset[3] + 7
    share = float(st.cell_share[MODE_EM][cell])
    q = float(st.cell_quantum[MODE_EM][cell])
    k = float(st.cell_sample_shape[cell])
    f_c, m, k_c = crossing_samples(preset("geant4_v4").sections[0])[1]
    assert 0.15 < f_c < 0.3 and 0.1e-3 < m < 0.13e-3 and 3 < k_c < 4.5  # 0.3 mm of silicon
    rho = f_c * m * (1 + 1 / k_c) / (q * share)
    n = 200_000
    rng = np.random.default_rng(5)
    for dep in (0.005, 0.2):  # GeV: a sparse tail cell, a dense one
        vis = binner._visible(MODE_EM, np.full(n, cell), np.full(n, dep), rng)[1]
        mean = share * dep
        sd = math.sqrt(q / dep) * mean
        assert vis.mean() == pytest.approx(mean, abs=4 * sd / math.sqrt(n))
        rel_var = vis.var() / mean**2
        assert rel_var == pytest.approx(q / dep, rel=4 * math.sqrt(2.0 / n) * (1 + 3 / k))
        lam = dep * (f_c * share / m + (1 - f_c) ** 2 * (k + 1) / ((1 - rho) * q * k))
        p0 = math.exp(-lam)
        assert np.mean(vis == 0) == pytest.approx(p0, abs=4 * _binomial(p0, n) + 1e-4)
        assert np.mean((vis > 0) & (vis < 1e-6)) < 1e-3
        assert np.all(vis <= dep)


@pytest.mark.parametrize("energy,layers", [(20, (20, 25, 30)), (5, (15, 17, 19))])
def test_deep_silicon_layers_are_empty_as_often_as_in_geant4(g4ref, energy, layers):
    """e⁻ in W/Si (V4): beyond layer 15 Geant4 has no signal below 1 keV (its smallest: a
    few keV, an electron reaching the silicon), and its deep layers are empty as often as a
    layer whose signal is MIP-like crossings and broad samples
    (:func:`calolab.physics.sampling.crossing_samples`). Geant4 at 20 GeV: layers 20, 25, 30
    empty in 3.2, 41, 78 % of the events; at 5 GeV layers 15, 17, 19 in 10, 26, 46 %.
    `hybrid-20`, with broad samples only, had 8.9, 51, 82 % and 18, 39, 58 %; `hybrid-12`
    8 % of its signals below 1 keV. Sub-keV share < 0.5 %; each empty fraction within 4
    binomial standard errors of both samples."""
    n = 1000
    s = simulate("geant4_v4", ParticleGun("e-", float(energy)), n, seed=2)
    lay = s.layer_energies() * 1000.0  # MeV
    deep = lay[:, 15:]
    signal = deep > 0
    assert np.sum(signal & (deep < 1e-3)) / np.sum(signal) < 0.005
    d, _ = g4ref("V4", "e-", energy)
    _assert_empty_as_often(lay, d["layers_visible"], layers)


@pytest.mark.parametrize(
    "config,det,layers",
    [("V3", "geant4_v3", (25, 27, 29, 31)), ("V5", "geant4_v5", (17, 19, 21, 23))],
)
def test_deep_scintillator_layers_are_empty_as_often_as_in_geant4(g4ref, config, det, layers):
    """e⁻ 10 GeV in Pb/polystyrene (V3) and Fe/polystyrene (V5). Geant4 leaves V3's layers
    25 / 27 / 29 / 31 empty in 2.9 / 8.2 / 19 / 30 % of the events. `hybrid-21` left them
    empty in 6.2 / 14 / 27 / 40 %: its 12 MeV spots (GFlash's sampling spot count) came one
    or two per deep layer. Since `hybrid-22` the tail's spots are importance-sampled in
    sampling media too, more and lighter. Each empty fraction must lie within 4 binomial
    standard errors of both samples."""
    n = 1000
    s = simulate(det, ParticleGun("e-", 10.0), n, seed=4)
    lay = s.layer_energies()
    d, _ = g4ref(config, "e-", 10)
    _assert_empty_as_often(lay, d["layers_visible"], layers)


def test_deep_silicon_layers_show_the_mip_peak(g4ref):
    """e⁻ 5 GeV in W/Si (V4), layers 24–33: of Geant4's non-zero layer signals 23 % lie in
    60–140 keV, the MIP peak of 0.3 mm of silicon (most probable loss 84 keV); with broad
    samples only (`hybrid-20`) 11 %. Within 0.75–1.33 times Geant4's share (model
    tolerance) plus 4 binomial standard errors of both samples."""
    n = 2000
    s = simulate("geant4_v4", ParticleGun("e-", 5.0), n, seed=3)
    d, _ = g4ref("V4", "e-", 5)

    def peak(layers: np.ndarray) -> tuple[float, int]:
        x = layers[:, 23:33].ravel()
        x = x[x > 0]
        return float(np.mean((x > 0.06) & (x < 0.14))), len(x)

    got, n_got = peak(s.layer_energies() * 1000.0)
    ref, n_ref = peak(d["layers_visible"])
    err = math.hypot(_binomial(got, n_got), _binomial(ref, n_ref))
    assert 0.75 * ref - 4 * err <= got <= 1.33 * ref + 4 * err, (got, ref, err)


@pytest.mark.parametrize(
    "config,det,energy", [("V3", "geant4_v3", 10), ("V4", "geant4_v4", 20), ("V5", "geant4_v5", 10)]
)
def test_the_first_layer_sees_the_primary_as_a_mip(g4ref, config, det, energy):
    """The first active layer sees mostly the primary electron, a minimum-ionising track:
    its signal is the track's loss in the active layer, not the shower's e/mip times a share
    of the period. Seen at the shower's e/mip (`hybrid-12`) the mean was 0.62 (V3), 0.67
    (V4), 0.71 (V5) of Geant4's. Ratio of the means within 0.8–1.25 (model tolerance) plus 4
    standard errors of both samples."""
    n = 2000
    s = simulate(det, ParticleGun("e-", float(energy)), n, seed=6)
    l1 = s.layer_energies()[:, 0] * 1000.0
    d, _ = g4ref(config, "e-", energy)
    ref = d["layers_visible"][:, 0]
    ratio = l1.mean() / ref.mean()
    err = ratio * math.hypot(
        l1.std() / l1.mean() / math.sqrt(n), ref.std() / ref.mean() / math.sqrt(len(ref))
    )
    assert 0.8 - 4 * err <= ratio <= 1.25 + 4 * err, (ratio, err)


def test_the_primary_track_fluctuates_like_landau_in_the_first_scintillator(g4ref):
    """e⁻ 2 GeV on 15 mm Fe / 5 mm polystyrene (V5): the first scintillator holds less than
    0.9 MeV (below the track's mean loss, ≈ 1.2 MeV) in 12.5 % of Geant4's events, the
    Landau distribution's low side. Without fluctuations of the track's deposit it happens in
    0.4 % of the events, with the shower's share and sampling draws (`hybrid-12`) in 32 %.
    The fraction must be within 0.5–2 times Geant4's plus 4 binomial standard errors."""
    n = 2000
    s = simulate("geant4_v5", ParticleGun("e-", 2.0), n, seed=8)
    low = float(np.mean(s.layer_energies()[:, 0] * 1000.0 < 0.9))
    d, _ = g4ref("V5", "e-", 2)
    ref = d["layers_visible"][:, 0] < 0.9
    p_g4 = float(np.mean(ref))
    err = math.hypot(_binomial(low, n), _binomial(p_g4, len(ref)))
    assert 0.5 * p_g4 - 4 * err <= low <= 2.0 * p_g4 + 4 * err, (low, p_g4, err)

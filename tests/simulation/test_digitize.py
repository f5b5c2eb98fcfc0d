"""Digitisation in physical units: photo-statistics, noise, threshold, saturation, calibration,
and the CMS-like crystal readout against the CMS ECAL test beam."""

from dataclasses import replace

import numpy as np
import pytest
from scipy.special import ndtr
from scipy.stats import norm

from calolab.core.errors import ConfigError
from calolab.geometry import DEFAULT_READOUTS, Calorimeter, Layer, Readout, Section, preset
from calolab.simulation import Digitizer, ParticleGun, simulate
from calolab.simulation.fast import FastSimulator, event_rng
from calolab.simulation.stack import StackModel


def _block(readout: Readout, n_cells: int = 100, thickness: float = 23.0, name: str = "b"):
    """One PbWO4 readout layer of ``n_cells`` cells of 1 cm."""
    side = float(np.sqrt(n_cells))
    return Calorimeter(
        name, side, [Section("ecal", [Layer("PbWO4", thickness, True)], 1, 1.0, readout)]
    )


def _prepared(det: Calorimeter, calibration: str = "none"):
    d = Digitizer(calibration=calibration)
    return d, d.prepare(StackModel.build(det))


def test_photo_statistics_with_excess_noise():
    """Relative spread √(F/N_pe), mean unbiased: 4.5 pe/MeV, F = 2, 1 GeV per cell."""
    ro = Readout("apd", photoelectrons_per_mev=4.5, excess_noise_factor=2.0)
    det = _block(ro, n_cells=10_000)
    d, prep = _prepared(det)
    cells = np.full(det.n_channels, 1.0, dtype=np.float32)  # 1 GeV visible each
    out = d.apply(cells, prep, np.random.default_rng(1)).astype(np.float64)
    n = len(out)
    want = np.sqrt(2.0 / 4500.0)  # 2.11 %
    assert out.mean() == pytest.approx(1.0, abs=4 * want / np.sqrt(n))
    # the standard deviation of a sample std is σ/√(2n)
    assert out.std() == pytest.approx(want, abs=4 * want / np.sqrt(2 * n))


def test_noise_hits_follow_the_gaussian_tail():
    """Empty channels: Binomial(n, p) noise hits above 3σ, values from the tail."""
    sigma_mev = 40.0
    det = _block(DEFAULT_READOUTS["PbWO4"], n_cells=40_000, name="noise")
    d, prep = _prepared(det)
    rng = np.random.default_rng(2)
    empty = np.zeros(det.n_channels, dtype=np.float32)
    hits = np.concatenate([d.apply(empty, prep, rng) for _ in range(50)])
    vals = hits[hits != 0] * 1e3  # MeV
    p = ndtr(-3.0)
    n = 50 * det.n_channels
    assert len(vals) == pytest.approx(n * p, abs=4 * np.sqrt(n * p))
    assert vals.min() >= 3 * sigma_mev * (1 - 1e-6)
    # mean of the tail above t: σ φ(t)/Φ(−t)
    tail_mean = sigma_mev * norm.pdf(3.0) / p
    assert vals.mean() == pytest.approx(tail_mean, abs=4 * vals.std() / np.sqrt(len(vals)))


def test_sparse_and_dense_noise_agree():
    """Below 5 % occupancy hits are sampled, above it every channel is drawn: the number of
    channels above threshold agrees with the Gaussian expectation either way."""
    for t in (1.5, 2.5):  # occupancy 6.7 % (dense) and 0.62 % (sampled)
        ro = replace(DEFAULT_READOUTS["PbWO4"], threshold_sigma=t)
        det = _block(ro, n_cells=2500, name=f"t{t}")
        d, prep = _prepared(det)
        assert prep.groups[0][4] == bool(ndtr(-t) > 0.05)
        rng = np.random.default_rng(3)
        empty = np.zeros(det.n_channels, dtype=np.float32)
        count = sum(int(np.count_nonzero(d.apply(empty, prep, rng))) for _ in range(200))
        n = 200 * det.n_channels
        assert count == pytest.approx(n * ndtr(-t), abs=4 * np.sqrt(n * ndtr(-t)))


def test_signal_cells_get_noise_threshold_and_saturation():
    ro = Readout("lar", noise_mev=10.0, threshold_sigma=3.0, saturation_mev=500.0)
    det = _block(ro, n_cells=4, name="sat")
    d, prep = _prepared(det)
    cells = np.array([0.0, 0.020, 0.2, 5.0], dtype=np.float32)  # GeV
    outs = np.array([d.apply(cells, prep, np.random.default_rng(i)) for i in range(2000)])
    assert np.all(outs[:, 3] == pytest.approx(0.5))  # saturated at 500 MeV
    assert np.all((outs == 0) | (outs >= 0.030 - 1e-7))  # nothing between 0 and 3σ
    assert outs[:, 2].std() == pytest.approx(0.010, rel=0.1)  # 10 MeV noise on 200 MeV
    # 20 MeV = 2σ: read only when noise pushes it above 30 MeV: P = Φ(−1)
    assert np.mean(outs[:, 1] > 0) == pytest.approx(ndtr(-1.0), abs=0.04)


def test_em_calibration_and_true_energies_kept():
    s = simulate("course_pbscint", ParticleGun("e-", 30.0), 40, seed=4)
    assert s.digitized is not None
    # the true visible energy is kept in cells: Geant4 measures a sampling fraction of 0.103
    # for 4 mm Pb / 4 mm polystyrene (shared reference V3, the same Pb:scintillator ratio);
    # the 2 mm plates here sample a few per cent more (transition effect, e/mip rises as the
    # plates get thinner), and 1-2 % of the shower leaks into the HCAL
    assert 0.098 <= s.total().mean() / 30.0 <= 0.116
    assert s.total(digitized=True).mean() / 30.0 == pytest.approx(1.0, abs=0.04)
    vis = simulate(
        "course_pbscint",
        ParticleGun("e-", 30.0),
        40,
        seed=4,
        digitizer=Digitizer(calibration="none"),
    )
    np.testing.assert_array_equal(vis.cells, s.cells)
    assert vis.total(digitized=True).mean() == pytest.approx(s.total().mean(), rel=0.03)


def test_same_seed_same_digitisation_whatever_the_batch():
    sim = FastSimulator(
        Calorimeter("x", 10.0, [Section("e", [Layer("PbWO4", 2.0, True)], 5, 1.0)]),
        digitizer=Digitizer(),
    )
    gun = ParticleGun("e-", 10.0)
    whole = sim.run(gun, 6, seed=9)
    part = sim.run(gun, 3, seed=9, start=3)
    np.testing.assert_array_equal(whole.digitized[3:], part.digitized)
    assert event_rng(9, 3, 1).random() != event_rng(9, 3).random()  # its own stream


def test_gev_options_give_a_migration_error():
    with pytest.raises(ConfigError, match=r"noise_gev.*noise_mip or noise_mev.*sections.readout"):
        Digitizer(noise_gev=0.01)
    with pytest.raises(ConfigError, match="calibration 'x' must be one of em, none"):
        Digitizer(calibration="x")
    with pytest.raises(ConfigError, match="unknown option"):
        Digitizer(gain=2)


# --------------------------------------------------------------------- CMS test beam
#: CMS ECAL barrel test beam, electrons of 20–250 GeV on the centre of a crystal (4 × 4 mm²),
#: energy of a 3 × 3 array: stochastic 2.8 %, constant 0.3 %, noise ≈ 0.12–0.13 GeV
#: (P. Adzic et al., "Energy resolution of the barrel of the CMS electromagnetic
#: calorimeter", JINST 2 (2007) P04004).
CMS_STOCHASTIC, CMS_CONSTANT, CMS_NOISE = 0.028, 0.003, (0.12, 0.15)
ENERGIES = (20.0, 50.0, 120.0, 250.0)
N_EVENTS = 800


@pytest.fixture(scope="module")
def cms_like():
    """23 cm PbWO4 crystals of 2.2 cm read out as in the CMS barrel (APDs, 4.5 pe/MeV, F = 2,
    40 MeV noise); no zero suppression in the 3 × 3 sum, as in the test beam."""
    ro = replace(DEFAULT_READOUTS["PbWO4"], threshold_sigma=0.0)
    det = Calorimeter(
        "cms-like", 7 * 2.2, [Section("ecal", [Layer("PbWO4", 23.0, True)], 1, 2.2, ro)]
    )
    sim = FastSimulator(det, digitizer=Digitizer())
    # noise of the 3 × 3 sum from pedestal events, as the test beam measured it
    empty = np.zeros(det.n_channels, dtype=np.float32)
    ped = np.array(
        [
            sim.digitizer.apply(empty, sim._readout, event_rng(99, i, 1))
            .reshape(7, 7)[2:5, 2:5]
            .sum()
            for i in range(4000)
        ]
    )
    from calolab.evaluation.fits import gaussian_core_fit

    digitised, true = [], []
    for e in ENERGIES:
        gun = ParticleGun("e-", e, position_spread_cm=0.2, position_spread_shape="uniform")
        s = sim.run(gun, N_EVENTS, seed=int(e))
        for cells, points in ((s.digitized, digitised), (s.cells, true)):
            e3 = cells.reshape(-1, 7, 7)[:, 2:5, 2:5].sum(axis=(1, 2)).astype(np.float64)
            f = gaussian_core_fit(e3)
            points.append((e, f.sigma / f.mu, f.sigma_err / f.mu))
    return float(ped.std()), np.array(digitised), np.array(true)


def _fit(noise: float, points: np.ndarray) -> tuple[float, float, float, float]:
    """σ/E = a/√E ⊕ N/E ⊕ c with N fixed to the measured pedestal noise (as the test beam)."""
    from iminuit import Minuit
    from iminuit.cost import LeastSquares

    e, r, err = points.T
    cost = LeastSquares(e, r, err, lambda x, a, c: np.sqrt(a * a / x + (noise / x) ** 2 + c * c))
    m = Minuit(cost, a=0.03, c=0.003)
    m.limits["a"] = (0, None)
    m.limits["c"] = (0, None)
    m.migrad()
    m.hesse()
    return m.values["a"], m.errors["a"], m.values["c"], m.errors["c"]


@pytest.mark.slow
def test_cms_like_crystals_reproduce_the_test_beam_resolution(cms_like):
    """Measured here (800 e− per energy): N = 0.122 GeV, a = 2.5 ± 0.25 %, c = 0.39 ±
    0.02 %; the constant term is that of the showers themselves (next test)."""
    noise, points, _ = cms_like
    # 3 × 40 MeV for nine uncorrelated channels
    assert CMS_NOISE[0] * 0.7 <= noise <= CMS_NOISE[1] * 1.3
    assert noise == pytest.approx(3 * 0.040, rel=4 / np.sqrt(2 * 4000))
    a, a_err, c, c_err = _fit(noise, points)
    # within 30 % of the test beam, widened by 3σ of the fit's statistical uncertainty
    assert abs(a - CMS_STOCHASTIC) <= 0.3 * CMS_STOCHASTIC + 3 * a_err, (a, a_err)
    assert abs(c - CMS_CONSTANT) <= 0.3 * CMS_CONSTANT + 3 * c_err, (c, c_err)
    # photo-statistics alone: √(F / N_pe per GeV) = √(2/4500) = 2.1 %
    assert a >= np.sqrt(2.0 / 4500.0) - 3 * a_err


@pytest.mark.slow
def test_the_readout_adds_no_constant_term(cms_like):
    """The constant term of the digitised energies is the showers' own (true energies, same
    events): photo-statistics and noise scale as 1/√E and 1/E."""
    noise, digitised, true = cms_like
    _, _, c, c_err = _fit(noise, digitised)
    _, _, c0, c0_err = _fit(0.0, true)
    assert abs(c - c0) <= 3 * np.hypot(c_err, c0_err), (c, c_err, c0, c0_err)


def test_sparse_digitisation_is_the_dense_one():
    """``apply_sparse`` gives the channels read out (each once) and their values; ``apply``
    is those values in a row of zeros, with the same draws."""
    from calolab.simulation.digitize import DEFAULT_DIGITIZER

    sim = FastSimulator(preset("course_pbscint"))
    cells = sim.run(ParticleGun("e-", 20.0), 1, seed=3).cells[0]
    prep = DEFAULT_DIGITIZER.prepare(sim.stack)
    dense = DEFAULT_DIGITIZER.apply(cells, prep, np.random.default_rng(8))
    idx, values = DEFAULT_DIGITIZER.apply_sparse(cells, prep, np.random.default_rng(8))
    assert len(np.unique(idx)) == len(idx) and values.dtype == np.float32
    row = np.zeros_like(dense)
    row[idx] = values
    np.testing.assert_array_equal(row, dense)
    assert np.count_nonzero(dense) > 0


def _numpy_reference(cells, prep, rng):
    """The digitisation of :meth:`Digitizer.apply_sparse` written with numpy array operations
    only (as it was before the arithmetic between the draws was compiled): the same draws in
    the same order."""
    from calolab.simulation.digitize import noise_hits

    nz = np.flatnonzero(cells != 0)
    mip = cells[nz].astype(np.float64) / prep.gev_per_mip[nz]
    ly = prep.pe_per_mip[nz]
    opt = ly > 0
    if np.any(opt):
        npe = rng.poisson(mip[opt] * ly[opt]).astype(np.float64)
        excess = prep.enf_excess[nz][opt]
        if np.any(excess > 0):
            npe += rng.standard_normal(len(npe)) * np.sqrt(excess * npe)
        mip[opt] = npe / ly[opt]
    if len(nz):
        mip += rng.standard_normal(len(nz)) * prep.noise[nz]
    # the noise hits of empty channels: numpy code shared with the digitiser (not compiled)
    idx, val = noise_hits(cells, nz, prep, rng)
    idx.insert(0, nz)
    val.insert(0, mip)
    at, v = np.concatenate(idx), np.concatenate(val)
    v = np.minimum(v, prep.saturation[at])
    thr = prep.threshold[at]
    keep = (v >= thr) | (thr <= 0)
    at = at[keep]
    return at, (v[keep] * prep.gev_scale[at]).astype(np.float32)


@pytest.mark.parametrize(
    "readout",
    [
        DEFAULT_READOUTS["PbWO4"],  # APD: photo-statistics with excess noise, threshold
        DEFAULT_READOUTS["polystyrene"],  # SiPM: photo-statistics without excess noise
        DEFAULT_READOUTS["Si"],  # no photo-statistics
        Readout(
            "apd",
            photoelectrons_per_mev=4.5,
            excess_noise_factor=2.0,
            noise_mev=5.0,
            threshold_sigma=0.0,
            saturation_mev=300.0,
        ),  # no threshold, saturation
    ],
    ids=["apd", "sipm", "silicon", "no-threshold"],
)
def test_compiled_digitisation_is_the_numpy_one(readout):
    """The compiled arithmetic between the draws gives the numpy reference's channels and
    energies bit for bit (cells of every size, empty cells among them, and empty events)."""
    det = _block(readout, n_cells=400)
    for calibration in ("em", "none"):
        d, prep = _prepared(det, calibration)
        rng = np.random.default_rng(5)
        for i in range(20):
            cells = (rng.lognormal(-6.0, 3.0, 400) * (rng.random(400) < 0.3 * (i % 4))).astype(
                np.float32
            )
            got = d.apply_sparse(cells, prep, np.random.default_rng(i))
            want = _numpy_reference(cells, prep, np.random.default_rng(i))
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
            assert got[1].dtype == np.float32

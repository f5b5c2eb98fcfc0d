"""The EM shower model: the explicit first generations (energy conservation, compiled ==
Python), the first-layer physics, continuous (not quantised) energies, and the longitudinal
fluctuations against the Geant4 reference showers.

Tolerances: binomial and Gaussian standard errors of the sample sizes (4 σ), plus the model
error stated where a Geant4 number is the reference (README of the reference set: the
physics list differs from standard physics at the few-per-cent level in shower shapes).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pytest

from calolab.geometry import get_material, preset
from calolab.physics import em as gf
from calolab.simulation import ParticleGun, simulate
from calolab.simulation._cascade import em_cascade
from calolab.simulation.em import EMShowerModel
from calolab.simulation.event import EMSeeds
from calolab.simulation.stack import StackModel


def _model(name: str) -> EMShowerModel:
    return EMShowerModel(StackModel.build(preset(name)))


def _seeds(*rows: tuple[float, ...]) -> EMSeeds:
    a = np.array([r[:7] for r in rows], dtype=float)
    return EMSeeds.from_rows(a, np.array([bool(r[7]) for r in rows]))


@pytest.mark.parametrize("energy, expected", [(200.0, 0.276), (10.0, 0.995)])
def test_bremsstrahlung_below_k_lpm_is_suppressed(energy, expected):
    """The LPM effect in the explicit cascade: an electron of 200 GeV in PbWO4 (E_LPM 6.86
    TeV, k_LPM = E²/E_LPM = 5.8 GeV) radiates 0.276 of the energy into photons below the
    follow energy (1 GeV) that it would radiate unsuppressed (∫ S · brems_shape over y < 1/200
    against ∫ brems_shape); one of 10 GeV (k_LPM = 15 MeV) 0.995 of it. Measured on the
    photons emitted in the first 0.1 X0, which only the primary radiates, with and without
    the suppression (E_LPM → ∞), 2000 electrons, the same uniforms: within 20 % (measured
    0.312 and 0.973 from ~2000 photons each; a few per cent come from the pairs of photons
    converted within 0.1 X0, which are not suppressed; unsuppressed the 200 GeV ratio is 1)."""
    model = _model("geant4_v1")
    rows = model._seed_rows(_seeds(*[(0, 0, 0, 0, 0, 1, energy, 0)] * 2000))
    near = 0.1 * float(model.stack.section_x0[0])

    def soft_energy() -> float:
        out, _, _ = model.cascade(rows, np.random.default_rng(3))
        photon = (out[:, 7] > 0.5) & (out[:, 2] < near) & (out[:, 6] < 1.0)
        return float(out[photon, 6].sum())

    suppressed = soft_energy()
    model.section_lpm = np.full_like(model.section_lpm, np.inf)
    assert suppressed / soft_energy() == pytest.approx(expected, rel=0.2)


@pytest.mark.parametrize("name", ["geant4_v1", "geant4_v3", "course_triple"])
def test_cascade_conserves_energy_and_compiled_matches_python(name):
    model = _model(name)
    seeds = _seeds((0, 0, 0, 0, 0, 1, 50.0, 0), (1.0, -2.0, 0, 0.1, 0, 0.995, 30.0, 1))
    rows = model._seed_rows(seeds)
    ef = model.follow_energies(rows)
    rng = np.random.default_rng(7)
    for _ in range(5):
        u = rng.random(20_000)
        out_c, dep_c = np.empty((2000, rows.shape[1])), np.empty((4000, 4))
        out_p, dep_p = out_c.copy(), dep_c.copy()
        rc = model.run_cascade(em_cascade, rows, ef, u, out_c, dep_c)
        rp = model.run_cascade(em_cascade.py_func, rows, ef, u, out_p, dep_p)
        assert rc[:3] == rp[:3] and rc[3] == pytest.approx(rp[3], rel=1e-12, abs=1e-15)
        n, d = rc[0], rc[1]
        assert n > 0 and d > 0 and rc[2] > 0
        np.testing.assert_allclose(out_c[:n], out_p[:n], rtol=1e-12)
        np.testing.assert_allclose(dep_c[:d], dep_p[:d], rtol=1e-12)
        total = out_c[:n, 6].sum() + dep_c[:d, 3].sum() + rc[3]
        assert total == pytest.approx(80.0, rel=1e-12)
        # every sub-shower is below the follow energy of its seed
        sid = out_c[:n, 9].astype(int)
        assert np.all(out_c[:n, 6] < ef[sid] + 1e-12)


@pytest.mark.parametrize("name", ["geant4_v3", "geant4_v5"])
def test_cascade_followed_to_tens_of_mev_keeps_every_energy_positive(name):
    """Followed down to 50 MeV, an electron's ionisation over a step is a large share of its
    energy; together with the soft radiation of the step it could exceed the energy (the
    electron went negative and 1 GeV e⁻ in Fe/polystyrene ended in a NaN Poisson mean in the
    binning). Every sub-shower and deposit must be ≥ 0 and the energy conserved."""
    model = _model(name)
    seeds = _seeds((0, 0, 0, 0, 0, 1, 1.0, 0), (0.5, 0.0, 0, 0, 0, 1, 0.3, 1))
    rows = model._seed_rows(seeds)
    ef = np.full(len(rows), 0.05)
    rng = np.random.default_rng(3)
    for _ in range(200):
        out, dep = np.empty((4000, rows.shape[1])), np.empty((8000, 4))
        n, d, iu, leaked = model.run_cascade(em_cascade, rows, ef, rng.random(20_000), out, dep)
        assert n > 0 and iu > 0
        assert np.all(out[:n, 6] >= 0.0) and np.all(dep[:d, 3] >= 0.0)
        assert out[:n, 6].sum() + dep[:d, 3].sum() + leaked == pytest.approx(1.3, rel=1e-12)


@pytest.mark.parametrize("energy", [5, 20])
def test_a_photon_first_layer_holds_only_albedo_before_it_converts(g4ref, energy):
    """γ in PbWO4: the first layer (0.89 cm) holds the shower's deposits only if the photon
    converts in it, P = 1 - exp(-7/9 · d/X0) (PDG, complete screening); otherwise only what
    the shower throws back. Geant4 leaves it (nearly) empty (< 0.1 MeV) in 17 % (5 GeV) and
    8 % (20 GeV) of the events: what reaches it are single back-scattered photons of a few
    hundred keV (at most m_e c² sideways, m_e c²/2 at 180°), and often none. The fraction
    must be Geant4's within 4 binomial standard errors of both samples (and below the
    no-albedo fraction P). With the backward share of a photon spot in one ≈ 5 MeV piece
    (`hybrid-11`) it was empty 2–3.4 times as often (35 %, 26 %); with the share spread over
    up to four fractional pieces (`hybrid-12` to `hybrid-18`) 0.6 and 0.35 times as often
    (10 %, 2.6 %): a spot's mean backward share sent out every time, not as photons."""
    n = 2000
    s = simulate("geant4_v1", ParticleGun("gamma", float(energy)), n, seed=3)
    empty = float(np.mean(s.layer_energies()[:, 0] < 1e-4))
    p = math.exp(-0.89 / get_material("PbWO4").x0_cm / gf.PHOTON_MFP_X0)
    d, _ = g4ref("V1", "gamma", energy)
    ref = d["layers_visible"][:, 0] < 0.1  # MeV
    p_g4 = float(np.mean(ref))
    err = math.hypot(math.sqrt(empty * (1 - empty) / n), math.sqrt(p_g4 * (1 - p_g4) / len(ref)))
    assert empty < p - 4 * math.sqrt(p * (1 - p) / n)
    assert abs(empty - p_g4) <= 4 * err, (empty, p_g4, err)


def test_lepton_starts_conserve_energy_when_their_buffer_grows():
    """A lepton start in a finely sampled stack (0.1 mm Pb / 0.1 mm polystyrene: 1 X0
    crosses ~110 sub-layers) overflows the first deposit buffer; the retry must start from
    the energies before the first try (it took the ionisation out twice)."""
    from calolab.geometry.detector import Calorimeter, Layer, Section
    from calolab.simulation._cascade import N_COLS

    sec = Section("ecal", [Layer("Pb", 0.01), Layer("polystyrene", 0.01, sensitive=True)], 800, 3.0)
    model = EMShowerModel(StackModel.build(Calorimeter("fine", (30.0, 30.0), [sec])))
    rows = np.zeros((2, N_COLS))
    rows[:, 5], rows[:, 6], rows[:, 8] = 1.0, 2.0, 0.005  # e⁻ of 2 GeV along z
    rows[0, 2] = 15.95  # 0.5 mm before the back: a few deposits, which fit
    rows[1, 2] = 0.5  # then ~110: the buffer of 64 + 8 × 2 rows is full, the call retried
    dep = model._lepton_starts(rows)
    assert len(dep) > 64 + 16
    assert rows[:, 6].sum() + dep[:, 3].sum() == pytest.approx(4.0, rel=1e-12)
    assert 0.005 < 2.0 - rows[1, 6] < 0.03  # ~1 X0 of a 2 GeV electron's collision loss


def _first_layer_v1_20gev(g4ref) -> tuple[np.ndarray, np.ndarray, float]:  # type: ignore[no-untyped-def]
    """First-layer energies (MeV) of 400 fast and the Geant4 20 GeV e⁻ showers in V1, and the
    statistical error of the difference of their means."""
    n = 400
    s = simulate("geant4_v1", ParticleGun("e-", 20.0), n, seed=4)
    l0 = s.layer_energies()[:, 0] * 1000.0
    d, _ = g4ref("V1", "e-", 20)
    ref = d["layers_visible"][:, 0]
    return l0, ref, math.hypot(l0.std() / math.sqrt(n), ref.std() / math.sqrt(len(ref)))


@pytest.mark.parametrize("energy", [5, 20])
def test_the_primary_electrons_first_layer_deposit_fluctuates_as_in_geant4(g4ref, energy):
    """e⁻ in PbWO4: the first layer holds the primary's ionisation, which fluctuates
    (Landau, the difference carried on by knock-on electrons into the next layer). The
    share of events below Geant4's 5 % and 1 % quantiles of the first layer's energy must
    be 5 % and 1 % within 4 binomial errors of both samples. Without the straggling in
    homogeneous layers (`hybrid-19`) the primary's mean loss, ≈ 13.5 MeV, was a floor:
    0.1 % of the 5 GeV showers lay below Geant4's 5 % quantile (11.3 MeV)."""
    n = 2000
    s = simulate("geant4_v1", ParticleGun("e-", float(energy)), n, seed=4)
    l0 = s.layer_energies()[:, 0] * 1000.0
    d, _ = g4ref("V1", "e-", energy)
    ref = d["layers_visible"][:, 0]
    for p in (0.05, 0.01):
        below = float(np.mean(l0 < np.quantile(ref, p)))
        err = math.sqrt(p * (1 - p) / n + p * (1 - p) / len(ref))
        assert abs(below - p) < 4 * err, (energy, p, below, err)


def test_the_first_layer_mean_matches_geant4(g4ref):
    """The mean first-layer energy of 20 GeV e⁻ in PbWO4 within 4 standard errors and 15 %
    of Geant4's. Measured: 51 against 43 MeV (`hybrid-13`); 60 (`hybrid-15`, failed: the
    forward photons of the far tail left the axis before their sub-shower's start); 54-55
    (`hybrid-16`, 1.27× Geant4's); 51 (`hybrid-17`, 1.19×: the profiles of sub-showers whose
    lepton's start is explicit start later; docs/validation.md, "Known limitations (EM)");
    48 (`hybrid-20`, 1.11×: part of the primary's loss carried into the next layer)."""
    l0, ref, err = _first_layer_v1_20gev(g4ref)
    assert abs(l0.mean() - ref.mean()) < 4 * err + 0.15 * ref.mean()


def _centre_of_gravity(layers: np.ndarray) -> np.ndarray:
    """Per event, the centre of gravity of the layer profile (layers, from 0.5)."""
    return (layers * (np.arange(layers.shape[1]) + 0.5)).sum(1) / layers.sum(1)


@pytest.mark.slow
@pytest.mark.parametrize("energy, n", [(2, 2000), (10, 1000)])
def test_centre_of_gravity_in_fe_polystyrene_matches_geant4(g4ref, energy, n):
    """The mean centre of gravity of e⁻ showers in 15 mm Fe / 5 mm polystyrene (V5) within
    0.15 layers plus 3 standard errors of Geant4's. The explicit first X0 of a sub-shower's
    lepton (20 MeV per X0 in iron, 5-20 % of a sub-GeV sub-shower) used to come on top of
    GFlash's whole profile and moved the showers 0.36-0.39 layers forwards (`hybrid-16`:
    5.45 against 5.81 layers at 2 GeV, 7.26 against 7.64 at 10 GeV); with the profile's rest
    starting later, its centre kept (`calolab.physics.em.start_delay`, `hybrid-17`), the
    difference is -0.08 to -0.15 layers on seeds 1-4."""
    d, _ = g4ref("V5", "e-", energy)
    ref = _centre_of_gravity(d["layers_visible"])
    s = simulate("geant4_v5", ParticleGun("e-", float(energy)), n, seed=3)
    fast = _centre_of_gravity(s.layer_energies())
    err = math.hypot(ref.std() / math.sqrt(len(ref)), fast.std() / math.sqrt(n))
    assert abs(fast.mean() - ref.mean()) < 0.15 + 3 * err, (fast.mean(), ref.mean(), err)


@pytest.mark.parametrize("kernel", ["numba", "numpy"])
def test_forward_photons_deposit_nothing_before_their_shower_starts(kernel):
    """A spot of the far tail or of GFlash's tail component lies at the axial offset
    r (tan θ - ⟨tan θ⟩) from its axis point: its photon left the axis r ⟨tan θ⟩ before, and a
    photon going forwards left it at or after its sub-shower's start. With forward photons
    only (the slope tables' backward probability set to 0) and no albedo, a 20 GeV e⁻
    starting 10 cm deep in the PbWO4 block puts no spot energy before 10 cm and none
    through the front face (`hybrid-15`, whose offsets were only centred, put 0.05 % of its
    energy there; in the block, most of its 6.5-15.5 MeV albedo at 5-20 GeV was that)."""
    model = EMShowerModel(StackModel.build(preset("geant4_v1")), kernel=kernel)
    n_u = (model.slope_tab.shape[2] - 2) // 2
    model.slope_tab[..., 2 * n_u] = 0.0
    model.albedo_eta = 0.0
    st = model.stack
    dep = np.zeros(int(st.ro_offset[-1]))
    rng = np.random.default_rng(11)
    leaked = 0.0
    for _ in range(30):
        deposited, out, _ = model.develop_into(_seeds((0, 0, 10.0, 0, 0, 1, 20.0, 0)), rng, dep)
        leaked += out
    per_period = dep.reshape(len(st.period_lo), -1).sum(axis=1)
    before = st.period_lo + 0.89 <= 10.0
    assert per_period[~before].sum() > 0.9 * 30 * 20.0 * 0.9
    assert per_period[before].sum() == 0.0
    assert leaked < 30 * 20.0 * 0.01  # the back of the block (40 X0 from z = 0) only


def test_energies_are_not_multiples_of_a_spot():
    """Homogeneous block: the leaked energy and the cell energies are continuous (the spots
    carry Gamma-distributed weights), not whole numbers of spots."""
    n = 60
    s = simulate("geant4_v1", ParticleGun("e-", 20.0), n, seed=5)
    assert len(np.unique(s.total())) == n
    medium = _model("geant4_v1").stack.media[0]
    spot = 20.0 / float(gf.n_spots(np.array(20.0), medium))
    cells = s.cells[s.cells > 0].astype(np.float64)
    frac = np.abs(cells / spot - np.rint(cells / spot))
    # cells of 1–5 spots (far below one spot every value is "near 0": the soft quanta of the
    # backward photons, the light spots of the importance-sampled tail)
    small = (cells > 0.5 * spot) & (cells < 5 * spot)
    # a continuous distribution puts 1 % of the values within ±0.005 of an integer
    assert np.mean(frac[small] < 0.005) < 0.03


@pytest.mark.slow
def test_longitudinal_fluctuations_match_geant4(g4ref):
    """e⁻ 20 GeV in PbWO4 (V1): the spread of the layer fractions in the six layers after
    the maximum and the correlation of adjacent layers, against Geant4 (1000 showers).
    Statistical errors: spread ≈ 3 %, correlation ≈ 0.02 (300 simulated showers); model
    error allowed: 10 % on the spread, 0.05 on the correlation."""
    d, _ = g4ref("V1", "e-", 20)
    ref = d["layers_visible"] / 20000.0
    s = simulate("geant4_v1", ParticleGun("e-", 20.0), 300, seed=6)
    fast = s.layer_energies() / 20.0
    im = int(np.argmax(ref.mean(axis=0)))
    sl = slice(im, im + 6)

    def corr(a: np.ndarray) -> float:
        return float(np.mean([np.corrcoef(a[:, j], a[:, j + 1])[0, 1] for j in range(im, im + 6)]))

    spread_ref, spread = ref.std(axis=0)[sl].mean(), fast.std(axis=0)[sl].mean()
    assert spread == pytest.approx(spread_ref, rel=4 * 0.03 + 0.10)
    assert corr(fast) == pytest.approx(corr(ref), abs=4 * 0.02 + 0.05)


def _containment(showers, radii: tuple[float, ...]) -> np.ndarray:
    """Per-event fraction of the visible energy in cells whose centre is within r of the
    axis, as the reference files count it; shape (len(radii), N)."""
    g = showers.grid().sum(axis=1).astype(np.float64)
    cell = showers.detector.readout_layers[0].cell_size_cm[0]
    xc = (np.arange(g.shape[1]) + 0.5) * cell - g.shape[1] * cell / 2
    rr = np.hypot(xc[:, None], xc[None, :])
    tot = g.sum(axis=(1, 2))
    return np.array([g[:, rr <= r].sum(axis=1) / tot for r in radii])


def _sd_error(x: np.ndarray) -> float:
    """Standard error of the standard deviation of the sample x (from its fourth moment)."""
    d = x - x.mean()
    m2, m4 = np.mean(d**2), np.mean(d**4)
    return float(np.sqrt(max(m4 / m2**2 - 1.0, 0.0) / (4 * len(x))) * np.sqrt(m2))


#: (configuration, low energy, high energy, simulated showers at each): two energies per
#: design where the reference set has them (V2 has one).
# V3: 1000 showers per energy (400 until hybrid-18: the ratio of the 3 cm spreads at 10 and
# 30 GeV failed by 1 % of its 4σ tolerance at this seed, a +2σ spread at 30 GeV; three seeds
# gave 0.0081-0.0088 against Geant4's 0.0072, 0.0080-0.0084 without the LPM effect)
_LATERAL = [("V1", 20, 200, (400, 150)), ("V2", 20, None, (400, 0)), ("V3", 10, 30, (1000, 1000))]
_RADII = (2.0, 3.0)


@lru_cache(maxsize=8)
def _fast_containment(config: str, energy: int, n: int) -> np.ndarray:
    s = simulate(f"geant4_{config.lower()}", ParticleGun("e-", float(energy)), n, seed=7)
    return _containment(s, _RADII)


def _ref_containment(g4ref, config: str, energy: int) -> np.ndarray:
    d, _ = g4ref(config, "e-", energy)
    idx = [int(np.argmin(np.abs(d["containment_radii_cm"] - r))) for r in _RADII]
    return d["containment"][:, idx].T


@pytest.mark.slow
@pytest.mark.parametrize("config, e_low, e_high, n", _LATERAL)
def test_lateral_containment_fluctuates_as_in_geant4(g4ref, config, e_low, e_high, n):
    """The event-by-event fraction f of the energy within r = 2 and 3 cm of the axis (cells
    of 1 cm, beam on a cell corner), against Geant4: its spread. Geant4's shrinks as 1/√E
    (V1, within 2 cm: 0.58 % at 20 GeV, 0.18 % at 200 GeV) — the energy is shared by a
    number of independent deposits growing as E. The spread divided by the binomial
    √(f̄(1-f̄)) (the inverse square root of that number, free of the mean profile, tested
    next) within 4 standard errors of the two samples (from their fourth moments); the ratio
    of the spreads at the two energies likewise. The spread is what the constant term of a
    3 × 3 crystal sum is made of."""
    spreads = {}
    for energy, n_fast in ((e_low, n[0]), (e_high, n[1])):
        if energy is None:
            continue
        ref = _ref_containment(g4ref, config, energy)
        fast = _fast_containment(config, energy, n_fast)
        for r, a, b in zip(_RADII, ref, fast):
            what = (config, energy, r)
            ba, bb = np.sqrt(a.mean() * (1 - a.mean())), np.sqrt(b.mean() * (1 - b.mean()))
            se = np.hypot(_sd_error(a) / ba, _sd_error(b) / bb)
            assert abs(b.std() / bb - a.std() / ba) <= 4 * se, (what, a.std(), b.std(), ba, bb)
            spreads.setdefault(r, []).append((a.std(), _sd_error(a), b.std(), _sd_error(b)))
    for r, pts in spreads.items():
        if len(pts) < 2:
            continue
        (a0, ea0, b0, eb0), (a1, ea1, b1, eb1) = pts
        ra, rb = a0 / a1, b0 / b1
        err = np.hypot(ra * np.hypot(ea0 / a0, ea1 / a1), rb * np.hypot(eb0 / b0, eb1 / b1))
        assert abs(rb - ra) <= 4 * err, (config, r, ra, rb, err)


def test_the_halos_importance_sampling_keeps_the_mean_containment():
    """Homogeneous media draw the halo's spots (GFlash's tail component) with more odds and
    weight them back, normalised over the event (:data:`calolab.physics.em.HALO_SPOT_ODDS`):
    the mean containment within 1, 2 and 3 cm must be that of plain sampling. Paired (same
    seed, so the same random numbers), 4 standard errors of the mean difference, with odds 4
    to magnify any bias. Normalised per sub-shower instead, a sub-shower of a few spots
    keeps its energy whichever component its spots fall in: with odds 3 that took 0.0028
    (9 standard errors) from the containment within 1 cm of V1 at 20 GeV."""
    from calolab.simulation.fast import FastSimulator

    gun = ParticleGun("e-", 20.0)
    fast = FastSimulator(preset("geant4_v1"))
    fast.em = EMShowerModel(fast.stack, halo_odds=4.0)
    halo = _containment(fast.run(gun, 400, seed=5), (1.0, 2.0, 3.0))
    fast.em = EMShowerModel(fast.stack, halo_odds=1.0)
    plain = _containment(fast.run(gun, 400, seed=5), (1.0, 2.0, 3.0))
    d = halo - plain
    se = d.std(axis=1) / np.sqrt(d.shape[1])
    assert np.all(np.abs(d.mean(axis=1)) <= 4 * se), (d.mean(axis=1), se)
    # and it is importance sampling: the spread of the containment changes, its mean does not
    assert not np.allclose(halo.std(axis=1), plain.std(axis=1), rtol=0.02)


@pytest.mark.slow
@pytest.mark.parametrize(
    "config, energy, n, r",
    [
        ("V1", 20, 400, 2.0),
        ("V1", 20, 400, 3.0),
        ("V1", 200, 150, 2.0),
        ("V1", 200, 150, 3.0),
        ("V2", 20, 400, 2.0),
        ("V2", 20, 400, 3.0),
        ("V3", 10, 400, 2.0),
        ("V3", 10, 400, 3.0),
        ("V3", 30, 400, 2.0),
        ("V3", 30, 400, 3.0),
    ],
)
def test_lateral_containment_mean_matches_geant4(g4ref, config, energy, n, r):
    """The mean fraction of the energy within r = 2 and 3 cm of the axis, against Geant4:
    within 4 standard errors plus 3 % (the reference README: its sub-GeV bremsstrahlung
    model alone moves the containment near one Molière radius by a few per cent)."""
    k = _RADII.index(r)
    a = _ref_containment(g4ref, config, energy)[k]
    b = _fast_containment(config, energy, n)[k]
    se_mean = np.hypot(a.std() / np.sqrt(len(a)), b.std() / np.sqrt(len(b)))
    assert abs(b.mean() - a.mean()) <= 4 * se_mean + 0.03 * a.mean(), (a.mean(), b.mean())


@pytest.mark.slow
@pytest.mark.parametrize("config", ["V1", "V2"])
def test_far_lateral_tail_falls_with_the_photon_attenuation(g4ref, config):
    """Far from the axis the energy falls off with the minimum photon attenuation coefficient
    (line-source Bickley tail): the attenuation length of the energy outside r between
    r = 10 and 15 cm, λ = 5 cm / ln(F(10)/F(15)), against Geant4's (20 GeV e⁻, homogeneous
    blocks, where the tail is visible energy). Tolerance: 4 standard errors of the two samples
    (per-event fractions, propagated) plus 10 % (the photoelectric effect, left out of μ_min,
    adds ≈ 6 % to it in lead). GFlash's power law gave λ ≈ 5 cm in PbWO4 (Geant4 2.7 cm).
    The level of the tail is not tested: it inherits GFlash's excess at 3–5 cm (docs)."""
    radii = (10.0, 15.0)
    d, _ = g4ref(config, "e-", 20)
    idx = [int(np.argmin(np.abs(d["containment_radii_cm"] - r))) for r in radii]
    ref = 1.0 - d["containment"][:, idx].T
    s = simulate(f"geant4_{config.lower()}", ParticleGun("e-", 20.0), 300, seed=7)
    fast = 1.0 - _containment(s, radii)

    def length(f: np.ndarray) -> tuple[float, float]:
        m = f.mean(axis=1)
        se = f.std(axis=1) / np.sqrt(f.shape[1])
        ln_ratio = math.log(m[0] / m[1])
        se_ln = math.hypot(se[0] / m[0], se[1] / m[1])
        return 5.0 / ln_ratio, 5.0 / ln_ratio**2 * se_ln

    lam_ref, e_ref = length(ref)
    lam_fast, e_fast = length(fast)
    assert abs(lam_fast - lam_ref) <= 4 * math.hypot(e_ref, e_fast) + 0.1 * lam_ref, (
        config,
        lam_ref,
        lam_fast,
    )


def test_capped_components_hand_over_to_the_photons_continuously():
    """The radial tables cap R at R* (:func:`calolab.physics.em.photon_limited_radius`),
    where the far tail's hand-over radius r_s jumps from ≈ 1.18 R* just inside to R just
    outside. The capped components and those within a grid step below R* take the value
    from inside, computed, not interpolated across the jump (interpolated, a component at
    0.999 R* got r_s = 1.10 R* instead of 1.18 R*)."""
    from calolab.simulation.em import _far_tail_of_radius

    mu = 0.62
    r_star = gf.photon_limited_radius(mu)
    inside = gf.radial_far_tail(np.array([0.999 * r_star]), mu)[0]
    capped = _far_tail_of_radius(mu, np.log(np.array([r_star, 0.999 * r_star, 0.5 * r_star])))
    assert capped[0] == pytest.approx(inside, rel=0.01)
    assert capped[1] == pytest.approx(inside, rel=0.01)
    assert capped[2] == pytest.approx(gf.radial_far_tail(np.array([0.5 * r_star]), mu)[0], rel=0.01)


def test_low_energy_showers_in_light_media_stay_within_the_photons_reach():
    """100 MeV e⁻ into aluminium (E ≈ 2.3 E_c): the energy deposited beyond 10 Molière
    radii of the axis (44 cm) cannot exceed what photons from the axis region (within
    1 R_M) carry that far at the attenuation minimum: the line-source fraction
    Ki₂(μ_min · 9 R_M) = 0.059 (μ_min = 0.0217 cm²/g, `calolab.physics.photon`; every other photon
    attenuates faster and electrons stop within centimetres). With GFlash's R_T extrapolated
    to τ ≫ 3 (up to `hybrid-25`) 10.3 ± 0.9 % of the energy in this block lay there and 19 %
    left it sideways; since `hybrid-26` no component is wider than the photons reach
    (:func:`calolab.physics.em.photon_limited_radius`): 2.2 ± 0.4 % (200 showers, the
    standard error of the per-event fractions)."""
    from calolab.geometry import Calorimeter, Layer, Section
    from calolab.physics.photon import bickley

    al = get_material("Al")
    rm = al.moliere_radius_cm
    det = Calorimeter("al", 30 * rm, [Section("b", [Layer(al, 2 * al.x0_cm, True)], 15, 0.5 * rm)])
    s = simulate(det, ParticleGun("e-", 0.1), 200, seed=3)
    grid = s.grid().sum(axis=1)  # (events, x, y)
    xc = (np.arange(grid.shape[1]) + 0.5 - grid.shape[1] / 2) * 0.5
    far = np.hypot(xc[:, None], xc[None, :]) > 10.0
    beyond = float(grid[:, far].sum() / grid.sum())
    mu = float(StackModel.build(det).media[0].photon_mu_min_cm) * rm
    assert beyond <= float(bickley(2, np.array([mu * 9.0]))[0]), (beyond, mu)


@pytest.mark.slow
@pytest.mark.parametrize("config", ["V1", "V2"])
def test_energy_leaving_the_block_is_albedo_of_geant4s_size(g4ref, config):
    """20 GeV e⁻ into the 60 × 60 cm PbWO4 and Pb blocks: what leaves them is the albedo
    (calolab.physics.em.albedo_escape: its share η was fitted to the PbWO4 block's, the Pb
    block's follows from the electron backscattering coefficient). `hybrid-6` … `hybrid-15`
    got 0.8-1.9× Geant4's from the axial offsets of the far tail's photons, most of it
    forward photons put in front of the shower. The mean energy that leaves must be within
    10 % (PbWO4) and 20 % (Pb) of Geant4's, each bound with 4 standard errors of the two
    samples. `hybrid-26` (the far tail no longer leaving the blocks' sides) left 0.88× and
    0.78× of Geant4's; `hybrid-27` refitted η on the same samples: 1.01× and 0.89× (the
    showers of `scripts/compare_geant4.py`, seeds 1 and 2)."""
    n = 400
    s = simulate(f"geant4_{config.lower()}", ParticleGun("e-", 20.0), n, seed=8)
    out = 1.0 - s.layer_energies().sum(axis=1) / 20.0
    d, _ = g4ref(config, "e-", 20)
    ref = 1.0 - d["e_visible"] / 20000.0
    err = math.hypot(out.std() / math.sqrt(n), ref.std() / math.sqrt(len(ref)))
    tol = 0.1 if config == "V1" else 0.2
    assert abs(out.mean() - ref.mean()) <= tol * ref.mean() + 4 * err, (
        out.mean(),
        ref.mean(),
        err,
    )


def _quantile_error(x: np.ndarray, q: float, rng: np.random.Generator) -> float:
    """Bootstrap standard error of the q-quantile of x (200 resamples)."""
    idx = rng.integers(0, len(x), size=(200, len(x)))
    return float(np.quantile(x[idx], q, axis=1).std())


@pytest.mark.parametrize("particle", ["e-", "gamma"])
def test_energy_leaving_a_5_gev_shower_comes_in_albedo_quanta(g4ref, particle):
    """5 GeV e⁻/γ in the PbWO4 block: what leaves is the albedo, quanta of m_e c² (an
    annihilation photon) and more, so a Geant4 shower loses nothing (e⁻: 4.5 %, γ: 15 %,
    the γ that convert deep) or at least ~0.3 MeV. `hybrid-11` lost nothing in 35 % and 45 %
    (the backward share in one ≈ 5 MeV piece); `hybrid-15` in 3 % and 8 %, and 0.05-0.3 MeV
    (soft backward quanta through the face) in 4 % and 13 % (Geant4: 0.3 %, 0.1 %). Checked:
    the fraction that loses less than 0.05 MeV within 0.5-1.5× Geant4's and the fraction
    that loses between 0.05 and 0.3 MeV below 2 %, each with 4 binomial standard errors of
    both samples; the median and the 90 % quantile of what leaves within 25 % of Geant4's
    plus 4 bootstrap standard errors."""
    n = 600
    s = simulate("geant4_v1", ParticleGun(particle, 5.0), n, seed=9)
    lost = 5000.0 - s.layer_energies().sum(axis=1) * 1000.0  # MeV
    d, _ = g4ref("V1", particle, 5)
    ref = 5000.0 - d["layers_visible"].sum(axis=1)

    def binomial(p: float, m: int) -> float:
        return math.sqrt(max(p * (1 - p), 1.0 / m) / m)

    nothing, p_g4 = float(np.mean(lost < 0.05)), float(np.mean(ref < 0.05))
    err = math.hypot(binomial(nothing, n), binomial(p_g4, len(ref)))
    assert 0.5 * p_g4 - 4 * err <= nothing <= 1.5 * p_g4 + 4 * err, (nothing, p_g4, err)
    soft = float(np.mean((lost >= 0.05) & (lost < 0.3)))
    assert soft <= 0.02 + 4 * binomial(soft, n), soft
    rng = np.random.default_rng(0)
    for q in (0.5, 0.9):
        a, b = float(np.quantile(ref, q)), float(np.quantile(lost, q))
        e = math.hypot(_quantile_error(ref, q, rng), _quantile_error(lost, q, rng))
        assert abs(b - a) <= 0.25 * a + 4 * e, (q, a, b, e)


@pytest.mark.parametrize("energy", [0.03, 0.3, 30.0])
def test_photons_travel_their_energy_dependent_mean_free_path(energy):
    """A GFlash photon sub-shower starts where the photon first interacts: after an
    exponential distance with the mean free path of Compton scattering and pair production
    at its energy (:func:`calolab.physics.photon.interaction_length_x0`: 9/7 X0 at high energy,
    2.3 X0 at 30 MeV in PbWO4), not the high-energy 9/7 X0 at all energies. 20,000 photons:
    the mean depth has a relative error 1/√N = 0.7 %; tolerance 4 of them."""
    from calolab.physics.photon import interaction_length_x0

    model = _model("geant4_v1")
    n = 20000
    rows = np.zeros((n, 10))
    rows[:, 2] = 1e-6
    rows[:, 5] = 1.0
    rows[:, 6] = energy
    rows[:, 7] = 1.0
    rows[:, 8] = energy
    out, escaped = model._convert_photons(rows, np.random.default_rng(1))
    assert escaped == 0.0
    m = get_material("PbWO4")
    lam = interaction_length_x0([m], [1.0], m.x0_g_cm2, np.array([energy * 1e3]))[0]
    depth = np.average(out[:, 2], weights=out[:, 6]) / model.stack.media[0].x0_cm
    assert depth == pytest.approx(lam, rel=4 / math.sqrt(n))


@pytest.mark.parametrize("energy", [2, 10])
def test_mean_profile_width_in_iron_scintillator_matches_geant4(g4ref, energy):
    """e⁻ in 15 mm Fe / 5 mm scintillator (V5): the width (standard deviation, in layers) of
    the mean longitudinal profile against Geant4 (2000 showers). With GFlash's sampling terms
    extrapolated below their 1 GeV fit range as additive shifts the sub-showers of a few
    hundred MeV reached α → 1 and the profile was 18 % too wide at 10 GeV (4.88 against 4.12
    layers; `hybrid-5`). Statistical error from 8 batches of the fast sample (≈ 1 %);
    tolerance 4 of them plus 5 % for the model."""
    d, _ = g4ref("V5", "e-", energy)

    def width(layers: np.ndarray) -> float:
        return _mean_profile_centre_width(layers)[2]

    s = simulate("geant4_v5", ParticleGun("e-", float(energy)), 400, seed=8)
    fast = s.layer_energies()
    batches = [width(b) for b in np.array_split(fast, 8)]
    err = float(np.std(batches, ddof=1) / math.sqrt(len(batches)))
    ref = width(d["layers_visible"])
    assert abs(width(fast) - ref) <= 0.05 * ref + 4 * err, (width(fast), ref, err)


def _mean_profile_centre_width(layers: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Layer centres (in layers), centre of gravity and width (standard deviation) of the
    mean longitudinal profile of ``layers`` (events × layers)."""
    p = layers.mean(axis=0)
    x = np.arange(len(p)) + 0.5
    c = float(np.average(x, weights=p))
    return x, c, float(np.sqrt(np.average((x - c) ** 2, weights=p)))


def _tail_length_x0(layers: np.ndarray, window: np.ndarray, x0_per_layer: float) -> float:
    """e-folding length (X0) of the mean longitudinal profile over the layers ``window``."""
    p = layers.mean(axis=0)
    x = np.arange(len(p)) + 0.5
    ok = window & (p > 0)
    return float(-x0_per_layer / np.polyfit(x[ok], np.log(p[ok]), 1)[0])


def test_deep_tail_in_iron_scintillator_falls_with_the_photon_attenuation(g4ref):
    """10 GeV e⁻ in 15 mm Fe / 5 mm scintillator (V5): beyond its centre + 2 widths Geant4's
    mean profile falls off with an e-folding length of 2.49 X0, near the 2.38 X0 of photons at
    the minimum of the attenuation coefficient (`tests/physics/test_em.py`). GFlash's sub-GeV
    sub-showers there have α ≈ 1.2–1.5, i.e. exponential tails of 4–6 X0: `hybrid-8` fell
    off with 4.1 X0 (+64 %); `hybrid-9` floors each profile's β at μ_min X0 (3.0 X0, the sum
    of sub-showers at different depths falls more slowly than each). Statistical error from 8
    batches of the fast sample; tolerance 4 of them plus 30 % for the model."""
    d, _ = g4ref("V5", "e-", 10)
    ref_layers = d["layers_visible"]
    x, c, w = _mean_profile_centre_width(ref_layers)
    p = ref_layers.mean(axis=0)
    window = (x > c + 2 * w) & (p / p.sum() > 1e-5)
    det = preset("geant4_v5")
    x0_per_layer = det.sections[0].period_cm / StackModel.build(det).media[0].x0_cm
    ref = _tail_length_x0(ref_layers, window, x0_per_layer)
    fast = simulate(det, ParticleGun("e-", 10.0), 800, seed=9).layer_energies()
    batches = [_tail_length_x0(b, window, x0_per_layer) for b in np.array_split(fast, 8)]
    err = float(np.std(batches, ddof=1) / math.sqrt(len(batches)))
    got = _tail_length_x0(fast, window, x0_per_layer)
    assert abs(got - ref) <= 0.3 * ref + 4 * err, (got, ref, err)


@lru_cache(maxsize=1)
def _v5_10gev_layers() -> np.ndarray:
    """Layer energies (GeV) of 2,000 fast 10 GeV e⁻ in the V5 stack (seed 9)."""
    return simulate("geant4_v5", ParticleGun("e-", 10.0), 2000, seed=9).layer_energies()


def test_front_of_showers_in_iron_scintillator_fluctuates_as_geant4s(g4ref):
    """10 GeV e⁻ in 15 mm Fe / 5 mm scintillator (V5), the one reference stack whose
    sub-GeV bremsstrahlung is standard (its README): the share of the visible energy in the
    first four layers, its mean and its event-to-event spread against Geant4's. With GFlash's
    sampling fits of σ(ln T), σ(ln α) and ρ (up to `hybrid-24`), which hold the sampling
    noise the cells get again from the sampling model, the spread was 1.14 ± 0.03 × Geant4's
    and the mean 1.08×; since `hybrid-25` the shape fluctuates with GFlash's homogeneous
    parameters: 1.03 and 1.00. Both within 4 standard errors (bootstrap) of the two
    samples."""
    d, _ = g4ref("V5", "e-", 10)
    ref = d["layers_visible"].astype(np.float64)
    fast = _v5_10gev_layers()
    f_ref = ref[:, :4].sum(axis=1) / ref.sum(axis=1)
    f_fast = fast[:, :4].sum(axis=1) / fast.sum(axis=1)
    rng = np.random.default_rng(0)
    boot = np.array(
        [
            (a.mean() / b.mean(), a.std() / b.std())
            for a, b in (
                (
                    f_fast[rng.integers(0, len(f_fast), len(f_fast))],
                    f_ref[rng.integers(0, len(f_ref), len(f_ref))],
                )
                for _ in range(200)
            )
        ]
    )
    mean_ratio, sd_ratio = f_fast.mean() / f_ref.mean(), f_fast.std() / f_ref.std()
    se_mean, se_sd = boot.std(axis=0)
    assert abs(mean_ratio - 1.0) <= 4 * se_mean, (mean_ratio, se_mean)
    assert abs(sd_ratio - 1.0) <= 4 * se_sd, (sd_ratio, se_sd)


def test_energy_deep_in_the_tail_in_iron_scintillator_matches_geant4(g4ref):
    """10 GeV e⁻ in 15 mm Fe / 5 mm scintillator (V5): the energy beyond the centre of
    gravity plus three and four widths of Geant4's mean profile (layers 20 and 24 on; 1.1 %
    and 0.3 % of the shower). With β ≥ μ_min X0 as the only floor on GFlash's sub-GeV
    profiles (up to `hybrid-23`) the Gamma's factor t^(α-1) kept the tail falling more
    slowly than the photons at the attenuation minimum: 1.24–1.30× and 1.55–1.65× Geant4's
    (6–10 standard errors); since `hybrid-24` the floor holds from three widths past the
    centre on (:func:`calolab.physics.em.tail_floor`). Ratio of the mean per-event fractions
    within 15 % (model) plus 4 standard errors of the two samples."""
    d, _ = g4ref("V5", "e-", 10)
    ref = d["layers_visible"]
    x, c, w = _mean_profile_centre_width(ref)
    fast = _v5_10gev_layers()
    for k in (3, 4):
        window = x > c + k * w
        f_ref = ref[:, window].sum(axis=1) / ref.sum(axis=1)
        f_fast = fast[:, window].sum(axis=1) / fast.sum(axis=1)
        ratio = f_fast.mean() / f_ref.mean()
        se = ratio * math.hypot(
            f_ref.std() / f_ref.mean() / math.sqrt(len(f_ref)),
            f_fast.std() / f_fast.mean() / math.sqrt(len(f_fast)),
        )
        assert abs(ratio - 1.0) <= 0.15 + 4 * se, (k, ratio, se)

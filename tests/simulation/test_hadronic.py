"""Hadrons in the fast backend: first interaction, neutrals, response, resolution,
longitudinal and lateral containment, ECAL to HCAL continuation, bookkeeping."""

import numpy as np
import pytest
from scipy import stats

from calolab.geometry import Calorimeter, Layer, Section, get_material, preset
from calolab.physics import hadronic as hp
from calolab.simulation import ParticleGun, simulate
from calolab.simulation.event import EventContext
from calolab.simulation.hadron_references import (
    measure_hadron_response,
    reference,
    relative_spread,
)
from calolab.simulation.hadronic import HadronHandler, HadronicShowerModel
from calolab.simulation.stack import MODE_HAD, MODE_LOCAL, StackModel
from calolab.simulation.validation import fit_gamma_maximum

SCINT = "polystyrene"
FE_SCINT = [Layer("Fe", 1.5), Layer(SCINT, 0.5, sensitive=True)]
#: λ_I of one 1.5 cm Fe + 0.5 cm polystyrene period (cm)
LAMBDA_FE_SCINT = 2.0 / (
    1.5 / get_material("Fe").lambda_i_cm + 0.5 / get_material("polystyrene").lambda_i_cm
)


def fe_scint(n_periods: int, size: float, cell: float, name: str = "fe_scint") -> Calorimeter:
    return Calorimeter(name, (size, size), [Section("hcal", FE_SCINT, n_periods, cell)])


def _censored_exponential_mle(z, length):
    """λ̂ = (Σ z_i + Σ censored lengths) / number of interactions, and its error."""
    inter = np.isfinite(z)
    k = inter.sum()
    lam = (z[inter].sum() + (~inter).sum() * length) / k
    return lam, lam / np.sqrt(k)


def test_first_interaction_follows_the_interaction_length_material_by_material():
    # 20 cm Fe followed by 40 cm Pb: in each material the depth of the first interaction is
    # exponential with the PDG pion interaction length (Fe 20.42 cm, Pb 19.93 cm)
    det = Calorimeter(
        "fe_pb",
        (400.0, 400.0),
        [Section("fe", [Layer("Fe", 20.0)], 1), Section("pb", [Layer("Pb", 40.0, True)], 1)],
    )
    stack = StackModel.build(det)
    handler = HadronHandler(stack, HadronicShowerModel(stack), 211)
    rng = np.random.default_rng(8)
    n = 4000
    z = np.full(n, np.nan)
    for i in range(n):
        res = handler.tracker.run(rng, (0.0, 0.0, 0.0), (0.0, 0.0, 1.0), 30.0)
        if res.status == 4:
            z[i] = res.state[2]
    fe = np.where(z < 20.0, z, np.nan)
    lam_fe, err_fe = _censored_exponential_mle(fe, 20.0)
    assert abs(lam_fe - 20.42) < 3 * err_fe
    deep = z[np.isnan(fe)] - 20.0  # survivors of the Fe layer, depth in Pb
    lam_pb, err_pb = _censored_exponential_mle(deep, 40.0)
    assert abs(lam_pb - 19.93) < 3 * err_pb
    # survival probability through the Fe layer: exp(-20/20.42)
    p = np.mean(~(z < 20.0))
    assert abs(p - np.exp(-20.0 / 20.42)) < 3 * np.sqrt(p * (1 - p) / n)
    # shape: KS test of the Fe depths against the truncated exponential
    f = fe[np.isfinite(fe)]
    cdf = lambda x: (1 - np.exp(-x / 20.42)) / (1 - np.exp(-20.0 / 20.42))  # noqa: E731
    assert stats.kstest(f, cdf).pvalue > 1e-3


def test_nucleons_use_the_nuclear_interaction_length():
    det = Calorimeter("fe", (400.0, 400.0), [Section("fe", [Layer("Fe", 60.0, True)], 1)])
    stack = StackModel.build(det)
    handler = HadronHandler(stack, HadronicShowerModel(stack), 2112)
    rng = np.random.default_rng(4)
    z = np.full(3000, np.nan)
    for i in range(len(z)):
        res = handler.tracker.run(rng, (0.0, 0.0, 0.0), (0.0, 0.0, 1.0), 20.0)
        if res.status == 4:
            z[i] = res.state[2]
    lam, err = _censored_exponential_mle(z, 60.0)
    assert abs(lam - get_material("Fe").lambda_i_cm) < 3 * err


def test_neutrons_leave_no_energy_before_their_first_interaction():
    det = fe_scint(40, 50.0, 10.0)
    stack = StackModel.build(det)
    handler = HadronHandler(stack, HadronicShowerModel(stack), 2112)
    gun = ParticleGun("neutron", 20.0)
    rng = np.random.default_rng(2)
    for i in range(40):
        ctx = EventContext(index=i, rng=rng)
        handler(gun.sample(rng), ctx)
        z_int = ctx.extras["first_interaction_z_cm"]
        # the neutron itself deposits nothing; its shower starts at the interaction point
        assert ctx.deposits(MODE_LOCAL)[3].size == 0
        if np.isfinite(z_int):
            assert np.all(ctx.deposits(MODE_HAD)[2] >= z_int - 1e-9)
            assert np.all(ctx.seeds().z >= z_int - 1e-9)
    # full simulation: upstream of the interaction point a neutron event is empty (up to the
    # rare backward spill of the shower itself), a pion event holds its ionisation
    n = simulate(det, ParticleGun("neutron", 20.0), 60, seed=3)
    p = simulate(det, ParticleGun("pi+", 20.0), 60, seed=3)
    z_end = np.array([r.z_end_cm for r in det.readout_layers])
    mip_per_period = sum(layer.mip_loss_mev for layer in FE_SCINT) * 1e-3
    for s, charged in ((n, False), (p, True)):
        layers = s.layer_energies()
        for i in range(len(s)):
            zi = s.extras["first_interaction_z_cm"][i]
            if not np.isfinite(zi) or zi < 12.0:
                continue
            upstream = z_end < zi - 2.0
            before = layers[i][upstream].sum()
            if charged:
                # visible ionisation ≈ MIP sampling fraction × MIP loss per period
                assert before > 0.3 * upstream.sum() * mip_per_period * 0.06
            else:
                # only the backward spill of the neutron's own shower (lateral tails of EM
                # sub-showers going sideways): a few MeV at most, in ~20 % of the events
                assert before < 1e-3 * 20.0


def test_pion_response_is_below_the_electron_response():
    # e/π of Fe/scintillator at 10 GeV: between 1.1 and 1.5 (e/h ≈ 1.3-1.4, f_em ≈ 0.3), and
    # as the section's e/h predicts. The stack of the Geant4 V5 reference (100 × (1.5 cm Fe +
    # 0.5 cm polystyrene), 50 × 50 cm) with 10 cm cells; leakage ≈ 1 %.
    det = fe_scint(100, 50.0, 10.0, "v5_coarse")
    e = simulate(det, ParticleGun("e-", 10.0), 150, seed=1).truth["visible"]
    pi = simulate(det, ParticleGun("pi+", 10.0), 400, seed=2).truth["visible"]
    ratio = e.mean() / pi.mean()
    err = ratio * np.hypot(
        e.std() / e.mean() / np.sqrt(len(e)), pi.std() / pi.mean() / np.sqrt(len(pi))
    )
    assert 1.1 + 2 * err < ratio < 1.5 - 2 * err
    expect = 1.0 / hp.expected_pion_response(10.0, det.sections[0])
    assert abs(ratio - expect) < 3 * err + 0.02, (ratio, expect)


def test_pion_stochastic_term_of_an_fe_scintillator_hcal():
    # A stand-alone Fe/scintillator HCAL like the main section of the course_pbwo4 HCAL
    # (1.5 cm Fe + 0.5 cm scintillator, 8.5 λ_I, 50 × 50 cm): pions enter directly, visible
    # energy summed. Test beams of such calorimeters find σ/E ≈ 58 %/√E (e.g. ATLAS Tile
    # calorimeter, NIM A 606 (2009) 362; CDHS); accept 45-70 %.
    det = fe_scint(88, 50.0, 10.0, "hcal_fe_scint")
    energies = np.array([5.0, 10.0, 30.0, 100.0])
    n = 300
    rel, err = [], []
    for i, energy in enumerate(energies):
        v = simulate(det, ParticleGun("pi+", energy), n, seed=30 + i).truth["visible"]
        r = v.std(ddof=1) / v.mean()
        rel.append(r)
        err.append(r / np.sqrt(2 * (n - 1)))
    rel, err = np.array(rel), np.array(err)
    # weighted least squares of (σ/E)² = a²/E + c²
    y, dy = rel**2, 2 * rel * err
    design = np.stack([1 / energies, np.ones_like(energies)], axis=1) / dy[:, None]
    (a2, c2), *_ = np.linalg.lstsq(design, y / dy, rcond=None)
    cov = np.linalg.inv(design.T @ design)
    a, da = np.sqrt(a2), np.sqrt(cov[0, 0]) / (2 * np.sqrt(a2))
    assert 0.45 < a < 0.70, (a, da, np.sqrt(max(c2, 0)))
    assert da < 0.06


def test_longitudinal_containment_follows_the_published_profiles():
    # PDG review "Calorimetry" (hadronic showers, after Fabjan): shower maximum at
    # t_max ≈ 0.2 ln(E/GeV) + 0.7 λ_I, 95 % containment at L95 ≈ t_max + 2.5 λ_att with
    # λ_att ≈ λ_I (E/GeV)^0.13, for iron calorimeters. The rule is a rough empirical fit, so
    # we accept -25 % … +35 %: our 5-100 GeV showers are 8-13 % longer than it
    # (docs/validation.md). The statistical error of L95 here is ≈ 2 %.
    det = Calorimeter("fe_deep", (300.0, 300.0), [Section("hcal", FE_SCINT, 150, 300.0)])
    l95 = []
    for i, energy in enumerate((10.0, 50.0, 100.0)):
        s = simulate(det, ParticleGun("pi+", energy), 150, seed=40 + i)
        prof = s.layer_energies().mean(axis=0)
        cont = np.cumsum(prof) / prof.sum()
        depth_l = (np.arange(len(prof)) + 1) * 2.0 / LAMBDA_FE_SCINT
        assert np.all(np.diff(cont) >= 0)
        # the maximum of a Gamma fitted to the mean profile (the raw argmax of a flat-topped,
        # noisy profile of 150 showers moves by ±0.5 λ from seed to seed; the fit by ±0.13 λ)
        t_max = fit_gamma_maximum(prof / prof.sum(), 2.0 / LAMBDA_FE_SCINT)
        pdg_tmax = 0.2 * np.log(energy) + 0.7
        pdg_l95 = pdg_tmax + 2.5 * energy**0.13
        got = np.interp(0.95, cont, depth_l)
        assert 0.75 < got / pdg_l95 < 1.35, (energy, got, pdg_l95)
        assert abs(t_max - pdg_tmax) < 0.4, (energy, t_max, pdg_tmax)
        l95.append(got)
    assert l95[0] < l95[1] < l95[2]  # containment length grows with energy


def test_lateral_containment_is_about_one_interaction_length():
    # PDG review "Calorimetry": 95 % of a hadron shower within a cylinder of radius ≈ λ_I
    # 300 showers: the 95 % radius is quantised by the 4 cm cells' rings (0.68, 0.73 λ here),
    # and that of 60 showers moved between them with the seed (EM model hybrid-22: 0.68 at
    # seed 6, 0.73 at seed 7; 0.73 with 300 for hybrid-21 and hybrid-22 alike)
    det = Calorimeter("fe_wide", (240.0, 240.0), [Section("hcal", FE_SCINT, 60, 4.0)])
    s = simulate(det, ParticleGun("pi+", 50.0), 300, seed=6)
    g = s.grid("hcal").sum(axis=(0, 1))
    c = (np.arange(g.shape[0]) + 0.5) * 4.0 - 120.0
    r = np.hypot(*np.meshgrid(c, c, indexing="ij")).ravel()
    order = np.argsort(r)
    cum = np.cumsum(g.ravel()[order]) / g.sum()
    r95 = r[order][np.searchsorted(cum, 0.95)] / LAMBDA_FE_SCINT
    assert 0.7 < r95 < 1.5


def test_showers_from_the_ecal_continue_in_the_hcal_with_its_interaction_length():
    # A pion interacting 8 cm before the back of the PbWO4 ECAL of course_pbwo4: its hadronic
    # deposits follow the Gamma profile in λ_I of PbWO4 (20.3 cm) up to the ECAL back face and
    # of the first HCAL section (0.8 cm Fe + 0.8 cm scintillator, ≈ 26 cm) beyond it.
    det = preset("course_pbwo4")
    stack = StackModel.build(det)
    model = HadronicShowerModel(stack)
    ecal_end = det.sections[0].depth_cm
    z_ip = ecal_end - 8.0
    rng = np.random.default_rng(5)
    zs = []
    for i in range(60):
        ctx = EventContext(index=i, rng=rng)
        model.develop(ctx, np.array([0.0, 0.0, z_ip]), np.array([0.0, 0.0, 1.0]), 50.0, 211)
        zs.append(ctx.deposits(MODE_HAD)[2])
    z = np.concatenate(zs)
    profile = stats.gamma(
        *(float(v) for v in hp.hadronic_profile(np.asarray(50.0))[:1]),
        scale=1 / float(hp.hadronic_profile(np.asarray(50.0))[1]),
    )
    lam_ecal = get_material("PbWO4").lambda_i_cm
    hcal1 = det.sections[1]
    lam_hcal = hcal1.period_cm / hcal1.period_lambda_i
    l_ecal = 8.0 / lam_ecal
    n = len(z)
    for dz in (0.0, 10.0, 20.0):
        expect = profile.sf(l_ecal + dz / lam_hcal)
        frac = np.mean(z > ecal_end + dz)
        assert abs(frac - expect) < 4 * np.sqrt(expect * (1 - expect) / n) + 0.01, (
            dz,
            frac,
            expect,
        )
    # had the ECAL's λ_I been used beyond the ECAL, the fraction 20 cm into the HCAL would be
    # visibly smaller: the test above distinguishes the two
    assert profile.sf(l_ecal + 20.0 / lam_hcal) - profile.sf(l_ecal + 20.0 / lam_ecal) > 0.05


@pytest.mark.parametrize("particle", ["pi+", "pi-", "proton", "neutron", "K0L"])
def test_bookkeeping_for_every_hadron(particle):
    s = simulate("course_pbwo4", ParticleGun(particle, "1:100", position_spread_cm=3.0), 15, seed=7)
    t = s.truth
    np.testing.assert_allclose(
        t["deposited"] + t["leaked"] + t["invisible"], t["energy"], atol=1e-9
    )
    assert np.all(t["invisible"] >= 0) and np.all(s.cells >= 0)
    assert np.all(t["visible"] <= t["deposited"] * (1 + 1e-6))


def test_pions_punch_through_a_thin_absorber():
    det = Calorimeter(
        "thin_fe", (100.0, 100.0), [Section("s", [Layer("Fe", 10.0, True)], 1, 100.0)]
    )
    s = simulate(det, ParticleGun("pi+", 20.0), 300, seed=11)
    through = np.isnan(s.extras["first_interaction_z_cm"])
    p = np.exp(-10.0 / 20.42)
    assert abs(through.mean() - p) < 3 * np.sqrt(p * (1 - p) / len(s))
    # a punch-through pion leaks nearly all its energy: it only ionised 10 cm of Fe
    # (most probable loss ≈ 0.12 GeV; rare hard δ-rays, T_max ≈ 10 GeV, make a Landau tail)
    lost = 20.0 - s.truth["leaked"][through]
    assert 0.10 < np.median(lost) < 0.16
    assert np.mean(lost > 0.5) < 0.05


@pytest.mark.parametrize("particle", ["pi+", "proton", "neutron"])
def test_bookkeeping_with_leakage_and_argon(particle):
    # a shallow, narrow Pb/LAr + Fe/scintillator stack: much of the shower leaks at the back
    # and sides; deposited + leaked + invisible is still the kinetic energy, event by event
    det = Calorimeter(
        "leaky",
        (30.0, 30.0),
        [
            Section("em", [Layer("Pb", 0.18), Layer("LAr", 0.42, sensitive=True)], 20, 3.0),
            Section("had", FE_SCINT, 15, 10.0),
        ],
    )
    s = simulate(det, ParticleGun(particle, "5:80"), 40, seed=12)
    t = s.truth
    np.testing.assert_allclose(
        t["deposited"] + t["leaked"] + t["invisible"], t["energy"], atol=1e-9
    )
    assert np.mean(t["leaked"] / t["energy"]) > 0.2
    assert np.all(t["invisible"] >= 0) and np.all(t["visible"] <= t["deposited"])


def test_invisible_energy_is_the_binding_energy_of_the_sections_nuclei():
    # contained 30 GeV π+ in lead/scintillator and in iron/scintillator: the invisible energy
    # is ⟨(1 - f_em)⟩ f_inv of the absorber (Pb 0.34, Fe 0.30 of the non-EM energy), up to
    # the ionisation of the pion before it interacts (≈ 1 % here); 3σ of the mean plus that
    for absorber, thick in (("Pb", 1.0), ("Fe", 1.4)):
        ref = Section("h", [Layer(absorber, thick), Layer(SCINT, 0.3, sensitive=True)], 1)
        det = Calorimeter(
            absorber,
            (200.0, 200.0),
            [Section("h", list(ref.layers), int(12 / ref.period_lambda_i), 200.0)],
        )
        s = simulate(det, ParticleGun("pi+", 30.0), 200, seed=21)
        inv = s.truth["invisible"] / 30.0
        f_em = s.extras["em_fraction"]
        ok = np.isfinite(f_em)
        f_inv = hp.section_response(ref).f_inv
        expect = np.mean(1.0 - f_em[ok]) * f_inv
        got = inv[ok].mean()
        assert abs(got - expect) < 3 * inv[ok].std() / np.sqrt(ok.sum()) + 0.01 * f_inv, (
            absorber,
            got,
            expect,
        )


_DESIGNS = ("zeus_pb_scint", "atlas_tilecal", "atlas_hec")


@pytest.fixture(scope="module")
def published_designs():
    """π+ and e- at 5-100 GeV in three published designs (300 π, 100 e per energy)."""
    return {
        name: measure_hadron_response(reference(name), n_pions=300, n_electrons=100, seed=5)
        for name in _DESIGNS
    }


@pytest.mark.slow
def test_e_over_pi_follows_the_model_and_the_active_medium(published_designs):
    # the simulated e/π of each design is the model's 1/(⟨f_em⟩ + (1 - ⟨f_em⟩) h/e) within
    # 3σ plus 2 % (residual leakage ≈ 1 %, the pion's ionisation before the shower); and it
    # orders as e/h: Cu/LAr > Fe/scintillator > Pb/scintillator 4:1 ≈ 1
    mean = {}
    for name, m in published_designs.items():
        sr = hp.section_response(reference(name).section())
        for energy, got, err in zip(m.energies, m.e_over_pi, m.e_over_pi_error):
            expect = 1.0 / sr.pion_response(energy)
            assert abs(got - expect) < 3 * err + 0.02, (name, energy, got, expect)
        mean[name] = np.mean(m.e_over_pi)
    assert mean["atlas_hec"] > mean["atlas_tilecal"] > mean["zeus_pb_scint"]
    assert abs(mean["zeus_pb_scint"] - 1.0) < 0.05


@pytest.mark.slow
@pytest.mark.parametrize("name", _DESIGNS)
def test_pion_resolution_of_published_designs(published_designs, name):
    # stochastic term of σ/E = a/√E ⊕ c fitted to 5-100 GeV against the published one
    # (ZEUS-type Pb/scint. 44 %, TileCal 52.9 %, HEC 70.6 %): within 3σ of the fit plus 10 %
    # of the published value — the accuracy of Wigmans' 11.5 % √ΔE_mip rule that the
    # hadronic sampling term is built on, and the planar approximation of each design. The
    # published constant terms (TileCal 5.7 %, HEC 5.8 %) include calibration and
    # non-uniformity, which the simulation does not have: only an upper bound is tested.
    m = published_designs[name]
    ref = reference(name)
    assert abs(m.stochastic - ref.stochastic) < 3 * m.stochastic_error + 0.1 * ref.stochastic, (
        m.stochastic,
        m.stochastic_error,
    )
    assert m.stochastic_error < 0.03
    if ref.constant is not None:
        assert m.constant < ref.constant + 3 * m.constant_error


def _smooth_pulls(energies, values, errors):
    """Pulls of ``values`` about a weighted quadratic in ln E fitted to all of them."""
    x = np.log(np.asarray(energies))
    w = 1.0 / np.asarray(errors)
    design = np.vander(x, 3) * w[:, None]
    coef, *_ = np.linalg.lstsq(design, np.asarray(values) * w, rcond=None)
    return (np.asarray(values) - np.vander(x, 3) @ coef) * w


@pytest.mark.slow
@pytest.mark.parametrize("particle", ["pi+", "proton", "neutron"])
def test_response_and_resolution_are_smooth_in_energy(particle):
    # Issue 13: the profile used to switch parameter set at 10 GeV, making a step in the
    # response (π+ in course_pbscint 0.0878 at 9.5 GeV against 0.0954 at 7 and 0.0946 at
    # 10.5 GeV) and in the shower centroid (3 layers). Across 5-20 GeV (11 energies, 500
    # events each) no point of the response, the resolution or the centroid may lie more than
    # 3σ (σ from the sample size; kurtosis included for the resolution) off a smooth curve
    # (quadratic in ln E) fitted to all of them. With the old switch this test failed for all
    # three particles (worst pulls 3.5, 4.3 and 5.2σ, the response at 9.5 GeV).
    det = preset("course_pbscint")
    energies = [5.0, 6.0, 7.0, 8.0, 9.0, 9.5, 10.5, 12.0, 14.0, 17.0, 20.0]
    n = 500
    rows = []
    for i, energy in enumerate(energies):
        s = simulate(det, ParticleGun(particle, energy), n, seed=300 + i)
        v = s.truth["visible"] / energy
        layers = s.layer_energies()
        depth = (layers * np.arange(layers.shape[1])).sum(1) / np.maximum(layers.sum(1), 1e-12)
        r, dr = relative_spread(v)
        rows.append(
            (v.mean(), v.std(ddof=1) / np.sqrt(n), r, dr, depth.mean(), depth.std() / np.sqrt(n))
        )
    rows = np.array(rows)
    for what, col in (("response", 0), ("resolution", 2), ("centroid", 4)):
        pulls = _smooth_pulls(energies, rows[:, col], rows[:, col + 1])
        worst = int(np.argmax(np.abs(pulls)))
        assert np.max(np.abs(pulls)) < 3.0, (what, energies[worst], pulls[worst])

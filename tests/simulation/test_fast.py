"""Behaviour of the fast backend: bookkeeping, reproducibility, edges, inclined incidence, π0."""

import numpy as np
import pytest

from calolab.core.errors import ConfigError
from calolab.geometry import Calorimeter, Layer, Section, preset
from calolab.simulation import Digitizer, ParticleGun, simulate
from calolab.simulation.fast import PI0_MASS_GEV


def _balance(s):
    t = s.truth
    return t["deposited"] + t["leaked"] + t["invisible"] - t["energy"]


@pytest.mark.parametrize(
    "det,gun",
    [
        ("course_pbwo4", ParticleGun("gamma", "1:100")),
        ("course_pbscint", ParticleGun("e-", "1:100", theta_deg=30, phi_deg=45)),
        ("endcap_photon", ParticleGun("gamma", "50:500", theta_deg=20)),
        ("muon_block", ParticleGun("pi0", "5:200", vertex_distance_cm=150)),
        ("course_triple", ParticleGun("e+", 20.0, position_cm=(24.0, 0.0))),  # at the edge
    ],
)
def test_energy_bookkeeping_is_exact_per_event(det, gun):
    s = simulate(det, gun, 60, seed=4)
    np.testing.assert_allclose(_balance(s), 0.0, atol=1e-9 * s.energy.max())
    assert np.all(s.truth["visible"] <= s.truth["deposited"] * (1 + 1e-6))  # float32 cells
    assert np.all(s.cells >= 0)
    np.testing.assert_allclose(s.total(), s.truth["visible"], rtol=1e-5)


def test_same_seed_same_events_whatever_the_batching():
    gun = ParticleGun("e-", "5:50", position_spread_cm=1.0)
    a = simulate("course_pbscint", gun, 40, seed=9)
    b = simulate("course_pbscint", gun, 40, seed=9)
    np.testing.assert_array_equal(a.cells, b.cells)
    # events 20..39 simulated on their own are identical to those of the full run
    c = simulate("course_pbscint", gun, 20, seed=9, first_event=20)
    np.testing.assert_array_equal(a.cells[20:], c.cells)
    np.testing.assert_array_equal(a.energy[20:], c.energy)
    d = simulate("course_pbscint", gun, 40, seed=10)
    assert not np.array_equal(a.cells, d.cells)


def test_reused_batch_buffers_give_the_same_events():
    """Streaming batches into reused arrays (simulate_to_file, campaign chunks) gives the
    events of plain runs, bit for bit, true and digitised cells; a reused batch is
    overwritten by the next one, whatever its size."""
    from calolab.simulation.digitize import DEFAULT_DIGITIZER
    from calolab.simulation.fast import FastSimulator

    gun = ParticleGun("e-", "5:50", position_spread_cm=1.0)
    sim = FastSimulator(preset("course_pbscint"), digitizer=DEFAULT_DIGITIZER)
    plain = sim.run(gun, 30, seed=5)
    first = sim.run(gun, 20, seed=5, reuse_buffers=True)
    np.testing.assert_array_equal(first.cells, plain.cells[:20])
    np.testing.assert_array_equal(first.digitized, plain.digitized[:20])
    kept = first.cells
    second = sim.run(gun, 10, seed=5, start=20, reuse_buffers=True)
    assert np.shares_memory(second.cells, kept)  # the same buffer, overwritten
    np.testing.assert_array_equal(second.cells, plain.cells[20:])
    np.testing.assert_array_equal(second.digitized, plain.digitized[20:])
    np.testing.assert_array_equal(second.truth["visible"], plain.truth["visible"][20:])
    assert not np.shares_memory(sim.run(gun, 2, seed=5).cells, kept)


def _same_showers(a, b):
    np.testing.assert_array_equal(a.cells, b.cells)
    if a.digitized is not None or b.digitized is not None:
        np.testing.assert_array_equal(a.digitized, b.digitized)
    for k in ("deposited", "visible", "leaked", "invisible", "energy"):
        np.testing.assert_array_equal(a.truth[k], b.truth[k])


def test_em_sub_showers_planned_in_batches_give_each_event_its_own_showers(monkeypatch):
    """The EM sub-showers of a run are planned in batches of events (the arithmetic once per
    batch, each event drawing from its own stream): any batch size gives the same events,
    bit for bit, including events without EM showers between those with them and a batch
    that ends mid-run."""
    import calolab.simulation.fast as fast
    from calolab.simulation.digitize import DEFAULT_DIGITIZER

    guns = [ParticleGun("gamma", "1:60"), ParticleGun("mu-", 2.0), ParticleGun("pi+", "2:30")]
    sim = fast.FastSimulator(preset("course_pbwo4"), digitizer=DEFAULT_DIGITIZER)
    batched = sim.run(guns, 40, seed=3)
    monkeypatch.setattr(fast, "EVENTS_PER_PLAN", 1)
    alone = sim.run(guns, 40, seed=3)
    monkeypatch.setattr(fast, "EVENTS_PER_PLAN", 7)
    sevens = sim.run(guns, 40, seed=3)
    _same_showers(batched, alone)
    _same_showers(batched, sevens)
    assert np.count_nonzero(batched.truth["deposited"]) == 40


def test_reused_rows_are_cleared_where_their_last_event_wrote():
    """A reused batch row is cleared only where its previous event wrote: large showers
    followed by small ones (and digitised noise hits) leave nothing behind; after an event
    fails mid-batch the buffers are not trusted, and the next run is still exact."""
    from calolab.simulation.digitize import DEFAULT_DIGITIZER
    from calolab.simulation.fast import FastSimulator

    sim = FastSimulator(preset("muon_block"), digitizer=DEFAULT_DIGITIZER)
    big, small = ParticleGun("gamma", 200.0), ParticleGun("e-", 1.0, theta_deg=30)
    sim.run(big, 12, seed=1, reuse_buffers=True)
    _same_showers(sim.run(small, 9, seed=2, reuse_buffers=True), sim.run(small, 9, seed=2))

    sim.run(big, 12, seed=1, reuse_buffers=True)
    binner = sim.binner
    calls = []

    class Failing:
        def bin(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 5:
                raise RuntimeError("an event failed")
            return binner.bin(*args, **kwargs)

    sim.binner = Failing()
    with pytest.raises(RuntimeError, match="an event failed"):
        sim.run(small, 9, seed=2, reuse_buffers=True)
    sim.binner = binner
    _same_showers(sim.run(small, 9, seed=2, reuse_buffers=True), sim.run(small, 9, seed=2))


def test_written_cells_are_the_non_zero_cells_of_each_row():
    """What the simulator reports as written (for the sparse writer, which then does not scan
    the rows) is exactly each row's non-zero cells and digitised cells, ascending, after
    large showers then small ones in the same rows; a batch outside the reused buffers has
    no report."""
    from calolab.simulation.digitize import DEFAULT_DIGITIZER
    from calolab.simulation.fast import FastSimulator

    sim = FastSimulator(preset("course_pbscint"), digitizer=DEFAULT_DIGITIZER)
    sim.run(ParticleGun("e-", 80.0), 10, seed=1, reuse_buffers=True)
    batch = sim.run(ParticleGun("e-", 2.0), 7, seed=2, reuse_buffers=True)
    known = sim.written_cells(batch)
    assert known is not None and known[1] is not None
    for j in range(len(batch)):
        np.testing.assert_array_equal(known[0][j], np.flatnonzero(batch.cells[j]))
        np.testing.assert_array_equal(known[1][j], np.flatnonzero(batch.digitized[j]))
    assert sim.written_cells(sim.run(ParticleGun("e-", 2.0), 3, seed=2)) is None


@pytest.mark.parametrize("det", ["course_triple", "course_pbscint", "muon_block", "geant4_v4"])
def test_period_columns_are_the_numpy_lookups(det):
    """The compiled period-columns of point deposits (``Binner._smeared``) are those of the
    numpy lookups (``StackModel.period_of`` and the cell division), entry for entry and in
    the same order, also on period boundaries and cell edges and with two sensitive slots
    per period (``course_triple``); their sums are bit for bit np.bincount's."""
    from calolab.simulation.binning import Binner
    from calolab.simulation.fast import FastSimulator

    st = FastSimulator(preset(det)).stack
    binner = Binner(st)
    rng = np.random.default_rng(3)
    n = 2000
    x = rng.uniform(-st.half_x, st.half_x, n)
    y = rng.uniform(-st.half_y, st.half_y, n)
    z = rng.uniform(0.0, st.depth, n)
    z[:200] = rng.choice(st.period_lo, 200)  # on a period's front
    x[200:300] = (rng.integers(0, st.section_nx[0], 100) * st.section_cell_x[0]) - st.half_x
    e = rng.exponential(0.05, n)
    # the numpy implementation (up to 2026-12-05)
    p = st.period_of(z)
    first = st.period_ro_first[p]
    keep = first >= 0
    p, first, xk, yk, ek = p[keep], first[keep], x[keep], y[keep], e[keep]
    sec = st.period_section[p]
    ix, iy = binner._cell_in_section(sec, xk, yk)
    within = ix * st.section_ny[sec] + iy
    flat, weights = [st.ro_offset[first] + within], [ek]
    for k in range(1, binner.max_slots):
        m = binner.n_slots[sec] > k
        flat.append(st.ro_offset[first[m] + k] + within[m])
        weights.append(ek[m])
    cells, inverse = np.unique(np.concatenate(flat), return_inverse=True)
    want = cells, np.bincount(inverse, weights=np.concatenate(weights), minlength=len(cells))
    got = binner._smeared(x, y, z, e)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert len(got[0]) > 100


@pytest.mark.parametrize("det,particle", [("course_pbscint", "e-"), ("course_triple", "pi-")])
def test_sparse_binning_matches_the_dense_sums(det, particle):
    """The binning works on the hit cells only; its cells equal, bit for bit, the dense sums
    (EM columns + EM deposits, times the share, plus local deposits), and it reports exactly
    the non-zero cells. The sampling fluctuations are drawn in the same order."""
    from calolab.simulation.binning import Binner
    from calolab.simulation.fast import FastSimulator
    from calolab.simulation.stack import MODE_EM, MODE_HAD, MODE_LOCAL

    sim = FastSimulator(preset(det))
    st = sim.stack
    rng = np.random.default_rng(1)
    n = 300
    x = rng.uniform(-0.6 * st.half_x, 0.6 * st.half_x, n)
    y = rng.uniform(-0.6 * st.half_y, 0.6 * st.half_y, n)
    z = rng.uniform(-1.0, st.depth + 1.0, n)  # some outside: leaked
    e = rng.exponential(0.05, n)
    em_columns = np.zeros(st.n_cells)
    em_columns[rng.choice(st.n_cells, 200, replace=False)] = rng.exponential(0.1, 200)
    deposits = [(x[:100], y[:100], z[:100], e[:100])]  # EM
    deposits += [(x[100:200], y[100:200], z[100:200], e[100:200])]  # hadronic
    deposits += [(x[200:], y[200:], z[200:], e[200:])]  # local
    binner = Binner(st)
    got = binner.bin(deposits, np.random.default_rng(7), em_columns.copy())
    # the dense reference, with the arithmetic of the dense implementation
    ref_rng = np.random.default_rng(7)
    inside = [binner._inside(*d[:3]) for d in deposits]
    dense = []
    for mode in (MODE_EM, MODE_HAD):
        xm, ym, zm, em = (a[inside[mode]] for a in deposits[mode])
        idx, val = binner._smeared(xm, ym, zm, em)
        col = np.bincount(idx, weights=val, minlength=st.n_cells)
        dense.append(em_columns + col if mode == MODE_EM else col)
    xl, yl, zl, el = (a[inside[MODE_LOCAL]] for a in deposits[MODE_LOCAL])
    sl = st.sublayer_of(zl)
    ro = st.sub_ro[sl]
    sens = ro >= 0
    sec = st.sub_section[sl[sens]]
    ix, iy = binner._cell_in_section(sec, xl[sens], yl[sens])
    flat = st.ro_offset[ro[sens]] + ix * st.section_ny[sec] + iy
    vis = np.zeros(st.n_cells) + np.bincount(flat, weights=el[sens], minlength=st.n_cells)
    for mode, dep in zip((MODE_EM, MODE_HAD), dense):
        share = st.cell_share[mode]
        out = dep * share
        nz = np.flatnonzero(dep)
        q = st.cell_quantum[mode][nz]
        fluct = q > 0
        if fluct.any():
            idx = nz[fluct]
            qf = q[fluct].astype(np.float64)
            if mode == MODE_EM:
                # crossings (mean f_c·share·E, each Gamma(k_c) of mean m) and broad samples
                # (the rest of the mean and of the variance q·share²·E), none capped here
                k = st.cell_sample_shape[idx]
                f_c, m, k_c = st.cell_crossings[:, idx]
                s_i = share[idx].astype(np.float64)
                rho = f_c * m * (1.0 + 1.0 / k_c) / (qf * s_i)
                assert np.all(rho <= 0.5)
                n_c = ref_rng.poisson(dep[idx] * (f_c * s_i / m))
                n_r = ref_rng.poisson(
                    dep[idx] * ((1.0 - f_c) ** 2 * (k + 1.0) / ((1.0 - rho) * qf * k))
                )
                v = ref_rng.gamma(n_c * k_c, m / k_c) + ref_rng.gamma(
                    n_r * k, (1.0 - rho) * (qf * s_i) / ((1.0 - f_c) * (k + 1.0))
                )
                out[idx] = np.minimum(v, dep[idx])
            else:
                mu = share[idx].astype(np.float64)
                total = np.maximum((1.0 - mu) / (mu * (qf / dep[idx])) - 1.0, 1e-3)
                out[idx] = dep[idx] * ref_rng.beta(mu * total, (1.0 - mu) * total)
        vis += out
    np.testing.assert_array_equal(got.cells, vis.astype(np.float32))
    np.testing.assert_array_equal(got.nonzero, np.flatnonzero(got.cells))
    assert got.cells.any()


def test_leakage_at_the_edge_and_back():
    # entering at the transverse edge loses about half the shower sideways
    s = simulate("course_pbwo4", ParticleGun("e-", 50.0, position_cm=(24.99, 0.0)), 100, seed=1)
    lateral = s.truth["leaked"] / s.energy
    assert 0.35 < lateral.mean() < 0.6
    # a 5 X0 block lets most of a 50 GeV shower escape through the back
    thin = Calorimeter("thin", 40.0, [Section("b", [Layer("Pb", 5 * 0.5612, True)], 1, 40.0)])
    s2 = simulate(thin, ParticleGun("e-", 50.0), 200, seed=1)
    assert 0.6 < (s2.truth["leaked"] / s2.energy).mean() < 0.95


def test_inclined_showers_move_sideways():
    det = preset("endcap_photon")
    straight = simulate(det, ParticleGun("gamma", 100.0), 50, seed=2)
    tilted = simulate(det, ParticleGun("gamma", 100.0, theta_deg=20.0), 50, seed=2)
    nx = det.readout_layers[0].nx
    x = (np.arange(nx) + 0.5) * det.readout_layers[0].cell_size_cm[0] - det.transverse_size_cm[
        0
    ] / 2

    def mean_x(s, layer):
        g = s.layer(layer).sum(axis=(0, 2))
        return (g * x).sum() / g.sum()

    # the shower axis drifts by tan(20°) × depth; deep layers are displaced towards +x
    deep = 30
    depth = det.readout_layers[deep].z_start_cm
    assert mean_x(straight, deep) == pytest.approx(0.0, abs=0.1)
    assert mean_x(tilted, deep) == pytest.approx(np.tan(np.radians(20)) * depth, rel=0.15)


def test_pi0_decay_kinematics():
    e = 20.0
    s = simulate("muon_block", ParticleGun("pi0", e), 400, seed=5)
    rec = s.records["decay_photons"]
    assert np.all(np.diff(rec.offsets) == 2)
    eg = rec.columns["energy"].reshape(-1, 2)
    np.testing.assert_allclose(eg.sum(axis=1), e, rtol=1e-12)
    d = np.stack([rec.columns[k] for k in ("ux", "uy", "uz")], axis=1).reshape(-1, 2, 3)
    cos12 = np.einsum("ij,ij->i", d[:, 0], d[:, 1])
    mass = np.sqrt(2 * eg[:, 0] * eg[:, 1] * (1 - cos12))
    np.testing.assert_allclose(mass, PI0_MASS_GEV, rtol=1e-6)
    # isotropic decay: the energy asymmetry is uniform in [-β, β]; its variance is β²/3
    asym = (eg[:, 0] - eg[:, 1]) / e
    beta = np.sqrt(1 - (PI0_MASS_GEV / e) ** 2)
    assert np.abs(asym).max() <= beta + 1e-12
    assert np.var(asym) == pytest.approx(beta**2 / 3, rel=4 * np.sqrt(2 / 400) * 1.2)


def test_pi0_photons_separate_with_vertex_distance():
    s = simulate("muon_block", ParticleGun("pi0", 10.0, vertex_distance_cm=200.0), 50, seed=3)
    x = s.records["decay_photons"].columns["x"].reshape(-1, 2)
    y = s.records["decay_photons"].columns["y"].reshape(-1, 2)
    sep = np.hypot(*(x[:, 0] - x[:, 1], y[:, 0] - y[:, 1]))
    # minimum opening angle 2m/E → separation ≥ 200 cm × 2 × 0.135/10 ≈ 5.4 cm
    assert sep.min() >= 200 * 2 * PI0_MASS_GEV / 10.0 * 0.99


def test_unsupported_particle_is_a_clear_error():
    with pytest.raises(ConfigError, match="not supported by the fast backend"):
        simulate("course_pbwo4", ParticleGun("K+", 10.0), 2)


def test_digitization_is_stored_separately():
    s = simulate("course_pbscint", ParticleGun("e-", 20.0), 30, seed=1, digitizer=None)
    assert s.digitized is None
    from calolab.simulation.fast import FastSimulator

    sim = FastSimulator(preset("course_pbscint"), digitizer=Digitizer(calibration="em"))
    d = sim.run(ParticleGun("e-", 20.0), 30, seed=1)
    np.testing.assert_array_equal(s.cells, d.cells)  # raw deposits unchanged
    assert d.digitized is not None and d.digitized.shape == d.cells.shape
    # EM calibration: digitised sums estimate the electron energy (ECAL contains it)
    assert d.total(digitized=True).mean() == pytest.approx(20.0, rel=0.05)
    # on by default in simulate(), with the same digitisation stream
    on = simulate("course_pbscint", ParticleGun("e-", 20.0), 30, seed=1)
    np.testing.assert_array_equal(on.digitized, d.digitized)


@pytest.mark.parametrize(
    "det,gun",
    [
        ("course_pbwo4", ParticleGun("gamma", "1:100", theta_deg=10.0)),
        ("course_triple", ParticleGun("e-", 30.0, position_cm=(20.0, -3.0))),
        ("endcap_photon", ParticleGun("pi0", 80.0, theta_deg=20.0)),
    ],
)
def test_compiled_spot_kernel_matches_numpy_reference(det, gun):
    """The numba kernel and the plain-numpy reference implement the same spot physics."""
    from calolab.simulation.em import EMShowerModel
    from calolab.simulation.fast import FastSimulator

    fast = FastSimulator(preset(det))
    a = fast.run(gun, 8, seed=3)
    fast.em = EMShowerModel(fast.stack, kernel="numpy")
    b = fast.run(gun, 8, seed=3)
    np.testing.assert_allclose(a.cells, b.cells, rtol=2e-5, atol=1e-7)
    # the leaked energy to 10 eV: a spot of the importance-sampled deep tail (weights down to
    # ~1e-6 of a spot) on the stack's surface may fall on either side with float rounding
    np.testing.assert_allclose(a.truth["leaked"], b.truth["leaked"], rtol=1e-9, atol=1e-8)


def test_bethe_heitler_energy_sharing():
    """The pair energy fraction follows dσ/dx ∝ 1 - 4/3 x(1-x): mean 1/2 and
    ⟨x(1-x)⟩ = ∫x(1-x)(1-4/3x(1-x))dx / ∫(1-4/3x(1-x))dx = (1/6 - 2/45)/(7/9) = 0.157."""
    from calolab.simulation.em import _bethe_heitler_fractions

    x = _bethe_heitler_fractions(200_000, np.random.default_rng(1))
    assert x.mean() == pytest.approx(0.5, abs=4 * 0.3 / np.sqrt(2e5))
    expected = (1 / 6 - 4 / 3 / 30) / (1 - 4 / 3 / 6)
    assert (x * (1 - x)).mean() == pytest.approx(expected, abs=4 * 0.07 / np.sqrt(2e5))

"""Objectives: each measured with its error, reproducible from the study seed and the design."""

from __future__ import annotations

import math

import numpy as np
import pytest

from calolab.core.errors import ConfigError
from calolab.geometry import Calorimeter, Layer, Section, dumps_detector, loads_detector
from calolab.optimization import (
    MeasurementConfig,
    Objective,
    design_attributes,
    design_key,
    measure,
    point_seed,
)
from calolab.optimization.objectives import (
    ObjectiveSpec,
    expand_objectives,
    make_payload,
    measure_payload,
)


def stack(d_pb: float, n: int, size: float = 20.0, name: str = "s") -> Calorimeter:
    return Calorimeter(
        name,
        (size, size),
        [
            Section(
                "ecal", [Layer("Pb", d_pb), Layer("polystyrene", 0.4, sensitive=True)], n, size / 2
            )
        ],
    )


E_CONFIG = MeasurementConfig(particles=("e-",), energies_gev=(5.0, 20.0))


def objectives(*specs: ObjectiveSpec) -> tuple[Objective, ...]:
    return expand_objectives(specs, E_CONFIG)


ALL = objectives(
    ObjectiveSpec("resolution", "e-"),
    ObjectiveSpec("rmse", "e-"),
    ObjectiveSpec("stochastic", "e-"),
    ObjectiveSpec("linearity", "e-"),
    ObjectiveSpec("leakage", "e-", 20.0),
    ObjectiveSpec("leakage_longitudinal", "e-", 20.0),
    ObjectiveSpec("leakage_lateral", "e-", 20.0),
    ObjectiveSpec("cost"),
    ObjectiveSpec("length"),
    ObjectiveSpec("channels"),
)


def test_every_metric_is_measured_with_an_error_and_reproduces_exactly():
    det = stack(0.4, 20)
    m = measure(det, E_CONFIG, ALL, events=120, seed=5)
    assert set(o.name for o in ALL) <= set(m.values)
    for name in (
        "resolution_e-_5GeV",
        "resolution_e-_20GeV",
        "stochastic_e-",
        "linearity_e-",
        "rmse_e-_5GeV",
    ):
        v = m.values[name]
        assert math.isfinite(v.value) and v.error > 0, name
    # the RMS includes the tails and the bias: never below the core width
    assert m.values["rmse_e-_5GeV"].value > 0.8 * m.values["resolution_e-_5GeV"].value
    assert (
        m.values["cost_chf"].value == pytest.approx(det.cost_chf)
        and m.values["cost_chf"].error == 0
    )
    assert m.values["length_cm"].value == pytest.approx(16.0)
    assert m.values["channels"].value == det.n_channels
    # 2 energies x 120 showers, and the 60 test showers again for the leakage split
    assert m.showers == 360
    assert set(m.timings) == {"simulation", "calibration", "fit", "cpu"}
    again = measure(stack(0.4, 20, name="another name"), E_CONFIG, ALL, events=120, seed=5)
    assert again.values == m.values  # same design, same study seed: the same numbers
    other = measure(det, E_CONFIG, ALL, events=120, seed=6)
    assert other.values["resolution_e-_5GeV"] != m.values["resolution_e-_5GeV"]


def test_fine_grained_designs_are_measured_in_batches_with_the_same_numbers(monkeypatch):
    """A measurement keeps layer sums only, simulated in batches whose size depends on the
    cell count (a 300k-channel design of 2,000 showers per point filled the memory of a Dask
    worker): the batch size must not change a single number."""
    import calolab.optimization.objectives as obj

    det = stack(0.4, 20)
    o = objectives(ObjectiveSpec("resolution", "e-"), ObjectiveSpec("leakage", "e-", 20.0))
    whole = measure(det, E_CONFIG, o, events=50, seed=3)
    # 7 events per batch: the 25 training and 25 test showers of a point in 4 batches each
    monkeypatch.setattr(obj, "REDUCE_BATCH_CELLS", 7 * det.n_channels)
    batched = measure(det, E_CONFIG, o, events=50, seed=3)
    assert batched.values == whole.values
    assert batched.showers == whole.showers
    # the batches run into the simulator's reused buffers: the same layer sums as the showers
    # of calolab.simulate in one piece (what a kept point uses)
    from calolab.simulation import ParticleGun
    from calolab.simulation.digitize import DEFAULT_DIGITIZER

    gun = ParticleGun("e-", 5.0)
    for digitizer in (None, DEFAULT_DIGITIZER):
        kw = {"seed": 4, "digitizer": digitizer}
        reduced = obj._simulate_reduced(det, gun, 23, keep=False, **kw)
        kept = obj._simulate_reduced(det, gun, 23, keep=True, **kw)
        assert np.array_equal(reduced.layers, kept.layers)
        assert np.array_equal(reduced.leaked, kept.leaked) and reduced.total_true == kept.total_true


def test_leakage_split_is_paired_and_physical():
    o = objectives(
        ObjectiveSpec("leakage", "e-", 20.0),
        ObjectiveSpec("leakage_longitudinal", "e-", 20.0),
        ObjectiveSpec("leakage_lateral", "e-", 20.0),
    )
    narrow = measure(stack(0.4, 20, size=4.0), E_CONFIG, o, events=60, seed=1).values
    total = narrow["leakage_e-_20GeV"].value
    split = narrow["leakage_longitudinal_e-_20GeV"].value + narrow["leakage_lateral_e-_20GeV"].value
    assert split == pytest.approx(total, rel=1e-9)
    # a 4 cm wide stack loses energy through the sides (Molière radius of Pb/scint ~ 3 cm)
    lat = narrow["leakage_lateral_e-_20GeV"]
    assert lat.value > 5 * lat.error
    # a 6 X0 stack leaks through the back much more than a 20 X0 one (same width)
    short = measure(stack(0.4, 8), E_CONFIG, o, events=60, seed=1).values
    deep = measure(stack(0.4, 28), E_CONFIG, o, events=60, seed=1).values
    s, d = short["leakage_longitudinal_e-_20GeV"], deep["leakage_longitudinal_e-_20GeV"]
    assert s.value - d.value > 5 * math.hypot(s.error, d.error)


def test_finer_sampling_gives_a_smaller_resolution_as_the_sampling_rule_says():
    """The EM sampling term a ≈ 2.7 % √(d/f_samp) (d: active thickness per period in mm,
    f_samp: MIP sampling fraction; PDG review "Calorimetry", Wigmans): with the same 4 mm of
    scintillator, 8 mm of Pb per period instead of 2 mm lowers f_samp and must raise σ/E by
    the ratio of the rule, 1.8, within the statistical error of the measurement."""
    config = MeasurementConfig(particles=("e-",), energies_gev=(5.0,))
    o = expand_objectives([ObjectiveSpec("resolution", "e-")], config)
    fine_det, coarse_det = stack(0.2, 80), stack(0.8, 20)
    fine = measure(fine_det, config, o, events=1600, seed=3).values["resolution_e-_5GeV"]
    coarse = measure(coarse_det, config, o, events=1600, seed=3).values["resolution_e-_5GeV"]
    ratio = coarse.value / fine.value
    ratio_err = ratio * math.hypot(fine.error / fine.value, coarse.error / coarse.value)
    rule = (
        design_attributes(coarse_det)["ecal.rule_stochastic"]
        / design_attributes(fine_det)["ecal.rule_stochastic"]
    )
    assert rule == pytest.approx(1.81, abs=0.02)
    assert (ratio - 1.0) > 4 * ratio_err  # clearly worse
    assert abs(ratio - rule) < 4 * ratio_err + 0.1 * rule  # as much worse as the rule says


def test_geometric_objectives_need_no_simulation():
    m = measure(stack(0.4, 10), E_CONFIG, objectives(ObjectiveSpec("cost")), events=10, seed=1)
    assert m.showers == 0 and m.values["cost_chf"].error == 0


def test_seeds_depend_on_particle_energy_and_stream():
    key = design_key(stack(0.4, 10))
    seeds = {
        point_seed(1, key, "e-", 5.0),
        point_seed(1, key, "e-", 20.0),
        point_seed(1, key, "pi+", 5.0),
        point_seed(1, key, "e-", 5.0, tag="confirm"),
        point_seed(2, key, "e-", 5.0),
        point_seed(1, design_key(stack(0.41, 10)), "e-", 5.0),
    }
    assert len(seeds) == 6 and all(0 <= s < 2**63 for s in seeds)
    assert point_seed(1, key, "electron", 5) == point_seed(1, key, "e-", 5.0)


def test_payload_round_trip_keeps_the_design_and_the_numbers():
    det = stack(0.3, 12)
    assert design_key(loads_detector(dumps_detector(det))) == design_key(det)
    o = objectives(ObjectiveSpec("resolution", "e-", 5.0))
    direct = measure(det, E_CONFIG, o, events=40, seed=9)
    via = measure_payload(make_payload(det, E_CONFIG, o, events=40, seed=9))
    assert via["values"]["resolution_e-_5GeV"] == direct.values["resolution_e-_5GeV"].to_list()
    # the dead-channel and systematics options travel to a worker too
    config = MeasurementConfig(
        particles=("e-",), energies_gev=(5.0,), systematics={"dead_fraction": 0.1}
    )
    o = expand_objectives(
        [
            ObjectiveSpec("sigma_e_dead", "e-", dead_fraction=0.1, pattern="clustered", masks=2),
            ObjectiveSpec("resolution", "e-", systematics=True),
        ],
        config,
    )
    direct = measure(det, config, o, events=40, seed=9)
    via = measure_payload(make_payload(det, config, o, events=40, seed=9))
    for x in o:
        assert via["values"][x.name] == direct.values[x.name].to_list()


def test_design_attributes_include_the_sampling_variable():
    a = design_attributes(stack(0.4, 10))
    assert a["length_cm"] == pytest.approx(8.0)
    assert a["ecal.passive_mm"] == pytest.approx(4.0) and a["ecal.active_mm"] == pytest.approx(4.0)
    assert 0 < a["ecal.sampling_fraction"] < 1
    assert a["ecal.sqrt_d_over_f"] == pytest.approx(math.sqrt(4.0 / a["ecal.sampling_fraction"]))
    assert a["ecal.rule_stochastic"] == pytest.approx(0.027 * a["ecal.sqrt_d_over_f"])
    crystal = Calorimeter(
        "c", 20.0, [Section("ecal", [Layer("PbWO4", 1.0, sensitive=True)], 20, 10.0)]
    )
    assert math.isnan(design_attributes(crystal)["ecal.rule_stochastic"])


def test_mlp_reconstruction_trains_through_the_training_package():
    config = MeasurementConfig(
        particles=("e-",),
        energies_gev=(5.0, 20.0),
        reconstruction="mlp",
        mlp_epochs=3,
        mlp_hidden=(8,),
    )
    o = expand_objectives([ObjectiveSpec("resolution", "e-")], config)
    m = measure(stack(0.4, 12), config, o, events=60, seed=1)
    assert m.details["e-"]["reconstruction"]["kind"] == "mlp"
    assert m.details["e-"]["reconstruction"]["epochs"] == 3
    assert all(math.isfinite(v.value) for v in m.values.values())


def test_measurement_config_and_objective_errors():
    with pytest.raises(ConfigError, match="reconstruction 'cnn' must be one of"):
        MeasurementConfig(reconstruction="cnn")
    with pytest.raises(ConfigError, match="lists one twice"):
        MeasurementConfig(particles=("e-", "electron"))
    with pytest.raises(ConfigError, match="needs a particle"):
        ObjectiveSpec("resolution")
    with pytest.raises(ConfigError, match="takes no energy_gev"):
        ObjectiveSpec("stochastic", "e-", 10.0)
    with pytest.raises(ConfigError, match="not an energy point"):
        objectives(ObjectiveSpec("resolution", "e-", 7.0))


def crystal_slices() -> Calorimeter:
    """25 X0 of PbWO4 in 25 slices, each slice its own APD channel (2 x 2 cells of 10 cm)."""
    return Calorimeter(
        "slices", (20.0, 20.0), [Section("ecal", [Layer("PbWO4", 0.89, sensitive=True)], 25, 10.0)]
    )


def test_objectives_see_the_digitised_readout_unless_the_space_says_true():
    """Default: the reconstruction sees the digitised cells. A crystal stack read out slice by
    slice (100 APD channels, 40 MeV noise, 3σ threshold) loses its small deposits below
    threshold and adds noise: its σ/E must be far worse than with the true visible energies,
    which only the containment limits."""
    assert MeasurementConfig().energies == "digitized"
    digi = MeasurementConfig(particles=("e-",), energies_gev=(5.0, 20.0))
    true = MeasurementConfig(particles=("e-",), energies_gev=(5.0, 20.0), energies="true")
    o = expand_objectives([ObjectiveSpec("resolution", "e-")], digi)
    det = crystal_slices()
    md = measure(det, digi, o, events=200, seed=1)
    mt = measure(det, true, o, events=200, seed=1)
    assert md.details["e-"]["energies"] == "digitized" and mt.details["e-"]["energies"] == "true"
    a, b = md.values["resolution_e-_5GeV"], mt.values["resolution_e-_5GeV"]
    assert a.value - 3 * b.value > 4 * math.hypot(a.error, 3 * b.error)
    with pytest.raises(ConfigError, match="energies 'visible' must be"):
        MeasurementConfig(energies="visible")


def test_the_calibration_cannot_learn_the_energy_points():
    """Trained on showers at the very energy it is measured at, a calibration with a free
    bias returns that energy for every shower (σ/E = 0). The training showers are spread
    around the point, so a study of one energy measures the same σ/E as a study of two (the
    test showers of the 5 GeV point are the same in both: same seeds)."""
    det = crystal_slices()
    one = MeasurementConfig(particles=("e-",), energies_gev=(5.0,), energies="true")
    two = MeasurementConfig(particles=("e-",), energies_gev=(5.0, 20.0), energies="true")
    o1 = expand_objectives([ObjectiveSpec("resolution", "e-")], one)
    o2 = expand_objectives([ObjectiveSpec("resolution", "e-")], two)
    r1 = measure(det, one, o1, events=300, seed=2).values["resolution_e-_5GeV"]
    r2 = measure(det, two, o2, events=300, seed=2).values["resolution_e-_5GeV"]
    assert r1.value > 5 * r1.error  # not the calibration's zero
    assert abs(r1.value - r2.value) < 3 * math.hypot(r1.error, r2.error) + 0.3 * r2.value
    with pytest.raises(ConfigError, match="train_spread"):
        MeasurementConfig(train_spread=0.0)


# ----------------------------------------------------------------------------- dead channels
def fine_stack() -> Calorimeter:
    """20 Pb/scintillator periods, 8 x 8 cells of 3 cm: the beam hits the corner of four 4 x 4
    readout blocks of every layer (24 cm wide, so that lateral leakage does not swamp the
    dead-channel effect)."""
    return Calorimeter(
        "fine",
        (24.0, 24.0),
        [Section("ecal", [Layer("Pb", 0.4), Layer("polystyrene", 0.4, sensitive=True)], 20, 3.0)],
    )


def test_sigma_e_dead_is_measured_reproducibly_and_worse_with_clustered_dead_channels():
    config = MeasurementConfig(particles=("e-",), energies_gev=(20.0,))
    objs = expand_objectives(
        [
            ObjectiveSpec("resolution", "e-"),
            ObjectiveSpec("sigma_e_dead", "e-", dead_fraction=0.2, pattern="clustered"),
            ObjectiveSpec("sigma_e_dead", "e-", dead_fraction=0.0),
        ],
        config,
    )
    names = [o.name for o in objs]
    assert names == [
        "resolution_e-_20GeV",
        "sigma_e_dead_e-_20GeV_20pct_clustered",
        "sigma_e_dead_e-_20GeV_0pct_random",
    ]
    assert objs[1].label == "σ/E at 20 % clustered dead e- 20 GeV" and objs[1].is_fraction
    det = fine_stack()
    # 2000 events: the difference is 3.1σ of the quadrature error (which ignores that the
    # dead and healthy values share their events); with 1000, 1.8σ with EM model hybrid-16's
    # random numbers (it passed with hybrid-15's)
    m = measure(det, config, objs, events=2000, seed=1)
    healthy, dead, zero = (m.values[n] for n in names)
    # no channel dead: the same events, calibration and fit as the plain resolution
    assert zero.value == healthy.value and zero.error == pytest.approx(healthy.error, rel=1e-12)
    info = m.details["e-"]["sigma_e_dead"][names[1]]
    assert len(info["per_mask"]) == 3 and info["dead_fraction"] == pytest.approx(0.2, abs=0.02)
    assert dead.value == pytest.approx(np.mean(info["per_mask"]))
    assert dead.error == pytest.approx(
        math.hypot(info["stat_err"], info["mask_spread"] / math.sqrt(3))
    )
    # a fifth of the readout boards dead: every mask measures a worse σ/E, the mean by > 2σ
    assert min(info["per_mask"]) > healthy.value
    assert dead.value - healthy.value > 2 * math.hypot(dead.error, healthy.error)
    assert info["response"] < 0.9  # the calibration of the healthy detector misses the energy
    # the masks come from the trial's seed: measuring the design again reproduces everything
    again = measure(det, config, objs, events=2000, seed=1)
    assert again.values == m.values
    other = measure(det, config, objs[1:2], events=600, seed=2)
    assert other.values[names[1]] != dead


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dead_fraction": 1.0}, r"dead_fraction 1\.0 must be a number in \[0, 1\)"),
        ({"dead_fraction": -0.1}, r"dead_fraction -0\.1 must be a number in \[0, 1\)"),
        ({}, "dead_fraction is missing"),
        ({"dead_fraction": 0.1, "pattern": "stripes"}, "pattern 'stripes' is unknown.*random"),
        ({"dead_fraction": 0.1, "masks": 0}, "masks"),
    ],
)
def test_bad_dead_channel_objectives_name_the_field(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ObjectiveSpec("sigma_e_dead", "e-", **kwargs)


def test_dead_and_systematics_options_belong_to_their_metrics():
    with pytest.raises(ConfigError, match="dead_fraction is for the sigma_e_dead objective"):
        ObjectiveSpec("resolution", "e-", dead_fraction=0.1)
    with pytest.raises(ConfigError, match="systematics = true is for resolution"):
        ObjectiveSpec("rmse", "e-", systematics=True)
    with pytest.raises(ConfigError, match=r"\[measurement.systematics\].*core_rang"):
        MeasurementConfig(systematics={"core_rang": [1.5]})
    with pytest.raises(ConfigError, match="dead_fraction"):
        MeasurementConfig(systematics={"dead_fraction": 2.0})


def test_dead_channel_and_systematics_objectives_from_a_space_file():
    from calolab.optimization import loads_space
    from tests.optimization.tiny import TINY_SPACE

    old = 'objectives = [{ metric = "resolution", particle = "e-" }, { metric = "cost" }]'
    assert old in TINY_SPACE
    plain = loads_space(TINY_SPACE, "tiny")
    text = TINY_SPACE.replace(
        old,
        "objectives = [\n"
        '  { metric = "sigma_e_dead", particle = "e-", energy_gev = 20.0, dead_fraction = 0.05,'
        ' pattern = "clustered", masks = 2 },\n'
        '  { metric = "resolution", particle = "e-", energy_gev = 5.0, systematics = true },\n'
        '  { metric = "cost" },\n]',
    ).replace("[measurement]\n", "[measurement]\nsystematics = { core_range = [1.5, 2.5] }\n")
    space = loads_space(text, "tiny-dead")
    assert [o.name for o in space.objectives] == [
        "sigma_e_dead_e-_20GeV_5pct_clustered",
        "resolution_e-_5GeV_syst",
        "cost_chf",
    ]
    assert space.objectives[0].dead_masks == 2
    assert space.measurement.systematics_config.core_range == (1.5, 2.5)
    # options left unset stay out of the canonical table: older studies still resume
    assert "systematics" not in plain.table["measurement"]
    assert all("dead_fraction" not in o for o in plain.table["objectives"])
    bad = text.replace('pattern = "clustered"', 'pattern = "checkerboard"')
    with pytest.raises(ConfigError, match="pattern 'checkerboard' is unknown"):
        loads_space(bad, "t")
    bad = text.replace("dead_fraction = 0.05", "dead_fraction = 1.5")
    with pytest.raises(ConfigError, match=r"dead_fraction 1\.5 must be a number in \[0, 1\)"):
        loads_space(bad, "t")


# ----------------------------------------------------------------------------- systematics
def test_the_systematic_envelope_reproduces_by_hand():
    """resolution_..._syst = σ/E + the quadrature sum of the declared sources' shifts, each
    the largest |Δσ/E| over its variations: rebuilt here from the same showers (the point's
    seeds), the same calibration and the core fits."""
    from calolab.data.conditions import apply_conditions, random_dead
    from calolab.evaluation.fits import gaussian_core_fit
    from calolab.optimization.objectives import _calibrate_per_layer, _Point
    from calolab.simulation import ParticleGun, simulate
    from calolab.simulation.gun import EnergySpectrum
    from calolab.simulation.readout_variation import redigitize

    syst = {
        "energy_scale": 0.02,
        "core_range": [1.5, 2.5],
        "bias_correction": False,
        "dead_fraction": 0.1,
        "dead_seed": 4,
        "light_yield": 0.3,
    }
    config = MeasurementConfig(particles=("e-",), energies_gev=(20.0,), systematics=syst)
    objs = expand_objectives(
        [ObjectiveSpec("resolution", "e-"), ObjectiveSpec("resolution", "e-", systematics=True)],
        config,
    )
    det = fine_stack()
    m = measure(det, config, objs, events=200, seed=3)
    nominal, envelope = m.values["resolution_e-_20GeV"], m.values["resolution_e-_20GeV_syst"]

    # by hand: the point's showers, the calibration on the training half
    key = design_key(det)
    train = simulate(
        det,
        ParticleGun("e-", EnergySpectrum("uniform", (10.0, 30.0))),
        100,
        seed=point_seed(3, key, "e-", 20.0, "search-train"),
    )
    test_seed = point_seed(3, key, "e-", 20.0, "search")
    test = simulate(det, ParticleGun("e-", 20.0), 100, seed=test_seed)
    pt = _Point("e-", 20.0, train.layer_energies(True), train.energy, train.energy, None)
    predict, _ = _calibrate_per_layer(det, [pt], em_scale=True)
    e = np.asarray(test.energy)
    pred = predict(test.layer_energies(True))

    def res(p, n_sigma=2.0):
        g = gaussian_core_fit(p / e, n_sigma=n_sigma)
        return g.sigma / g.mu

    r0 = res(pred)
    assert r0 == pytest.approx(nominal.value, rel=1e-9)
    scale = max(abs(res(pred * 1.02) - r0), abs(res(pred * 0.98) - r0))
    window = max(abs(res(pred, 1.5) - r0), abs(res(pred, 2.5) - r0))
    dead_showers = apply_conditions(test, random_dead(test.n_cells, 0.1, 4))
    dead = abs(res(predict(dead_showers.layer_energies(True))) - r0)
    light = 0.0
    for s in (1.3, 0.7):
        varied = redigitize(test, seed=test_seed, light_yield_scale=s)
        layers = np.stack(
            [varied[:, r.offset : r.offset + r.n_cells].sum(axis=1) for r in det.readout_layers],
            axis=1,
        )
        light = max(light, abs(res(predict(layers)) - r0))
    by_hand = math.sqrt(scale**2 + window**2 + dead**2 + light**2)
    assert window > 0 and dead > 0 and light > 0 and scale < 1e-6  # σ/μ ignores the scale
    assert envelope.value == pytest.approx(r0 + by_hand, rel=1e-6)
    assert envelope.error == nominal.error  # the statistical error
    info = m.details["e-"]["systematics"]["20"]
    assert info["syst"] == pytest.approx(by_hand, rel=1e-6)
    assert info["sources"]["core_range"] == pytest.approx(window, rel=1e-6)
    assert info["sources"]["light_yield"] == pytest.approx(light, rel=1e-4)

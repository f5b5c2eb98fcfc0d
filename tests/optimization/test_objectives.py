"""Objectives: each measured with its error, reproducible from the study seed and the design."""

from __future__ import annotations

import math

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

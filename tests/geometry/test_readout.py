"""The readout of a section: units, defaults, validation, detector files and channel cost."""

import math
from dataclasses import replace

import pytest

from calolab.core.errors import GeometryError
from calolab.geometry import (
    DEFAULT_READOUTS,
    Calorimeter,
    Layer,
    Readout,
    Section,
    dumps_detector,
    get_material,
    loads_detector,
    preset,
)


def test_mip_units_of_a_layer():
    """1 MIP = dE/dx|min × thickness (PDG); light yield, noise and range follow from it."""
    pbwo4 = DEFAULT_READOUTS["PbWO4"]
    mip = get_material("PbWO4").dedx_min_mev_cm * 23.0  # a CMS crystal: ≈ 235 MeV
    assert mip == pytest.approx(234.6, rel=2e-3)
    cr = pbwo4.for_layer(mip)
    assert cr.photoelectrons_per_mip == pytest.approx(4.5 * mip)
    assert cr.noise_mip == pytest.approx(40.0 / mip)
    assert cr.threshold_mip == pytest.approx(3 * 40.0 / mip)
    assert cr.saturation_mip == pytest.approx(1.7e6 / mip)
    assert cr.excess_noise_factor == 2.0
    # 3σ: 0.135 % of empty channels fire on noise
    assert cr.noise_occupancy == pytest.approx(0.0013499, rel=1e-3)
    tile = DEFAULT_READOUTS["polystyrene"].for_layer(0.41)
    assert tile.photoelectrons_per_mip == 15.0 and tile.threshold_mip == pytest.approx(0.48)
    ideal = Readout().for_layer(1.0)
    assert ideal.noise_mip == 0 and ideal.photoelectrons_per_mip == 0
    assert math.isinf(ideal.saturation_mip)


def test_defaults_follow_the_sensitive_medium():
    pw = preset("course_pbwo4")
    assert pw.sections[0].readout == DEFAULT_READOUTS["PbWO4"]
    assert all(s.readout == DEFAULT_READOUTS["polystyrene"] for s in pw.sections[1:])
    assert (
        Section("si", [Layer("W", 0.2), Layer("Si", 0.05, True)]).readout == DEFAULT_READOUTS["Si"]
    )
    # the endcap's 5.1 mm pads: the SiW-ECAL ASIC's range of 2,500 MIP, not HGCAL's 10 pC
    endcap = preset("endcap_photon").sections[0].readout
    assert endcap.saturation_mip == 2500.0 and endcap.noise_mev == DEFAULT_READOUTS["Si"].noise_mev
    lead = Section("s", [Layer("Pb", 1.0, True)])
    assert lead.readout.technology == "ideal"  # no known default: declare one


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"technology": "camera"}, "technology 'camera' must be one of"),
        ({"technology": "sipm"}, "give its light yield"),
        ({"technology": "silicon", "photoelectrons_per_mip": 10}, "has no photoelectrons"),
        ({"technology": "ideal", "noise_mip": 0.1}, "'ideal' readout has no noise"),
        (
            {"technology": "apd", "photoelectrons_per_mev": 4.5, "photoelectrons_per_mip": 9},
            "not both",
        ),
        ({"technology": "lar", "noise_mip": 0.1, "noise_mev": 1.0}, "not both"),
        ({"technology": "lar", "noise_mip": -0.1}, "noise_mip -0.1 must be a finite number >= 0"),
        ({"technology": "lar", "saturation_mev": 0}, "saturation_mev 0 must be"),
        (
            {"technology": "pmt", "photoelectrons_per_mev": 1, "excess_noise_factor": 0.5},
            "excess_noise_factor",
        ),
        ({"cost_chf_per_channel": float("nan")}, "cost_chf_per_channel"),
    ],
)
def test_bad_readouts_name_the_field_and_value(kwargs, match):
    with pytest.raises(GeometryError, match=match):
        Readout(**kwargs)


def test_threshold_below_three_sigma_warns_with_the_noise_hits():
    """At 1σ, 15.9 % of the 80,000 channels of endcap_photon fire on noise alone."""
    ep = preset("endcap_photon")
    low = Section(
        "ecal",
        ep.sections[0].layers,
        50,
        0.51,
        readout=replace(DEFAULT_READOUTS["Si"], threshold_sigma=1.0),
    )
    det = Calorimeter("ep-low", ep.transverse_size_cm, [low])
    (w,) = det.readout_warnings()
    assert "1σ is below 3σ" in w and "12,692 of 80,000 channels" in w
    assert det.noise_hits_per_event == pytest.approx(80_000 * 0.158655, rel=1e-4)
    assert not ep.readout_warnings()  # the default (5σ) is fine


def test_detector_files_round_trip_the_readout(tmp_path):
    text = """
name = "crystals"
transverse_size_cm = [22.0, 22.0]
[[sections]]
name = "ecal"
cell_size_cm = 2.2
layers = [{ material = "BGO", thickness_cm = 24.0, sensitive = true }]
[sections.readout]
technology = "apd"
photoelectrons_per_mev = 250
noise_mev = 0.8
threshold_sigma = 5
cost_chf_per_channel = 80
"""
    det = loads_detector(text)
    ro = det.sections[0].readout
    assert ro.technology == "apd" and ro.photoelectrons_per_mev == 250.0 and ro.enf == 2.0
    assert det.channel_cost_chf == 100 * 80.0
    again = loads_detector(dumps_detector(det))
    assert again.sections[0].readout == ro and again.hash == det.hash
    # every preset survives the round trip with its readout
    for name in ("course_pbwo4", "course_pbscint", "endcap_photon"):
        d = preset(name)
        assert loads_detector(dumps_detector(d)).hash == d.hash


@pytest.mark.parametrize(
    "table,match",
    [
        ("technology = 'sipm'\nphotoelectrons_per_mip = 15\ngain = 3", r"unknown key\(s\) gain"),
        ("technology = 'sipm'\nphotoelectrons_per_mip = 'many'", "photoelectrons_per_mip 'many'"),
        ("technology = 'sipm'", "section 0 'ecal', readout: technology 'sipm' counts"),
    ],
)
def test_bad_readout_tables_in_files(table, match):
    text = f"""
name = "d"
transverse_size_cm = 10.0
[[sections]]
name = "ecal"
layers = [{{ material = "polystyrene", thickness_cm = 1.0, sensitive = true }}]
[sections.readout]
{table}
"""
    with pytest.raises(GeometryError, match=match):
        loads_detector(text)


def test_channel_cost_counts_granularity():
    """Halving the cell size quadruples the channels and their cost; materials stay."""
    layers = [Layer("Pb", 0.2), Layer("polystyrene", 0.2, sensitive=True)]
    coarse = Calorimeter("c", 50.0, [Section("ecal", layers, 60, 5.0)])
    fine = Calorimeter("f", 50.0, [Section("ecal", layers, 60, 2.5)])
    assert fine.material_cost_chf == pytest.approx(coarse.material_cost_chf)
    assert fine.n_channels == 4 * coarse.n_channels == 60 * 400
    assert fine.channel_cost_chf == pytest.approx(4 * coarse.channel_cost_chf)
    assert fine.channel_cost_chf == pytest.approx(60 * 400 * 5.0)  # 5 CHF per SiPM channel
    assert fine.cost_chf == pytest.approx(fine.material_cost_chf + fine.channel_cost_chf)
    priced = Calorimeter(
        "p",
        50.0,
        [
            Section(
                "ecal",
                layers,
                60,
                2.5,
                readout=replace(DEFAULT_READOUTS["polystyrene"], cost_chf_per_channel=1.5),
            )
        ],
    )
    assert priced.channel_cost_chf == pytest.approx(60 * 400 * 1.5)
    s = priced.summary()
    assert s["channel_cost_chf"] == pytest.approx(36_000) and s["sections"][0]["readout"]


def test_endcap_photons_are_not_saturated_at_500_gev():
    """Study A's photons go up to 500 GeV: the digitised sum stays linear (the EM-scale sum
    over the true visible sum is the same at 500 GeV as at 100 GeV within 1 %); with HGCAL's
    10 pC range the central pads saturate and the 350-500 GeV sum came out 6 % low."""
    import numpy as np

    from calolab.simulation import ParticleGun, simulate

    ratio = []
    for e in (100.0, 500.0):
        s = simulate("endcap_photon", ParticleGun("gamma", e, theta_deg=20.0), 30, seed=3)
        ratio.append(float(np.mean(s.total(digitized=True) / s.total())))
    assert ratio[1] == pytest.approx(ratio[0], rel=0.01), ratio

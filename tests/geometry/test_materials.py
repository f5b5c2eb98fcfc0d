import math

import pytest

from calolab.core.errors import MaterialError
from calolab.geometry import BUILTIN_MATERIALS, get_material, mixture


@pytest.mark.parametrize(
    "name,canonical",
    [
        ("PbWO4", "PbWO4"),
        ("G4_PbWO4", "PbWO4"),
        ("pbwo4", "PbWO4"),
        ("Pb", "Pb"),
        ("G4_Pb", "Pb"),
        ("W", "W"),
        ("Fe", "Fe"),
        ("Cu", "Cu"),
        ("brass", "brass"),
        ("Al", "Al"),
        ("polystyrene", "polystyrene"),
        ("scintillator", "polystyrene"),
        ("G4_POLYSTYRENE", "polystyrene"),
        ("LAr", "LAr"),
        ("G4_lAr", "LAr"),
        ("Si", "Si"),
        ("air", "air"),
        ("G4_AIR", "air"),
    ],
)
def test_names_and_geant4_aliases(name, canonical):
    assert get_material(name).name == canonical


def test_unknown_material_lists_known_names():
    with pytest.raises(MaterialError, match="unknown material 'unobtainium'.*PbWO4"):
        get_material("unobtainium")


def test_pdg_values_and_derived_lengths():
    # PDG Atomic and Nuclear Properties: PbWO4 X0 = 0.8903 cm, λI = 20.28 cm, R_M = 1.959 cm
    m = get_material("PbWO4")
    assert m.x0_cm == pytest.approx(0.8903, rel=2e-3)
    assert m.lambda_i_cm == pytest.approx(20.28, rel=2e-3)
    assert m.moliere_radius_cm == pytest.approx(1.959, rel=1e-6)
    # Pb X0 = 0.5612 cm, Fe X0 = 1.757 cm, Si X0 = 9.370 cm
    assert get_material("Pb").x0_cm == pytest.approx(0.5612, rel=2e-3)
    assert get_material("Fe").x0_cm == pytest.approx(1.757, rel=2e-3)
    assert get_material("Si").x0_cm == pytest.approx(9.370, rel=2e-3)
    # Molière radius computed from X0 and E_c where the PDG gives none (polystyrene ≈ 9.41 cm)
    assert get_material("polystyrene").moliere_radius_cm == pytest.approx(9.41, rel=5e-3)


def test_every_material_is_complete():
    for m in BUILTIN_MATERIALS.values():
        assert sum(w for _, w in m.composition) == pytest.approx(1.0, abs=1e-3)
        assert m.source
        assert m.price_chf_per_kg >= 0


def test_mixture_rules():
    cu, zn = get_material("Cu"), get_material("Zn")
    b = mixture("b", [(cu, 0.7), (zn, 0.3)], density_g_cm3=8.53)
    # 1/X0 = Σ w/X0_j (PDG eq. 34.28)
    assert 1 / b.x0_g_cm2 == pytest.approx(0.7 / cu.x0_g_cm2 + 0.3 / zn.x0_g_cm2)
    assert 1 / b.lambda_i_g_cm2 == pytest.approx(0.7 / cu.lambda_i_g_cm2 + 0.3 / zn.lambda_i_g_cm2)
    assert b.z_over_a == pytest.approx(0.7 * cu.z_over_a + 0.3 * zn.z_over_a)
    assert b.mean_excitation_ev == pytest.approx(
        math.exp(
            (0.7 * cu.z_over_a * math.log(322) + 0.3 * zn.z_over_a * math.log(330)) / b.z_over_a
        )
    )
    assert dict(b.composition) == pytest.approx({"Cu": 0.7, "Zn": 0.3})
    assert b.price_chf_per_kg == pytest.approx(
        0.7 * cu.price_chf_per_kg + 0.3 * zn.price_chf_per_kg
    )
    assert get_material("brass").x0_cm == pytest.approx(1.49, rel=0.02)  # cartridge brass


def test_mixture_fractions_must_sum_to_one():
    with pytest.raises(MaterialError, match="sum to 0.9000"):
        mixture("x", [(get_material("Cu"), 0.6), (get_material("Zn"), 0.3)], density_g_cm3=8.0)


def test_price_override():
    assert get_material("Pb").with_price(3.5).price_chf_per_kg == 3.5

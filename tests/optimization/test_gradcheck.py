"""The gradient check: torch autodiff vs reference finite differences on a space."""

from __future__ import annotations

import pytest

from calolab.optimization import load_space, loads_space
from calolab.optimization.gradcheck import gradcheck, physics_target

SMALL = """
name = "small-ecal"
transverse_size_cm = [30.0, 30.0]
objectives = [{ metric = "leakage", particle = "e-" }, { metric = "material_cost" }]
[constraints]
cost = "materials"
[measurement]
particles = ["e-"]
energies_gev = [10.0]
[[sections]]
name = "ecal"
repeat = { range = [6, 20] }
cell_size_cm = 30.0
layers = [
  { name = "absorber", material = "Pb", thickness_cm = { range = [0.2, 0.6] } },
  { name = "active", material = "polystyrene", thickness_cm = 0.4, sensitive = true },
]
"""


def test_targets_of_the_builtin_spaces():
    t, _ = physics_target(load_space("course"))
    assert (t.quantity, t.particle, t.energy_gev) == ("resolution", "e-", 10.0)
    t, _ = physics_target(load_space("endcap"))
    assert (t.quantity, t.particle, t.energy_gev) == ("resolution", "gamma", 50.0)
    t, why = physics_target(load_space("muon-block"))
    assert t is None and "mu-" in why
    t, _ = physics_target(load_space("course"), "leakage")
    assert t.quantity == "leakage" and t.objective == "resolution_e-_10GeV"


def test_muon_block_has_nothing_to_differentiate():
    res = gradcheck("muon-block")
    assert res.to_dict() == {} and res.showers == 0
    assert any("nothing to differentiate" in n for n in res.notes)
    assert "cell size" in res.held["block.cell_size_cm"]


@pytest.mark.slow
def test_leakage_gradients_agree_with_reference_finite_differences():
    """d(leaked fraction)/d(thickness) and d/d(periods) of 10 GeV electrons in a short
    Pb/scintillator stack (13 × 8 mm, 9.4 X0, ~20 % leakage): the torch simulator's
    autodiff and the reference simulator's central differences (common random numbers,
    3 repeats of 100 showers) agree within 10 % or 2σ; both are far from zero (the FD error
    is below 20 % of the FD, so a wrong sign or a factor 2 cannot pass)."""
    space = loads_space(SMALL, "small")
    res = gradcheck(
        space,
        events=100,
        repeats=3,
        max_events=100,
        parameters=["ecal.absorber.thickness_cm", "ecal.repeat"],
    )
    assert set(res.parameters) == {"ecal.repeat", "ecal.absorber.thickness_cm"}
    for name, c in res.parameters.items():
        assert c.reached, (name, c)
        assert c.finite_difference < 0 and c.autodiff < 0  # more material, less leakage
        assert c.agrees is True, (name, c)
    assert res.target.quantity == "leakage" and res.showers > 0


def test_unknown_parameter_is_refused():
    from calolab.core.errors import ConfigError

    with pytest.raises(ConfigError, match="'ecal.nope' is not a continuous parameter"):
        gradcheck(loads_space(SMALL, "small"), parameters=["ecal.nope"])

"""Design spaces: parsing, validation before any simulation, designs, feasibility."""

from __future__ import annotations

import numpy as np
import pytest

import calolab.geometry as geo
from calolab.core.errors import ConfigError, MaterialError
from calolab.optimization import (
    builtin_spaces,
    design_key,
    load_space,
    loads_space,
    table_differences,
)
from tests.optimization.tiny import TINY_SPACE


def test_builtin_spaces_and_the_presets_inside_them():
    assert set(builtin_spaces()) == {"course", "endcap", "muon-block"}
    course = load_space("course")
    assert set(course.references) == {"course_pbwo4", "course_pbscint", "course_triple"}
    for name, det in course.reference_designs().items():
        # the point of the space builds exactly the preset (same layers, cells, materials)
        assert design_key(det) == design_key(geo.preset(name))
    assert load_space("endcap").references["endcap_photon"]["ecal.repeat"] == 50
    assert design_key(load_space("muon-block").reference_designs()["muon_block"]) == design_key(
        geo.preset("muon_block")
    )
    # the course budget excludes the crystal ECAL: a reference, not a candidate
    pbwo4 = course.check(course.references["course_pbwo4"])
    assert any("materials budget" in v for v in pbwo4.violations)
    assert course.check(course.references["course_pbscint"]).feasible
    assert course.check(course.references["course_triple"]).feasible


def test_the_course_budget_counts_materials_as_the_course_did():
    course = load_space("course")
    c = course.constraints
    assert (c.budget_chf, c.cost, c.cost_key) == (50000.0, "materials", "material_cost_chf")
    assert c.describe().startswith("materials budget 50,000 CHF")
    det = course.design(course.references["course_pbscint"])
    # 2,317 CHF of materials + 26,400 SiPM channels at 5 CHF: inside the materials budget
    assert c.cost_of(det) == pytest.approx(2317, abs=1) and det.cost_chf > 130_000
    # the objective is the cost the budget counts; the total is recorded
    assert "material_cost_chf" in [o.name for o in course.objectives]
    assert "cost_chf" not in [o.name for o in course.objectives]
    assert "cost_chf" in [o.name for o in course.recorded]
    # the same stack under a total budget of 50,000 CHF is out, and the message says why
    total = loads_space(
        course.text.replace('cost = "materials"', 'cost = "total"').replace(
            '{ metric = "material_cost" },\n]', '{ metric = "cost" },\n]'
        ),
        "total",
        check=False,
    )
    v = total.check(course.references["course_pbscint"]).violations
    assert any("26,400 readout channels" in x and "budget of 50,000 CHF" in x for x in v)
    for space in (load_space("endcap"), load_space("muon-block")):
        assert space.constraints.cost == "materials"
        for params in space.references.values():
            assert space.check(params).feasible


def test_a_space_compares_like_with_like():
    # a materials budget with the total cost as objective (or the reverse) is refused
    text = TINY_SPACE.replace("budget_chf = 800.0", 'budget_chf = 800.0\ncost = "materials"')
    with pytest.raises(
        ConfigError, match=r"cost_chf is not the cost the budget counts.*material_cost"
    ):
        loads_space(text, "t")
    ok = loads_space(text.replace('{ metric = "cost" }', '{ metric = "material_cost" }'), "t")
    assert ok.constraints.cost_key == "material_cost_chf"
    with pytest.raises(ConfigError, match="material_cost_chf is not the cost the budget counts"):
        loads_space(TINY_SPACE.replace('{ metric = "cost" }', '{ metric = "material_cost" }'), "t")
    with pytest.raises(ConfigError, match=r"cost 'all' must be \"total\".*or \"materials\""):
        loads_space(
            TINY_SPACE.replace("budget_chf = 800.0", 'budget_chf = 800.0\ncost = "all"'), "t"
        )


def test_parameters_are_explicit_with_ranges():
    space = loads_space(TINY_SPACE, "tiny")
    names = [p.name for p in space.parameters]
    assert names == [
        "ecal.repeat",
        "ecal.cell_size_cm",
        "ecal.absorber.material",
        "ecal.absorber.thickness_cm",
    ]
    by = {p.name: p for p in space.parameters}
    assert by["ecal.repeat"].kind == "int" and (by["ecal.repeat"].low, by["ecal.repeat"].high) == (
        4,
        16,
    )
    t = by["ecal.absorber.thickness_cm"]
    assert t.is_continuous and t.unit == "cm" and (t.low, t.high) == (0.2, 0.8)
    assert by["ecal.absorber.material"].choices == ("Pb", "W")
    assert [o.name for o in space.objectives] == [
        "resolution_e-_5GeV",
        "resolution_e-_20GeV",
        "cost_chf",
    ]
    assert {o.name for o in space.recorded} == {
        "stochastic_e-",
        "leakage_e-_5GeV",
        "leakage_e-_20GeV",
    }


def test_design_check_none_material_and_removed_section():
    text = TINY_SPACE.replace(
        '{ name = "absorber", material = { choices = ["Pb", "W"] }',
        '{ name = "absorber", material = { choices = ["Pb", "W", "none"] }',
    )
    space = loads_space(text, "t")
    params = {
        "ecal.repeat": 10,
        "ecal.cell_size_cm": 5.0,
        "ecal.absorber.material": "none",
        "ecal.absorber.thickness_cm": 0.5,
    }
    det = space.design(params)
    assert [layer.material.name for layer in det.sections[0].layers] == ["polystyrene"]
    same = space.design({**params, "ecal.absorber.thickness_cm": 0.3})
    assert design_key(det) == design_key(same)  # an absent layer's thickness does not matter
    heavy = space.check(
        {
            **params,
            "ecal.absorber.material": "W",
            "ecal.absorber.thickness_cm": 0.8,
            "ecal.repeat": 16,
        }
    )
    assert not heavy.feasible and any("budget" in v for v in heavy.violations)
    with pytest.raises(ConfigError, match="has no value"):
        space.design({"ecal.repeat": 10})


def test_unknown_material_in_a_choice_is_refused_with_the_list():
    text = TINY_SPACE.replace('choices = ["Pb", "W"]', 'choices = ["Pb", "Unobtainium"]')
    with pytest.raises(MaterialError) as e:
        loads_space(text, "bad.toml")
    msg = str(e.value)
    assert "bad.toml" in msg and "section 'ecal'" in msg and "layer 'absorber'" in msg
    assert "Unobtainium" in msg and "PbWO4" in msg  # the known materials are listed


def test_reversed_and_empty_ranges_are_refused_with_the_fix():
    text = TINY_SPACE.replace("range = [0.2, 0.8]", "range = [0.8, 0.2]")
    with pytest.raises(
        ConfigError, match=r"thickness_cm range \[0.8, 0.2\] is reversed; write " r"\[0.2, 0.8\]"
    ):
        loads_space(text, "t")
    with pytest.raises(ConfigError, match="repeat range .* is reversed"):
        loads_space(TINY_SPACE.replace("range = [4, 16]", "range = [16, 4]"), "t")
    with pytest.raises(ConfigError, match="is empty; give a fixed value"):
        loads_space(TINY_SPACE.replace("range = [4, 16]", "range = [4, 4]"), "t")


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("max_length_cm = 30.0", "max_length_cm = 30.0\nbudjet = 3", "unknown key.*budjet"),
        ("range = [0.2, 0.8]", "range = [0.2, 0.8], stride = 1", "unknown key.*stride"),
        ('material = "polystyrene"', 'material = "none"', "removes the layer for good"),
        ("choices = [2.5, 5.0]", "range = [2.5, 5.0]", "needs a step"),
        ("choices = [2.5, 5.0]", "choices = [2.5, 2.5]", "twice"),
        ('"ecal.repeat" = 8', '"ecal.repeat" = 40', "outside the parameter's values"),
        ('"ecal.repeat" = 8', '"ecal.repat" = 8', "unknown parameter"),
        ('particle = "e-" }, { metric = "cost" }', 'particle = "pi+" }', "not measured"),
        ('{ metric = "cost" }', '{ metric = "speed" }', "not in the menu"),
        ("energies_gev = [5.0, 20.0]", "energies_gev = []", "energies_gev is empty"),
    ],
)
def test_bad_space_files_name_the_field_and_the_fix(old, new, match):
    assert old in TINY_SPACE
    with pytest.raises(ConfigError, match=match):
        loads_space(TINY_SPACE.replace(old, new, 1), "t")


def test_a_cell_size_that_divides_nothing_makes_the_design_infeasible_not_an_error():
    space = loads_space(TINY_SPACE.replace("choices = [2.5, 5.0]", "choices = [3.0, 5.0]"), "t")
    c = space.check({**space.references["thin"], "ecal.cell_size_cm": 3.0})
    assert not c.feasible and c.detector is None and "does not divide" in c.violations[0]


def test_a_space_with_no_feasible_design_names_the_cheapest_and_the_shortest():
    text = TINY_SPACE.replace("budget_chf = 800.0", "budget_chf = 1.0")
    with pytest.raises(ConfigError) as e:
        loads_space(text, "poor.toml")
    msg = str(e.value)
    assert "no design meets the constraints" in msg
    assert "the cheapest design (" in msg and "the shortest design (" in msg
    assert "ecal.repeat = 4" in msg and "ecal.absorber.thickness_cm = 0.2" in msg
    assert "exceeds the budget of 1 CHF" in msg
    # cheapest and shortest each fine alone, but no design is both short and deep enough
    text = TINY_SPACE.replace("max_length_cm = 30.0", "max_length_cm = 3.0\nmin_depth_x0 = 20.0")
    with pytest.raises(ConfigError, match="no design meets the constraints"):
        loads_space(text, "t")


def test_reference_that_does_not_build_its_preset_is_refused():
    text = load_space("course").text.replace(
        '"ecal.absorber.thickness_cm" = 0.15', '"ecal.absorber.thickness_cm" = 0.16'
    )
    with pytest.raises(ConfigError, match="do not build the preset 'course_triple'.*0.16"):
        loads_space(text, "c")


def test_grid_values_and_refusal_of_continuous_ranges():
    space = loads_space(TINY_SPACE, "t")
    with pytest.raises(ConfigError, match="continuous range.*needs a step"):
        space.grid_size()
    stepped = loads_space(
        TINY_SPACE.replace("range = [0.2, 0.8]", "range = [0.2, 0.8], step = 0.2"), "t"
    )
    by = {p.name: p for p in stepped.parameters}
    assert by["ecal.absorber.thickness_cm"].grid() == (0.2, 0.4, 0.6, 0.8)
    assert stepped.grid_size() == 13 * 2 * 2 * 4


def test_sampling_stays_inside_the_space():
    space = loads_space(TINY_SPACE, "t")
    rng = np.random.default_rng(0)
    for _ in range(50):
        params = space.sample(rng)
        assert all(p.contains(params[p.name]) for p in space.parameters)


def test_user_materials_and_unknown_space_names():
    text = TINY_SPACE.replace('choices = ["Pb", "W"]', 'choices = ["Pb", "heavy"]') + (
        '\n[materials.heavy]\nbase = "W"\nprice_chf_per_kg = 1.0\n'
    )
    space = loads_space(text, "t")
    det = space.design({**space.references["thin"], "ecal.absorber.material": "heavy"})
    assert det.sections[0].layers[0].material.price_chf_per_kg == 1.0
    with pytest.raises(ConfigError, match="unknown design space 'corse'.*course"):
        load_space("corse")


def test_table_differences_lists_every_change():
    a = {"name": "x", "constraints": {"budget_chf": 1.0}, "sections": [{"repeat": 3}]}
    b = {"name": "x", "constraints": {"budget_chf": 2.0}, "sections": [{"repeat": 4}], "new": 1}
    assert table_differences(a, b) == [
        "constraints.budget_chf: 1.0 -> 2.0",
        "new: (absent) -> 1",
        "sections[0].repeat: 3 -> 4",
    ]


def test_log_ranges_for_periods_and_thicknesses():
    text = TINY_SPACE.replace("range = [4, 16]", "range = [4, 16], log = true").replace(
        "range = [0.2, 0.8]", "range = [0.2, 0.8], log = true"
    )
    space = loads_space(text, "t")
    by = {p.name: p for p in space.parameters}
    assert by["ecal.repeat"].log and by["ecal.repeat"].describe() == "4..16 log"
    rng = np.random.default_rng(1)
    reps = [space.sample(rng)["ecal.repeat"] for _ in range(2000)]
    assert min(reps) == 4 and max(reps) == 16 and all(isinstance(r, int) for r in reps)
    # log-uniform: as many draws in [4, 8) as in [8, 16]
    low = sum(r < 8 for r in reps) / len(reps)
    assert abs(low - 0.5) < 0.05
    with pytest.raises(ConfigError, match="log and step cannot be combined"):
        loads_space(
            TINY_SPACE.replace("range = [4, 16]", "range = [4, 16], log = true, step = 2"), "t"
        )


def test_a_section_may_fix_its_readout_as_in_detector_files():
    space = load_space("endcap")  # endcap_photon reads its pads with the SiW-ECAL ASIC
    det = space.design(space.references["endcap_photon"])
    assert det.sections[0].readout.saturation_mip == 2500.0
    assert design_key(det) == design_key(geo.preset("endcap_photon"))
    text = TINY_SPACE.replace(
        "cell_size_cm = { choices = [2.5, 5.0] }",
        'cell_size_cm = { choices = [2.5, 5.0] }\nreadout = { technology = "sipm", gain = 3 }',
    )
    with pytest.raises(ConfigError, match="readout.*gain"):
        loads_space(text, "t")

"""The bridge from a design space to the torch simulator (calolab.optimization.gradspace)."""

from __future__ import annotations

import math

import pytest
import torch

from calolab.core.errors import ConfigError
from calolab.optimization import load_space, loads_space
from calolab.optimization.gradspace import centre, cost_tensor, length_tensor, relax
from tests.optimization.tiny import TINY_SPACE


def test_course_centre_continuous_and_held_parameters():
    space = load_space("course")
    view = relax(space)
    names = [r.name for r in view.continuous]
    # 3 ECAL thicknesses + ECAL periods + 3 HCAL sections x (2 thicknesses + periods)
    assert len(names) == 13
    assert "ecal.repeat" in names and "hcal3.active.thickness_cm" in names
    held = {h.name: h.reason for h in view.held}
    assert "cell size" in held["ecal.cell_size_cm"]
    assert "held" in held["ecal.absorber.material"]
    # the centre of a log range is its geometric middle; choices take their first value
    c = centre(space)
    assert c["ecal.absorber.thickness_cm"] == pytest.approx(math.sqrt(0.05 * 0.6))
    assert c["ecal.repeat"] == round(math.sqrt(10 * 200)) and c["ecal.absorber.material"] == "Pb"
    assert view.template.depth_cm == pytest.approx(space.design(c).depth_cm)
    r = {r.name: r for r in view.continuous}["ecal.insert.thickness_cm"]
    assert (r.section, r.index, r.torch_name) == ("ecal", 2, "ecal.thickness.2")


def test_removed_layer_is_held_and_indices_follow_present_layers():
    space = load_space("course")
    point = dict(space.references["course_pbwo4"])
    view = relax(space, point)
    held = {h.name: h.reason for h in view.held}
    assert "removed" in held["ecal.absorber.thickness_cm"]
    assert "removed" in held["ecal.insert.thickness_cm"]
    active = {r.name: r for r in view.continuous}["ecal.active.thickness_cm"]
    assert active.index == 0  # the only layer of the built ECAL


def test_materials_relaxed_through_logits_and_snapped_back():
    space = loads_space(TINY_SPACE, "tiny")
    view = relax(space, relax_materials=True)
    (m,) = view.materials
    assert m.candidates == ("Pb", "W") and m.name == "ecal.absorber.material"
    design = view.design_parameters(dtype=torch.float64)
    assert design.probabilities("ecal", 0).argmax().item() == 0  # the point's Pb
    design.logits["ecal"][0] = torch.tensor([0.0, 3.0], dtype=torch.float64)
    point = view.point_from({"ecal.repeat": 11.7, "ecal.absorber.thickness_cm": 5.0}, design)
    assert point["ecal.repeat"] == 12 and isinstance(point["ecal.repeat"], int)
    assert point["ecal.absorber.thickness_cm"] == 0.8  # clipped to its range
    assert point["ecal.absorber.material"] == "W"
    space.design(point)  # a valid point


def test_cost_and_length_are_the_detectors_and_differentiable():
    for text, name in ((TINY_SPACE, "tiny"), (None, "course")):
        space = loads_space(text, name) if text else load_space(name)
        view = relax(space)
        design = view.design_parameters(dtype=torch.float64)
        design.requires_grad_()
        cost = cost_tensor(view, design)
        det = view.template
        assert float(cost.detach()) == pytest.approx(space.constraints.cost_of(det), rel=1e-9)
        assert float(length_tensor(design).detach()) == pytest.approx(det.depth_cm, rel=1e-12)
        cost.backward()
        assert design.thickness["ecal"].grad[0] > 0 and design.periods["ecal"].grad > 0


def test_bad_points_are_clear_errors():
    space = loads_space(TINY_SPACE, "tiny")
    c = centre(space)
    with pytest.raises(ConfigError, match="'ecal.nope' is not a parameter"):
        relax(space, {**c, "ecal.nope": 1})
    with pytest.raises(ConfigError, match=r"ecal.repeat = 40 is outside .*4\.\.16"):
        relax(space, {**c, "ecal.repeat": 40})
    c.pop("ecal.absorber.thickness_cm")
    with pytest.raises(ConfigError, match="missing value.*ecal.absorber.thickness_cm"):
        relax(space, c)

"""The ``gradient`` search method: a tiny run, its trials, seeds and resuming."""

from __future__ import annotations

import optuna
import pytest

from calolab.core.errors import ConfigError
from calolab.optimization import load_study, loads_space, run_study
from calolab.optimization.gradient import options
from calolab.optimization.study import STUDY_NAME, StudyDriverContext, storage_url
from tests.optimization.tiny import TINY_SPACE

OPTS = {"steps_per_trial": 2, "step_events": 8}


def _run(directory, resume=False, trials=4, options=None):
    return run_study(
        loads_space(TINY_SPACE, "tiny"),
        directory,
        trials=trials,
        events=16,
        seed=3,
        method="gradient",
        method_options=OPTS | (options or {}),
        resume=resume,
    )


def _trials(directory):
    study = optuna.load_study(study_name=STUDY_NAME, storage=storage_url(directory))
    return [
        (t.state.name, t.params, t.user_attrs.get("gradient_eval"), t.user_attrs.get("reference"))
        for t in study.trials
    ]


@pytest.fixture(scope="module")
def gradient_study(tmp_path_factory):
    d = tmp_path_factory.mktemp("gradient") / "study"
    _run(d)
    return d


def test_tiny_gradient_run_stores_its_designs_as_trials(gradient_study):
    trials = _trials(gradient_study)
    # the reference first (it is the start point: not measured twice), then 3 designs of
    # the descent: the steps' and the best one
    assert [t[3] for t in trials] == ["thin", None, None, None]
    assert [t[2] for t in trials[1:]] == [0, 1, 2]
    res = load_study(gradient_study)
    assert len(res.trials) == 4 and all(t.state == "complete" for t in res.trials)
    for t in res.trials:
        assert isinstance(t.params["ecal.repeat"], int)
        assert 0.2 <= t.params["ecal.absorber.thickness_cm"] <= 0.8
        assert t.params["ecal.absorber.material"] == "Pb"  # held at the start's choice
        assert t.values["resolution_e-_5GeV"].value > 0
    # the descent moved the design
    assert len({tuple(sorted(t.params.items())) for t in res.trials}) > 1
    assert (gradient_study / "pareto.json").is_file()


def test_same_seed_same_designs_and_resume_after_interruption(
    gradient_study, tmp_path, monkeypatch
):
    calls = {"n": 0}
    real = StudyDriverContext.evaluate

    def interrupted(self, params, user_attrs=None):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # killed in the middle of the descent
        return real(self, params, user_attrs)

    d = tmp_path / "study"
    monkeypatch.setattr(StudyDriverContext, "evaluate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _run(d)
    monkeypatch.setattr(StudyDriverContext, "evaluate", real)
    assert len([t for t in _trials(d) if t[0] == "COMPLETE"]) == 2
    run = _run(d, resume=True)
    assert run.resumed
    # exactly the designs of the uninterrupted study, none measured twice
    assert _trials(d) == _trials(gradient_study)
    again = _run(d, resume=True)  # nothing left to do
    assert again.showers == 0 and len(_trials(d)) == 4


def test_options_are_checked():
    with pytest.raises(ConfigError, match="unknown option.*nope"):
        options({"nope": 1})
    with pytest.raises(ConfigError, match="--gradient-steps 0 must be >= 1"):
        options({"steps_per_trial": 0})
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            options({"device": "cuda"})


@pytest.mark.parametrize("relax", [False, True])
def test_gradient_study_on_cuda(tmp_path, relax):
    """The gradient steps on the GPU: design, reconstruction, budget penalty and (relaxed)
    material logits all on the device (a device mismatch crashed the first step)."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    d = tmp_path / "cuda"
    _run(d, trials=3, options={"device": "cuda", "relax_materials": relax})
    res = load_study(d)
    assert len(res.trials) == 3 and all(t.state == "complete" for t in res.trials)
    assert all(0.2 <= t.params["ecal.absorber.thickness_cm"] <= 0.8 for t in res.trials)


def test_method_options_need_a_driver_and_settings_are_compared_on_resume(tmp_path):
    space = loads_space(TINY_SPACE, "tiny")
    with pytest.raises(ConfigError, match="--method tpe takes no method options"):
        run_study(space, tmp_path / "a", trials=2, events=8, method="tpe", method_options=OPTS)
    d = tmp_path / "b"
    _run(d, trials=2)
    with pytest.raises(ConfigError, match="method_options"):
        run_study(
            space,
            d,
            trials=2,
            events=16,
            seed=3,
            method="gradient",
            method_options={"steps_per_trial": 3, "step_events": 8},
            resume=True,
        )


def test_relaxed_materials_are_optimised_and_measured_as_valid_choices(tmp_path):
    """``relax_materials``: the absorber's Pb/W choice becomes logits moved with the
    thicknesses; each measured design takes a valid candidate."""
    d = tmp_path / "study"
    _run(d, trials=3, options={"relax_materials": True})
    res = load_study(d)
    assert len(res.trials) == 3
    assert {t.params["ecal.absorber.material"] for t in res.trials} <= {"Pb", "W"}


def test_joint_optimiser_moves_material_logits():
    from calolab.differentiable.optimize import Bound, DesignSpace, JointConfig, optimize_design
    from calolab.geometry.detector import Calorimeter, Layer, Section

    det = Calorimeter(
        "t", (10.0, 10.0), [Section("ecal", [Layer("Pb", 0.3), Layer("Si", 0.05, True)], 6, 5.0)]
    )
    space = DesignSpace(
        "t", det, (Bound("ecal.periods", 4.0, 12.0),), 30.0, materials={("ecal", 0): ("Pb", "W")}
    )
    seen = []
    res = optimize_design(
        space,
        JointConfig(energies=(5.0,), events=6, steps=2),
        callback=lambda step, values, loss: seen.append(values),
    )
    assert all("ecal.0.choice" in v for v in seen)
    assert res.parameters["ecal.0.choice"] in (0.0, 1.0)
    # the loss has a gradient with respect to the material logits (W contains more of
    # the shower in this short stack: its logit is pushed up)
    from calolab.differentiable.optimize import Reconstruction, _loss, _template

    cfg = JointConfig(energies=(5.0,), events=20, steps=1)
    design = _template(space, cfg)
    lg = design.logits["ecal"][0].detach().clone().requires_grad_(True)
    design.logits["ecal"][0] = lg
    _loss(design, Reconstruction(), cfg, seed=1).backward()
    assert lg.grad[1] < 0 < lg.grad[0]

"""Joint optimisation of design and reconstruction: it runs, stays in its ranges, improves its
loss, and its optimum is re-measured with the reference simulator."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from calolab.core.errors import ConfigError
from calolab.differentiable.optimize import (
    Bound,
    DesignSpace,
    JointConfig,
    get_space,
    measure,
    optimize_design,
    pbscint_ecal_space,
)

TINY = JointConfig(energies=(5.0,), events=60, steps=4, lr_design=0.1, seed=3)


def test_joint_descent_improves_and_respects_ranges() -> None:
    space = pbscint_ecal_space()
    res = optimize_design(space, TINY)
    assert len(res.loss_history) == TINY.steps
    assert res.best_loss <= res.loss_history[0]
    for b in space.bounds:
        assert b.low - 1e-6 <= res.parameters[b.name] <= b.high + 1e-6
    assert res.detector.n_readout_layers >= 10
    assert res.showers_simulated == TINY.steps * TINY.events
    # the reconstruction's longitudinal weights moved (joint), not in the factorised mode
    assert res.reconstruction["a1"] != 0.0
    fact = optimize_design(space, TINY, joint=False)
    assert fact.reconstruction["a1"] == 0.0 and fact.reconstruction["a2"] == 0.0


def test_measure_with_reference_simulator() -> None:
    m = measure(pbscint_ecal_space().template, TINY, events=200)
    # a 4 mm/4 mm Pb/scintillator ECAL at 5 GeV: σ/E ≈ 15 %/√E ≈ 7 %
    assert 0.04 < m.resolution["5"] < 0.1
    assert m.utility_error > 0


def test_bad_space_and_config() -> None:
    t = pbscint_ecal_space().template
    with pytest.raises(ConfigError, match="reversed or empty range"):
        optimize_design(DesignSpace("x", t, (Bound("ecal.periods", 30, 10),), 30.0), TINY)
    with pytest.raises(ConfigError, match="unknown design space"):
        get_space("nope")
    with pytest.raises(ConfigError, match="steps"):
        optimize_design(pbscint_ecal_space(), JointConfig(steps=0))


def test_cli_optimize_gradient(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "r.json"
    cmd = [
        sys.executable,
        "-m",
        "calolab.cli.main",
        "optimize-gradient",
        "--steps",
        "2",
        "--events",
        "20",
        "--energies",
        "5",
        "-o",
        str(out),
        "--json",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    assert set(data["parameters"]) == {"ecal.thickness.0", "ecal.thickness.1", "ecal.periods"}
    bad = subprocess.run(
        [sys.executable, "-m", "calolab.cli.main", "optimize-gradient", "--energies", "x"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert bad.returncode == 2 and "--energies" in bad.stderr

"""The physics fingerprint: fixed-seed showers match the values stored in the repository.

A failure means the showers changed. If that was intended, bump the model version in
``src/calolab/physics/versions.py`` and regenerate with ``python scripts/fingerprint.py
--write``; datasets made before and after then carry different provenance.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from calolab.physics.versions import MODEL_VERSIONS
from calolab.simulation.fingerprint import physics_fingerprint

STORED = Path(__file__).with_name("fingerprint.json")

# Same seed, same code: the numbers are equal up to floating-point reassociation in compiled
# kernels (different CPUs); a physics change moves them by far more.
RTOL = 1e-5


@pytest.fixture(scope="module")
def stored() -> dict:
    return json.loads(STORED.read_text())


@pytest.fixture(scope="module")
def now() -> dict:
    return physics_fingerprint()


def test_model_versions_match_the_stored_fingerprint(stored: dict) -> None:
    assert stored["model_versions"] == MODEL_VERSIONS, (
        "the physics model versions changed: regenerate the stored values on purpose with "
        "'python scripts/fingerprint.py --write'"
    )


def test_showers_match_the_stored_fingerprint(stored: dict, now: dict) -> None:
    assert set(now["cases"]) == set(stored["cases"])
    changed = []
    for key, ref in stored["cases"].items():
        cur = now["cases"][key]
        scale = max(ref["total_mean"], 1e-9)
        for name in ("total_mean", "total_std"):
            if not np.isclose(cur[name], ref[name], rtol=RTOL, atol=RTOL * scale):
                changed.append(f"{key} {name}: {ref[name]:.6g} -> {cur[name]:.6g}")
        layers_ok = np.allclose(cur["layers"], ref["layers"], rtol=RTOL, atol=RTOL * scale)
        if not layers_ok:
            i = int(np.argmax(np.abs(np.subtract(cur["layers"], ref["layers"]))))
            changed.append(f"{key} layer {i}: {ref['layers'][i]:.6g} -> {cur['layers'][i]:.6g}")
    assert not changed, (
        "the showers changed while the physics model versions did not:\n  "
        + "\n  ".join(changed)
        + "\nbump the version in src/calolab/physics/versions.py and regenerate with "
        "'python scripts/fingerprint.py --write'"
    )


def test_fingerprint_is_sensitive_to_a_physics_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1 % change of GFlash's e/mip coefficient moves the sampling-calorimeter case far
    beyond the tolerance: the test can fail."""
    import calolab.simulation.fingerprint as fp
    from calolab.physics import sampling

    monkeypatch.setattr(fp, "CASES", fp.CASES[:1])  # e- in course_pbscint
    key = fp.case_key(*fp.CASES[0][:3])
    base = fp.physics_fingerprint()["cases"][key]
    assert fp.physics_fingerprint()["cases"][key] == base  # deterministic in-process
    monkeypatch.setattr(sampling, "EHAT_COEFF", sampling.EHAT_COEFF * 1.01)
    moved = fp.physics_fingerprint()["cases"][key]
    assert not np.isclose(moved["total_mean"], base["total_mean"], rtol=RTOL)

"""Shared fixtures: Geant4 reference showers, small detectors, a CLI runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def geant4_reference_dir() -> Path:
    """The Geant4 reference showers: $CALOLAB_GEANT4_REFERENCE or the set shipped with calolab."""
    from calolab.simulation.validation import default_reference_dir

    return default_reference_dir()


@pytest.fixture(scope="session")
def g4ref():
    """Loader of Geant4 reference files: ``g4ref("V1", "e-", 20)`` -> (arrays, meta)."""
    base = geant4_reference_dir()
    if not base.exists():
        pytest.skip(f"Geant4 reference showers not found at {base} (set CALOLAB_GEANT4_REFERENCE)")

    def load(config: str, particle: str, energy: int):
        d = np.load(base / f"{config}_{particle}_{energy}GeV.npz")
        return d, json.loads(str(d["meta"]))

    return load


def run_cli(
    *args: str, cwd: Path | None = None, check: bool = False
) -> subprocess.CompletedProcess:
    """Run ``calolab ARGS`` in a subprocess (as a user would)."""
    proc = subprocess.run(
        [sys.executable, "-m", "calolab.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "120"},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"calolab {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def cli():
    return run_cli

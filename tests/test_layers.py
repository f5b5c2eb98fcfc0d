"""The floor plan (ARCHITECTURE.md) is enforced: the import contract holds, and it fails when
a package imports one above it — also from inside a function."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed")


def _lint(src: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_contract_holds() -> None:
    out = _lint(ROOT / "src", ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("core/files.py", "calolab.cli.main"),  # library code importing the CLI
        ("simulation/run.py", "calolab.training"),  # a stage importing one above it
    ],
)
def test_contract_fails_on_an_upward_import(tmp_path: Path, module: str, upward: str) -> None:
    src = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "calolab", src / "calolab", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = src / "calolab" / module
    # an import placed inside a function: the kind that used to hide cycles
    target.write_text(
        target.read_text() + f"\n\ndef _upward() -> None:\n    import {upward}  # noqa\n"
    )
    out = _lint(src, tmp_path)
    assert out.returncode != 0, out.stdout
    assert "BROKEN" in out.stdout or "broken" in out.stdout

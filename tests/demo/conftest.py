"""The quick demo, run once per test session (as a user would, through the CLI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli


@pytest.fixture(scope="session")
def quick_demo(tmp_path_factory) -> Path:
    """Output directory of ``calolab demo --quick`` (tests using it share an xdist group)."""
    out = tmp_path_factory.mktemp("demo") / "calolab-demo"
    proc = run_cli("demo", "--quick", "--no-progress", "-o", str(out))
    assert proc.returncode == 0, f"calolab demo --quick failed:\n{proc.stdout}\n{proc.stderr}"
    return out

"""The quick demo, run once per test session (as a user would, through the CLI)."""

from __future__ import annotations

from pathlib import Path

import pytest
from filelock import FileLock

from tests.conftest import run_cli


@pytest.fixture(scope="session")
def quick_demo(tmp_path_factory, worker_id) -> Path:
    """Output directory of ``calolab demo --quick``.

    Run once for the whole session even with pytest-xdist: the workers share a directory and
    a lock (the pattern of the pytest-xdist documentation), so a worker that needs the demo
    while another one builds it waits and then reuses it.
    """
    root = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        root = root.parent  # shared by all workers of this run
    out = root / "quick-demo" / "calolab-demo"
    with FileLock(str(root / "quick-demo.lock")):
        if not (out / "demo.json").exists():  # written last
            proc = run_cli("demo", "--quick", "--no-progress", "-o", str(out))
            assert (
                proc.returncode == 0
            ), f"calolab demo --quick failed:\n{proc.stdout}\n{proc.stderr}"
    return out

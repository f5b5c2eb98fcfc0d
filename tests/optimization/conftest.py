from __future__ import annotations

import pytest

from tests.optimization.tiny import make_study


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory):
    """One tiny study (9 trials, 40 showers per point), shared read-only by the tests."""
    return make_study(tmp_path_factory.mktemp("study") / "s", trials=9)

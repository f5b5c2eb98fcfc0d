"""One torch thread per test process: the suite runs with pytest-xdist on a shared 2-core
machine, where two threads per process only contend (and each test's model is tiny)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread():
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

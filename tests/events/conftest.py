"""Fixtures for the event-image tests: the real Delphes tt̄ file and synthetic objects."""

from __future__ import annotations

import numpy as np
import pytest

from calolab.events.objects import EventObjects, ragged_from_counts


@pytest.fixture(scope="session")
def delphes_file() -> str:
    """The offline Delphes tt̄ sample of scikit-hep-testdata 0.3.12 (10 events, no Tower
    branch: EFlowPhoton/EFlowNeutralHadron/EFlowTrack/Track)."""
    skhep_testdata = pytest.importorskip("skhep_testdata")
    return str(skhep_testdata.data_path("uproot-issue513.root"))


def make_objects(rng: np.random.Generator, n: int = 20, eta_max: float = 3.5) -> EventObjects:
    """Random towers and tracks of ``n`` events, some outside |η| < 2.5."""
    nt = rng.integers(0, 60, n)
    nk = rng.integers(0, 30, n)
    towers = ragged_from_counts(
        nt,
        {
            "eta": rng.uniform(-eta_max, eta_max, nt.sum()).astype(np.float32),
            "phi": rng.uniform(-np.pi, np.pi, nt.sum()).astype(np.float32),
            "et_em": rng.exponential(5.0, nt.sum()).astype(np.float32),
            "et_had": rng.exponential(8.0, nt.sum()).astype(np.float32),
        },
    )
    tracks = ragged_from_counts(
        nk,
        {
            "pt": rng.exponential(4.0, nk.sum()).astype(np.float32),
            "eta": rng.uniform(-eta_max, eta_max, nk.sum()).astype(np.float32),
            "phi": rng.uniform(-np.pi, np.pi, nk.sum()).astype(np.float32),
        },
    )
    return EventObjects(towers, tracks, {"event_number": np.arange(n)})


@pytest.fixture
def objects() -> EventObjects:
    return make_objects(np.random.default_rng(7))

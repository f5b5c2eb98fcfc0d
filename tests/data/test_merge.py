"""Merging shower files: streamed one input at a time, byte-exact, atomic."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from calolab.core.errors import DataError, OutputError
from calolab.data import ShowerFile, ShowerWriter, read_showers
from calolab.data.merge import MergeWriter, merge_files
from calolab.simulation import ParticleGun, simulate

DET = "course_pbwo4"


@pytest.fixture(scope="module", params=["dense", "sparse"])
def parts(tmp_path_factory, request):
    """Three files of 10 + 10 + 7 events and the same 27 events in one file."""
    d = tmp_path_factory.mktemp(request.param)
    s = simulate(DET, ParticleGun("pi0", "5:30", vertex_distance_cm=40), 27, seed=3)
    paths = []
    for i, (a, b) in enumerate(((0, 10), (10, 20), (20, 27))):
        paths.append(d / f"p{i}.h5")
        with ShowerWriter(paths[-1], s.detector, s.provenance, layout=request.param) as w:
            w.append(s.subset(slice(a, b)))
    with ShowerWriter(d / "all.h5", s.detector, s.provenance, layout=request.param) as w:
        w.append(s)
    return paths, d / "all.h5"


def test_inputs_appended_one_at_a_time_give_the_single_file(tmp_path, parts):
    paths, whole = parts
    out = tmp_path / "m.h5"
    merged = MergeWriter(out, inputs=paths)
    for i, p in enumerate(paths):
        merged.append(p)
        assert merged.n_inputs == i + 1 and not out.exists()  # a temporary file until commit
    assert merged.n_events == 27
    merged.commit()
    a, b = read_showers(out), read_showers(whole)
    np.testing.assert_array_equal(a.cells, b.cells)
    np.testing.assert_array_equal(a.energy, b.energy)
    np.testing.assert_array_equal(
        a.records["decay_photons"].offsets, b.records["decay_photons"].offsets
    )
    with ShowerFile(out) as f, ShowerFile(whole) as g:
        assert len(f) == 27 and f.layout == g.layout
    assert os.listdir(tmp_path) == ["m.h5"]  # no temporary file, no lock file


def test_a_failed_or_abandoned_merge_leaves_nothing(tmp_path, parts):
    paths, _ = parts
    merged = MergeWriter(tmp_path / "m.h5", inputs=paths)
    merged.append(paths[0])
    merged.abort()
    assert os.listdir(tmp_path) == []

    def reject_second(i, f):
        if i == 1:
            raise DataError(f"'{f.path}' is not wanted")

    with pytest.raises(DataError, match="is not wanted"):
        merge_files(paths, tmp_path / "m.h5", check=reject_second)
    assert os.listdir(tmp_path) == []
    with pytest.raises(DataError, match="no input was appended"):
        MergeWriter(tmp_path / "m.h5").commit()
    with pytest.raises(OutputError, match="is also an input"):
        MergeWriter(paths[1], inputs=paths)
    # an input that is not a shower file
    junk = tmp_path / "junk.h5"
    with h5py.File(junk, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(DataError, match="no 'incident_energies'"):
        merge_files([paths[0], junk], tmp_path / "m.h5")
    assert not (tmp_path / "m.h5").exists()

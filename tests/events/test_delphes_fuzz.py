"""Hostile Delphes ROOT files: the importer gives a clear CalolabError (or valid objects),
never another exception.

Property-based (hypothesis), derandomized with a fixed number of examples so that CI is
reproducible and bounded in time. Inputs: TTrees written with uproot whose branches are drawn
at random from the Delphes collections the importer reads (missing fields, collections whose
fields disagree on the number of entries, integer or flat (non-jagged) branches, NaN/inf,
negative and sentinel values), and the real Delphes test file (scikit-hep-testdata)
truncated at any byte or with bytes flipped or zeroed.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calolab.core.errors import CalolabError
from calolab.events.delphes import import_delphes, read_delphes

uproot = pytest.importorskip("uproot")
ak = pytest.importorskip("awkward")

FUZZ = settings(
    max_examples=60,
    deadline=timedelta(seconds=10),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

COLLECTIONS = {
    "Tower": ("ET", "Eta", "Phi", "Eem", "Ehad"),
    "EFlowPhoton": ("ET", "Eta", "Phi", "Eem", "Ehad"),
    "EFlowNeutralHadron": ("ET", "Eta", "Phi"),
    "EFlowTrack": ("PT", "Eta", "Phi", "EtaOuter", "PhiOuter"),
    "Track": ("PT", "Eta", "Phi"),
}
VALUES = st.one_of(
    st.floats(-10.0, 500.0),
    st.sampled_from([0.0, -1.0, 999.9, -999.9, np.inf, -np.inf, np.nan, 1e30, 3.0e38]),
)


@st.composite
def delphes_tree(draw) -> dict[str, object]:
    """Branches '<collection>.<field>' of a TTree 'Delphes' with a few events."""
    n_events = draw(st.integers(0, 4))
    branches: dict[str, object] = {}
    for coll in draw(st.lists(st.sampled_from(list(COLLECTIONS)), unique=True, max_size=4)):
        fields = draw(
            st.lists(st.sampled_from(COLLECTIONS[coll]), unique=True, min_size=1, max_size=5)
        )
        counts = draw(st.lists(st.integers(0, 4), min_size=n_events, max_size=n_events))
        for field in fields:
            c = counts
            if draw(st.integers(0, 9)) == 0:  # this field disagrees on the number of entries
                c = [k + draw(st.integers(0, 2)) for k in counts]
            values = draw(st.lists(VALUES, min_size=sum(c), max_size=sum(c)))
            kind = draw(st.sampled_from(["float32", "float32", "float32", "float64", "int32"]))
            flat = np.asarray(values, dtype=np.float64)
            with np.errstate(all="ignore"):
                flat = flat.astype(kind) if kind != "int32" else np.nan_to_num(flat).astype(kind)
            if draw(st.integers(0, 14)) == 0:  # one value per event instead of a list
                branches[f"{coll}.{field}"] = flat[:n_events] if len(flat) >= n_events else None
            else:
                branches[f"{coll}.{field}"] = ak.unflatten(flat, np.asarray(c, dtype=np.int64))
    return {k: v for k, v in branches.items() if v is not None}


def write_tree(path, branches: dict[str, object]) -> None:
    with uproot.recreate(path) as f:
        types = {
            k: (f"var * {v.type.content.content}" if isinstance(v, ak.Array) else v.dtype)
            for k, v in branches.items()
        }
        t = f.mktree("Delphes", types or {"Event.Number": np.int64})
        t.extend(branches or {"Event.Number": np.zeros(0, np.int64)})


def use(path, out, entries: int | None = None) -> None:
    """Read and import ``path`` as calolab does; only CalolabError may come out."""
    for tracks in (None, "none"):
        try:
            obj, stats, _ = read_delphes(path, tracks=tracks, entry_stop=entries)
        except CalolabError:
            continue
        assert stats.n_events == len(obj)
        for rec in (obj.towers, obj.tracks):
            assert all(np.isfinite(v).all() for v in rec.columns.values())
    out.unlink(missing_ok=True)
    try:
        import_delphes(path, out, tracks="none", max_events=entries)
    except CalolabError:
        assert not out.exists()  # never a half-written file


@FUZZ
@given(branches=delphes_tree())
def test_malformed_delphes_trees(tmp_path, branches):
    path = tmp_path / "fuzz.root"
    try:
        write_tree(path, branches)
    except (ValueError, TypeError):  # uproot cannot write this combination: not a file
        return
    use(path, tmp_path / "images.h5")


@pytest.fixture(scope="module")
def delphes_path() -> str:
    skhep_testdata = pytest.importorskip("skhep_testdata")
    return str(skhep_testdata.data_path("uproot-issue513.root"))  # 10 tt̄ events, 3.5 MB


@settings(FUZZ, max_examples=30, deadline=timedelta(seconds=60))
@given(data=st.data())
def test_truncated_or_corrupted_delphes_files(tmp_path, delphes_path, data):
    with open(delphes_path, "rb") as fh:
        blob = bytearray(fh.read())
    kind = data.draw(st.sampled_from(["truncate", "flip", "zero"]))
    if kind == "truncate":
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    elif kind == "flip":
        mask = data.draw(st.integers(1, 255))
        for i in data.draw(st.lists(st.integers(0, len(blob) - 1), min_size=1, max_size=8)):
            blob[i] ^= mask
    else:
        a = data.draw(st.integers(0, len(blob) - 1))
        n = min(len(blob) - a, data.draw(st.integers(1, 4096)))
        blob[a : a + n] = bytes(n)
    path = tmp_path / "damaged.root"
    path.write_bytes(bytes(blob))
    use(path, tmp_path / "images.h5", entries=3)


def _towers(counts, **override):
    cols = {
        f"Tower.{x}": ak.unflatten(np.ones(sum(counts), np.float32), np.asarray(counts))
        for x in COLLECTIONS["Tower"]
    }
    cols.update(override)
    return cols


@pytest.mark.parametrize(
    "branches,message",
    [
        (  # Tower.Eta has an entry more than Tower.ET in event 1
            _towers([2, 1], **{"Tower.Eta": ak.Array([[0.0, 0.1], [0.0, 0.2]])}),
            r"'Tower.Eta' has 2 entries in event 1 where the other fields of 'Tower' have 1",
        ),
        (  # one number per event instead of a list
            _towers([1, 1], **{"Tower.Phi": np.zeros(2, np.float32)}),
            "'Tower.Phi' is not a list of numbers per event",
        ),
    ],
)
def test_inconsistent_collections_are_named(tmp_path, branches, message):
    path = tmp_path / "bad.root"
    write_tree(path, branches)
    with pytest.raises(CalolabError, match=message):
        read_delphes(path, tracks="none")
    with pytest.raises(CalolabError, match=message):
        import_delphes(path, tmp_path / "out.h5", tracks="none")
    assert not (tmp_path / "out.h5").exists()

"""Hostile HDF5 files: the readers give a clear DataError (or valid showers), never a crash.

Property-based (hypothesis), derandomized and with a fixed number of examples, so that CI is
reproducible and bounded in time. Three families of inputs:

* structural: files built from a random description — missing datasets, wrong dtypes
  (int, bool, complex, strings, compound), wrong shapes, NaN/inf energies, damaged metadata,
  invalid ragged-record offsets;
* byte-level: a valid calolab file truncated at any byte, or with bytes flipped or zeroed;
* absurd sizes: datasets declaring petabytes, read with bounded memory.
"""

from __future__ import annotations

import json
import tracemalloc
from datetime import timedelta

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calolab.core.errors import CalolabError, DataError
from calolab.data import ShowerFile, Showers, read_showers
from calolab.data.hdf5 import ReadLimits
from calolab.data.showers import TRUTH_FIELDS
from calolab.geometry import Calorimeter, Layer, Section
from calolab.simulation import Digitizer, ParticleGun, simulate

FUZZ = settings(
    max_examples=120,
    deadline=timedelta(seconds=5),  # per example; typical examples take a few ms
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def tiny_detector_toml(cells: int) -> str:
    """A detector with ``cells`` readout channels (one per layer)."""
    return (
        "name = 'tiny'\ntransverse_size_cm = [1.0, 1.0]\n[[sections]]\nname = 'e'\n"
        f"cell_size_cm = [1.0, 1.0]\nrepeat = {cells}\n"
        "layers = [{ material = 'PbWO4', thickness_cm = 1.0, sensitive = true }]\n"
    )


VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1.0, -1.0, 5e4, 1e300]),
)
BAD_DTYPES = st.sampled_from(["i4", "u1", "?", "c8", "S3", "compound"])


@st.composite
def per_event_array(draw, n: int, row: tuple[int, ...], dtype: str) -> np.ndarray:
    """Mostly a valid (n, *row) array; sometimes a wrong shape, dtype or a scalar."""
    kind = draw(st.sampled_from(["ok", "ok", "ok", "shape", "dtype", "scalar"]))
    shape = (n, *row)
    if kind == "shape":
        shape = draw(st.sampled_from([(n + 1, *row), (max(n - 1, 0), *row), (n,), (n, 2, 2)]))
    elif kind == "scalar":
        shape = ()
    elif kind == "dtype":
        dtype = draw(BAD_DTYPES)
    size = int(np.prod(shape))
    values = np.array(draw(st.lists(VALUES, min_size=size, max_size=size)), dtype=np.float64)
    values = values.reshape(shape)
    if dtype == "compound":
        return np.zeros(shape, dtype=[("a", "f4"), ("b", "i4")])
    with np.errstate(all="ignore"):
        return values.astype("S3" if dtype == "S3" else dtype)


@st.composite
def sparse_cells(draw, group: str, n: int, cells: int) -> dict[str, np.ndarray]:
    """The sparse cell arrays of ``n`` events: mostly valid, sometimes damaged (starts after
    stops, out of the arrays, too many entries, cells out of range, wrong dtypes or shapes)."""
    counts = np.array(draw(st.lists(st.integers(0, cells), min_size=n, max_size=n)), np.int64)
    stops = np.cumsum(counts) + draw(st.integers(0, 3))  # sometimes a gap first
    starts = stops - counts
    m = int(stops[-1]) if n else 0
    parts = [np.sort(draw(st.permutations(range(cells)))[:c]) for c in counts]
    index = np.concatenate(parts).astype(np.int32) if n else np.zeros(0, np.int32)
    index = np.concatenate([np.zeros(m - len(index), np.int32), index])  # the gap
    with np.errstate(over="ignore"):
        energy = np.array(draw(st.lists(VALUES, min_size=m, max_size=m)), dtype=np.float32)
    damage = draw(
        st.sampled_from(
            ["none", "none", "none", "reversed", "outside", "many", "cell", "dtype", "short"]
        )
    )
    if n and damage == "reversed":
        starts, stops = stops, starts
    elif n and damage == "outside":
        stops[-1] = 10**15
    elif n and damage == "many":
        starts[0], stops[0] = 0, m + cells + 1
        index = np.zeros(m + cells + 1, np.int32)
        energy = np.ones(m + cells + 1, np.float32)
    elif m and damage == "cell":
        index[-1] = draw(st.sampled_from([cells, -1, 2**31 - 1]))
    elif damage == "dtype":
        energy = energy.astype("S3")
    elif damage == "short":
        starts = starts[:-1]
    return {
        f"{group}/starts": starts,
        f"{group}/stops": stops,
        f"{group}/index": index,
        f"{group}/energy": energy,
    }


@st.composite
def hdf5_layout(draw) -> tuple[dict[str, np.ndarray], str, dict[str, object]]:
    n = draw(st.integers(0, 4))
    cells = draw(st.integers(1, 4))
    datasets: dict[str, np.ndarray] = {}
    if draw(st.integers(0, 9)):
        datasets["incident_energies"] = draw(per_event_array(n, (1,), "f8"))
    calolab = draw(st.sampled_from(["none", "group", "group", "group", "dataset"]))
    sparse = calolab == "group" and draw(st.booleans())
    if draw(st.integers(0, 9)) and not sparse:
        datasets["showers"] = draw(per_event_array(n, (cells,), "f4"))
    meta: dict[str, object] = {}
    if sparse:
        datasets.update(draw(sparse_cells("calolab/sparse", n, cells)))
        meta["n_cells"] = draw(st.sampled_from([cells, cells, cells, 0, -1, "x", 2**62, None]))
    if calolab == "group":
        fields = draw(st.lists(st.sampled_from([*TRUTH_FIELDS, "other"]), unique=True))
        for k in fields:
            row = (3,) if k in ("direction", "entry_point") else ()
            datasets[f"calolab/truth/{k}"] = draw(per_event_array(n, row, "f8"))
        if draw(st.booleans()):
            datasets["calolab/extras/x"] = draw(per_event_array(n, (), "f8"))
        if draw(st.booleans()):
            counts = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
            off = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            damage = draw(
                st.sampled_from(["none", "none", "negative", "reversed", "huge", "short"])
            )
            if damage == "negative":
                off[-1] = -5
            elif damage == "reversed":
                off = off[::-1].copy()
            elif damage == "huge":
                off[-1] = 10**15
            elif damage == "short":
                off = off[:-1]
            datasets["calolab/records/r/offsets"] = off
            datasets["calolab/records/r/e"] = np.ones(int(sum(counts)))
        if draw(st.booleans()):
            if sparse:
                datasets.update(draw(sparse_cells("calolab/digitized/sparse", n, cells)))
            else:
                datasets["calolab/digitized/showers"] = draw(per_event_array(n, (cells,), "f4"))
        meta["toml"] = draw(
            st.sampled_from(
                [
                    tiny_detector_toml(cells),
                    tiny_detector_toml(cells).encode(),
                    tiny_detector_toml(cells + 1),  # wrong number of channels
                    "[[[",
                    7,
                    None,
                ]
            )
        )
        meta["json"] = draw(st.sampled_from([json.dumps({"seed": 1}), "{", "[1, 2]", 3, None]))
        if draw(st.integers(0, 5)) == 0:  # a dataset where the truth group belongs
            datasets = {k: v for k, v in datasets.items() if not k.startswith("calolab/truth")}
            datasets["calolab/truth"] = np.zeros(3)
    return datasets, calolab, meta


def write_layout(path, layout) -> None:
    datasets, calolab, meta = layout
    with h5py.File(path, "w") as f:
        if calolab == "dataset":
            f["calolab"] = np.zeros(2)
        elif calolab == "group":
            g = f.create_group("calolab")
            if meta["toml"] is not None:
                g.create_group("detector").attrs["toml"] = meta["toml"]
            if meta["json"] is not None:
                g.create_group("provenance").attrs["json"] = meta["json"]
        for name, data in datasets.items():
            f[name] = data
        for group in ("calolab/sparse", "calolab/digitized/sparse"):
            if group in f and meta.get("n_cells") is not None:
                f[group].attrs["n_cells"] = meta["n_cells"]


def read_everything(path) -> int:
    """Use the file the way calolab does; returns the number of events read."""
    n = 0
    with ShowerFile(path) as sf:
        for batch in sf.iter_batches(2):
            n += len(batch)
            assert np.isfinite(batch.cells).all() and np.isfinite(batch.energy).all()
            assert batch.layer_energies().shape == (len(batch), len(batch.layer_sizes))
            for rec in batch.records.values():
                for i in range(len(batch)):
                    rec.event(i)
        assert n == len(sf)
    s = read_showers(path)
    s.subset(np.arange(len(s))[::2])
    with ShowerFile(path) as sf:  # the training path: cells only, in spans, some columns
        spans = [(0, len(sf)), (len(sf) // 2, len(sf)), (1, 1)]
        for digitized in (False, True) if sf.has_digitized else (False,):
            for got, (a, b) in zip(sf.read_cell_spans(spans, digitized=digitized), spans):
                want = s.digitized if digitized else s.cells
                np.testing.assert_array_equal(got, want[a:b])
            if sf.n_cells > 1:
                got = sf.read_cells(0, len(sf), (1, sf.n_cells), digitized)
                np.testing.assert_array_equal(got, (s.digitized if digitized else s.cells)[:, 1:])
    return n


@FUZZ
@given(layout=hdf5_layout())
def test_malformed_files_raise_data_error(tmp_path, layout):
    path = tmp_path / "fuzz.h5"
    write_layout(path, layout)
    try:
        read_everything(path)
    except CalolabError:
        pass  # a clear error is the expected outcome for most of these files


@pytest.fixture(scope="module", params=["dense", "sparse"])
def valid_file_bytes(tmp_path_factory, request) -> bytes:
    """A small calolab file with every kind of content: truth, ragged records, digitised;
    in both cell layouts."""
    path = tmp_path_factory.mktemp("fuzz") / "valid.h5"
    det = Calorimeter("small", 4.0, [Section("e", [Layer("PbWO4", 1.0, True)], repeat=10)])
    gun = ParticleGun("pi0", "5:20", vertex_distance_cm=20)
    showers = simulate(det, gun, 6, seed=1, digitizer=Digitizer())
    showers.save(path, layout=request.param)
    assert read_everything(path) == 6
    return path.read_bytes()


@FUZZ
@given(data=st.data())
def test_truncated_or_corrupted_files_raise_data_error(tmp_path, valid_file_bytes, data):
    blob = bytearray(valid_file_bytes)
    size = len(blob)
    kind = data.draw(st.sampled_from(["truncate", "flip", "zero"]))
    if kind == "truncate":
        blob = blob[: data.draw(st.integers(0, size - 1))]
    elif kind == "flip":
        mask = data.draw(st.integers(1, 255))
        for i in data.draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=8)):
            blob[i] ^= mask
    else:
        a = data.draw(st.integers(0, size - 1))
        blob[a : a + data.draw(st.integers(1, 4096))] = bytes(len(blob[a : a + 4096]))[
            : len(blob[a : a + 4096])
        ]
    path = tmp_path / "damaged.h5"
    path.write_bytes(bytes(blob))
    try:
        read_everything(path)
    except CalolabError:
        pass


def _absurd_file(path, n_events: int, n_cells: int) -> None:
    """Datasets declaring an enormous size; HDF5 allocates nothing until data is written."""
    with h5py.File(path, "w") as f:
        rows = min(n_events, 1024)
        f.create_dataset("incident_energies", shape=(n_events, 1), dtype="f8", chunks=(rows, 1))
        f.create_dataset(
            "showers", shape=(n_events, n_cells), dtype="f4", chunks=(1, min(n_cells, 1 << 16))
        )


@pytest.mark.parametrize("n_events,n_cells", [(2**40, 8), (2**20, 2**24), (4, 2**40)])
def test_absurd_sizes_fail_with_bounded_memory(tmp_path, n_events, n_cells):
    path = tmp_path / "absurd.h5"
    _absurd_file(path, n_events, n_cells)
    # the declared size is refused when the file is opened: nothing of it is stored
    with pytest.raises(DataError, match="declares .* stored.*max_inflation"):
        ShowerFile(path)
    with pytest.raises(DataError, match="max_inflation"):
        Showers.load(str(path))
    # with the limits lifted (a file one trusts), reads are still bounded
    lifted = ReadLimits(max_inflation=0, max_memory_bytes=1 << 62)
    tracemalloc.start()
    try:
        with ShowerFile(path, limits=lifted) as sf:
            assert len(sf) == n_events and sf.n_cells == n_cells
            with pytest.raises(DataError, match="GiB.*iter_batches"):
                sf.read()
            with pytest.raises(DataError, match="GiB"):
                next(sf.iter_batches(1 << 40))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"{peak / 2**20:.0f} MiB allocated"
    with ShowerFile(path, max_read_bytes=1 << 20, limits=lifted) as sf:  # a smaller limit
        with pytest.raises(DataError, match="max_read_bytes"):
            sf.read(0, 2**20)


@pytest.mark.parametrize(
    "target,value,message",
    [
        ("showers", np.zeros((3, 0), "f4"), "no cells"),
        ("showers", np.zeros((3, 2), "c8"), "non-numeric dtype"),
        ("incident_energies", np.ones((3, 1, 1)), "expected \\(3, 1\\)"),
        ("calolab/truth/energy", np.ones(4), "expected 3 rows"),
        ("calolab/truth/direction", np.ones((3, 2)), r"expected \(3, 3\)"),
        ("calolab/truth/pdg", np.array([b"a", b"b", b"c"]), "non-numeric dtype"),
        ("calolab/records/r/offsets", np.array([0, 2, 1, 3]), "invalid offsets"),
        ("calolab/records/r/offsets", np.array([0.0, 1.0, 2.0, 3.0]), "integer 'offsets'"),
        ("calolab/provenance@json", "[1]", "a JSON list"),
        ("calolab/provenance@json", "{", "metadata is damaged"),
        ("calolab/detector@toml", 5, "metadata is damaged"),
        ("calolab/detector@toml", tiny_detector_toml(3), "has 3 channels"),
        ("calolab/digitized/showers", np.ones((3, 3)), "digitised showers have shape"),
        ("incident_energies", np.array([[1.0], [np.inf], [2.0]]), "infinite values in event 1"),
        ("showers", np.array([[1, 0], [0, 1], [np.nan, 0]], "f4"), "NaN .* in event 2"),
    ],
)
def test_specific_damage_is_named(tmp_path, target, value, message):
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        f["incident_energies"] = np.ones((3, 1))
        f["showers"] = np.ones((3, 2), dtype="f4")
        f.create_group("calolab/detector").attrs["toml"] = tiny_detector_toml(2)
        f.create_group("calolab/provenance").attrs["json"] = "{}"
        f["calolab/records/r/e"] = np.ones(3)
        f["calolab/records/r/offsets"] = np.array([0, 1, 2, 3])
        if "@" in target:
            group, key = target.split("@")
            f[group].attrs[key] = value
        else:
            if target in f:
                del f[target]
            f[target] = value
    with pytest.raises(DataError, match=message) as info:
        read_everything(path)
    assert str(path) in str(info.value)


def _sparse_file(path, starts, stops, index, energy, n_cells=2, n=3, **kw):
    with h5py.File(path, "w") as f:
        f["incident_energies"] = np.ones((n, 1))
        g = f.create_group("calolab/sparse")
        g.attrs["n_cells"] = n_cells
        for name, data in (("starts", starts), ("stops", stops), ("index", index)):
            g.create_dataset(name, data=np.asarray(data), **kw)
        g.create_dataset("energy", data=np.asarray(energy, dtype="f4"), **kw)


@pytest.mark.parametrize(
    "arrays,message",
    [
        (([0, 1, 3], [1, 3, 2], [0, 1, 0], [1, 2, 3]), "invalid starts/stops"),  # stop < start
        (([0, 1, 2], [1, 2, 9], [0, 1, 0], [1, 2, 3]), "invalid starts/stops"),  # beyond
        (([0, 0, 0], [3, 0, 0], [0, 1, 0], [1, 2, 3]), "invalid starts/stops"),  # 3 > 2 cells
        (([-1, 1, 2], [1, 2, 3], [0, 1, 0], [1, 2, 3]), "invalid starts/stops"),
        (([0, 1, 2], [1, 2, 3], [0, 2, 0], [1, 2, 3]), "cell indices outside 0..1"),
        (([0, 1, 2], [1, 2, 3], [0, -1, 0], [1, 2, 3]), "cell indices outside 0..1"),
        (([0, 1, 2], [1, 2, 3], [0, 1, 0], [1, 2]), "differ in length"),
        (([0, 1], [1, 2], [0, 1], [1, 2]), r"expected 3 rows"),
        (([0.0, 1, 2], [1, 2, 3], [0, 1, 0], [1, 2, 3]), "must be a 1-D integer dataset"),
        (([0, 1, 2], [1, 2, 3], [0, 1, 0], [1, np.nan, 3]), "NaN or infinite values in event 1"),
    ],
)
def test_sparse_damage_is_named(tmp_path, arrays, message):
    path = tmp_path / "s.h5"
    _sparse_file(path, *arrays)
    with pytest.raises(DataError, match=message) as info:
        read_everything(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "n_cells,message", [(0, "n_cells 0"), ("x", "n_cells"), (None, "no 'n_cells'")]
)
def test_sparse_cell_count_must_be_given(tmp_path, n_cells, message):
    path = tmp_path / "s.h5"
    _sparse_file(path, [0], [1], [0], [1.0], n=1)
    with h5py.File(path, "r+") as f:
        if n_cells is None:
            del f["calolab/sparse"].attrs["n_cells"]
        else:
            f["calolab/sparse"].attrs["n_cells"] = n_cells
    with pytest.raises(DataError, match=message):
        ShowerFile(path)


def test_sparse_entries_declaring_absurd_ranges_are_bounded(tmp_path):
    """starts/stops that span petabytes of (never written) entries: refused by size, with
    bounded memory, whatever the limits."""
    path = tmp_path / "absurd.h5"
    with h5py.File(path, "w") as f:
        f["incident_energies"] = np.ones((2, 1))
        g = f.create_group("calolab/sparse")
        g.attrs["n_cells"] = 2**40
        g["starts"] = np.array([0, 2**49])
        g["stops"] = np.array([2**40, 2**49 + 2**40])
        for name, dtype in (("index", "i4"), ("energy", "f4")):
            g.create_dataset(
                name, shape=(2**50,), dtype=dtype, chunks=(1 << 16,), compression="gzip"
            )
    with pytest.raises(DataError, match="declares .* stored.*max_inflation"):
        ShowerFile(path)
    lifted = ReadLimits(max_inflation=0, max_memory_bytes=1 << 62)
    tracemalloc.start()
    try:
        with ShowerFile(path, limits=lifted, max_read_bytes=1 << 30) as sf:
            with pytest.raises(DataError, match="GiB"):
                sf.read(0, 1)
            with pytest.raises(DataError, match="GiB"):
                sf.read_cells(0, 1, (0, 4))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"{peak / 2**20:.0f} MiB allocated"

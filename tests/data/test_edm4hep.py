"""EDM4hep import: podio 1.1–1.7 files, cell mapping by cellID and by position, truth, units,
streaming, errors."""

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from calolab.core.errors import ConfigError, DataError, OutputError
from calolab.data import Showers
from calolab.data.edm4hep import (
    CellMapping,
    PositionMapping,
    import_edm4hep,
    inspect_edm4hep,
    read_edm4hep,
)
from calolab.geometry import Calorimeter, Layer, Section, preset
from calolab.simulation import ParticleGun, simulate
from tests.data.edm4hep_files import ENCODING, write_edm4hep

DATA = Path(__file__).parent / "edm4hep"
#: The five podio/EDM4hep versions of coffea's example files.
EXAMPLES = sorted(DATA.glob("edm4hep_example_*.root"))
ILD = DATA / "edm4hep_ILD_mumuH_v01-00_podio_v01-07_10ev.root"


def _direct(path: Path, collection: str) -> dict[str, ak.Array]:
    """What uproot reads directly from the file."""
    with uproot.open(path) as f:
        t = f["events"]
        return {
            m: t[f"{collection}/{collection}.{m}"].array()
            for m in ("cellID", "energy", "position.x", "position.y", "position.z")
        }


def test_there_are_five_podio_versions():
    infos = [inspect_edm4hep(p) for p in EXAMPLES]
    versions = {(i.podio_version, i.edm4hep_version) for i in infos}
    assert versions == {
        ("1.1.0", "0.99.1"),
        ("1.3.0", "0.99.2"),
        ("1.6.0", "0.99.3"),
        ("1.6.0", "0.99.4"),
        ("1.7.99", "1.1.0"),
    }


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name[17:-5] for p in EXAMPLES])
@pytest.mark.parametrize("collection", ["SimCalorimeterHitCollection", "CalorimeterHitCollection"])
def test_examples_import_what_uproot_reads(tmp_path, path, collection):
    out = tmp_path / "o.h5"
    res = import_edm4hep(path, out, collection=collection, primary_status=43)
    direct = _direct(path, collection)
    counts = ak.num(direct["energy"]).to_numpy()
    s = Showers.load(out)
    hits = s.records["hits"]
    np.testing.assert_array_equal(np.diff(hits.offsets), counts)
    np.testing.assert_array_equal(hits.columns["cellID"], ak.flatten(direct["cellID"]).to_numpy())
    np.testing.assert_array_equal(
        hits.columns["energy"], ak.flatten(direct["energy"]).to_numpy().astype(np.float64)
    )
    for c in "xyz":  # mm → cm
        np.testing.assert_allclose(
            hits.columns[c], ak.flatten(direct[f"position.{c}"]).to_numpy() / 10.0, rtol=1e-6
        )
    sums = ak.sum(direct["energy"], axis=1).to_numpy()
    np.testing.assert_allclose(s.truth["visible"], sums, rtol=1e-6)
    np.testing.assert_allclose(s.cells[:, 0], sums, rtol=1e-6)  # one cell: the summed energy
    assert res.n_hits == counts.sum() and res.n_events == len(counts)
    # times: the CalorimeterHit member, or the energy-weighted contributions of a sim hit
    assert np.all(
        hits.columns["time"] == (45.0 if collection == "CalorimeterHitCollection" else 44.0)
    )
    # truth: the MC particle of the chosen status; E = √(p² + m²)
    assert np.all(s.pdg == 42)
    assert s.energy[0] == pytest.approx(np.sqrt(54**2 + 55**2 + 56**2 + 47**2))
    prov = s.provenance
    assert prov["config"]["source"]["format"] == "edm4hep"
    assert prov["source_files"][0]["path"] == str(path.resolve())
    assert prov["source_files"][0]["podio_version"] == inspect_edm4hep(path).podio_version


def test_metadata_encodings_of_a_key4hep_file():
    info = inspect_edm4hep(ILD)
    assert info.podio_version == "1.7.0" and info.entries == 10
    assert info.encodings["ECalBarrelCollection"] == (
        "system:0:5,side:5:2,module:7:8,stave:15:4,layer:19:9,submodule:28:4,x:32:-16,y:48:-16"
    )
    assert not info.hit_collections and "MCParticles" in info.mc_collections


# ----------------------------------------------------------------------------- round trips
@pytest.fixture(scope="module")
def two_sections():
    """A detector with two sections on one grid, its showers and their EDM4hep file."""
    det = Calorimeter(
        "two",
        30.0,
        [
            Section("ecal", [Layer("PbWO4", 1.0, True)], 10, 2.5),
            Section("hcal", [Layer("Fe", 2.0), Layer("polystyrene", 1.0, True)], 8, 2.5),
        ],
    )
    s = simulate(det, ParticleGun("e-", "5:50", theta_deg=5.0), 12, seed=1, digitizer=None)
    return det, s


@pytest.fixture(scope="module")
def two_sections_file(two_sections, tmp_path_factory):
    det, s = two_sections
    return write_edm4hep(tmp_path_factory.mktemp("rt") / "two.root", s)


def _same_truth(a: Showers, b: Showers) -> None:
    np.testing.assert_array_equal(a.pdg, b.pdg)
    np.testing.assert_allclose(a.energy, b.energy, rtol=1e-12)
    np.testing.assert_allclose(a.truth["direction"], b.truth["direction"], atol=1e-12)
    np.testing.assert_allclose(a.truth["visible"], b.cells.sum(axis=1, dtype=np.float64), rtol=1e-6)


def test_round_trip_by_cell_id_reproduces_every_cell(tmp_path, two_sections, two_sections_file):
    """DD4hep x index = ix − nx/2 + 1 (CartesianGridXY bins centred on the axis, nx = 12);
    layers count from 1 in each section; system = 20 + section."""
    det, s = two_sections
    out = tmp_path / "cells.h5"
    res = import_edm4hep(
        two_sections_file,
        out,
        collection="ECalCollection",
        detector=det,
        mapping="section=system-20,layer=layer-1,ix=x+5,iy=y+5",
    )
    got = Showers.load(out)
    # every cell, bit for bit, as calolab simulate writes them (MeV on disk)
    s.save(tmp_path / "direct.h5")
    np.testing.assert_array_equal(got.cells, Showers.load(tmp_path / "direct.h5").cells)
    np.testing.assert_allclose(got.cells, s.cells, rtol=2e-7)
    _same_truth(got, s)
    assert got.detector is not None and got.detector.hash == det.hash
    assert "hits" not in got.records and res.mapped == "cellID"
    assert got.provenance["config"]["source"]["encoding"] is None  # from the file's metadata
    # the same with the encoding given instead of the file's
    mem = read_edm4hep(
        two_sections_file,
        collection="ECalCollection",
        detector=det,
        encoding=ENCODING,
        mapping=CellMapping.parse("section=system-20,layer=layer-1,ix=x+5,iy=y+5"),
    )
    np.testing.assert_array_equal(mem.cells, s.cells)  # in memory: bit for bit in GeV
    # without a section, the layer counts the readout layers of the whole detector
    one = Calorimeter("one", 30.0, [det.sections[0]])
    s1 = simulate(one, ParticleGun("gamma", 20.0), 3, seed=3, digitizer=None)
    f1 = write_edm4hep(tmp_path / "one.root", s1)
    g1 = read_edm4hep(
        f1, collection="ECalCollection", detector=one, mapping="layer=layer-1,ix=x+5,iy=y+5"
    )
    np.testing.assert_array_equal(g1.cells, s1.cells)


def test_round_trip_by_position_with_different_grids(tmp_path):
    """course_pbscint: 2.5 cm ECAL cells and 10 cm HCAL cells, placed by hit position, with
    the detector's front face at z = 1 m in the file's frame."""
    det = preset("course_pbscint")
    s = simulate(det, ParticleGun("pi+", "10:30"), 6, seed=2, digitizer=None)
    f = write_edm4hep(tmp_path / "pi.root", s, collection="CaloHits", origin_mm=(0, 0, 1000.0))
    got = read_edm4hep(
        f, collection="CaloHits", detector=det, position=PositionMapping((0.0, 0.0, 1000.0))
    )
    np.testing.assert_array_equal(got.cells, s.cells)
    _same_truth(got, s)
    # the wrong origin puts hits into passive lead: an error naming the value
    with pytest.raises(DataError, match=r"collection 'CaloHits', entry 0 .* hit position z"):
        read_edm4hep(f, collection="CaloHits", detector=det)


def test_streaming_in_small_steps_gives_the_same_file(tmp_path, two_sections, two_sections_file):
    det, _ = two_sections
    kw = dict(
        collection="ECalCollection",
        detector=det,
        mapping="section=system-20,layer=layer-1,ix=x+5,iy=y+5",
    )
    a = import_edm4hep(two_sections_file, tmp_path / "a.h5", step=1, **kw)
    b = import_edm4hep(two_sections_file, tmp_path / "b.h5", **kw)
    sa, sb = Showers.load(a.output), Showers.load(b.output)
    np.testing.assert_array_equal(sa.cells, sb.cells)
    np.testing.assert_array_equal(sa.energy, sb.energy)
    c = import_edm4hep(two_sections_file, tmp_path / "c.h5", max_events=5, **kw)
    assert c.n_events == 5 and len(Showers.load(c.output)) == 5


def test_sparse_hits_keep_everything(tmp_path, two_sections, two_sections_file):
    _, s = two_sections
    res = import_edm4hep(two_sections_file, tmp_path / "h.h5", collection="ECalCollection")
    got = Showers.load(res.output)
    hits = got.records["hits"]
    assert got.detector is None and got.n_cells == 1
    np.testing.assert_array_equal(np.diff(hits.offsets), (s.cells > 0).sum(axis=1))
    np.testing.assert_allclose(hits.columns["energy"], s.cells[s.cells > 0], rtol=0)
    # mm in the file, cm in calolab: the first hit is in the first PbWO4 layer (z 0–1 cm)
    assert 0.0 <= hits.columns["z"][0] <= 1.0
    assert set(hits.columns) == {"cellID", "energy", "x", "y", "z", "time"}


# ----------------------------------------------------------------------------- errors
def test_errors_name_the_collection_field_and_value(tmp_path, two_sections, two_sections_file):
    det, _ = two_sections
    f = two_sections_file
    with pytest.raises(DataError, match="no calorimeter-hit collection 'HCal'.*ECalCollection"):
        read_edm4hep(f, collection="HCal")
    # layer counted from 1 but mapped without the offset: layer 10 is outside 0..9
    with pytest.raises(
        DataError,
        match=r"collection 'ECalCollection', entry \d+ of .*cellID 0x[0-9a-f]+\): cellID field "
        r"'layer' gives layer 10, outside the declared grid \(0\.\.9 in section 'ecal'\)",
    ):
        read_edm4hep(
            f,
            collection="ECalCollection",
            detector=det,
            mapping="section=system-20,layer=layer,ix=x+5,iy=y+5",
        )
    with pytest.raises(DataError, match=r"cellID field 'x' \+8 gives ix 1[2-4], outside"):
        read_edm4hep(
            f,
            collection="ECalCollection",
            detector=det,
            mapping="section=system-20,layer=layer-1,ix=x+8,iy=y+5",
        )
    with pytest.raises(ConfigError, match="no field 'row'"):
        read_edm4hep(f, collection="ECalCollection", detector=det, mapping="layer=row,ix=x,iy=y")
    with pytest.raises(ConfigError, match="section 'tile' is neither a section"):
        read_edm4hep(
            f,
            collection="ECalCollection",
            detector=det,
            mapping="section=tile,layer=layer,ix=x,iy=y",
        )
    with pytest.raises(ConfigError, match="a cell mapping needs the calolab detector"):
        read_edm4hep(f, collection="ECalCollection", mapping="layer=layer,ix=x,iy=y")
    with pytest.raises(ConfigError, match="--encoding 'system:5,layer': descriptor 'layer'"):
        read_edm4hep(f, collection="ECalCollection", encoding="system:5,layer")


def test_missing_metadata_and_truth(tmp_path, two_sections):
    det, s = two_sections
    bare = write_edm4hep(tmp_path / "bare.root", s, metadata=False)
    with pytest.raises(
        DataError, match=r"no cellID encoding for collection 'ECalCollection'.*--encoding"
    ):
        read_edm4hep(
            bare, collection="ECalCollection", detector=det, mapping="layer=layer,ix=x,iy=y"
        )
    with pytest.raises(DataError, match=r"no MC particle collection 'Truth'; .*MCParticles"):
        read_edm4hep(bare, collection="ECalCollection", mc_collection="Truth")
    # the coffea examples have no status-1 particle
    with pytest.raises(DataError, match=r"entry 0: no particle of generator status 1 .*43, 62, 81"):
        read_edm4hep(EXAMPLES[-1], collection="SimCalorimeterHitCollection")
    none = read_edm4hep(EXAMPLES[0], collection="SimCalorimeterHitCollection", truth=False)
    assert np.all(none.energy == 0) and np.all(none.truth["visible"] == 43.0)


def test_not_an_edm4hep_file_and_output_guards(tmp_path):
    junk = tmp_path / "junk.root"
    junk.write_bytes(b"not root")
    with pytest.raises(DataError, match="is not a readable ROOT file"):
        inspect_edm4hep(junk)
    plain = tmp_path / "plain.root"
    with uproot.recreate(plain) as f:
        f["t"] = {"x": np.arange(3)}
    with pytest.raises(DataError, match="no 'events' tree"):
        inspect_edm4hep(plain)
    with pytest.raises(DataError, match="does not exist"):
        inspect_edm4hep(tmp_path / "missing.root")
    with pytest.raises(OutputError, match="is also an input"):
        import_edm4hep(EXAMPLES[0], EXAMPLES[0], collection="SimCalorimeterHitCollection")
    with pytest.raises(ConfigError, match="step 0 must be an integer >= 1"):
        read_edm4hep(EXAMPLES[0], collection="SimCalorimeterHitCollection", step=0)
    # an event whose baskets exceed the memory budget is refused, naming the limit
    with pytest.raises(DataError, match=r"entry 0 alone needs .* MiB allowed per step"):
        read_edm4hep(
            EXAMPLES[0], collection="SimCalorimeterHitCollection", truth=False, max_step_bytes=16
        )

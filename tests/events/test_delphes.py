"""Delphes import, tested on a real Delphes file (tt̄, scikit-hep-testdata 0.3.12)."""

from __future__ import annotations

import numpy as np
import pytest

from calolab.core.errors import ConfigError, DataError
from calolab.events.delphes import import_delphes, inspect_delphes, read_delphes
from calolab.events.hdf5 import ImageFile
from calolab.events.images import ImageConfig, make_images

uproot = pytest.importorskip("uproot")
ak = pytest.importorskip("awkward")


def _branch(path, names):
    t = uproot.open(path)["Delphes"]
    return t.arrays(names)


def _in_range_sum(values, eta, lo=-2.5, hi=2.5):
    m = (eta >= lo) & (eta < hi)
    return ak.to_numpy(ak.sum(values[m], axis=1)).astype(np.float64)


def test_branch_choice_on_real_file(delphes_file):
    br = inspect_delphes(delphes_file)
    assert br.tree == "Delphes"
    assert br.towers == ("EFlowPhoton", "EFlowNeutralHadron")  # the file has no Tower branch
    assert br.tracks == "EFlowTrack"
    assert br.track_position == "calorimeter"
    text = br.describe()
    assert "EFlowPhoton" in text and "EFlowNeutralHadron" in text and "EFlowTrack" in text


def test_image_sums_equal_delphes_sums_in_range(delphes_file):
    """Each channel's image sum equals the sum of the Delphes objects inside the η range,
    computed directly from the file with awkward."""
    cfg = ImageConfig()
    obj, stats, _ = read_delphes(delphes_file)
    img = make_images(obj, cfg).sum(axis=(2, 3), dtype=np.float64)
    a = _branch(
        delphes_file,
        [
            "EFlowPhoton.ET",
            "EFlowPhoton.Eta",
            "EFlowNeutralHadron.ET",
            "EFlowNeutralHadron.Eta",
            "EFlowTrack.PT",
            "EFlowTrack.Eta",
            "EFlowTrack.EtaOuter",
        ],
    )
    ecal = _in_range_sum(a["EFlowPhoton.ET"], a["EFlowPhoton.Eta"])
    hcal = _in_range_sum(a["EFlowNeutralHadron.ET"], a["EFlowNeutralHadron.Eta"])
    valid = (a["EFlowTrack.PT"] > 0) & (abs(a["EFlowTrack.Eta"]) < 100)
    pt = a["EFlowTrack.PT"][valid]
    tracks = _in_range_sum(pt, a["EFlowTrack.EtaOuter"][valid])
    assert len(obj) == 10
    np.testing.assert_allclose(img[:, 0], ecal, rtol=1e-5)
    np.testing.assert_allclose(img[:, 1], hcal, rtol=1e-5)
    np.testing.assert_allclose(img[:, 2], tracks, rtol=1e-5)
    assert (ecal > 0).all() and (hcal > 0).all() and (tracks > 0).all()
    # EFlowTrack holds zero-pT entries with the η = 999.9 sentinel: skipped and counted
    assert stats.skipped_tracks == int(ak.sum(~valid)) > 0
    assert stats.n_tracks == int(ak.sum(valid))
    assert stats.n_towers == int(ak.sum(ak.num(a["EFlowPhoton.ET"]))) + int(
        ak.sum(ak.num(a["EFlowNeutralHadron.ET"]))
    )


def test_track_branch_override_and_vertex_position(delphes_file):
    cfg = ImageConfig(eta_min=-1.0, eta_max=1.5)
    obj, stats, br = read_delphes(delphes_file, tracks="Track", track_position="vertex")
    assert br.tracks == "Track" and br.track_position == "vertex"
    a = _branch(delphes_file, ["Track.PT", "Track.Eta"])
    img = make_images(obj, cfg).sum(axis=(2, 3), dtype=np.float64)
    np.testing.assert_allclose(
        img[:, 2], _in_range_sum(a["Track.PT"], a["Track.Eta"], -1.0, 1.5), rtol=1e-5
    )
    assert stats.skipped_tracks == 0


def test_tower_branch_is_preferred(delphes_file, tmp_path):
    """A file with a 'Tower' branch (written here from the real EFlow objects, with their
    Eem/Ehad) is read through Tower, and ET splits into ECAL and HCAL by Eem : Ehad."""
    a = _branch(
        delphes_file,
        [
            f"{b}.{x}"
            for b in ("EFlowPhoton", "EFlowNeutralHadron")
            for x in ("ET", "Eta", "Phi", "E", "Eem", "Ehad")
        ],
    )
    cols = {}
    for x in ("ET", "Eta", "Phi", "E", "Eem", "Ehad"):
        cols[f"Tower.{x}"] = ak.concatenate(
            [a[f"EFlowPhoton.{x}"], a[f"EFlowNeutralHadron.{x}"]], axis=1
        )
    # a mixed tower at η = 0: E_T = 4 GeV, half of its energy in each calorimeter
    mixed = ak.Array([[0.5]] * 10)
    cols["Tower.Eem"] = ak.concatenate([cols["Tower.Eem"], mixed * 2], axis=1)
    cols["Tower.Ehad"] = ak.concatenate([cols["Tower.Ehad"], mixed * 2], axis=1)
    cols["Tower.ET"] = ak.concatenate([cols["Tower.ET"], mixed * 8], axis=1)
    cols["Tower.Eta"] = ak.concatenate([cols["Tower.Eta"], mixed * 0], axis=1)
    cols["Tower.Phi"] = ak.concatenate([cols["Tower.Phi"], mixed * 0], axis=1)
    cols["Tower.E"] = ak.concatenate([cols["Tower.E"], mixed * 2], axis=1)
    t = uproot.open(delphes_file)["Delphes"]
    tr = t.arrays(["Track.PT", "Track.Eta", "Track.Phi"])
    for x in ("PT", "Eta", "Phi"):
        cols[f"Track.{x}"] = tr[f"Track.{x}"]
    path = tmp_path / "tower.root"
    _write(path, cols)
    br = inspect_delphes(path)
    assert br.towers == ("Tower",) and br.split["Tower"] == "Eem/Ehad"
    assert br.tracks == "Track" and br.track_position == "vertex"
    obj, _, _ = read_delphes(path)
    img = make_images(obj, ImageConfig()).sum(axis=(2, 3), dtype=np.float64)
    ref, _, _ = read_delphes(delphes_file)
    ref_img = make_images(ref, ImageConfig()).sum(axis=(2, 3), dtype=np.float64)
    np.testing.assert_allclose(img[:, 0], ref_img[:, 0] + 2.0, rtol=1e-5)
    np.testing.assert_allclose(img[:, 1], ref_img[:, 1] + 2.0, rtol=1e-5)


def test_import_writes_file_with_provenance(delphes_file, tmp_path):
    out = tmp_path / "tt.h5"
    rep = import_delphes(delphes_file, out, label="ttbar", config=ImageConfig(n_eta=50, n_phi=50))
    assert rep.stats.n_events == 10
    with ImageFile(out) as f:
        assert f.classes == ["ttbar"] and len(f) == 10
        assert f.provenance["branches"][0]["towers"] == ["EFlowPhoton", "EFlowNeutralHadron"]
        assert f.provenance["branches"][0]["tracks"] == "EFlowTrack"
        b = f.read()
        assert b.images.shape == (10, 3, 50, 50)
        assert b.info["process_code"].tolist()[:3] == [601, 601, 601]  # gg → tt̄
        obj = f.read_objects()
    np.testing.assert_allclose(make_images(obj, f.config), b.images, rtol=1e-6)
    rep = import_delphes([delphes_file, delphes_file], tmp_path / "two.h5", max_events=15)
    assert rep.stats.n_events == 15


def _write(path, cols):
    """A TTree named 'Delphes' with jagged float32 branches (uproot writes RNTuples by default)."""
    cols = {k: ak.values_astype(v, np.float32) for k, v in cols.items()}
    with uproot.recreate(path) as f:
        t = f.mktree("Delphes", {k: "var * float32" for k in cols})
        t.extend(cols)


def test_errors_name_what_is_missing(delphes_file, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        inspect_delphes(tmp_path / "nope.root")
    bad = tmp_path / "bad.root"
    bad.write_text("not root")
    with pytest.raises(DataError, match="not a readable ROOT file"):
        inspect_delphes(bad)
    jets = tmp_path / "jets.root"
    _write(jets, {"Jet.PT": ak.Array([[1.0]]), "Jet.Eta": ak.Array([[0.0]])})
    with pytest.raises(DataError, match=r"no calorimeter branch.*Tower.*EFlowPhoton.*Jet"):
        inspect_delphes(jets)
    photons = tmp_path / "photons.root"
    _write(photons, {f"EFlowPhoton.{x}": ak.Array([[1.0]]) for x in ("ET", "Eta", "Phi")})
    with pytest.raises(DataError, match="EFlowPhoton is there but not its partner"):
        inspect_delphes(photons)
    notracks = tmp_path / "notracks.root"
    _write(notracks, {f"Tower.{x}": ak.Array([[1.0]]) for x in ("ET", "Eta", "Phi", "Eem", "Ehad")})
    with pytest.raises(DataError, match="no track branch.*--tracks none"):
        inspect_delphes(notracks)
    obj, _, br = read_delphes(notracks, tracks="none")
    assert br.tracks is None and obj.tracks.offsets[-1] == 0
    with pytest.raises(DataError, match="track branch 'Tracks'"):
        inspect_delphes(delphes_file, tracks="Tracks")
    with pytest.raises(DataError, match="tower branch 'Tower'"):
        inspect_delphes(delphes_file, towers="Tower")
    with pytest.raises(DataError, match="no tree 'Events'"):
        inspect_delphes(delphes_file, tree="Events")
    with pytest.raises(ConfigError, match="track_position"):
        inspect_delphes(delphes_file, track_position="outer")
    no_outer = tmp_path / "no_outer.root"
    _write(
        no_outer,
        {f"Tower.{x}": ak.Array([[1.0]]) for x in ("ET", "Eta", "Phi", "Eem", "Ehad")}
        | {f"Track.{x}": ak.Array([[1.0]]) for x in ("PT", "Eta", "Phi")},
    )
    with pytest.raises(DataError, match="no EtaOuter"):
        inspect_delphes(no_outer, track_position="calorimeter")
    assert inspect_delphes(no_outer).track_position == "vertex"
    with pytest.raises(ConfigError, match="max_events"):
        import_delphes(delphes_file, tmp_path / "x.h5", max_events=0)
    assert not (tmp_path / "x.h5").exists()

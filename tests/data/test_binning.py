"""CaloChallenge binning XML: a foreign file keeps its layers (issue 12, item 10)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from calolab.core.errors import DataError
from calolab.data.binning import KNOWN_LAYOUTS, layout_for, parse_binning, read_binning
from calolab.data.hdf5 import ShowerFile

# The layout of the challenge's dataset 1 photons: 24 layers, 5 of them read out.
PHOTON_LAYERS = {
    0: ("0,5,10,30,50,100,200,400,600", 1),
    1: ("0,2,4,6,8,10,12,15,20,30,40,50,70,90,120,150,200", 10),
    2: ("0,2,5,10,15,20,25,30,40,50,60,80,100,130,160,200,250,300,350,400", 10),
    3: ("0,50,100,200,400,600", 1),
    12: ("0,100,200,400,1000,2000", 1),
}


def photon_xml(tag: str = "Bin", name: str = "photon", pid: int = 22) -> str:
    layers = "\n".join(
        f'      <Layer id="{i}" r_edges="{PHOTON_LAYERS.get(i, ("0", 1))[0]}" '
        f'n_bin_alpha="{PHOTON_LAYERS.get(i, ("0", 1))[1]}" />'
        for i in range(24)
    )
    return f'<{tag} pid="{pid}" etaMin="0" etaMax="130" name="{name}">\n{layers}\n</{tag}>'


def ds2_like(n_layers: int = 4, n_r: int = 9, n_alpha: int = 16, name: str = "electron") -> str:
    edges = ",".join(f"{4.65 * k:g}" for k in range(n_r + 1))
    layers = "".join(
        f'<Layer id="{i}" r_edges="{edges}" n_bin_alpha="{n_alpha}" />' for i in range(n_layers)
    )
    return f'<Bin pid="11" name="{name}">{layers}</Bin>'


def write_foreign(path, n_cells, n=40, seed=0):
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        f["incident_energies"] = rng.uniform(1e3, 1e5, (n, 1))  # MeV
        f["showers"] = rng.gamma(1.0, 10.0, (n, n_cells)).astype(np.float32)
    return path


def test_the_challenge_layout_is_read(tmp_path):
    xml = tmp_path / "binning_dataset_1_photons.xml"
    xml.write_text(f"<Bins>\n{photon_xml()}\n</Bins>\n")
    (b,) = read_binning(xml)
    assert b.particle == "photon" and b.pid == 22 and len(b.layers) == 24
    assert b.layer_ids == (0, 1, 2, 3, 12) and b.layer_sizes == (8, 160, 190, 5, 5)
    assert b.n_cells == 368 == KNOWN_LAYOUTS[368].n_cells
    assert b.layer_sizes == KNOWN_LAYOUTS[368].layer_sizes
    # <Particle> children are accepted too
    (p,) = parse_binning(f"<Bins>{photon_xml('Particle')}</Bins>")
    assert p.layer_sizes == b.layer_sizes
    assert KNOWN_LAYOUTS[533].layer_sizes == (8, 100, 100, 5, 150, 160, 10)
    assert KNOWN_LAYOUTS[6480].layer_sizes == (144,) * 45
    assert KNOWN_LAYOUTS[40500].layer_sizes == (900,) * 45


def test_a_foreign_file_keeps_its_layers(tmp_path):
    xml = tmp_path / "b.xml"
    xml.write_text(f"<Bins>{ds2_like(5, 3, 2)}</Bins>")
    data = write_foreign(tmp_path / "foreign.h5", 30)
    with ShowerFile(data, binning=xml) as f:
        assert f.layer_sizes == (6,) * 5 and f.binning.particle == "electron"
        s = f.read(0, 10)
    assert s.layer_energies().shape == (10, 5)
    np.testing.assert_allclose(s.layer_energies().sum(axis=1), s.total(), rtol=1e-6)
    # the challenge's own datasets are recognised by their voxel count
    with ShowerFile(write_foreign(tmp_path / "ds1.h5", 368, n=5)) as f:
        assert f.layer_sizes == (8, 160, 190, 5, 5)
    # an unknown layout stays unknown (never one silent layer)
    with ShowerFile(write_foreign(tmp_path / "odd.h5", 31, n=5)) as f:
        assert f.layer_sizes is None and f.binning is None


def test_layout_errors_are_clear(tmp_path):
    xml = tmp_path / "b.xml"
    xml.write_text(f"<Bins>{ds2_like(5, 3, 2)}{ds2_like(3, 5, 2, 'positron')}</Bins>")
    # two entries with 30 voxels and different layers: ambiguous
    with pytest.raises(DataError, match="ambiguous.*binning_particle"):
        layout_for(30, xml, where="'f.h5'")
    assert layout_for(30, xml, particle="positron").layer_sizes == (10, 10, 10)
    with pytest.raises(DataError, match="has no entry 'pion'"):
        layout_for(30, xml, particle="pion")
    with pytest.raises(DataError, match="'f.h5' has 31 voxels per shower but"):
        layout_for(31, xml, where="'f.h5'")
    for text, msg in (
        ("<Bins><Bin name='x'></Bin></Bins>", "describes no layers"),
        ("<Bins><Bin><Layer id='0' n_bin_alpha='1'/></Bin></Bins>", "'r_edges' is missing"),
        ("<Bins><Bin><Layer id='0' r_edges='0,5,2' n_bin_alpha='1'/></Bin></Bins>", "increase"),
        ("<Bins><Bin><Layer id='0' r_edges='0,a' n_bin_alpha='1'/></Bin></Bins>", "not numbers"),
        ("<Bins><Bin><Layer r_edges='0,1' n_bin_alpha='1'/></Bin></Bins>", "'id' is missing"),
        ("<Bins", "not valid XML"),
        ('<!DOCTYPE x [<!ENTITY a "b">]><Bins/>', "DOCTYPE"),
    ):
        with pytest.raises(DataError, match=msg):
            parse_binning(text)
    with pytest.raises(DataError, match="does not exist"):
        read_binning(tmp_path / "missing.xml")


def test_per_layer_training_on_a_foreign_file(tmp_path):
    """Without its layout a per-layer model would silently become α·sum + β; with the XML
    it has one weight per layer, and without one the run is refused with the fix."""
    from calolab.models import ModelConfig
    from calolab.training import DataConfig, TrainConfig, train

    xml = tmp_path / "b.xml"
    xml.write_text(f"<Bins>{ds2_like(5, 3, 2)}</Bins>")
    data = write_foreign(tmp_path / "foreign.h5", 30, n=200)
    cfg = TrainConfig(
        model=ModelConfig("per-layer"),
        data=DataConfig(str(data), options={"binning": str(xml)}),
        epochs=1,
        device="cpu",
    )
    res = train(cfg, tmp_path / "run")
    assert res.members[0].n_parameters == 6  # 5 weights + bias
    bare = TrainConfig(model=ModelConfig("per-layer"), data=DataConfig(str(data)), device="cpu")
    with pytest.raises(DataError, match="match none of the CaloChallenge layouts.*--binning"):
        train(bare, tmp_path / "run2")

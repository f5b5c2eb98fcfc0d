import xml.etree.ElementTree as ET

import pytest

from calolab.geometry import preset
from calolab.geometry.gdml import save_gdml


def test_gdml_layers_materials_and_positions(tmp_path):
    det = preset("course_triple")
    p = save_gdml(det, tmp_path / "d.gdml")
    root = ET.parse(p).getroot()
    physvols = root.findall("./structure/volume[@name='world']/physvol")
    assert len(physvols) == det.n_layers
    z = [float(pv.find("position").get("z")) for pv in physvols]
    assert z == sorted(z)
    first = det.layer_table()[0]
    last = det.layer_table()[-1]
    assert z[0] == pytest.approx(first["thickness_cm"] / 2)
    assert z[-1] == pytest.approx(det.depth_cm - last["thickness_cm"] / 2)
    for mat in root.findall("./materials/material"):
        fr = [float(f.get("n")) for f in mat.findall("fraction")]
        if fr:
            assert sum(fr) == pytest.approx(1.0, abs=1e-3)
    sens = root.findall(".//volume/auxiliary[@auxtype='SensDet']")
    assert {a.get("auxvalue") for a in sens} == {"ecal", "hcal1", "hcal2", "hcal3"}


def test_cli_exports_gdml(cli, tmp_path):
    out = tmp_path / "m.gdml"
    cli("detector", "export", "muon_block", "-o", str(out), check=True)
    assert len(ET.parse(out).getroot().findall(".//physvol")) == 50

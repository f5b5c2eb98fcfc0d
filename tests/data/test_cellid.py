"""DD4hep cell-ID encodings decoded as DD4hep's BitFieldCoder does."""

import numpy as np
import pytest

from calolab.core.errors import ConfigError, DataError
from calolab.data.cellid import CellIDEncoding


def test_offsets_widths_and_signs_as_dd4hep():
    e = CellIDEncoding.parse("system:5,layer:9,x:32:-16,y:-16")
    assert [f.describe() for f in e.fields] == ["system:0:5", "layer:5:9", "x:32:-16", "y:48:-16"]
    # the same encodings as key4hep writes them (ILD metadata)
    ild = CellIDEncoding.parse("system:0:5,side:5:-2,layer:7:6,module:13:11,sensor:24:8")
    assert ild.field("side").signed and ild.field("sensor").offset == 24
    assert CellIDEncoding.parse("system:5,side:-2,layer:6,module:11,sensor:8").fields[2].offset == 7
    # empty descriptors and parts are skipped, as DD4hep's tokenizer does
    assert CellIDEncoding.parse(",a:4,,b::3,").field("b").offset == 4


def test_decode_by_hand():
    """BitFieldElement::value: (id & mask) >> offset, minus 2^width when the top bit is set."""
    e = CellIDEncoding.parse("system:5,layer:9,x:32:-16,y:-16")
    cid = 3 | (7 << 5) | ((-2 & 0xFFFF) << 32) | ((5 & 0xFFFF) << 48)
    d = e.decode(np.array([cid], dtype=np.uint64))
    assert {k: int(v[0]) for k, v in d.items()} == {"system": 3, "layer": 7, "x": -2, "y": 5}
    top = (0xFFFF << 48) | (0x8000 << 32)
    d = e.decode(np.array([top], dtype=np.uint64))
    assert int(d["y"][0]) == -1 and int(d["x"][0]) == -32768


def test_encode_round_trip_and_ranges():
    e = CellIDEncoding.parse("system:5,layer:9,x:32:-16,y:-16")
    rng = np.random.default_rng(1)
    vals = {
        "system": rng.integers(0, 32, 1000),
        "layer": rng.integers(0, 512, 1000),
        "x": rng.integers(-32768, 32768, 1000),
        "y": rng.integers(-32768, 32768, 1000),
    }
    back = e.decode(e.encode(vals))
    for k, v in vals.items():
        np.testing.assert_array_equal(back[k], v)
    with pytest.raises(DataError, match=r"field 'layer' value 512 is outside its range \[0, 511\]"):
        e.encode({"layer": 512})
    with pytest.raises(DataError, match=r"'x' value -32769"):
        e.encode({"x": -32769})


@pytest.mark.parametrize(
    "text,match",
    [
        ("", "is empty"),
        ("a:4,a:4", "declared twice"),
        ("a:4,b:2:4", "already used"),
        ("a:60:8", "does not fit in the 64 bits"),
        ("a", "must be name:width"),
        ("a:x", "'x' in descriptor 'a:x' is not an integer"),
        ("a:0", "width 0"),
        ("1a:4", "must be a word"),
    ],
)
def test_bad_encodings(text, match):
    with pytest.raises(ConfigError, match=match):
        CellIDEncoding.parse(text)


def test_unknown_field_lists_the_fields():
    e = CellIDEncoding.parse("system:5,layer:9")
    with pytest.raises(ConfigError, match="no field 'x'; its fields: system, layer"):
        e.field("x")

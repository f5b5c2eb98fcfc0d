import pytest

from calolab.core.errors import ConfigError, GeometryError, MaterialError
from calolab.geometry import (
    PRESETS,
    dumps_detector,
    load_detector,
    loads_detector,
    preset,
    save_detector,
)

EXAMPLE = """
name = "pbwo4-block"
transverse_size_cm = [60.0, 60.0]
[[sections]]
name = "ecal"
cell_size_cm = [1.0, 1.0]
repeat = 40
layers = [{ material = "PbWO4", thickness_cm = 0.89, sensitive = true }]
"""


def test_issue_example_parses():
    det = loads_detector(EXAMPLE)
    assert det.n_readout_layers == 40 and det.n_channels == 40 * 60 * 60
    assert det.depth_cm == pytest.approx(35.6)


@pytest.mark.parametrize("name", list(PRESETS))
def test_round_trip_is_exact(name, tmp_path):
    det = preset(name)
    text = dumps_detector(det)
    again = loads_detector(text)
    assert again == det and again.hash == det.hash
    assert dumps_detector(again) == text
    p = save_detector(det, tmp_path / "d.toml")
    assert load_detector(p) == det


def test_user_materials_round_trip():
    text = EXAMPLE.replace(
        "[[sections]]",
        """
[materials.PbWO4]
price_chf_per_kg = 300.0

[materials.my_brass]
mixture = { Cu = 0.62, Zn = 0.38 }
density_g_cm3 = 8.5

[[sections]]""",
    ).replace(
        'layers = [{ material = "PbWO4"',
        'layers = [{ material = "my_brass", thickness_cm = 1.0, sensitive = false }, { material = "PbWO4"',
    )
    det = loads_detector(text)
    layers = det.sections[0].layers
    assert layers[0].material.name == "my_brass" and layers[0].material.density_g_cm3 == 8.5
    assert layers[1].material.price_chf_per_kg == 300.0
    again = loads_detector(dumps_detector(det))
    assert again == det


@pytest.mark.parametrize(
    "mutation,error,match",
    [
        (
            ('name = "pbwo4-block"', 'name = "x"\ncolour = "red"'),
            GeometryError,
            "unknown key 'colour'",
        ),
        (("repeat = 40", "repeat = 40\nrepat = 3"), GeometryError, "unknown key 'repat'"),
        (
            ('material = "PbWO4"', 'material = "kryptonite"'),
            MaterialError,
            "layer 0: unknown material 'kryptonite'",
        ),
        (
            ("thickness_cm = 0.89", "thickness_cm = -0.89"),
            GeometryError,
            "thickness_cm -0.89 must be",
        ),
        (
            ("thickness_cm = 0.89", "thickness_cm = 0.89, colour = 1"),
            GeometryError,
            "layer 0: unknown key 'colour'",
        ),
        (("[60.0, 60.0]", "[60.0, 0.0]"), GeometryError, r"transverse_size_cm\[1\] 0.0"),
        (("[[sections]]", "[[sections"), GeometryError, "malformed TOML"),
    ],
)
def test_bad_files_give_clear_errors(mutation, error, match):
    with pytest.raises(error, match=match):
        loads_detector(EXAMPLE.replace(*mutation))


def test_missing_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_detector("/nonexistent/d.toml")

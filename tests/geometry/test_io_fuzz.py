"""Hostile detector files: a clear GeometryError/ConfigError (or a valid detector), no crash,
no hang, bounded memory.

Property-based (hypothesis), derandomized with a fixed number of examples so that CI is
reproducible and bounded in time. Inputs: arbitrary text; detector tables whose every value
may be replaced by junk (wrong types, NaN/inf, huge integers, nested tables); and valid
detectors with absurd sizes (repeat counts, cell sizes, transverse sizes over 600 decades).
"""

from __future__ import annotations

import json
import math
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calolab.core.errors import CalolabError, GeometryError
from calolab.geometry import dumps_detector, loads_detector
from calolab.geometry.detector import MAX_CHANNELS, MAX_LAYERS

FUZZ = settings(
    max_examples=200,
    deadline=timedelta(seconds=5),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    assert isinstance(v, dict)
    items = ", ".join(
        f"{json.dumps(k, ensure_ascii=False)} = {toml_value(x)}" for k, x in v.items()
    )
    return "{ " + items + " }"


def toml_dumps(d: dict) -> str:
    return "".join(f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}\n" for k, v in d.items())


NUMBERS = st.one_of(
    st.integers(-3, 10**6),
    st.integers(-(10**30), 10**400),  # TOML integers are unbounded in Python's parser
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 0.0, -1.0, 1e-300, 1e300, 5e-324, 10**12]),
)
TEXT = st.text(max_size=10)
JUNK = st.recursive(
    st.one_of(NUMBERS, TEXT, st.booleans()),
    lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(TEXT, c, max_size=3)),
    max_leaves=6,
)
MATERIAL = st.sampled_from(["PbWO4", "Pb", "polystyrene", "G4_lAr", "W", "Fe", "brass", "mine"])


def mostly(valid, weight: int = 4):
    """``valid`` most of the time, otherwise junk."""
    return st.one_of(*([valid] * weight), JUNK)


LAYER = st.fixed_dictionaries(
    {
        "material": mostly(MATERIAL),
        "thickness_cm": mostly(st.floats(0.01, 5)),
        "sensitive": mostly(st.booleans()),
    },
    optional={"unknown": JUNK},
)
SECTION = st.fixed_dictionaries(
    {
        "name": mostly(st.sampled_from(["ecal", "hcal"])),
        "layers": mostly(st.lists(LAYER, min_size=1, max_size=3)),
        "repeat": mostly(st.integers(1, 30)),
        "cell_size_cm": mostly(st.sampled_from([1.0, 2.0, [1.0, 2.0], 0.5])),
    }
)
MATERIALS = st.dictionaries(
    st.sampled_from(["PbWO4", "mine", "brass2"]),
    st.fixed_dictionaries(
        {},
        optional={
            "base": mostly(MATERIAL),
            "price_chf_per_kg": mostly(st.floats(0, 100)),
            "density_g_cm3": mostly(st.floats(0.1, 20)),
            "mixture": mostly(st.dictionaries(MATERIAL, st.floats(0.1, 1), min_size=1)),
            "composition": mostly(
                st.dictionaries(st.sampled_from(["Pb", "W", "O", "Xx"]), NUMBERS)
            ),
        },
    ),
    max_size=2,
)
DETECTOR = st.fixed_dictionaries(
    {
        "name": mostly(st.sampled_from(["d", "a b"])),
        "transverse_size_cm": mostly(st.sampled_from([10.0, [20.0, 10.0], 4.0])),
        "sections": mostly(st.lists(SECTION, min_size=1, max_size=3)),
    },
    optional={"description": mostly(TEXT), "materials": mostly(MATERIALS), "extra": JUNK},
)


def check_usable(text: str) -> None:
    """Load; if that succeeds, the detector must be usable and round-trip exactly."""
    try:
        det = loads_detector(text)
    except CalolabError:
        return
    assert 0 < det.n_channels <= MAX_CHANNELS
    assert 0 < det.n_layers <= MAX_LAYERS
    det.summary()
    assert math.isfinite(det.cost_chf) and math.isfinite(det.depth_x0)
    again = loads_detector(dumps_detector(det))
    assert again == det and again.hash == det.hash


@FUZZ
@given(text=st.text(max_size=300))
def test_arbitrary_text(text):
    check_usable(text)


@FUZZ
@given(data=DETECTOR)
def test_detector_tables_with_junk_values(data):
    check_usable(toml_dumps(data))


ABSURD = st.one_of(
    st.integers(1, 10**15),
    st.floats(1e-300, 1e300),
    st.sampled_from([10**400, 5e-324, 1e308]),
)


@FUZZ
@given(repeat=ABSURD, cell=ABSURD, size=ABSURD, thickness=ABSURD)
def test_absurd_sizes_are_refused_quickly(repeat, cell, size, thickness):
    text = toml_dumps(
        {
            "name": "absurd",
            "transverse_size_cm": size,
            "sections": [
                {
                    "name": "e",
                    "repeat": repeat if isinstance(repeat, int) else 3,
                    "cell_size_cm": cell,
                    "layers": [{"material": "PbWO4", "thickness_cm": thickness, "sensitive": True}],
                }
            ],
        }
    )
    check_usable(text)


@pytest.mark.parametrize(
    "section,message",
    [
        ("repeat = 1000000000000", "repeat 1000000000000 is more than the 10,000 layers"),
        ("repeat = 9999\ncell_size_cm = 0.01", "readout channels is more than"),
        ("cell_size_cm = 1e-300", "gives 1e\\+301 cells"),
        ("cell_size_cm = 1e-9", "use larger cells"),
        ("cell_size_cm = 1e6", "longer than 100000 cm"),
        ("layers = [{ material = 'Pb', thickness_cm = 1e400, sensitive = true }]", "finite"),
        ("layers = [{ material = 'Pb', thickness_cm = 10e400, sensitive = true }]", "finite"),
    ],
)
def test_absurd_sizes_name_the_problem(section, message):
    text = "name = 'x'\ntransverse_size_cm = 10.0\n[[sections]]\nname = 'e'\n" + section + "\n"
    if "layers" not in section:
        text += "layers = [{ material = 'Pb', thickness_cm = 1.0, sensitive = true }]\n"
    with pytest.raises(GeometryError, match=message):
        loads_detector(text)


def test_huge_integers_in_materials():
    text = (
        "name = 'x'\ntransverse_size_cm = 10.0\n[materials.PbWO4]\nprice_chf_per_kg = "
        + "9" * 400
        + "\n[[sections]]\nname = 'e'\nlayers = [{ material = 'PbWO4', thickness_cm = 1.0, "
        "sensitive = true }]\n"
    )
    with pytest.raises(CalolabError, match="price_chf_per_kg .* must be a finite number"):
        loads_detector(text)

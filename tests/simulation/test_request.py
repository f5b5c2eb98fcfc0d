"""The simulation request: one typed, validated object from the CLI, campaigns and the demo."""

from __future__ import annotations

import numpy as np
import pytest

from calolab.core.errors import ConfigError
from calolab.data import ShowerFile, read_showers
from calolab.simulation import ParticleGun, simulate
from calolab.simulation.request import SimulationRequest


def test_of_builds_one_gun_per_particle_with_shared_settings():
    req = SimulationRequest.of(
        ["e-", "pi+"], "10:100", 40, gun={"theta_deg": 5.0, "position_cm": (1.0, -2.0)}, seed=4
    )
    assert [g.particle_name for g in req.guns] == ["e-", "pi+"]
    assert all(g.spectrum.spec() == "10:100" and g.theta_deg == 5.0 for g in req.guns)
    assert req.guns[1].position_cm == (1.0, -2.0)
    assert (req.n_events, req.seed, req.particles, req.chunked) == (40, 4, "e-,pi+", False)
    # a single gun is accepted and stored as a tuple; the request is frozen
    one = SimulationRequest(ParticleGun("gamma", 20.0), 5)  # type: ignore[arg-type]
    assert one.guns == (ParticleGun("gamma", 20.0).canonical(),)
    # guns are kept in canonical form: equal requests have equal provenance
    a = SimulationRequest.of(211, "20", 5, gun={"theta_deg": 5, "position_cm": (1, 2)})
    b = SimulationRequest.of("pi+", 20.0, 5, gun={"theta_deg": 5.0, "position_cm": (1.0, 2.0)})
    assert a == b and a.provenance("course_pbscint") == b.provenance("course_pbscint")
    # ... and the energies exactly as given (provenance records 6 digits, the showers use all)
    assert SimulationRequest.of("e-", 1 / 3, 5).guns[0].spectrum.values == (1 / 3,)
    with pytest.raises(AttributeError):
        one.seed = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"n_events": 0}, "n_events 0 must be >= 1"),
        ({"n_events": 2 * 10**9}, "n_events 2,000,000,000 must be <= 1,000,000,000"),
        ({"n_events": 2.5}, "n_events 2.5 must be an integer"),
        ({"seed": -1}, "seed -1 must be >= 0"),
        ({"chunk_size": 0}, "chunk_size 0 must be >= 1"),
        ({"workers": 2, "scheduler": "tcp://h:8786"}, "either workers .* or scheduler"),
        ({"scheduler": "nowhere"}, "not a Dask address"),
        ({"layout": "diagonal"}, "layout 'diagonal'"),
        ({"guns": ()}, "guns must be a ParticleGun"),
        ({"digitizer": "em"}, "digitizer 'em' must be a Digitizer"),
    ],
)
def test_bad_requests_name_the_field_and_value(kwargs, message):
    fields = {"guns": (ParticleGun("gamma", 20.0),), "n_events": 10, **kwargs}
    with pytest.raises(ConfigError, match=message):
        SimulationRequest(**fields)


def test_chunked_when_any_execution_option_is_given():
    base = {"guns": (ParticleGun("gamma", 20.0),), "n_events": 10}
    assert not SimulationRequest(**base).chunked
    for extra in ({"workers": 1}, {"chunk_size": 4}, {"resume": True}, {"keep_chunks": True}):
        assert SimulationRequest(**base, **extra).chunked  # type: ignore[arg-type]


def test_run_in_one_process_or_chunked_writes_the_same_events(tmp_path):
    req = SimulationRequest.of(["gamma", "e-"], "5:30", 24, seed=9)
    direct = req.run(tmp_path / "direct.h5", "course_pbscint")
    chunked = SimulationRequest.of(["gamma", "e-"], "5:30", 24, seed=9, chunk_size=10).run(
        tmp_path / "chunked.h5", "course_pbscint"
    )
    a, b = read_showers(direct), read_showers(chunked)
    mem = req.simulate("course_pbscint")
    np.testing.assert_array_equal(a.cells, b.cells)
    # the file stores MeV in float32: what is read back agrees to that rounding
    np.testing.assert_allclose(a.cells, mem.cells, rtol=1e-6, atol=1e-6 * float(mem.cells.max()))
    np.testing.assert_array_equal(
        a.energy, simulate("course_pbscint", list(req.guns), 24, seed=9).energy
    )
    # the provenance the request predicts is the one the file carries (the demo reuses files by it)
    with ShowerFile(direct) as f:
        assert f.provenance["config_hash"] == req.provenance("course_pbscint")["config_hash"]


def test_campaigns_refuse_what_they_cannot_do_yet(tmp_path):
    from calolab.simulation import TimingModel

    req = SimulationRequest.of("gamma", 20, 5, chunk_size=5, timing=TimingModel())
    with pytest.raises(ConfigError, match="cell times are not simulated by chunked campaigns"):
        req.run(tmp_path / "x.h5", "course_pbscint")
    assert not (tmp_path / "x.h5").exists()


def test_saved_and_loaded_as_json(tmp_path):
    from calolab.simulation import TimingModel

    req = SimulationRequest.of(
        ["e-", 211],
        "log:1.23456789:50",
        30,
        gun={"theta_deg": 5, "position_cm": (1, -2), "position_spread_shape": "uniform"},
        seed=7,
        digitizer=None,
        timing=TimingModel(window_ns=(-5.0, 20.0)),
        layout="sparse",
        chunk_size=10,
    )
    path = req.save(tmp_path / "request.json")
    back = SimulationRequest.load(path)
    assert back == req and back.to_table() == req.to_table()
    plain = SimulationRequest.of("gamma", 20, 5)
    assert SimulationRequest.from_table(plain.to_table()) == plain
    with pytest.raises(ConfigError, match=r"guns\[0\]: unknown key 'colour'"):
        SimulationRequest.from_table({**plain.to_table(), "guns": [{"colour": "red"}]})
    with pytest.raises(ConfigError, match="'n_events' is missing"):
        SimulationRequest.from_table({"guns": plain.to_table()["guns"]})
    with pytest.raises(ConfigError, match="timing: unknown key"):
        SimulationRequest.from_table({**plain.to_table(), "timing": {"jitter": 1}})

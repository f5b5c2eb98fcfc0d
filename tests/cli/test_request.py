"""The command-line options of a simulation request (calolab.cli.request)."""

from __future__ import annotations

import argparse

import pytest

from calolab.cli.request import (
    add_execution_arguments,
    add_request_arguments,
    execution_from_args,
    request_from_args,
)
from calolab.core.errors import ConfigError


def _parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_request_arguments(p)
    return p.parse_args(list(argv))


def test_options_become_the_request():
    req = request_from_args(
        _parse(
            "-n", "12", "--particle", "e-,pi+", "--energy", "log:1:50", "--theta", "10",
            "--position", "1,2", "--uniform-spread", "--position-spread", "3", "--seed", "5",
            "--no-digitize", "--chunk-size", "4", "--layout", "dense", "--timing",
        )
    )  # fmt: skip
    assert [g.particle_name for g in req.guns] == ["e-", "pi+"]
    g = req.guns[0]
    assert (g.spectrum.spec(), g.theta_deg, g.position_cm) == ("log:1:50", 10.0, (1.0, 2.0))
    assert (g.position_spread_cm, g.position_spread_shape) == (3.0, "uniform")
    assert (req.n_events, req.seed, req.digitizer, req.layout) == (12, 5, None, "dense")
    assert req.chunk_size == 4 and req.chunked and req.timing is not None
    plain = request_from_args(_parse("-n", "3"))
    assert plain.guns[0].particle_name == "gamma" and not plain.chunked
    assert plain.digitizer is not None and plain.digitizer.calibration == "em"


@pytest.mark.parametrize(
    "argv,message",
    [
        (("-n", "0"), "--events 0 must be >= 1"),
        (("-n", "5", "--seed", "-2"), "--seed -2 must be >= 0"),
        (("-n", "5", "--chunk-size", "0"), "--chunk-size 0 must be >= 1"),
        (("-n", "5", "--position", "1"), "--position '1' must be two numbers"),
        (("-n", "5", "--particle", ","), "--particle is empty"),
        (("-n", "5", "--workers", "1", "--scheduler", "h:1"), "either --workers"),
        (("-n", "5", "--scheduler", "nowhere"), r"not a Dask address"),
        (("-n", "5", "--noise", "0.1"), "--noise: digitisation options in GeV no longer exist"),
        (("-n", "5", "--time-window", "3"), "--time-window '3' must be two times"),
    ],
)
def test_bad_options_name_the_option(argv, message):
    with pytest.raises(ConfigError, match=message):
        request_from_args(_parse(*argv))


def test_execution_options_alone():
    p = argparse.ArgumentParser()
    add_execution_arguments(p, chunk_size=False)
    assert execution_from_args(p.parse_args(["--scheduler", "tcp://h:8786"])) == (
        None,
        "tcp://h:8786",
    )
    with pytest.raises(SystemExit):  # no --chunk-size where the file sets it
        p.parse_args(["--chunk-size", "3"])

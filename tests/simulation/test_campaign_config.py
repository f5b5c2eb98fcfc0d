"""Multi-detector campaign files: detectors × particles × energy spectra from one TOML file."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calolab.core.errors import CalolabError, ConfigError
from calolab.data import ShowerFile, read_showers
from calolab.simulation import ParticleGun, simulate
from calolab.simulation.campaign import Campaign
from calolab.simulation.campaign_config import (
    campaign_from_dict,
    job_seed,
    load_campaign_config,
    run_campaign_config,
)

SMALL_DETECTOR = """
name = "small-block"
transverse_size_cm = [10.0, 10.0]
[[sections]]
name = "ecal"
cell_size_cm = [2.0, 2.0]
repeat = 20
layers = [{ material = "PbWO4", thickness_cm = 1.0, sensitive = true }]
"""

CAMPAIGN_TOML = """
name = "small"
output_dir = "out"
seed = 3
events = 25
chunk_size = 10
detectors = ["course_pbscint", "mine.toml"]
particles = ["gamma", "e-"]
energies = ["20"]

[gun]
theta_deg = 10.0
"""


def test_multi_detector_campaign_file(tmp_path, cli):
    from calolab.geometry import load_detector

    (tmp_path / "mine.toml").write_text(SMALL_DETECTOR)
    small = load_detector(tmp_path / "mine.toml")
    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text(CAMPAIGN_TOML)
    cfg = load_campaign_config(cfg_path)
    assert [j.name for j in cfg.jobs] == [
        "course_pbscint_gamma_20GeV",
        "course_pbscint_e-_20GeV",
        f"{small.name}_gamma_20GeV",
        f"{small.name}_e-_20GeV",
    ]
    assert {Campaign(j.output, j.spec).status()["state"] for j in cfg.jobs} == {"not started"}
    cli("campaign", "run", str(cfg_path), "-q", check=True)
    for job in cfg.jobs:
        s = read_showers(job.output)
        gun = ParticleGun(job.spec.guns[0].particle_name, 20.0, theta_deg=10.0)
        ref = simulate(job.spec.detector, gun, 25, seed=job_seed(3, job.name))
        with ShowerFile(job.output) as f:
            mev = f.cell_rows(0, len(f))  # MeV as stored (dense or sparse cells)
        np.testing.assert_array_equal(mev, ref.cells * np.float32(1000))
        assert len(s) == 25
        assert s.provenance["config"]["seed"] == job_seed(3, job.name)
    status = json.loads(cli("campaign", "status", str(cfg_path), "--json", check=True).stdout)
    assert {j["state"] for j in status["jobs"]} == {"complete"}
    # resuming a finished campaign changes nothing
    assert run_campaign_config(cfg_path, resume=True) == [j.output for j in cfg.jobs]
    # a job's seed depends only on the campaign seed and its name
    assert job_seed(3, "a") == job_seed(3, "a") != job_seed(3, "b") != job_seed(4, "a")


@pytest.mark.parametrize(
    "change,message",
    [
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"gun": {"theta": 3}}, r"\[gun\]: unknown key 'theta'"),
        ({"events": 0}, "events 0 must be >= 1"),
        ({"events": "many"}, "events 'many' must be an integer"),
        ({"chunk_size": 0}, "chunk_size 0 must be >= 1"),
        ({"particles": []}, "particles .* must be a non-empty list"),
        ({"energies": ["-4"]}, "energy -4 must be > 0"),
        ({"detectors": ["nope"]}, "unknown detector preset"),
        ({"energies": ["20", "20.0"]}, "appears twice"),
        ({"output_dir": "a\u0000b"}, "not a usable path"),
        ({"detectors": ["a\u0000b.toml"]}, "cannot be read"),
        (
            {"digitizer": {"noise_gev": 0.01}},
            r"\[digitizer\]: noise_gev no longer exist.*noise_mip or noise_mev",
        ),
        ({"digitizer": {"enabled": "yes"}}, "enabled 'yes' must be true or false"),
        ({"digitizer": {"calibration": "x"}}, "calibration 'x' must be one of em, none"),
    ],
)
def test_bad_campaign_files(tmp_path, cli, change, message):
    import tomllib

    data = tomllib.loads(CAMPAIGN_TOML)
    data["detectors"] = ["course_pbscint"]
    data.update(change)
    lines = []
    for k, v in data.items():
        if not isinstance(v, dict):
            lines.append(f"{k} = {json.dumps(v)}")
    for k, v in data.items():
        if isinstance(v, dict):
            lines += [f"[{k}]"] + [f"{kk} = {json.dumps(vv)}" for kk, vv in v.items()]
    path = tmp_path / "bad.toml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=message):
        load_campaign_config(path)
    if "colour" in change:  # and on the command line: one line, exit code 2
        r = cli("campaign", "run", str(path), "-q")
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
        assert "unknown key 'colour'" in r.stderr


CAMPAIGN_VALUES = {
    "name": st.text(max_size=5),
    "output_dir": st.sampled_from(["out", "", "a/b"]),
    "seed": st.integers(-2, 2**70),
    "events": st.integers(-2, 50),
    "chunk_size": st.integers(-1, 20),
    "backend": st.sampled_from(["fast", "geant4", "x"]),
    "detectors": st.lists(st.sampled_from(["course_pbscint", "nope", "missing.toml"]), max_size=2),
    "particles": st.lists(st.sampled_from(["gamma", "pi0", "graviton", "22"]), max_size=2),
    "energies": st.lists(
        st.sampled_from(["50", "0.05", "-3", "10:5", "log:1:100", "x"]), max_size=2
    ),
    "gun": st.dictionaries(st.sampled_from(["theta_deg", "phi", "position_cm"]), st.floats()),
    "digitizer": st.dictionaries(st.sampled_from(["noise_gev", "gain"]), st.floats()),
    "execution": st.dictionaries(st.sampled_from(["workers", "scheduler"]), st.integers(-1, 3)),
}
JUNK = st.one_of(
    st.none(), st.booleans(), st.floats(), st.text(max_size=5), st.lists(st.integers())
)


@settings(max_examples=80, deadline=timedelta(seconds=10), derandomize=True, database=None)
@given(
    data=st.fixed_dictionaries(
        {},
        optional={k: st.one_of(v, v, v, JUNK) for k, v in CAMPAIGN_VALUES.items()},
    )
)
def test_campaign_files_with_junk_give_config_errors(data):
    data = {k: v for k, v in data.items() if v is not None}  # TOML has no null
    try:
        cfg = campaign_from_dict(data, source="fuzz.toml")
    except CalolabError:
        return
    assert cfg.jobs and all(j.spec.n_events == data["events"] for j in cfg.jobs)


def test_digitizer_table_turns_the_readout_on_and_off(tmp_path):
    """Digitisation is on by default in campaigns too; ``enabled = false`` turns it off."""
    import tomllib

    for table, on in ((None, True), ({"enabled": False}, False), ({"calibration": "none"}, True)):
        data = tomllib.loads(CAMPAIGN_TOML)
        data["detectors"] = ["course_pbscint"]
        lines = [f"{k} = {json.dumps(v)}" for k, v in data.items() if not isinstance(v, dict)]
        if table is not None:
            lines += ["[digitizer]"] + [f"{k} = {json.dumps(v)}" for k, v in table.items()]
        path = tmp_path / "c.toml"
        path.write_text("\n".join(lines) + "\n")
        job = load_campaign_config(path).jobs[0]
        assert (job.spec.digitizer is not None) == on
        if table and "calibration" in table:
            assert job.spec.digitizer.calibration == "none"

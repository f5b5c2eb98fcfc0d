"""Pythia 8 generation: seeded, reproducible, independent of workers, resumable."""

from __future__ import annotations

import numpy as np
import pytest

from calolab.core.errors import ConfigError
from calolab.events.generate import Unit, generate_chunk, generate_events, plan
from calolab.events.hdf5 import ImageFile
from calolab.events.images import ImageConfig, make_images
from calolab.events.pythia import GeneratorConfig, generate_particles, pythia_seed
from calolab.events.response import atlas_card

pytest.importorskip("pythia8mc")

SMALL = ImageConfig(n_eta=20, n_phi=20)
TT = GeneratorConfig("ttbar", pthat_min_gev=1000.0)
QCD = GeneratorConfig("qcd", pthat_min_gev=1000.0)


def test_same_seed_same_events():
    a, ma = generate_particles(TT, 3, seed=5)
    b, mb = generate_particles(TT, 3, seed=5)
    c, _ = generate_particles(TT, 3, seed=6)
    for k in a.table.columns:
        np.testing.assert_array_equal(a.table.columns[k], b.table.columns[k])
    np.testing.assert_array_equal(a.table.offsets, b.table.offsets)
    assert not np.array_equal(a.table.columns["px"], c.table.columns["px"])
    np.testing.assert_array_equal(ma["pthat"], mb["pthat"])
    assert (ma["pthat"] >= 1000.0).all()  # PhaseSpace:pTHatMin
    # only final-state particles: charges are whole, energy is conserved within √s
    q = a.table.columns["charge"]
    assert set(np.unique(q)) <= {-2.0, -1.0, 0.0, 1.0, 2.0}
    e = np.add.reduceat(a.table.columns["e"], a.table.offsets[:-1])
    assert ((e > 2000.0) & (e <= 13000.0 + 1e-6)).all()


def test_seeds_are_distinct_per_chunk_and_process():
    seeds = {pythia_seed(1, key, c) for key in (TT.key, QCD.key) for c in range(50)}
    assert len(seeds) == 100
    assert all(1 <= s <= 900_000_000 for s in seeds)
    assert GeneratorConfig("ttbar", label="signal").key == GeneratorConfig("ttbar").key


def test_plan_is_round_robin():
    units = plan(7, 2, 2)
    assert [(u.proc, u.chunk, u.n) for u in units] == [(0, 0, 2), (1, 0, 2), (0, 1, 2), (1, 1, 1)]
    assert sum(u.n for u in plan(7, 2, 2)) == 7


def test_mixed_file_labels_and_process_independence(tmp_path):
    out = tmp_path / "mix.h5"
    rep = generate_events([TT, QCD], 8, out, seed=3, image=SMALL, chunk_size=2)
    assert rep.classes == ["ttbar", "qcd"] and rep.n_events == 8
    with ImageFile(out) as f:
        b = f.read()
        assert f.classes == ["ttbar", "qcd"]
        assert b.labels.tolist() == [0, 0, 1, 1, 0, 0, 1, 1]
        assert f.provenance["config"]["seed"] == 3
        obj = f.read_objects()
        np.testing.assert_allclose(make_images(obj, SMALL), b.images, rtol=1e-6)
    # the tt̄ events of the mixed file are those of a tt̄-only run with the same seed
    alone = generate_chunk(TT, atlas_card(), Unit(0, 1, 2), seed=3)
    np.testing.assert_array_equal(alone.info["pthat"], b.info["pthat"][4:6])
    np.testing.assert_allclose(make_images(alone, SMALL), b.images[4:6], rtol=1e-6)


def test_workers_do_not_change_events(tmp_path):
    a = tmp_path / "one.h5"
    b = tmp_path / "two.h5"
    generate_events(QCD, 4, a, seed=9, image=SMALL, chunk_size=2, workers=1)
    generate_events(QCD, 4, b, seed=9, image=SMALL, chunk_size=2, workers=2)
    with ImageFile(a) as fa, ImageFile(b) as fb:
        np.testing.assert_array_equal(fa.read().images, fb.read().images)


def test_interrupted_run_resumes_to_the_same_file(tmp_path):
    ref = tmp_path / "ref.h5"
    generate_events(TT, 6, ref, seed=2, image=SMALL, chunk_size=2)
    out = tmp_path / "run.h5"
    calls = []

    def interrupt(n):
        calls.append(n)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate_events(TT, 6, out, seed=2, image=SMALL, chunk_size=2, progress=interrupt)
    assert not out.exists()
    partial = tmp_path / "run.h5.partial"
    assert partial.exists()
    with pytest.raises(Exception, match="unfinished"):
        ImageFile(out)
    rep = generate_events(TT, 6, out, seed=2, image=SMALL, chunk_size=2)
    assert rep.resumed_from == 4 and not partial.exists()
    with ImageFile(ref) as fr, ImageFile(out) as fo:
        np.testing.assert_array_equal(fr.read().images, fo.read().images)
        np.testing.assert_array_equal(fr.read().info["pthat"], fo.read().info["pthat"])


def test_changed_configuration_does_not_resume(tmp_path):
    out = tmp_path / "run.h5"
    with pytest.raises(KeyboardInterrupt):
        generate_events(
            QCD,
            4,
            out,
            seed=1,
            image=SMALL,
            chunk_size=2,
            progress=lambda n: (_ for _ in ()).throw(KeyboardInterrupt),
        )
    rep = generate_events(QCD, 4, out, seed=2, image=SMALL, chunk_size=2)
    assert rep.resumed_from == 0


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: GeneratorConfig("susy"), "unknown process 'susy'"),
        (lambda: GeneratorConfig("custom"), "needs Pythia settings"),
        (lambda: GeneratorConfig("qcd", pthat_min_gev=7000.0), "out of reach"),
        (lambda: GeneratorConfig("qcd", ecm_gev=-1.0), "ecm_gev"),
        (lambda: GeneratorConfig("qcd", settings=("HardQCD:all",)), "must look like"),
        (
            lambda: generate_particles(GeneratorConfig("qcd", settings=("Foo:bar = on",)), 1, 0),
            "rejected the setting 'Foo:bar = on'",
        ),
        (lambda: generate_events("qcd", 0, "x.h5"), "n_events"),
        (lambda: generate_events("qcd", 1, "x.h5", seed=-1), "seed"),
        (lambda: generate_events(["qcd", "qcd"], 2, "x.h5"), "unique"),
        (lambda: generate_events("qcd", 1, "x.h5", card="cms"), "unknown detector card"),
    ],
)
def test_bad_inputs(make, match, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=match):
        make()
    assert not list(tmp_path.iterdir())


def test_custom_process_with_settings(tmp_path):
    cfg = GeneratorConfig(
        "custom", settings=("HardQCD:gg2gg = on", "PhaseSpace:pTHatMin = 500"), label="gg"
    )
    p, meta = generate_particles(cfg, 2, 0)
    assert len(p) == 2 and (meta["pthat"] >= 500).all()

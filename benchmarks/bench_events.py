"""Event classification and particle identification (issue 4).

    nice python benchmarks/bench_events.py [--events 10000] [--test-events 2000] [--workers 2]
        [--resolution 50] [--epochs-cnn 6] [--epochs-resnet 3] [--pid-events 6000]
        [--workdir DIR] [--quick]

1. Generation rate: Pythia 8 tt̄ and QCD dijets (p̂_T > 1 TeV, 13 TeV) → ATLAS-card tower
   response → 100 × 100 images → HDF5, events/s of one process (median of --repeats chunks);
   the comparison in the same process is Pythia 8 alone (generation + final-state
   extraction), so the ratio is the cost of the detector response, imaging and writing.
   Then the benchmark datasets: --events (half tt̄, half QCD; --workers processes) for
   training and --test-events with another seed for the test.
2. Training throughput on this CPU: training steps (forward + backward + Adam, batch 64) and
   inference of the small CNN and ResNet-18 at 100 × 100 and 50 × 50, images/s (median of
   5 steps); ratio to the small CNN at the same resolution.
3. tt̄ vs QCD: the small CNN and ResNet-18 trained with the generic trainer (Adam,
   lr 5·10⁻⁴ and cross-entropy as in study B, batch 64, 10 % validation, φ-roll/η/φ-flip
   augmentation) at --resolution (the 100 × 100 files re-imaged from their stored towers
   and tracks) and the CNN also at 100 × 100; accuracy, AUC and background rejection on the
   test file.
4. Particle identification: γ / π0 / neutron showers (10–100 GeV log-uniform, π0 decaying
   150 cm upstream) in course_pbwo4, labelled by PDG id; the cnn on the ECAL cell grid +
   layer energies and an MLP on layer energies + high-level features; confusion matrices on
   a test file. Neutrons need the hadronic simulation (issue 7); without it the benchmark
   runs γ / π0 and says so.

Results: benchmarks/results/events.json (written after every step).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, machine, median, save  # noqa: E402

log = logging.getLogger("bench_events")


def load_average() -> float:
    return os.getloadavg()[0]


def strict(obj: Any) -> Any:
    """JSON-safe copy: NaN and ±inf (e.g. a rejection with no background left) become None."""
    import math

    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict(v) for v in obj]
    return obj


def generation_rates(repeats: int, chunk: int) -> list[dict[str, Any]]:
    """events/s of the whole chain and of Pythia alone, per process, one process; and the
    time of the detector response and of the imaging alone on the same events."""
    import numpy as np

    from calolab.events.generate import Unit, generate_chunk
    from calolab.events.images import ImageConfig, make_images
    from calolab.events.pythia import GeneratorConfig, generate_particles
    from calolab.events.response import atlas_card, detector_response

    card = atlas_card()
    cfg_img = ImageConfig()
    rows = []
    for name in ("ttbar", "qcd"):
        cfg = GeneratorConfig(name, pthat_min_gev=1000.0)
        full, pythia, response, imaging = [], [], [], []
        for r in range(repeats):
            t0 = time.perf_counter()
            particles, _ = generate_particles(cfg, chunk, seed=100 + r, chunk=r)
            pythia.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            obj = detector_response(particles, card, np.random.default_rng(r))
            response.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            make_images(obj, cfg_img)
            imaging.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            obj = generate_chunk(cfg, card, Unit(0, r, chunk), seed=100 + r)
            make_images(obj, cfg_img)
            full.append(time.perf_counter() - t0)
        n_tow = float(np.mean(np.diff(obj.towers.offsets)))
        n_trk = float(np.mean(np.diff(obj.tracks.offsets)))
        n_par = float(np.mean(np.diff(particles.table.offsets)))
        share = (median(response) + median(imaging)) / median(pythia)
        rows.append(
            {
                "process": name,
                "events_per_chunk": chunk,
                "repeats": repeats,
                "full_seconds": full,
                "pythia_seconds": pythia,
                "response_seconds": response,
                "imaging_seconds": imaging,
                "full_rate": chunk / median(full),
                "pythia_rate": chunk / median(pythia),
                "response_ms_per_event": 1e3 * median(response) / chunk,
                "imaging_ms_per_event": 1e3 * median(imaging) / chunk,
                "response_and_imaging_over_pythia": share,
                "particles_per_event": n_par,
                "towers_per_event": n_tow,
                "tracks_per_event": n_trk,
            }
        )
        print(
            f"| {name} | {chunk / median(full):.1f} | {chunk / median(pythia):.1f} | "
            f"{1e3 * median(response) / chunk:.2f} | {1e3 * median(imaging) / chunk:.2f} | "
            f"{share:.3f} | {n_par:.0f} | {n_tow:.0f} | {n_trk:.0f} |",
            flush=True,
        )
    return rows


def throughput(resolutions: list[int]) -> list[dict[str, Any]]:
    import torch

    from calolab.models import ModelConfig, build_model

    rows = []
    for res in resolutions:
        base = None
        for name in ("cnn", "resnet18"):
            torch.manual_seed(0)
            m = build_model(
                ModelConfig(name), {"image": (3, res, res)}, task="classification", n_outputs=2
            )
            x = torch.rand(64, 3, res, res)
            y = torch.randint(0, 2, (64,))
            opt = torch.optim.Adam(m.parameters(), lr=5e-4)
            train_t, infer_t = [], []
            for i in range(6):
                m.train()
                t0 = time.perf_counter()
                opt.zero_grad()
                torch.nn.functional.cross_entropy(m({"image": x}), y).backward()
                opt.step()
                if i:
                    train_t.append(time.perf_counter() - t0)
                m.eval()
                t0 = time.perf_counter()
                with torch.no_grad():
                    m({"image": x})
                if i:
                    infer_t.append(time.perf_counter() - t0)
            tr, inf = 64 / median(train_t), 64 / median(infer_t)
            base = base or tr
            n_par = sum(p.numel() for p in m.parameters())
            rows.append(
                {
                    "model": name,
                    "resolution": res,
                    "parameters": n_par,
                    "train_images_per_s": tr,
                    "inference_images_per_s": inf,
                    "train_seconds": train_t,
                    "inference_seconds": infer_t,
                    "ratio_to_cnn": tr / base,
                }
            )
            print(
                f"| {name} | {res}×{res} | {n_par:,} | {tr:.1f} | {inf:.1f} | {tr / base:.2f} |",
                flush=True,
            )
    return rows


def train_eval(
    name: str,
    model: str,
    options: dict[str, Any],
    train_file: Path,
    test_file: Path,
    workdir: Path,
    epochs: int,
    *,
    classes: tuple[str, ...],
    kind: str,
    data_options: dict[str, Any] | None = None,
    batch_size: int = 64,
) -> dict[str, Any]:
    import shutil

    from calolab.evaluation.evaluate import evaluate_run
    from calolab.models import ModelConfig
    from calolab.training import DataConfig, TrainConfig, load_run, train

    cfg = TrainConfig(
        model=ModelConfig(model, options),
        data=DataConfig(
            str(train_file),
            kind=kind,
            target="particle",
            classes=classes,
            val_fraction=0.1,
            options=data_options or {},
        ),
        task="classification",
        loss="cross-entropy",
        optimizer="adam",
        lr=5e-4,
        weight_decay=0.0,
        schedule="none",
        epochs=epochs,
        batch_size=batch_size,
        patience=None,
        seed=1,
        device="cpu",
    )
    run_dir = workdir / f"run_{name}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    t0 = time.perf_counter()
    res = train(cfg, run_dir)
    wall = time.perf_counter() - t0
    r = evaluate_run(load_run(run_dir), test_file, workdir / f"eval_{name}")
    c = r.classification
    assert c is not None
    m = {
        "n_events": r.n_events,
        "accuracy": c.accuracy,
        "auc": {p.name: p.auc for p in c.pairs},
        "rejection": {
            p.name: {f"{w.efficiency:g}": w.rejection_text() for w in p.working_points}
            for p in c.pairs
        },
        "confusion_matrix": [list(row) for row in c.confusion_matrix],
        "classes": list(c.classes),
    }
    hist = [ln.split(",") for ln in (run_dir / "history.csv").read_text().splitlines()]
    out = {
        "name": name,
        "model": model,
        "options": options,
        "data_options": data_options or {},
        "epochs": epochs,
        "n_train": res.members[0].n_train,
        "n_val": res.members[0].n_val,
        "n_test": m["n_events"],
        "train_wall_seconds": wall,
        "train_samples_per_second": res.summary["samples_per_second"],
        "parameters": res.members[0].n_parameters,
        "history": hist,
        "accuracy": m["accuracy"],
        "auc": m["auc"],
        "rejection": m["rejection"],
        "confusion_matrix": m["confusion_matrix"],
        "classes": m["classes"],
        "load_average": load_average(),
    }
    print(
        f"{name}: accuracy {100 * m['accuracy']:.1f} %  AUC {m['auc']}  "
        f"({wall / 60:.1f} min, {res.summary['samples_per_second']:.0f} samples/s)",
        flush=True,
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--test-events", type=int, default=2_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rate-chunk", type=int, default=100)
    ap.add_argument("--resolution", type=int, default=50)
    ap.add_argument("--epochs-cnn", type=int, default=6)
    ap.add_argument("--epochs-resnet", type=int, default=4)
    ap.add_argument("--pid-events", type=int, default=6_000, help="training showers (all classes)")
    ap.add_argument("--pid-epochs", type=int, default=8)
    ap.add_argument("--workdir", help="keep the datasets here (default: a temporary directory)")
    ap.add_argument(
        "--skip",
        default="",
        help="comma-separated steps to skip: rates,throughput," "generate,ttbar,cnn100,pid",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads [1: on a shared machine, 2 threads were 3-10x slower than 1]",
    )
    ap.add_argument("--quick", action="store_true", help="tiny sizes, to test the script")
    args = ap.parse_args()
    if args.quick:
        args.events, args.test_events, args.repeats, args.rate_chunk = 80, 40, 1, 10
        args.epochs_cnn, args.epochs_resnet, args.pid_events, args.pid_epochs = 1, 1, 90, 1
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    logging.basicConfig(level=logging.WARNING)
    tmp = None
    if args.workdir:
        workdir = Path(args.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory()
        workdir = Path(tmp.name)
    import torch

    torch.set_num_threads(args.threads)
    out_name = "events_quick" if args.quick else "events"
    previous = RESULTS / f"{out_name}.json"
    results: dict[str, Any] = {}
    if skip and previous.exists():  # a partial re-run updates the earlier results
        results = json.loads(previous.read_text())
    results.update(
        {
            "command": " ".join(sys.argv),
            "torch_threads": torch.get_num_threads(),
            "load_average_start": load_average(),
            "args": vars(args),
        }
    )

    def checkpoint() -> None:
        results["load_average_now"] = load_average()
        save(out_name, strict(results))

    print(f"machine: {machine()}; load average {load_average():.1f}", flush=True)
    t_start = time.perf_counter()

    # 1. generation rate and datasets ------------------------------------------------------
    from calolab.events.generate import generate_events
    from calolab.events.hdf5 import reimage_file
    from calolab.events.images import ImageConfig
    from calolab.events.pythia import GeneratorConfig

    if "rates" not in skip:
        print(
            "\n| process | events/s (Pythia + response + images) | events/s (Pythia alone) | "
            "response ms/event | imaging ms/event | (response + imaging) / Pythia | "
            "particles/event | towers/event | tracks/event |\n|---|---|---|---|---|---|---|---|---|",
            flush=True,
        )
        results["generation"] = generation_rates(args.repeats, args.rate_chunk)
        checkpoint()
    procs = [
        GeneratorConfig("ttbar", pthat_min_gev=1000.0),
        GeneratorConfig("qcd", pthat_min_gev=1000.0),
    ]
    train100, test100 = workdir / "ttbar_qcd_train.h5", workdir / "ttbar_qcd_test.h5"
    if "generate" not in skip or not train100.exists():
        datasets = {}
        for path, n, seed in ((train100, args.events, 1), (test100, args.test_events, 2)):
            rep = generate_events(procs, n, path, seed=seed, workers=args.workers)
            datasets[path.name] = {
                "events": n,
                "seconds": rep.seconds,
                "events_per_second": rep.events_per_second,
                "workers": args.workers,
                "file_mb": path.stat().st_size / 1e6,
                "load_average": load_average(),
            }
            print(
                f"generated {path.name}: {n} events in {rep.seconds:.0f} s "
                f"({rep.events_per_second:.1f} events/s with {args.workers} workers)",
                flush=True,
            )
        results["datasets"] = datasets
        checkpoint()

    # 2. throughput -----------------------------------------------------------------------
    if "throughput" not in skip:
        print(
            "\n| model | image | parameters | train images/s | inference images/s | "
            "train ratio to cnn |\n|---|---|---|---|---|---|",
            flush=True,
        )
        results["throughput"] = throughput(sorted({100, args.resolution}, reverse=True))
        checkpoint()

    # 3. tt̄ vs QCD ------------------------------------------------------------------------
    res = args.resolution
    if res != 100:
        train_r, test_r = workdir / f"train_{res}.h5", workdir / f"test_{res}.h5"
        cfg_r = ImageConfig(n_eta=res, n_phi=res)
        for src, dst in ((train100, train_r), (test100, test_r)):
            if not dst.exists():
                reimage_file(src, dst, cfg_r)
    else:
        train_r, test_r = train100, test100
    classes = ("ttbar", "qcd")
    if "ttbar" not in skip or "cnn100" not in skip:
        results["ttbar_vs_qcd"] = [
            r
            for r in results.get("ttbar_vs_qcd", [])
            if ("ttbar" in skip and r["resolution"] == res)
            or ("cnn100" in skip and r["name"] == "cnn_100")
        ]
    if "ttbar" not in skip:
        for name, model, opts, epochs in (
            (f"cnn_{res}", "cnn", {}, args.epochs_cnn),
            (f"resnet18_{res}", "resnet18", {}, args.epochs_resnet),
        ):
            r = train_eval(
                name, model, opts, train_r, test_r, workdir, epochs, classes=classes, kind="images"
            )
            r["resolution"] = res
            results["ttbar_vs_qcd"].append(r)
            checkpoint()
    if "cnn100" not in skip and res != 100:
        r = train_eval(
            "cnn_100",
            "cnn",
            {},
            train100,
            test100,
            workdir,
            args.epochs_cnn,
            classes=classes,
            kind="images",
        )
        r["resolution"] = 100
        results["ttbar_vs_qcd"].append(r)
        checkpoint()

    # 4. particle identification -----------------------------------------------------------
    if "pid" not in skip:
        results["pid"] = pid(args, workdir)
        checkpoint()
    results["total_minutes"] = (time.perf_counter() - t_start) / 60
    path = save(out_name, strict(results))
    print(f"\nwrote {path} ({results['total_minutes']:.1f} min)")
    if tmp is not None:
        tmp.cleanup()


def pid(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from calolab.core.errors import ConfigError
    from calolab.geometry import preset
    from calolab.simulation import ParticleGun, simulate_to_file, simulator_for

    det = preset("course_pbwo4")
    particles = ["gamma", "pi0", "neutron"]
    note = None
    try:
        simulator_for(det, "fast").check_gun(ParticleGun("neutron", "log:10:100"))
    except ConfigError as exc:
        particles = ["gamma", "pi0"]
        note = f"neutrons not simulated by this build ({exc})"
        print(f"PID: {note}; running γ / π0 only", flush=True)
    guns = [ParticleGun(p, "log:10:100", vertex_distance_cm=150.0) for p in particles]
    files = {}
    sim_rate = {}
    for split, n, seed in (("train", args.pid_events, 11), ("test", args.pid_events // 4, 12)):
        path = workdir / f"pid_{split}.h5"
        t0 = time.perf_counter()
        simulate_to_file(path, det, guns, n, seed=seed)
        sim_rate[split] = n / (time.perf_counter() - t0)
        files[split] = path
    out: dict[str, Any] = {
        "detector": det.name,
        "particles": particles,
        "energy": "log-uniform 10–100 GeV",
        "vertex_distance_cm": 150.0,
        "n_train_file": args.pid_events,
        "n_test_file": args.pid_events // 4,
        "simulation_showers_per_second": sim_rate,
        "note": note,
        "runs": [],
    }
    for name, model, opts in (
        ("pid_cnn", "cnn", {"input": "grid", "scalars": "layers"}),
        ("pid_mlp", "mlp", {"features": "layers+highlevel"}),
    ):
        r = train_eval(
            name,
            model,
            opts,
            files["train"],
            files["test"],
            workdir,
            args.pid_epochs,
            classes=tuple(particles),
            kind="showers",
            batch_size=128,
        )
        out["runs"].append(r)
        print("confusion (rows true, columns predicted):", json.dumps(r["confusion_matrix"]))
    return out


if __name__ == "__main__":
    main()

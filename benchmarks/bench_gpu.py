"""Training and inference throughput of the 3D CNN on CPU and on a CUDA GPU (issue 3).

The muon study's model (study D): a 3D CNN over the full 50 × 32 × 32 ``muon_block`` grid with
the high-level features as scalars, huberised fractional loss, batch 64. One process trains the
same configuration, on the same simulated file, three times: on the CPU (all cores PyTorch
takes), on the GPU in float32, and on the GPU with mixed precision (float16 autocast + gradient
scaling). Training throughput is the median over epochs of training events / training seconds
(``history.csv``; the first epoch, which includes CUDA start-up and cuDNN autotuning, is
dropped); the inference rate is the median of 3 passes of ``load_run(...).predict`` over the file
after a warm-up. The ratio column compares with the CPU run of the same process.

Usage::

    python benchmarks/bench_gpu.py [--events 4000] [--epochs 4] [--workdir DIR]

Without a CUDA device only the CPU row is measured. Results: ``benchmarks/results/gpu.json``.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import save  # noqa: E402

from calolab.models import ModelConfig  # noqa: E402
from calolab.simulation import ParticleGun, simulate_to_file  # noqa: E402
from calolab.training import DataConfig, TrainConfig, load_run, train  # noqa: E402

MODEL = ModelConfig(
    "cnn3d", {"channels": [8, 16, 32], "pool_first": [1, 2, 2], "scalars": "highlevel"}
)


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _epoch_rates(run_dir: Path) -> list[float]:
    with open(run_dir / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    rates = [float(r["samples_per_second"]) for r in rows]
    return rates[1:] if len(rates) > 1 else rates


def resident_step_rate(run: Any, src: Any, device: str, amp: bool, steps: int = 30) -> float:
    """Training steps on one batch already on the device: the model's ceiling (no data reading)."""
    net = run.model.members[0].train()
    ds = src.dataset(np.arange(64), batch_size=64, shuffle=False)
    batch = next(iter(ds))
    inputs = {k: v.to(device) for k, v in batch["inputs"].items()}
    target = batch["target"].to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler("cuda") if amp else None

    def one() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
            loss = torch.mean((net(inputs).float() / target - 1.0) ** 2)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()

    for _ in range(5):
        one()
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    if device == "cuda":
        torch.cuda.synchronize()
    return steps * len(target) / (time.perf_counter() - t0)


def measure(data: Path, work: Path, device: str, amp: bool, epochs: int) -> dict[str, Any]:
    name = f"{device}{'-amp' if amp else ''}"
    cfg = TrainConfig(
        model=MODEL,
        data=DataConfig(str(data)),
        loss="huber-frac",
        epochs=epochs,
        batch_size=64,
        patience=None,
        device=device,
        amp=amp,
        seed=1,
    )
    _log(f"train {name}")
    res = train(cfg, work / name)
    rates = _epoch_rates(work / name)
    run = load_run(work / name, device=device)
    with run.open_data(data) as src:
        run.predict(src)  # warm-up
        inf = []
        for _ in range(3):
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            pred = run.predict(src)
            if device == "cuda":
                torch.cuda.synchronize()
            inf.append(len(pred.value) / (time.perf_counter() - t0))
        step = resident_step_rate(run, src, device, amp)
    return {
        "device": device,
        "amp": amp,
        "train_events_per_s": statistics.median(rates),
        "resident_batch_events_per_s": step,
        "epoch_rates": rates,
        "inference_events_per_s": statistics.median(inf),
        "best_val_loss": res.members[0].best_val_loss,
        "peak_gpu_memory_mb": res.summary.get("peak_gpu_memory_mb"),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=4000)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/calolab-bench-gpu"))
    a = ap.parse_args(argv)
    a.workdir.mkdir(parents=True, exist_ok=True)
    data = a.workdir / f"muons_{a.events}.h5"
    if not data.exists():
        _log(f"simulate {a.events} muons into muon_block")
        t0 = time.perf_counter()
        simulate_to_file(data, "muon_block", ParticleGun("mu-", "100:4000"), a.events, seed=7)
        _log(f"  {time.perf_counter() - t0:.0f} s")
    runs = [("cpu", False)]
    if torch.cuda.is_available():
        runs += [("cuda", False), ("cuda", True)]
    rows = []
    for device, amp in runs:
        work = a.workdir / "runs"
        work.mkdir(exist_ok=True)
        shutil.rmtree(work / f"{device}{'-amp' if amp else ''}", ignore_errors=True)
        rows.append(measure(data, work, device, amp, a.epochs))
    base = rows[0]
    for r in rows:
        r["train_ratio_vs_cpu"] = r["train_events_per_s"] / base["train_events_per_s"]
        r["inference_ratio_vs_cpu"] = r["inference_events_per_s"] / base["inference_events_per_s"]
    out = {
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "events": a.events,
        "epochs": a.epochs,
        "model": MODEL.to_dict(),
        "rows": rows,
    }
    save("gpu", out)
    print(
        "| device | train events/s | ratio | resident-batch steps, events/s "
        "| inference events/s | ratio | peak GPU MB |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        name = r["device"] + (" + AMP" if r["amp"] else "")
        gpu = r["peak_gpu_memory_mb"]
        print(
            f"| {name} | {r['train_events_per_s']:,.0f} | {r['train_ratio_vs_cpu']:.1f}× "
            f"| {r['resident_batch_events_per_s']:,.0f} "
            f"| {r['inference_events_per_s']:,.0f} | {r['inference_ratio_vs_cpu']:.1f}× "
            f"| {'' if gpu is None else f'{gpu:,.0f}'} |"
        )


if __name__ == "__main__":
    main()

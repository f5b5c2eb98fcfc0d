"""Wall time of ``calolab demo`` (issue 6), and the numbers its report shows.

    python benchmarks/bench_demo.py [--skip-full] [--output DIR]

Runs ``calolab demo --quick`` and then the full ``calolab demo`` (what ``make demo`` runs),
each in a fresh directory as a child process; records wall time, peak memory, the time of
each stage (from ``demo.json``) and, for the full demo, the MLP against the sum of cells on
every design and particle (relative RMSE, paired over the same test events). The comparison
is the quick demo, run the same way just before. Results: ``benchmarks/results/demo.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import child_peak_rss_mib, machine, save  # noqa: E402


def load_average() -> float:
    return os.getloadavg()[0]


def run(out: Path, quick: bool) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "calolab.cli.main", "demo", "--no-progress", "-o", str(out)]
    if quick:
        cmd.append("--quick")
    load_before = load_average()
    rss, wall = child_peak_rss_mib(cmd)
    summary = json.loads((out / "demo.json").read_text())
    mlp = [
        {
            k: r[k]
            for k in (
                "design",
                "particle",
                "rmse_rel",
                "rmse_ratio_to_sum",
                "msre_diff_to_sum",
                "msre_diff_err",
                "resolution_10",
                "resolution_50",
            )
        }
        for r in summary["table"]
        if r["model"] == "mlp"
    ]
    return {
        "command": "calolab demo" + (" --quick" if quick else ""),
        "wall_seconds": wall,
        "peak_rss_mib": rss,
        "stages_seconds": summary["timings_s"],
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "events_per_design": (summary["config"]["n_train"] + summary["config"]["n_test"])
        * len(summary["config"]["particles"]),
        "mlp_vs_sum": mlp,
        "report_bytes": (out / "report.html").stat().st_size,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-full", action="store_true", help="only the quick demo")
    ap.add_argument("--output", help="directory for the demo outputs [a temporary one]")
    args = ap.parse_args()
    base = Path(args.output) if args.output else Path(tempfile.mkdtemp(prefix="calolab-bench-"))
    results = {"quick": run(base / "quick", quick=True)}
    if not args.skip_full:
        results["full"] = run(base / "full", quick=False)
        results["ratio_full_to_quick"] = (
            results["full"]["wall_seconds"] / results["quick"]["wall_seconds"]
        )
    path = save("demo", {"machine_description": machine(), **results})
    for r in results.values():
        if isinstance(r, dict):
            print(
                f"{r['command']}: {r['wall_seconds']:.0f} s wall, {r['peak_rss_mib']:.0f} MiB, "
                f"stages {', '.join(f'{k} {v:.0f} s' for k, v in r['stages_seconds'].items())}, "
                f"load {r['load_average_before']:.1f}→{r['load_average_after']:.1f}"
            )
            for m in r["mlp_vs_sum"]:
                print(
                    f"  {m['design']} {m['particle']}: MLP RMSE_rel {100 * m['rmse_rel']:.1f}% "
                    f"= {m['rmse_ratio_to_sum']:.2f} × sum "
                    f"({-m['msre_diff_to_sum'] / m['msre_diff_err']:.0f} s.e.)"
                )
    print(f"results: {path}")


if __name__ == "__main__":
    main()

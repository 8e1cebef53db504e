"""Time the study run against its targets and write benchmarks/STUDY_TIMES.md.

    python benchmarks/bench_study.py [--repeats 3] [--skip-quick]

Measures, each as a fresh `python run_all.py` process (so imports count):
the smoke profile from nothing (median of --repeats), the quick profile from
nothing (once: it takes minutes), the quick profile again with nothing changed,
and `--only plot --force` on the finished quick run (medians of --repeats).
Each run's CPU time (its process and the worker processes it waited for) is
reported as CPU / wall, the number of cores kept busy on average.
Targets: smoke < 90 s, quick < 15 min, unchanged rerun < 10 s, plot < 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: STUDY_TIMES.md keeps what follows this heading when the script rewrites the file.
EARLIER = "## Earlier runs"


#: CPU / wall of every timed run, in order.
CPU_RATIOS: list[float] = []


def timed(args: list[str]) -> float:
    """Wall seconds of one `run_all.py` process; its CPU / wall goes to :data:`CPU_RATIOS`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(ROOT / "run_all.py"), "--quiet", *args],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    CPU_RATIOS.append(cpu / wall)
    return wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-quick", action="store_true", help="only the smoke profile")
    parser.add_argument("--keep", default=None, help="keep the quick run in this folder (must not exist)")
    args = parser.parse_args()
    rows = []
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:

        def measured(label: str, runs: list, target: float) -> None:
            ratios = CPU_RATIOS[-len(runs) :]
            rows.append((label, runs, statistics.median(ratios), target))

        smoke = []
        for k in range(args.repeats):
            out = Path(tmp) / f"smoke{k}"
            smoke.append(timed(["--profile", "smoke", "--out", str(out)]))
            shutil.rmtree(out)
        measured("smoke profile from nothing", smoke, 90)
        if not args.skip_quick:
            out = Path(args.keep) if args.keep else Path(tmp) / "quick"
            if out.exists():
                raise SystemExit(f"error: {out} already exists")
            measured("quick profile from nothing", [timed(["--out", str(out)])], 900)
            stages = json.loads((out / "timings.json").read_text())
            measured(
                "quick profile, nothing changed",
                [timed(["--out", str(out)]) for _ in range(args.repeats)],
                10,
            )
            plot = [timed(["--out", str(out), "--only", "plot", "--force"]) for _ in range(args.repeats)]
            measured("`--only plot --force` on the quick run", plot, 10)
    load.append(os.getloadavg()[0])
    lines = [
        "# Study run times",
        "",
        f"`python benchmarks/bench_study.py --repeats {args.repeats}` ({time.strftime('%Y-%m-%d')}), "
        f"each a fresh process on this {os.cpu_count()}-core machine (load average {load[0]:.2f} at the "
        f"start, {load[1]:.2f} at the end). *CPU / wall* is the run's CPU time, worker processes "
        "included, over its wall time: the cores it kept busy on average.",
        "",
        "| run | median seconds | all runs | CPU / wall | target |",
        "|---|---|---|---|---|",
    ]
    for label, times, ratio, target in rows:
        runs = ", ".join(f"{t:.1f}" for t in times)
        lines.append(f"| {label} | {statistics.median(times):.1f} | {runs} | {ratio:.2f} | < {target} |")
    if not args.skip_quick:
        lines += [
            "",
            "Stages of the quick run from nothing. The work stages run as one graph on the workers, so "
            "they overlap: *seconds* is a stage's span from its first unit starting to its last ending, "
            "*worker seconds* the sum of its units' times, *CPU / span* their CPU time over the span.",
            "",
            "| stage | seconds | worker seconds | CPU / span | units |",
            "|---|---|---|---|---|",
        ]
        for stage in ("sample", "thermometers", "transfer", "measure", "side", "plot", "report"):
            t = stages.get(stage)
            if t is None:
                continue
            worker = f"{t['worker_seconds']:.1f}" if "worker_seconds" in t else ""
            busy = f"{t['cpu_seconds'] / t['seconds']:.2f}" if t.get("cpu_seconds") and t["seconds"] else ""
            lines.append(f"| {stage} | {t['seconds']:.1f} | {worker} | {busy} | {t.get('ran', '')} |")
    path = ROOT / "benchmarks" / "STUDY_TIMES.md"
    earlier = path.read_text().split(EARLIER, 1)[1] if path.is_file() and EARLIER in path.read_text() else ""
    text = "\n".join(lines) + "\n" + (f"\n{EARLIER}{earlier}" if earlier else "")
    path.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

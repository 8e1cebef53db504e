"""Time the study run against its targets and write benchmarks/STUDY_TIMES.md.

    python benchmarks/bench_study.py [--repeats 3] [--skip-quick]

Measures, each as a fresh `python run_all.py` process (so imports count):
the smoke profile from nothing (median of --repeats), the quick profile from
nothing (once: it takes minutes), the quick profile again with nothing changed,
and `--only plot --force` on the finished quick run (medians of --repeats).
Targets: smoke < 90 s, quick < 15 min, unchanged rerun < 30 s, plot < 20 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(ROOT / "run_all.py"), "--quiet", *args],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-quick", action="store_true", help="only the smoke profile")
    parser.add_argument("--keep", default=None, help="keep the quick run in this folder (must not exist)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        smoke = []
        for k in range(args.repeats):
            out = Path(tmp) / f"smoke{k}"
            smoke.append(timed(["--profile", "smoke", "--out", str(out)]))
            shutil.rmtree(out)
        rows.append(("smoke profile from nothing", smoke, 90))
        if not args.skip_quick:
            out = Path(args.keep) if args.keep else Path(tmp) / "quick"
            if out.exists():
                raise SystemExit(f"error: {out} already exists")
            rows.append(("quick profile from nothing", [timed(["--out", str(out)])], 900))
            stages = json.loads((out / "timings.json").read_text())
            rows.append(
                (
                    "quick profile, nothing changed",
                    [timed(["--out", str(out)]) for _ in range(args.repeats)],
                    30,
                )
            )
            rows.append(
                (
                    "`--only plot --force` on the quick run",
                    [timed(["--out", str(out), "--only", "plot", "--force"]) for _ in range(args.repeats)],
                    20,
                )
            )
    lines = [
        "# Study run times",
        "",
        f"`python benchmarks/bench_study.py --repeats {args.repeats}`, "
        "each a fresh process on this two-core machine.",
        "",
        "| run | median seconds | all runs | target |",
        "|---|---|---|---|",
    ]
    for label, times, target in rows:
        runs = ", ".join(f"{t:.1f}" for t in times)
        lines.append(f"| {label} | {statistics.median(times):.1f} | {runs} | < {target} |")
    if not args.skip_quick:
        lines += ["", "Stages of the quick run from nothing:", "", "| stage | seconds |", "|---|---|"]
        order = ("sample", "thermometers", "transfer", "measure", "plot", "report")
        lines += [f"| {s} | {stages[s]['seconds']:.1f} |" for s in order if s in stages]
    text = "\n".join(lines) + "\n"
    (ROOT / "benchmarks" / "STUDY_TIMES.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

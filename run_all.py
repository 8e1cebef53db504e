"""Run the whole study: sample -> thermometers -> transfer -> measure -> plot -> report.

    python run_all.py                         # quick profile, square L = 32
    python run_all.py --profile smoke         # under a minute; what the tests run
    python run_all.py --lattice cubic --L 16  # swap in another lattice
    python run_all.py --only plot             # redraw figures from the saved tables
    python run_all.py --config study.toml     # anything else (see README)

Each unit of work is cached under a key of its configuration: a rerun does
only what changed. Bad configuration is refused before any work starts.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Retracing notices from predict() on many small arrays are expected here, not actionable.
logging.getLogger("tensorflow").setLevel(logging.ERROR)


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line (``run_all.py: error: ...``) and exit status 2, without the usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    from pipeline.config import PROFILES
    from pipeline.run import SCHEDULER_TIMEOUT, STAGES

    p = _Parser(prog="run_all.py", description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="quick", help=f"one of {', '.join(PROFILES)} (default quick)")
    p.add_argument("--lattice", default=None, help="registered lattice name (default square)")
    p.add_argument("--L", type=int, default=None, help="linear size of the fine lattice")
    p.add_argument("--seeds", type=int, default=None, help="number of independent seeds")
    p.add_argument("--config", default=None, help="TOML or YAML file overriding any setting")
    p.add_argument("--out", default=None, help="run folder (default runs/<profile>-<lattice>-L<L>)")
    p.add_argument("--only", default=None, help=f"run one stage: {', '.join(STAGES)}")
    p.add_argument("--force", action="store_true", help="redo the selected stages even if cached")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address for sampling and training")
    p.add_argument(
        "--scheduler-timeout",
        type=float,
        default=SCHEDULER_TIMEOUT,
        help=f"seconds to connect to the scheduler, handshake included (default {SCHEDULER_TIMEOUT:g})",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="local worker processes for independent units (default one per core; 1 = serial)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        from pipeline.config import build_config
        from pipeline.run import run_study

        config = build_config(args.profile, args.config, lattice=args.lattice, L=args.L, seeds=args.seeds)
        out = Path(args.out or f"runs/{config['profile']}-{config['lattice']}-L{config['L']}")
        started = time.perf_counter()
        run_study(
            config,
            out,
            only=args.only,
            force=args.force,
            scheduler=args.scheduler,
            scheduler_timeout=args.scheduler_timeout,
            progress=not args.quiet,
            workers=args.workers,
        )
        print(f"study finished in {time.perf_counter() - started:.1f} s: {out / 'report.md'}")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to continue where it stopped", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

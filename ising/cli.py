"""Command line: ``python -m ising sample|info|bench``.

Every user error becomes one line on stderr and exit status 2; no output file
is left behind by a failed run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from .autocorr import mean_error

__all__ = ["main"]

#: Seeds are 64-bit unsigned integers (stored as such in the HDF5 attributes).
SEED_LIMIT = 2**64


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line (``python -m ising ...: error: ...``) and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _seed(text: str) -> int:
    try:
        seed = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid seed {text!r}: not an integer") from None
    if not 0 <= seed < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"seed {seed} is outside [0, 2**64)")
    return seed


def _available_memory() -> int:
    """Bytes of memory available to a new allocation (MemAvailable, else physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _lattice_from_args(args):
    from .lattice import make_lattice

    kwargs = {} if args.b is None else {"b": args.b}
    if args.L < 1:
        raise ValueError(f"--L must be a positive integer, got {args.L}")
    try:
        return make_lattice(args.lattice, args.L, **kwargs)
    except MemoryError:
        raise ValueError(f"--L {args.L}: the lattice does not fit in memory") from None


def _add_model_args(p, need_T=True):
    p.add_argument("--lattice", default="square", help="registered lattice name (default: square)")
    p.add_argument("--L", type=int, required=True, help="linear size")
    p.add_argument("--b", type=int, default=None, help="linear block factor (default: the lattice's)")
    p.add_argument("--T", type=float, required=need_T, help="temperature (k_B = 1)")
    p.add_argument("--J", type=float, default=1.0, help="coupling, either sign (default 1)")
    p.add_argument("--h", type=float, default=0.0, help="field (default 0; Wolff needs 0)")
    p.add_argument(
        "--algorithm",
        default="auto",
        help="metropolis, wolff or auto (default: Wolff within 15 %% of T_c at h = 0, else Metropolis)",
    )
    p.add_argument("--seed", type=_seed, default=0, help="random seed in [0, 2**64) (default 0)")


def _cmd_sample(args):
    from .io import save_ensemble
    from .sampling import sample_ensemble

    if args.n < 1:
        raise ValueError(f"--n must be a positive integer, got {args.n}")
    out = Path(args.out)
    if args.out.endswith(("/", os.sep)) or out.is_dir():
        out = out / f"ising_{args.lattice}_L{args.L}_T{args.T:g}_seed{args.seed}.h5"
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ValueError(f"cannot create output folder {out.parent}: {err.strerror}") from None
    if out.exists() and not args.force:
        raise ValueError(f"{out} already exists; pass --force to overwrite it")
    if not out.parent.is_dir():
        raise ValueError(f"output folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise ValueError(f"output folder {out.parent} is not writable")
    lattice = _lattice_from_args(args)
    # the stored configurations unpacked (int8) and packed (1 bit a spin), with a factor 2 of headroom
    needed = 2 * args.n * lattice.n_sites * (1 + 1 / 8)
    if needed > _available_memory():
        raise ValueError(
            f"{args.n} configurations of {lattice.n_sites} spins need about {needed / 2**30:.3g} GiB; "
            f"this machine has {_available_memory() / 2**30:.3g} GiB available"
        )
    ens = sample_ensemble(
        lattice,
        args.T,
        args.n,
        J=args.J,
        h=args.h,
        algorithm=args.algorithm,
        seed=args.seed,
        progress=not args.quiet,
    )
    save_ensemble(out, ens, force=args.force)
    p = ens.params
    print(
        f"wrote {out}: {ens.n} configurations of {lattice.describe()} at T={p['T']:g} "
        f"({p['algorithm']}, tau_int={p['tau_int']:.3g}, every {p['sweeps_between']} {p['time_unit']}s)"
    )


def _cmd_info(args):
    from .io import load_ensemble

    ens = load_ensemble(args.file)
    p = ens.params
    n_sites = int(np.prod(ens.spins.shape[1:]))
    for key in sorted(p):
        print(f"{key:>22}: {p[key]}")
    print(f"{'configurations':>22}: {ens.n}")
    # Stored configurations are spaced by 2 tau_int, so they are nearly independent;
    # the error still uses the series' own tau estimate.
    for name, series in (
        ("energy per spin", ens.energy / n_sites),
        ("|m| per spin", np.abs(ens.magnetization) / n_sites),
    ):
        mean, err = mean_error(series)
        print(f"{name:>22}: {mean:.6f} ± {err:.6f}")


def _cmd_bench(args):
    from .sampling import KERNEL_PROBE_CALLS, MarkovChain

    if args.sweeps <= 0 or args.repeats <= 0:
        raise ValueError("--sweeps and --repeats must be positive integers")
    lattice = _lattice_from_args(args)
    chain = MarkovChain(lattice, args.T, J=args.J, h=args.h, algorithm=args.algorithm, seed=args.seed)
    chain.thermalize(min(args.sweeps, 20))  # JIT compilation and warm-up
    if chain.algorithm_ == "metropolis" and chain.fast_path and _threads() > 1:
        for _ in range(KERNEL_PROBE_CALLS):  # the chain's choice of serial or threaded kernel
            chain.advance(args.sweeps)
    runs = [_timed_updates(chain, args.sweeps, lattice.n_sites) for _ in range(args.repeats)]
    flips_per_ns = float(np.median([updates / seconds / 1e9 for updates, _, seconds in runs]))
    chosen = " (chosen by auto)" if args.algorithm == "auto" else ""
    if chain.algorithm_ == "metropolis":
        rates = f"flips_per_ns={flips_per_ns:.4f} (attempted spin flips per ns"
    else:
        clusters_per_s = float(np.median([clusters / seconds for _, clusters, seconds in runs]))
        rates = (
            f"flipped_spins_per_ns={flips_per_ns:.4f} clusters_per_s={clusters_per_s:.4g} "
            "(spins in flipped clusters per ns, cluster flips per s"
        )
    print(
        f"{lattice.describe()} T={args.T:g} algorithm={chain.algorithm_}{chosen} fast_path={chain.fast_path} "
        f"threads={_threads()} sweeps={args.sweeps} repeats={args.repeats} {rates}; medians)"
    )


def _timed_updates(chain, sweeps, n_sites):
    """Spin updates of ``sweeps`` sweeps' worth of work, the time units run, and the seconds they took.

    Metropolis attempts every site once a sweep (time unit: a sweep); Wolff
    updates are the spins of the flipped clusters (time unit: a cluster flip),
    run in blocks of 100 clusters until they reach sweeps * N.
    """
    start = time.perf_counter()
    if chain.algorithm_ == "metropolis":
        chain.advance(sweeps)
        updates, units = sweeps * n_sites, sweeps
    else:
        updates = units = 0
        while updates < sweeps * n_sites:
            updates += int(chain.advance(100).sum())
            units += 100
    return updates, units, time.perf_counter() - start


def _threads():
    import numba

    return numba.get_num_threads()


def _parser():
    parser = _Parser(prog="python -m ising", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sample", help="sample an equilibrium ensemble into an HDF5 file")
    _add_model_args(p)
    p.add_argument("--n", type=int, required=True, help="number of configurations")
    p.add_argument("--out", required=True, help="output .h5 file, or a folder when it ends in /")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_sample)
    p = sub.add_parser("info", help="print an ensemble's parameters and observables")
    p.add_argument("file")
    p.set_defaults(func=_cmd_info)
    p = sub.add_parser(
        "bench",
        help="time the sampler: attempted flips/ns (Metropolis) or flipped spins/ns and clusters/s (Wolff)",
    )
    _add_model_args(p)
    p.add_argument("--sweeps", type=int, default=500, help="sweeps' worth of updates to time (default 500)")
    p.add_argument(
        "--repeats", type=int, default=3, help="timed repetitions; the median is printed (default 3)"
    )
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        args.func(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: not enough memory for this lattice size and number of configurations", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0

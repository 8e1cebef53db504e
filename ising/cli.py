"""Command line: ``python -m ising sample|info|bench``.

Every user error becomes one line on stderr and exit status 2; no output file
is left behind by a failed run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from .autocorr import mean_error

__all__ = ["main"]


def _lattice_from_args(args):
    from .lattice import make_lattice

    kwargs = {} if args.b is None else {"b": args.b}
    return make_lattice(args.lattice, args.L, **kwargs)


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
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _cmd_sample(args):
    from .io import save_ensemble
    from .sampling import sample_ensemble

    out = Path(args.out)
    if out.exists() and not args.force:
        raise ValueError(f"{out} already exists; pass --force to overwrite it")
    if not out.parent.is_dir():
        raise ValueError(f"output folder {out.parent} does not exist")
    lattice = _lattice_from_args(args)
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
    parser = argparse.ArgumentParser(prog="python -m ising", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sample", help="sample an equilibrium ensemble into an HDF5 file")
    _add_model_args(p)
    p.add_argument("--n", type=int, required=True, help="number of configurations")
    p.add_argument("--out", required=True, help="output .h5 file")
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
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0

"""Sampler benchmark: flips per nanosecond, independent configurations per second, memory.

Run from the repository root::

    python benchmarks/bench_sampler.py               # writes benchmarks/RESULTS.md
    python benchmarks/bench_sampler.py --repeats 3 --out results.md

1. Attempted spin updates per nanosecond at T_c for L = 32, 64, 128, 256: the
   packed Metropolis kernel (attempted flips; every site once a sweep) serial and
   threaded over all of ``NUMBA_NUM_THREADS``, and Wolff (spins of the flipped
   clusters) on one thread. Timed after warm-up and JIT compilation; the median
   of ``--repeats`` runs. One-thread rates are in CPU time of the timing thread
   (time.thread_time), so other jobs on a shared machine do not enter, and in
   wall time; rates on several threads are in wall time, each run right after a
   serial one, and the speed-up is the median ratio of such pairs. The same
   rounds also time one independent chain per thread in one parallel launch
   (nothing shared, nothing waited for): the most that many threads of this
   kernel achieve on the machine, against which the threaded kernel's speed-up
   is read.
2. Independent configurations per second at T_c for L = 16, 32, 64, one thread:
   (time units per CPU second) / (2 tau_int of |m|), Sokal's tau_int = 1/2 + sum rho
   (automatic window, ising.autocorr) from one series at least 20000 tau_int long (about 3 %
   error), the rate the
   median of ``--repeats`` timed runs without measurements.
3. Memory of one 256 x 256 chain sampling 1000 configurations with
   ``sample_ensemble`` in a fresh process: resident set size before sampling and
   its peak while sampling (Linux: VmHWM, restarted through /proc/self/clear_refs),
   and the peak of NumPy allocations (tracemalloc) during sampling.
4. The ``python -m ising bench`` line at L = 128, T_c (Wolff, as ``sample`` would
   choose, and Metropolis on one and on all threads).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np
from numba import njit, prange

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ising import _fast_square as fs  # noqa: E402
from ising._rng import seed_states  # noqa: E402
from ising.autocorr import tau_int  # noqa: E402
from ising.lattice import CRITICAL_TEMPERATURES, square  # noqa: E402
from ising.sampling import MarkovChain  # noqa: E402

TC = float(CRITICAL_TEMPERATURES["square"])


@njit(parallel=True)
def _independent_chains(words, n_sweeps, states, classes, digits, lanes, used, odd):
    """``n_sweeps`` serial sweeps of each of the chains ``words[i]``, ``states[i]``, one per thread."""
    for i in prange(words.shape[0]):
        fs.metropolis_sweeps(words[i], n_sweeps, states[i], classes, digits, lanes, used, odd)


def metropolis_kernel_rates(L: int, threads: int, repeats: int, updates: float = 1e9) -> dict:
    """Attempted flips per ns of the packed Metropolis kernel on one thread and on ``threads`` bands.

    Each of ``repeats`` rounds times the serial kernel (CPU and wall time), the
    threaded kernel (wall time) on the same chain, and ``threads`` independent
    chains on as many threads (wall time, all their flips), so all three see the
    same machine; the speed-ups are the medians of the rounds' wall-time ratios
    to the serial run. Returns medians: ``serial_cpu``, ``serial_wall``,
    ``threaded``, ``speedup`` (and ``speedup_quartiles``), ``independent``,
    ``independent_speedup`` and ``share`` (threaded / independent; all but the
    first two None when ``threads`` is 1). At most one thread runs per packed
    column (L / 2). Arrays start on a cache line, as in a chain.
    """
    lanes, rows, cols = fs.layout(L)
    used, odd = fs.lane_masks(L)
    tables = fs.acceptance_tables(1.0 / TC, 1.0, 0.0)
    words = fs.cache_aligned(fs.pack(np.ones((L, L), dtype=np.int8), lanes, rows))
    states = fs.cache_aligned(seed_states(1, cols))

    def serial(sweeps):
        fs.metropolis_sweeps(words, sweeps, states, *tables, lanes, used, odd)

    def threaded(sweeps):
        # a decline (threads not all started within the spin limit) changes nothing: try again
        for _ in range(5):
            if fs.metropolis_sweeps_threaded(words, sweeps, states, *tables, lanes, used, odd, threads):
                return
        raise RuntimeError(f"the threaded kernel declined five times: {threads} threads did not run at once")

    threads = min(threads, cols)
    numba.set_num_threads(threads)
    serial(100)  # compilation and relaxation from the ordered start
    # one chain per thread, each in its own cache-aligned arrays
    many_words = fs.cache_aligned(np.stack([words] * threads))
    many_states = fs.cache_aligned(np.stack([seed_states(2 + i, cols) for i in range(threads)]))

    def independent(sweeps):
        _independent_chains(many_words, sweeps, many_states, *tables, lanes, used, odd)

    if threads > 1:
        threaded(10)
        independent(10)
    sweeps = max(20, int(updates / (L * L)))
    flips = sweeps * L * L / 1e9
    cpu, wall, par, ratio, ind, ind_ratio, share = [], [], [], [], [], [], []
    for _ in range(repeats):
        start_cpu, start_wall = time.thread_time(), time.perf_counter()
        serial(sweeps)
        cpu.append(flips / (time.thread_time() - start_cpu))
        wall.append(flips / (time.perf_counter() - start_wall))
        if threads > 1:
            start_wall = time.perf_counter()
            threaded(sweeps)
            par.append(flips / (time.perf_counter() - start_wall))
            ratio.append(par[-1] / wall[-1])
            start_wall = time.perf_counter()
            independent(sweeps)
            ind.append(threads * flips / (time.perf_counter() - start_wall))
            ind_ratio.append(ind[-1] / wall[-1])
            share.append(par[-1] / ind[-1])

    def median(values):
        return float(np.median(values)) if values else None

    def quartiles(values):
        return tuple(float(q) for q in np.percentile(values, [25, 75])) if values else None

    return {
        "serial_cpu": median(cpu),
        "serial_wall": median(wall),
        "threaded": median(par),
        "speedup": median(ratio),
        "speedup_quartiles": quartiles(ratio),
        "independent": median(ind),
        "independent_speedup": median(ind_ratio),
        "share": median(share),
    }


def wolff_flips_per_ns(L: int, repeats: int, updates: float = 5e7) -> float:
    """Median spins flipped per ns by the chain's Wolff updates at T_c, one thread."""
    numba.set_num_threads(1)
    chain = MarkovChain(square(L), TC, algorithm="wolff", seed=1)
    chain.thermalize(50)
    rates = []
    for _ in range(repeats):
        start = time.thread_time()
        done = 0
        while done < updates:
            done += int(chain.advance(50).sum())
        rates.append(done / (time.thread_time() - start) / 1e9)
    return float(np.median(rates))


#: Length of the |m| series for tau_int, in units of tau_int: relative error about sqrt(24 / this).
SERIES_TAUS = 20000


def independent_per_second(L: int, algorithm: str, repeats: int) -> dict:
    """tau_int of |m| (time units), time units per second, and their ratio / 2, at T_c on one thread."""
    numba.set_num_threads(1)
    chain = MarkovChain(square(L), TC, algorithm=algorithm, seed=2)
    chain.thermalize(1000)
    _, abs_m = chain.series(50000)
    while True:
        tau = tau_int(abs_m, quiet=True)
        if abs_m.size >= SERIES_TAUS * tau or abs_m.size >= 1 << 24:
            break
        _, more = chain.series(abs_m.size)
        abs_m = np.concatenate([abs_m, more])
    # Madras-Sokal: var(tau) ~ (4 M + 2) / n tau^2 with window M ~ 6 tau
    tau_err = tau * np.sqrt((4 * 6 * tau + 2) / abs_m.size)
    block = int(max(20 * tau, 2e8 / (L * L)))  # at least 20 tau and ~0.1 s
    rates = []
    for _ in range(repeats):
        start = time.thread_time()
        chain.advance(block)
        rates.append(block / (time.thread_time() - start))
    rate = float(np.median(rates))
    return {
        "tau": tau,
        "tau_err": tau_err,
        "series": abs_m.size,
        "rate": rate,
        "independent": rate / (2 * tau),
    }


MEMORY_CODE = """
import json, sys, time, tracemalloc
from pathlib import Path
sys.path.insert(0, {root!r})
from ising.lattice import square
from ising.sampling import sample_ensemble

def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024

lat = square(256)
sample_ensemble(lat, 3.0, 2, seed=0, min_thermalization=2)  # JIT compilation
before = status("VmRSS")
Path("/proc/self/clear_refs").write_text("5")  # restart the peak (VmHWM) from here
tracemalloc.start()
start = time.perf_counter()
ens = sample_ensemble(lat, 3.0, 1000, seed=0)
seconds = time.perf_counter() - start
_, peak = tracemalloc.get_traced_memory()
print(json.dumps({{"rss_before_mb": before, "rss_peak_mb": status("VmHWM"),
                  "numpy_peak_mb": peak / 2**20, "spins_mb": ens.spins.nbytes / 2**20,
                  "seconds": seconds, "algorithm": ens.params["algorithm"],
                  "sweeps_between": ens.params["sweeps_between"]}}))
"""


def memory_256() -> dict:
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_CODE.format(root=str(ROOT))],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def cli_lines(all_threads: int) -> list[str]:
    """Output of ``python -m ising bench`` at L = 128, T_c for both samplers and thread counts."""
    base = [sys.executable, "-m", "ising", "bench", "--lattice", "square", "--L", "128"]
    base += ["--T", "2.269185", "--sweeps", "500", "--repeats", "5"]
    lines = []
    for extra, threads in (
        ([], 1),
        (["--algorithm", "metropolis"], 1),
        (["--algorithm", "metropolis"], all_threads),
    ):
        env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
        out = subprocess.run(base + extra, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
        lines.append(f"NUMBA_NUM_THREADS={threads} python -m ising bench {' '.join(base[4:] + extra)}")
        lines.append(f"  -> {out.stdout.strip()}")
    return lines


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per entry; medians are reported")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS.md"), help="markdown output")
    args = parser.parse_args(argv)
    if args.repeats <= 0:
        raise SystemExit("--repeats must be a positive integer")
    all_threads = numba.config.NUMBA_NUM_THREADS
    load_start = os.getloadavg()
    started = time.perf_counter()

    speed = []
    for L in (32, 64, 128, 256):
        row = {"L": L}
        row.update(metropolis_kernel_rates(L, all_threads, args.repeats))
        row["wolff_1"] = wolff_flips_per_ns(L, args.repeats)
        speed.append(row)
        print(row, flush=True)

    independent = []
    for L in (16, 32, 64):
        met = independent_per_second(L, "metropolis", args.repeats)
        wol = independent_per_second(L, "wolff", args.repeats)
        independent.append((L, met, wol))
        print(L, met, wol, flush=True)

    memory = memory_256()
    print(memory, flush=True)
    cli = cli_lines(all_threads)
    print("\n".join(cli), flush=True)
    load_end = os.getloadavg()

    lines = [
        "# Sampler benchmark",
        "",
        f"Measured with `python benchmarks/bench_sampler.py --repeats {args.repeats}` "
        f"({time.strftime('%Y-%m-%d')}, {time.perf_counter() - started:.0f} s).",
        f"Machine: {cpu_name()}, {os.cpu_count()} logical cores, shared with other jobs "
        f"(load average {load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end); "
        f"Python {platform.python_version()}, NumPy {np.__version__}, Numba {numba.__version__}, "
        f"threading layer {numba.threading_layer()}.",
        "",
        f"## Attempted updates per nanosecond at T_c = {TC:.6f} (medians of {args.repeats} runs)",
        "",
        "Metropolis: the multi-spin-coded checkerboard kernel (attempted flips / ns), serial on one",
        f"thread and over {all_threads} threads (one band of columns a thread, one launch a call, bands",
        f"waiting on their neighbours twice every {fs.BLOCK_HALF_SWEEPS} half-sweeps, or every",
        "(w + 1) // 2 on bands w columns wide). Each timed run is 1e9 attempted",
        "flips; every round times the serial kernel, then the threaded one on the same chain, then",
        f"{all_threads} independent chains, one a thread in one launch (nothing shared or waited for:",
        "the most this machine gives the kernel on that many threads), so all three see the same",
        "machine state; speed-ups are medians of the rounds' wall-time ratios to the serial run, and",
        "the share is the median of the rounds' threaded / independent rates (how much of the",
        "machine's parallel throughput the threaded kernel reaches). The CPU-time rate of the serial kernel",
        "does not count time other jobs hold the core.",
        "Wolff: spins in flipped clusters / ns (bit-parallel clusters on row words), one thread, CPU time.",
        "",
    ]
    many = all_threads > 1
    header = "| L | Metropolis, 1 thread (CPU time) | Metropolis, 1 thread (wall) |"
    if many:
        header += (
            f" Metropolis, {all_threads} threads (wall) | speed-up (quartiles) |"
            f" {all_threads} independent chains (wall) | their speed-up | share |"
        )
    lines += [header + " Wolff, 1 thread |", "|---" * (4 + 5 * many) + "|"]
    for row in speed:
        cells = [f"{row['serial_cpu']:.2f}", f"{row['serial_wall']:.2f}"]
        if many:
            q1, q3 = row["speedup_quartiles"]
            cells += [
                f"{row['threaded']:.2f}",
                f"{row['speedup']:.2f}x ({q1:.2f}-{q3:.2f})",
                f"{row['independent']:.2f}",
                f"{row['independent_speedup']:.2f}x",
                f"{row['share']:.0%}",
            ]
        cells.append(f"{row['wolff_1']:.3f}")
        lines.append(f"| {row['L']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Independent configurations per second at T_c, one thread",
        "",
        "(time units per CPU second) / (2 tau_int of |m|); time unit: a sweep (Metropolis) or a cluster",
        f"flip (Wolff). tau_int from one series >= {SERIES_TAUS} tau_int long (error: Sokal's estimate).",
        "",
        "| L | Metropolis tau_int | Metropolis sweeps/s | Metropolis indep./s "
        "| Wolff tau_int | Wolff clusters/s | Wolff indep./s | Wolff / Metropolis |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for L, met, wol in independent:
        lines.append(
            f"| {L} | {met['tau']:.1f} ± {met['tau_err']:.1f} | {met['rate']:.3g} | {met['independent']:.3g} "
            f"| {wol['tau']:.2f} ± {wol['tau_err']:.2f} | {wol['rate']:.3g} | {wol['independent']:.3g} "
            f"| {wol['independent'] / met['independent']:.1f} |"
        )
    lines += [
        "",
        "## Memory of one 256 x 256 chain, 1000 configurations",
        "",
        f"`sample_ensemble(square(256), T=3.0, n=1000)` ({memory['algorithm']}, every "
        f"{memory['sweeps_between']} sweeps, {memory['seconds']:.1f} s) in a fresh process:",
        "",
        f"- resident set size {memory['rss_before_mb']:.0f} MB before sampling (Python, NumPy, Numba "
        f"and the compiled kernels), peak {memory['rss_peak_mb']:.0f} MB while sampling, so the chain "
        f"and its stored configurations add {memory['rss_peak_mb'] - memory['rss_before_mb']:.0f} MB;",
        f"- peak NumPy allocation while sampling {memory['numpy_peak_mb']:.1f} MB: configurations are kept "
        f"at 1 bit a spin and unpacked once at the end into the {memory['spins_mb']:.1f} MB int8 array.",
        "",
    ]
    lines += [
        "## The command line",
        "",
        "Each timed run is one call of the chain's `advance` (500 sweeps; a few ms at L = 128), after",
        "a warm-up in which a Metropolis chain times its serial and threaded kernels and keeps the",
        "faster (`ising.sampling.KERNEL_PROBE_CALLS`).",
        "",
        "```",
        *cli,
        "```",
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

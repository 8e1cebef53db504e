"""Markov chains and equilibrium ensembles of the Ising model on any lattice.

H = -J sum_<ij> s_i s_j - h sum_i s_i, k_B = 1. Two algorithms work from the
lattice's neighbour table alone: colour-class Metropolis (time unit: one sweep,
every site once) and Wolff cluster updates at h = 0 (time unit: one cluster
flip). Equilibrium is measured, not assumed (see :func:`sample_ensemble`).
"""

from __future__ import annotations

import math
import time

import numba
import numpy as np

from . import __version__, _fast_square, _kernels
from ._rng import seed_states
from .autocorr import AutocorrelationError, tau_int
from .io import Ensemble
from .lattice import Lattice
from .progress import progress_bar

__all__ = [
    "ALGORITHMS",
    "MIN_REJECTION",
    "PILOT_TAUS",
    "MarkovChain",
    "choose_algorithm",
    "metropolis_max_rejection",
    "sample_ensemble",
]

ALGORITHMS = ("metropolis", "wolff", "auto")

#: ``auto`` uses Wolff within this relative distance of T_c.
WOLFF_WINDOW = 0.15

#: Checkerboard Metropolis is refused when even its least likely move is rejected with a
#: smaller probability than this (see :func:`choose_algorithm`).
MIN_REJECTION = 0.05

#: Fewest packed columns (L / 2) per thread for the threaded Metropolis; below
#: it the threads wait on each other more than they work, and one thread runs.
_BAND_MIN_COLUMNS = 16

#: Length of the pilot run in units of its own tau_int (Sokal). The estimate's relative error is
#: about sqrt(2 (2 M + 1) / n) with window M ~ 6 tau (Madras & Sokal 1988): ~10 % at 2500 tau.
#: Measured: twelve pilots at L = 16, T_c (Metropolis) give 9.6-12.4 sweeps (standard deviation
#: 8 %) against 10.44 +- 0.10 from three runs of 1e6 sweeps; pilots 50 tau long gave 3.9-18.9.
PILOT_TAUS = 2500

#: Calls between re-measurements of the slower of threaded and serial packed Metropolis.
_REPROBE_EVERY = 16

#: Calls of ``advance`` a packed Metropolis chain on several threads spends timing its
#: threaded and its serial kernel (two each; the first of each is not timed) before it
#: runs the faster: a benchmark's warm-up.
KERNEL_PROBE_CALLS = 4


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")


def metropolis_max_rejection(lattice: Lattice, T: float, J: float = 1.0, h: float = 0.0) -> float:
    """Largest rejection probability of a Metropolis move, 1 - exp(-dE_max / T), dE_max = 2 (z |J| + |h|).

    z is the lattice's coordination number; units of J (k_B = 1).
    """
    return -math.expm1(-2.0 * (lattice.coordination * abs(J) + abs(h)) / T)


def choose_algorithm(lattice: Lattice, T: float, J: float = 1.0, h: float = 0.0, algorithm: str = "auto"):
    """Resolve ``algorithm`` ('metropolis', 'wolff' or 'auto') for these parameters.

    ``auto`` picks Wolff at h = 0 within 15 % of the lattice's critical
    temperature (scaled by |J|), where Metropolis suffers critical slowing down,
    and Metropolis elsewhere and on lattices with per-bond couplings (which
    only the generic Metropolis kernel serves).

    Checkerboard Metropolis is near-deterministic at temperatures where every
    move is accepted with probability close to one: each sweep flips almost
    every spin, the configuration cycles with period 2 and E and |M| do not
    change over the pilot run, which then reads tau_int = 1/2 and stores copies
    of one configuration. When even the least likely move is rejected with
    probability below :data:`MIN_REJECTION` (T > ~39 (z|J| + |h|); square
    lattice, J = 1, h = 0: T > 156), ``auto`` uses Wolff, exact at every
    temperature and there a sequence of single flips of random sites, and an
    explicit ``metropolis`` (or any choice at h != 0) is refused. Refusing keeps
    both Metropolis kernels, and every validation of them, unchanged, where a
    heat-bath acceptance would change the dynamics at all temperatures.
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    if algorithm == "wolff" and h != 0:
        raise ValueError(f"the Wolff algorithm needs zero field, got h={h}; use --algorithm metropolis")
    if algorithm == "wolff" and lattice.bond_couplings is not None:
        raise ValueError(
            "the Wolff sampler takes one coupling J, not per-bond couplings; use --algorithm metropolis"
        )
    rejection = metropolis_max_rejection(lattice, T, J, h)
    wolff_serves = h == 0 and lattice.bond_couplings is None
    if algorithm != "wolff" and rejection < MIN_REJECTION:
        if algorithm == "metropolis" or not wolff_serves:
            raise ValueError(
                f"checkerboard Metropolis is near-deterministic at T={T:g} (every move accepted with "
                f"probability > {1 - rejection:.4f}) and would store periodic copies of one configuration; "
                + ("use --algorithm wolff or auto" if wolff_serves else "lower the temperature")
            )
        return "wolff"
    if algorithm != "auto":
        return algorithm
    tc = lattice.critical_temperature
    near_tc = tc is not None and abs(T - tc * abs(J)) <= WOLFF_WINDOW * tc * abs(J)
    if lattice.bond_couplings is None and h == 0 and near_tc:
        return "wolff"
    return "metropolis"


class _SiteSpins:
    """Backends that keep one int8 spin per site (values ±1, shape (n_sites,)).

    A backend holds a chain's configuration and random state and runs one
    kernel family; :class:`MarkovChain` picks one in its constructor and asks
    it for ``advance``, ``totals``, ``get_spins``/``set_spins``, ``snapshot``
    and ``unpack``. Snapshots are the spins packed 8 to a byte (1 = down).
    """

    def __init__(self, lattice, spins, seed, J, h):
        self.lattice = lattice
        self.J, self.h = J, h
        self._spins = spins
        self._state = seed_states(seed, 1)[0]

    def get_spins(self):
        return self._spins

    def set_spins(self, spins):
        self._spins = spins.copy()

    def totals(self):
        couplings = self.lattice.bond_couplings
        if couplings is None:
            energy = _kernels.total_energy(self._spins, self.lattice.neighbours, self.J, self.h)
        else:
            energy = _kernels.total_energy_bonds(
                self._spins, self.lattice.neighbours, couplings, self.J, self.h
            )
        return energy, _kernels.total_magnetization(self._spins)

    def snapshot(self):
        return np.packbits(self._spins < 0)

    def unpack(self, snapshots):
        down = np.unpackbits(snapshots, axis=1, count=self.lattice.n_sites)
        return (1 - 2 * down.astype(np.int8)).astype(np.int8)


class _GenericMetropolis(_SiteSpins):
    """Colour-class Metropolis on any lattice's neighbour table (:func:`ising._kernels.metropolis_sweeps`)."""

    def __init__(self, lattice, spins, seed, beta, J, h):
        super().__init__(lattice, spins, seed, J, h)
        self.beta = beta
        self._sites, self._offsets = lattice.colour_classes()

    def advance(self, n_sweeps):
        if self.lattice.bond_couplings is not None:
            _kernels.metropolis_sweeps_bonds(
                self._spins,
                self.lattice.neighbours,
                self.lattice.bond_couplings,
                self._sites,
                self._offsets,
                self.beta,
                self.J,
                self.h,
                n_sweeps,
                self._state,
            )
            return
        _kernels.metropolis_sweeps(
            self._spins,
            self.lattice.neighbours,
            self._sites,
            self._offsets,
            self.beta,
            self.J,
            self.h,
            n_sweeps,
            self._state,
        )


class _GenericWolff(_SiteSpins):
    """Wolff cluster flips on any lattice's neighbour table (:func:`ising._kernels.wolff_steps`)."""

    def __init__(self, lattice, spins, seed, p_add, J, h):
        super().__init__(lattice, spins, seed, J, h)
        self._p_add = p_add
        self._members = np.empty(lattice.n_sites, dtype=np.int32)
        self._in_cluster = np.zeros(lattice.n_sites, dtype=np.uint8)

    def advance(self, n_steps):
        sizes = np.empty(n_steps, dtype=np.int64)
        _kernels.wolff_steps(
            self._spins,
            self.lattice.neighbours,
            self._p_add,
            self.J,
            n_steps,
            self._state,
            self._members,
            self._in_cluster,
            sizes,
        )
        return sizes


class _SquareWolff(_SiteSpins):
    """Wolff on the square torus, spins flipped as they join (:func:`ising._fast_square.wolff_steps`)."""

    def __init__(self, lattice, spins, seed, threshold, J, h):
        super().__init__(lattice, spins, seed, J, h)
        self._threshold = np.uint64(threshold)
        self._sign = 1 if J > 0 else -1
        self._stack = np.empty(lattice.n_sites, dtype=np.int32)

    def advance(self, n_steps):
        sizes = np.empty(n_steps, dtype=np.int64)
        _fast_square.wolff_steps(
            self._spins,
            self.lattice.neighbours,
            self._threshold,
            self._sign,
            n_steps,
            self._state,
            self._stack,
            sizes,
        )
        return sizes


class _RowWolff:
    """Wolff on the L x L torus grown row by row on bit words (:func:`ising._fast_square.wolff_rows`).

    Spins live in uint64 (L, max(1, L // 64)) row words (bit set = down); a
    snapshot is a copy of them.
    """

    def __init__(self, spins2d, seed, threshold, J, h):
        self.J, self.h = J, h
        self._sign = 1 if J > 0 else -1
        self._state = seed_states(seed, 1)[0]
        self._digits = _fast_square.threshold_digits(threshold)
        self._words = _fast_square.pack_rows(spins2d, _fast_square.row_words(spins2d.shape[0]))

    def advance(self, n_steps):
        sizes = np.empty(n_steps, dtype=np.int64)
        _fast_square.wolff_rows(self._words, self._digits, self._sign, n_steps, self._state, sizes)
        return sizes

    def totals(self):
        return _fast_square.row_totals(self._words, self.J, self.h)

    def get_spins(self):
        L = self._words.shape[0]
        out = np.empty((L, L), dtype=np.int8)
        _fast_square.unpack_rows_into(self._words, out)
        return out.reshape(-1)

    def set_spins(self, spins):
        L = self._words.shape[0]
        self._words = _fast_square.pack_rows(spins.reshape(L, L), self._words.shape[1])

    def snapshot(self):
        return self._words.copy()

    def unpack(self, snapshots):
        L = self._words.shape[0]
        return _fast_square.unpack_rows_many(snapshots, L).reshape(snapshots.shape[0], -1)


class _PackedMetropolis:
    """Multi-spin-coded checkerboard Metropolis on the L x L torus (:mod:`ising._fast_square`).

    Spins live in packed uint64 words (one lane per row block, one column a
    word); a snapshot is a copy of the words when all 64 lanes are used and the
    spins packed 8 to a byte otherwise. Sweeps run on all threads when that is
    measured to be faster (:meth:`advance`).
    """

    def __init__(self, spins2d, seed, beta, J, h):
        L = spins2d.shape[0]
        self.J, self.h = J, h
        self._lanes, self._rows, cols = _fast_square.layout(L)
        self._used, self._odd = _fast_square.lane_masks(L)
        self._classes, self._digits = _fast_square.acceptance_tables(beta, J, h)
        self._states = _fast_square.cache_aligned(seed_states(seed, cols))
        self._sweep_rates = {"threaded": None, "serial": None}
        self._sweep_calls = {"threaded": 0, "serial": 0}
        self._parallel_calls = 0
        self._L = L
        self.set_spins(spins2d.reshape(-1))

    def set_spins(self, spins):
        self._words = _fast_square.cache_aligned(
            _fast_square.pack(spins.reshape(self._L, self._L), self._lanes, self._rows)
        )

    def get_spins(self):
        out = np.empty((self._L, self._L), dtype=np.int8)
        _fast_square.unpack_into(self._words, out)
        return out.reshape(-1)

    def totals(self):
        return _fast_square.totals(self._words, self._lanes, self.J, self.h)

    def snapshot(self):
        if self._lanes == 64:
            return self._words.copy()
        return np.packbits(self.get_spins() < 0)

    def unpack(self, snapshots):
        n = snapshots.shape[0]
        if self._lanes == 64:
            return _fast_square.unpack_many(snapshots, self._L).reshape(n, -1)
        down = np.unpackbits(snapshots, axis=1, count=self._L * self._L)
        return (1 - 2 * down.astype(np.int8)).astype(np.int8)

    def advance(self, n_sweeps):
        """Packed Metropolis sweeps, on all threads when that is measured to be faster.

        The threaded and serial kernels give the same bits, so the choice, made
        from the sweeps per second each achieves on this chain, only changes the
        speed: on a machine whose cores are busy with other work the threads wait
        on each other and one thread is faster. If the threads cannot run at once
        (a busy machine, or a threading layer that runs them one after another),
        the threaded kernel declines, counts as rate 0 and is retried only when
        the slower kernel is re-measured. A kernel's first call (which may
        compile or load it) is not timed.
        """
        args = (self._classes, self._digits, self._lanes, self._used, self._odd)
        threads = numba.get_num_threads()
        rates = self._sweep_rates
        if n_sweeps <= 0:
            return
        if threads == 1 or self._words.shape[2] // threads < _BAND_MIN_COLUMNS:
            _fast_square.metropolis_sweeps(self._words, n_sweeps, self._states, *args)
            return
        self._parallel_calls += 1
        if None in rates.values():
            mode = "threaded" if rates["threaded"] is None else "serial"
        else:
            mode = max(rates, key=rates.get)
            if self._parallel_calls % _REPROBE_EVERY == 0:
                mode = min(rates, key=rates.get)
        start = time.perf_counter()
        if mode == "threaded":
            if not _fast_square.metropolis_sweeps_threaded(
                self._words, n_sweeps, self._states, *args, threads
            ):
                rates["threaded"] = 0.0
                _fast_square.metropolis_sweeps(self._words, n_sweeps, self._states, *args)
                return
        else:
            _fast_square.metropolis_sweeps(self._words, n_sweeps, self._states, *args)
        rate = n_sweeps / max(time.perf_counter() - start, 1e-9)
        self._sweep_calls[mode] += 1
        if self._sweep_calls[mode] > 1:
            rates[mode] = rate if not rates[mode] else 0.5 * (rates[mode] + rate)


class MarkovChain:
    """One Markov chain of Ising configurations.

    Parameters are stored as given (``algorithm`` may be ``"auto"``) and
    validated here, where work starts; the resolved algorithm, 'metropolis' or
    'wolff', is ``algorithm_``. ``spins`` is the current configuration, int8
    (n_sites,) values ±1; the chain's time unit is one sweep (Metropolis) or one
    cluster flip (Wolff). The start is ordered (all up) for a ferromagnet below
    the lattice's known T_c, which avoids long-lived domain walls, and random
    otherwise.

    The constructor picks one kernel family, a backend with the same methods
    for every family: on any lattice, colour-class Metropolis or Wolff on the
    neighbour table. On the L x L square torus (recognised from its neighbour
    table) the chain takes the fast path unless ``fast=False``: Metropolis runs
    multi-spin coded on packed words (:mod:`ising._fast_square`), over
    ``numba.get_num_threads()`` threads with a result independent of the thread
    count; Wolff grows clusters row by row with bitwise logic (L <= 64 or a
    multiple of 64) and otherwise flips spins as they join the cluster. Both
    have the generic samplers' stationary distribution but draw different random
    numbers. ``fast=True`` demands the fast path; ``fast_path`` records the choice.
    A lattice with per-bond couplings (``lattice.bond_couplings``, e.g. J_x != J_y)
    runs the generic colour-class Metropolis with those couplings: the packed
    fast path and Wolff decline it.
    """

    def __init__(
        self,
        lattice: Lattice,
        T: float,
        J: float = 1.0,
        h: float = 0.0,
        algorithm: str = "auto",
        seed: int = 0,
        fast: bool | None = None,
    ):
        _check_positive("temperature T", T)
        if not isinstance(lattice, Lattice):
            raise ValueError(f"lattice must be a Lattice, got {type(lattice).__name__}")
        if not np.isfinite(J) or J == 0:
            raise ValueError(f"coupling J must be a non-zero number, got {J}")
        if not np.isfinite(h):
            raise ValueError(f"field h must be finite, got {h}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if fast not in (None, True, False):
            raise ValueError(f"fast must be None (automatic), True or False, got {fast!r}")
        self.lattice = lattice
        self.T = float(T)
        self.beta = 1.0 / float(T)
        self.J = float(J)
        self.h = float(h)
        self.seed = int(seed)
        self.fast = fast
        self.algorithm = algorithm
        self.algorithm_ = choose_algorithm(lattice, self.T, self.J, self.h, algorithm)
        self.time = 0
        side = None
        if lattice.bond_couplings is None:
            side = _fast_square.torus_side(lattice.neighbours, lattice.shape)
        if fast and side is None:
            raise ValueError(
                f"the fast path needs an even L x L square torus, not {lattice.describe()}; pass fast=None"
            )
        self.fast_path = side is not None and fast is not False
        n = lattice.n_sites
        tc = lattice.critical_temperature
        if self.J > 0 and tc is not None and self.T < tc * self.J:
            spins = np.ones(n, dtype=np.int8)
        else:
            spins = np.where(np.random.default_rng(self.seed).random(n) < 0.5, -1, 1).astype(np.int8)
        self._measured = None
        p_add = -math.expm1(-2.0 * self.beta * abs(self.J))
        # floor(p_add 2**64), capped below 2**64 when p_add rounds to 1
        threshold = min(int(p_add * 2.0**64), 2**64 - 1)
        if self.algorithm_ == "metropolis":
            if self.fast_path:
                self._backend = _PackedMetropolis(
                    spins.reshape(side, side), self.seed, self.beta, self.J, self.h
                )
            else:
                self._backend = _GenericMetropolis(lattice, spins, self.seed, self.beta, self.J, self.h)
        elif not self.fast_path:
            self._backend = _GenericWolff(lattice, spins, self.seed, p_add, self.J, self.h)
        elif _fast_square.row_words(side) is not None:
            self._backend = _RowWolff(spins.reshape(side, side), self.seed, threshold, self.J, self.h)
        else:
            self._backend = _SquareWolff(lattice, spins, self.seed, threshold, self.J, self.h)

    @property
    def spins(self) -> np.ndarray:
        """The current configuration, int8 (n_sites,) values ±1 (a copy on the packed paths)."""
        return self._backend.get_spins()

    @spins.setter
    def spins(self, value):
        value = np.asarray(value)
        if value.size != self.lattice.n_sites or not np.all(np.abs(value) == 1):
            raise ValueError(f"a configuration needs {self.lattice.n_sites} spins of values ±1")
        self._measured = None
        self._backend.set_spins(np.ascontiguousarray(value.reshape(-1), dtype=np.int8))

    @property
    def time_unit(self) -> str:
        return "sweep" if self.algorithm_ == "metropolis" else "cluster_flip"

    def advance(self, n_units: int) -> np.ndarray | None:
        """Run ``n_units`` time units; for Wolff return the cluster sizes, int64 (n_units,)."""
        n_units = int(n_units)
        self.time += n_units
        self._measured = None
        return self._backend.advance(n_units)

    def _measure(self) -> tuple[float, float]:
        if self._measured is None:
            energy, mag = self._backend.totals()
            self._measured = (float(energy), float(mag))
        return self._measured

    def energy(self) -> float:
        """Total energy of the current configuration."""
        return self._measure()[0]

    def magnetization(self) -> float:
        """Total magnetisation of the current configuration."""
        return self._measure()[1]

    def snapshot(self) -> np.ndarray:
        """The current configuration in compact form (about 1 bit a spin); see :meth:`unpack`."""
        return self._backend.snapshot()

    def unpack(self, snapshots: np.ndarray) -> np.ndarray:
        """int8 (n, n_sites) configurations from a stack of :meth:`snapshot` results."""
        return self._backend.unpack(np.asarray(snapshots))

    def series(self, n_samples: int, every: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Energy and |M| after each of ``n_samples`` blocks of ``every`` units, float64 (n_samples,)."""
        energy = np.empty(n_samples)
        abs_m = np.empty(n_samples)
        for t in range(n_samples):
            self.advance(every)
            energy[t] = self.energy()
            abs_m[t] = abs(self.magnetization())
        return energy, abs_m

    def thermalize(self, min_sweeps: int = 200) -> int:
        """Initial relaxation of at least ``min_sweeps`` sweeps' worth of site updates; returns units run."""
        if self.algorithm_ == "metropolis":
            self.advance(min_sweeps)
            return min_sweeps
        target = min_sweeps * self.lattice.n_sites
        done = units = 0
        while done < target or units < 100:
            done += int(self.advance(100).sum())
            units += 100
        return units

    def pilot(self, initial: int = 1000, min_taus: float | None = None, max_units: int = 1 << 22) -> dict:
        """Sokal's tau_int (in time units) of E and |M| from a pilot run at least ``min_taus`` tau long.

        The run starts with ``initial`` units and is extended (at least 1.5x a
        round, to 1.2x the length the current estimate asks for) until both
        series are ``min_taus`` (default :data:`PILOT_TAUS`) times their own
        tau_int long and Sokal's window exists. Raises ValueError if that needs
        more than ``max_units`` units. Returns ``tau_int_energy``,
        ``tau_int_abs_m``, ``tau_int`` (the larger) and ``pilot_units``.
        """
        min_taus = PILOT_TAUS if min_taus is None else min_taus
        _check_positive("min_taus", min_taus)
        energy, abs_m = self.series(initial)
        while True:
            try:
                tau_e = tau_int(energy, tol=min_taus)
                tau_m = tau_int(abs_m, tol=min_taus) if np.ptp(abs_m) > 0 else 0.5
                break
            except AutocorrelationError:
                tau = max(tau_int(energy, quiet=True), tau_int(abs_m, quiet=True))
                if energy.size >= max_units:
                    raise ValueError(
                        f"pilot run at T={self.T} reached its cap of {max_units} {self.time_unit}s before "
                        f"it was {min_taus:g} tau_int long (tau_int ~ {tau:.3g} {self.time_unit}s); "
                        "raise max_units, or try --algorithm wolff or a smaller lattice"
                    ) from None
                target = max(1.5 * energy.size, 1.2 * min_taus * tau)
                more_e, more_m = self.series(int(min(target, max_units)) - energy.size)
                energy = np.concatenate([energy, more_e])
                abs_m = np.concatenate([abs_m, more_m])
        return {
            "tau_int_energy": tau_e,
            "tau_int_abs_m": tau_m,
            "tau_int": max(tau_e, tau_m),
            "pilot_units": energy.size,
        }


def sample_ensemble(
    lattice: Lattice,
    T: float,
    n: int,
    *,
    J: float = 1.0,
    h: float = 0.0,
    algorithm: str = "auto",
    seed: int = 0,
    min_thermalization: int = 200,
    pilot_taus: float = PILOT_TAUS,
    progress: bool = False,
) -> Ensemble:
    """An equilibrium ensemble of ``n`` configurations kept every ceil(2 tau_int) time units.

    Protocol (STUDY.md section 1): relax for ``min_thermalization`` sweeps'
    worth of updates; measure Sokal's tau_int = 1/2 + sum_t rho(t) of the energy
    and |M| (automatic window, :func:`ising.autocorr.tau_int`) on a pilot run at
    least ``pilot_taus`` tau long (:meth:`MarkovChain.pilot`); then keep a
    configuration every ``sweeps_between = ceil(2 tau_int)`` units, tau_int =
    max(tau_E, tau_|M|), so that consecutive configurations are about one
    independent sample apart. The relaxation plus the pilot is recorded as
    ``thermalization_sweeps`` (in the chain's time units, as the name's history
    has it: cluster flips for Wolff).

    Returns an :class:`~ising.io.Ensemble` with ``spins`` int8 (n, *lattice.shape),
    ``energy`` and ``magnetization`` float64 (n,) totals.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"number of configurations n must be a positive integer, got {n!r}")
    chain = MarkovChain(lattice, T, J=J, h=h, algorithm=algorithm, seed=seed)
    started = time.perf_counter()
    therm = chain.thermalize(min_thermalization)
    taus = chain.pilot(min_taus=pilot_taus)
    between = int(math.ceil(2.0 * taus["tau_int"]))
    first = chain.snapshot()
    # Configurations are kept compact (1 bit a spin) while sampling and unpacked once.
    packed = np.empty((int(n), *first.shape), dtype=first.dtype)
    energy = np.empty(int(n))
    magnetization = np.empty(int(n))
    bar = progress_bar(n, f"{lattice.name} L={lattice.L} T={chain.T:.4g}", progress, unit="cfg")
    for k in range(int(n)):
        chain.advance(between)
        packed[k] = chain.snapshot()
        energy[k] = chain.energy()
        magnetization[k] = chain.magnetization()
        bar.update(1)
    bar.close()
    spins = chain.unpack(packed)
    del packed
    params = {
        "lattice": lattice.name,
        "L": lattice.L,
        "b": int(lattice.b or 0),
        "shape": list(lattice.shape),
        "J": chain.J,
        "h": chain.h,
        "T": chain.T,
        "beta": chain.beta,
        "algorithm": chain.algorithm_,
        "seed": chain.seed,
        "tau_int": taus["tau_int"],
        "tau_int_energy": taus["tau_int_energy"],
        "tau_int_abs_m": taus["tau_int_abs_m"],
        "sweeps_between": between,
        "thermalization_sweeps": therm + taus["pilot_units"],
        "time_unit": chain.time_unit,
        "seconds": time.perf_counter() - started,
        "version": __version__,
    }
    return Ensemble(spins.reshape((int(n), *lattice.shape)), energy, magnetization, params)

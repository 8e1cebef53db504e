"""Numba kernels for the Ising model on any lattice given by its neighbour table.

Plain arrays in, plain arrays out: ``spins`` int8 (n_sites,) with values ±1,
``neighbours`` int32 (n_sites, z), colour classes as ``(sites, offsets)``.
Energies count every neighbour-table entry once per direction and halve the
sum, the same convention as the local fields used by the updates.
"""

import numpy as np
from numba import njit

from ._rng import next_below, next_double


@njit(cache=True)
def total_energy(spins, neighbours, J, h):
    """E = -J/2 sum_i sum_k s_i s_nbr(i,k) - h sum_i s_i."""
    n, z = neighbours.shape
    bonds = 0
    mag = 0
    for i in range(n):
        s = np.int64(spins[i])
        mag += s
        acc = 0
        for k in range(z):
            acc += spins[neighbours[i, k]]
        bonds += s * acc
    return -0.5 * J * bonds - h * mag


@njit(cache=True)
def total_magnetization(spins):
    m = 0
    for i in range(spins.size):
        m += spins[i]
    return np.float64(m)


@njit(cache=True)
def metropolis_sweeps(spins, neighbours, sites, offsets, beta, J, h, n_sweeps, state):
    """``n_sweeps`` colour-class Metropolis sweeps; returns the number of accepted flips.

    Within a colour class no two sites interact, so visiting the class in any
    order (here sequentially) is a valid parallel update. Acceptance
    probabilities min(1, exp(-beta dE)) are tabulated over (spin, neighbour
    sum), except that a move with dE = 0 is accepted with probability 1/2:
    still detailed balance (the move and its reverse have equal probability),
    and it breaks the deterministic cycle that always-accepted dE = 0 flips
    fall into on small odd-coordinated tori (triangular 3x3: each colour
    class's flips leave the next class at dE = 0, and the chain repeats).
    """
    z = neighbours.shape[1]
    table = np.empty((2, 2 * z + 1))
    for si in range(2):
        s = 2 * si - 1
        for k in range(2 * z + 1):
            dE = 2.0 * s * (J * (k - z) + h)
            table[si, k] = 0.5 if dE == 0.0 else min(1.0, np.exp(-beta * dE))
    accepted = 0
    n_colours = offsets.size - 1
    for _ in range(n_sweeps):
        for c in range(n_colours):
            for idx in range(offsets[c], offsets[c + 1]):
                i = sites[idx]
                acc = 0
                for k in range(z):
                    acc += spins[neighbours[i, k]]
                p = table[(spins[i] + 1) >> 1, acc + z]
                if p >= 1.0 or next_double(state) < p:
                    spins[i] = -spins[i]
                    accepted += 1
    return accepted


@njit(cache=True)
def wolff_steps(spins, neighbours, p_add, J, n_steps, state, members, in_cluster, sizes):
    """``n_steps`` Wolff cluster flips (h = 0); cluster sizes are written to ``sizes``.

    A bond (i, j) joins the cluster when it is satisfied, J s_i s_j > 0, with
    probability p_add = 1 - exp(-2 beta |J|); this is valid for either sign of J,
    on frustrated lattices too. ``members`` (int32) and ``in_cluster`` (uint8,
    all zero on entry and exit) are scratch arrays of length n_sites.
    """
    n, z = neighbours.shape
    sign = 1 if J > 0 else -1
    for step in range(n_steps):
        seed_site = next_below(state, n)
        members[0] = seed_site
        in_cluster[seed_site] = 1
        head = 0
        tail = 1
        while head < tail:
            i = members[head]
            head += 1
            si = spins[i]
            for k in range(z):
                j = neighbours[i, k]
                if in_cluster[j] == 0 and sign * spins[j] * si > 0 and next_double(state) < p_add:
                    in_cluster[j] = 1
                    members[tail] = j
                    tail += 1
        for m in range(tail):
            i = members[m]
            spins[i] = -spins[i]
            in_cluster[i] = 0
        sizes[step] = tail


@njit(cache=True)
def total_energy_bonds(spins, neighbours, couplings, J, h):
    """E = -J/2 sum_i sum_k c_ik s_i s_nbr(i,k) - h sum_i s_i, with per-entry couplings c (n, z)."""
    n, z = neighbours.shape
    bonds = 0.0
    mag = 0
    for i in range(n):
        s = spins[i]
        mag += s
        acc = 0.0
        for k in range(z):
            acc += couplings[i, k] * spins[neighbours[i, k]]
        bonds += s * acc
    return -0.5 * J * bonds - h * mag


@njit(cache=True)
def metropolis_sweeps_bonds(spins, neighbours, couplings, sites, offsets, beta, J, h, n_sweeps, state):
    """:func:`metropolis_sweeps` with a coupling J c_ik per neighbour-table entry.

    dE = 2 s_i (J sum_k c_ik s_nbr(i,k) + h); accepted with min(1, exp(-beta dE)),
    and with probability 1/2 when dE = 0 (as in :func:`metropolis_sweeps`).
    Returns the number of accepted flips.
    """
    z = neighbours.shape[1]
    accepted = 0
    n_colours = offsets.size - 1
    for _ in range(n_sweeps):
        for c in range(n_colours):
            for idx in range(offsets[c], offsets[c + 1]):
                i = sites[idx]
                acc = 0.0
                for k in range(z):
                    acc += couplings[i, k] * spins[neighbours[i, k]]
                dE = 2.0 * spins[i] * (J * acc + h)
                p = 0.5 if dE == 0.0 else min(1.0, np.exp(-beta * dE))
                if p >= 1.0 or next_double(state) < p:
                    spins[i] = -spins[i]
                    accepted += 1
    return accepted

"""Slow, obvious reference versions of the Numba kernels, for tiny lattices.

They draw their random numbers from the same xoshiro256** stream in the same
order as the kernels, so a kernel and its reference must agree bit for bit.
"""

import numpy as np

from ising._rng import next_below, next_double


def energy_square(spins2d, J=1.0, h=0.0):
    """E of an L x L torus from array shifts, independent of any neighbour table."""
    s = spins2d.astype(np.int64)
    bonds = (s * np.roll(s, 1, axis=0)).sum() + (s * np.roll(s, 1, axis=1)).sum()
    return -J * bonds - h * s.sum()


def energy_from_bonds(spins, neighbours, J=1.0, h=0.0):
    """E = -J/2 sum over table entries s_i s_j - h sum s, in plain Python."""
    total = 0
    for i in range(len(spins)):
        for j in neighbours[i]:
            total += int(spins[i]) * int(spins[j])
    return -0.5 * J * total - h * int(np.sum(spins, dtype=np.int64))


def metropolis_sweeps(spins, neighbours, colours, beta, J, h, n_sweeps, state):
    """Colour by colour, sites in ascending order; a random number only when p < 1."""
    spins = spins.copy()
    for _ in range(n_sweeps):
        for c in range(colours.max() + 1):
            for i in np.flatnonzero(colours == c):
                local = J * sum(int(spins[j]) for j in neighbours[i]) + h
                dE = 2.0 * spins[i] * local
                p = min(1.0, np.exp(-beta * dE))
                if p >= 1.0 or next_double(state) < p:
                    spins[i] = -spins[i]
    return spins


def wolff_step(spins, neighbours, beta, J, state):
    """One Wolff cluster flip, breadth first, in plain Python."""
    spins = spins.copy()
    p_add = -np.expm1(-2.0 * beta * abs(J))
    seed = next_below(state, len(spins))
    cluster = [seed]
    members = {seed}
    head = 0
    while head < len(cluster):
        i = cluster[head]
        head += 1
        for j in neighbours[i]:
            if j not in members and J * spins[j] * spins[i] > 0 and next_double(state) < p_add:
                members.add(int(j))
                cluster.append(int(j))
    spins[cluster] = -spins[cluster]
    return spins, len(cluster)


def conditional_entropy_grassberger(up, context_offsets):
    """h = H_G(block) - H_G(context) of a boolean (n, L, L) array, counted site by site in Python.

    The block is the context sites (periodic offsets (di, dj)) plus the centre;
    H_G = ln N - (1/N) sum n_i G(n_i), G(n) = psi(n) + (-1)^n / 2 [psi((n+1)/2) - psi(n/2)], in bits.
    """
    from collections import Counter

    from scipy.special import digamma

    def grassberger_bits(counter):
        n_total = sum(counter.values())
        total = 0.0
        for n in counter.values():
            g = digamma(n) + 0.5 * (-1) ** n * (digamma((n + 1) / 2) - digamma(n / 2))
            total += n * g
        return (np.log(n_total) - total / n_total) / np.log(2)

    n, rows, cols = up.shape
    blocks, contexts = Counter(), Counter()
    for a in range(n):
        for i in range(rows):
            for j in range(cols):
                context = tuple(bool(up[a, (i + di) % rows, (j + dj) % cols]) for di, dj in context_offsets)
                contexts[context] += 1
                blocks[(*context, bool(up[a, i, j]))] += 1
    return grassberger_bits(blocks) - grassberger_bits(contexts)

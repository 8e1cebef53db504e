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
    """Colour by colour, sites in ascending order; a random number only when p < 1.

    A move with dE = 0 is accepted with probability 1/2, as in the kernel.
    """
    spins = spins.copy()
    for _ in range(n_sweeps):
        for c in range(colours.max() + 1):
            for i in np.flatnonzero(colours == c):
                local = J * sum(int(spins[j]) for j in neighbours[i]) + h
                dE = 2.0 * spins[i] * local
                p = 0.5 if dE == 0.0 else min(1.0, np.exp(-beta * dE))
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


def mean_abs_pearson(codes):
    """Mean |r_ij| over unit pairs i < j from np.corrcoef, constant units given r = 0, in a loop."""
    codes = np.asarray(codes, dtype=np.float64)
    n_units = codes.shape[1]
    total, pairs = 0.0, 0
    for i in range(n_units):
        for j in range(i + 1, n_units):
            a, b = codes[:, i], codes[:, j]
            r = 0.0 if a.std() == 0 or b.std() == 0 else np.corrcoef(a, b)[0, 1]
            total += abs(r)
            pairs += 1
    return total / pairs


def brute_force_alignment(kernel, block_ids):
    """Best one-to-one unit -> block assignment by trying every permutation (tiny codes only).

    Maximises the summed per-unit share of |w| in the assigned block; returns
    (order, signs) with order[k] the unit on block k.
    """
    from itertools import permutations

    W = np.asarray(kernel, dtype=np.float64)
    n_units = W.shape[1]
    share = np.zeros((n_units, n_units))
    for u in range(n_units):
        for k in range(n_units):
            share[u, k] = np.abs(W[block_ids == k, u]).sum() / np.abs(W[:, u]).sum()
    best = max(permutations(range(n_units)), key=lambda p: sum(share[p[k], k] for k in range(n_units)))
    order = np.array(best)
    signs = np.array([-1.0 if W[block_ids == k, order[k]].sum() < 0 else 1.0 for k in range(n_units)])
    return order, signs


def quadratic_ridge_r2(codes, y, folds, alpha):
    """Held-out R² per fold of ridge on explicit degree-2 features of standardised units.

    Features [1, sqrt(2/n) z_u, z_u^2 / n, sqrt(2) z_u z_v / n (u < v)] (n units),
    the feature map of the kernel (1 + z.z'/n)^2, all penalised with
    alpha * mean_i k(z_i, z_i); the intercept is the training mean of y.
    """
    codes = np.asarray(codes, dtype=np.float64)
    n = codes.shape[1]
    scores = []
    for train, test in folds:
        mean, std = codes[train].mean(axis=0), codes[train].std(axis=0)

        def features(c, mean=mean, std=std):
            z = (c - mean) / std
            columns = [np.ones(len(c))]
            columns += [np.sqrt(2.0 / n) * z[:, u] for u in range(n)]
            columns += [z[:, u] ** 2 / n for u in range(n)]
            columns += [np.sqrt(2.0) * z[:, u] * z[:, v] / n for u in range(n) for v in range(u + 1, n)]
            return np.stack(columns, axis=1)

        F, F_test = features(codes[train]), features(codes[test])
        scale = np.mean(np.sum(F**2, axis=1))
        offset = y[train].mean()
        w = np.linalg.solve(F.T @ F + alpha * scale * np.eye(F.shape[1]), F.T @ (y[train] - offset))
        predicted = offset + F_test @ w
        residual = np.sum((y[test] - predicted) ** 2)
        scores.append(1.0 - residual / np.sum((y[test] - y[test].mean()) ** 2))
    return np.array(scores)


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

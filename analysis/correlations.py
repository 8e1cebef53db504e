"""Spin correlations of an ensemble (claim C2).

All functions take an ensemble of configurations, int8 ±1 or real-valued (an
autoencoder's reconstruction in [-1, 1]), shape ``(n_samples, *lattice.shape)``
or flat ``(n_samples, n_sites)`` where a lattice is given. Averages ``<.>`` are
over the samples (divisor ``n_samples``), so that ``C_ii = 1 - <s_i>^2`` holds
exactly for ±1 spins. Correlations are *connected*: the sample mean of every
site is subtracted, ``C_ij = <s_i s_j> - <s_i><s_j>``.

At zero field the global flip s -> -s is an exact symmetry that a Markov chain
below T_c does not sample (it stays in one magnetisation sign, a cluster
algorithm does not). Two ways make an ensemble mean the same whichever
sampler produced it: :func:`flip_symmetrised` returns it together with its
mirror image, the symmetric Gibbs state, on which ``<s_i> = 0`` exactly (right
for non-connected correlations and entropies; below T_c its connected
correlations do not decay, since they hold the long-range order m^2);
:func:`sign_folded` turns every configuration to non-negative magnetisation,
the pure state a chain below T_c samples, whose connected correlations decay
with the finite correlation length of the ordered phase.

Translation averages use the FFT on lattices whose neighbour table is
invariant under translations of the configuration array (square, cubic,
triangular); other lattices fall back to the full correlation matrix.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from ising.lattice import Lattice

__all__ = [
    "MAX_MATRIX_SITES",
    "flip_symmetrised",
    "sign_folded",
    "fold_index",
    "connected_correlation",
    "correlation_matrix_table",
    "bond_products",
    "nearest_neighbour_correlation",
    "correlation_function",
    "structure_factor",
    "second_moment_correlation_length",
    "correlation_summary",
]

#: Largest number of sites for which the full N x N correlation matrix is built (128 MiB in float64).
MAX_MATRIX_SITES = 4096

_CHUNK_ELEMENTS = 1 << 22  # samples are processed in chunks of about this many spins (32 MiB in float64)


def _as_samples(spins, lattice: Lattice | None = None) -> np.ndarray:
    """float64 (n_samples, *shape) from an int8 or real array, reshaped to the lattice if given."""
    x = np.asarray(spins)
    if x.dtype == bool or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise ValueError(f"spins must be an integer or real array, got dtype {x.dtype}")
    if x.ndim < 2:
        raise ValueError(f"spins must have shape (n_samples, *lattice shape), got {x.shape}")
    if x.shape[0] < 2:
        raise ValueError("correlations need at least two samples in the ensemble")
    if lattice is not None:
        if x.shape[1:] == lattice.shape or x[0].size == lattice.n_sites:
            x = x.reshape((x.shape[0], *lattice.shape))
        else:
            raise ValueError(
                f"spins of shape {x.shape} do not fit the {lattice.describe()} lattice; expected "
                f"(n_samples, {', '.join(map(str, lattice.shape))}) or (n_samples, {lattice.n_sites})"
            )
    x = x.astype(np.float64, copy=False)
    if not np.all(np.isfinite(x)):
        raise ValueError("spins contain NaN or infinite values")
    return x


def _chunks(n_samples: int, n_sites: int):
    step = max(1, _CHUNK_ELEMENTS // max(n_sites, 1))
    for start in range(0, n_samples, step):
        yield slice(start, min(start + step, n_samples))


def _signed_samples(spins) -> np.ndarray:
    x = np.asarray(spins)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"spins must have shape (n_samples, ...) with n_samples > 0, got {x.shape}")
    if x.dtype == bool or np.issubdtype(x.dtype, np.unsignedinteger):
        raise ValueError(f"spins must be signed (±1 or real) to be flipped, got dtype {x.dtype}")
    return x


def flip_symmetrised(spins) -> np.ndarray:
    """The ensemble together with its mirror image under the global spin flip.

    Parameters
    ----------
    spins : int8 or float (n_samples, ...)
        Configurations (±1 spins, or any odd observable of them).

    Returns
    -------
    array of the input's dtype, (2 n_samples, ...): the rows of ``spins``
    followed by those of ``-spins``. Every site mean over it is exactly 0, so
    the connected correlations of the result equal its non-connected ones,
    which are those of ``spins`` itself (``s_i s_j`` is even under the flip).
    """
    x = _signed_samples(spins)
    return np.concatenate([x, -x])


def fold_index(spins) -> np.ndarray:
    """Rows of :func:`flip_symmetrised` ``(spins)`` that make :func:`sign_folded` ``(spins)``.

    int64 (n_samples,): row i where configuration i has non-negative total
    magnetisation, else its mirror image, row n_samples + i. Lets a caller that
    already holds a representation of the symmetrised ensemble take the folded
    one from it without computing it again.
    """
    x = _signed_samples(spins)
    total = x.reshape(x.shape[0], -1).sum(axis=1, dtype=np.float64)
    rows = np.arange(x.shape[0])
    return np.where(total < 0, rows + x.shape[0], rows)


def sign_folded(spins) -> np.ndarray:
    """Every configuration flipped, if need be, to non-negative total magnetisation.

    Parameters
    ----------
    spins : int8 or float (n_samples, ...)
        Configurations (±1 spins, or real values whose sum decides the sign).

    Returns
    -------
    array of the input's dtype and shape: ``s * sign(sum s)`` per configuration
    (a configuration with sum 0 is kept). A one-sign ensemble below T_c and one
    whose chain visited both signs give the same folded ensemble.
    """
    return flip_symmetrised(spins)[fold_index(spins)]


def connected_correlation(spins, max_sites: int = MAX_MATRIX_SITES) -> np.ndarray:
    """Connected correlation matrix ``C_ij = <s_i s_j> - <s_i><s_j>``.

    Parameters
    ----------
    spins : int8 or float (n_samples, *shape)
        Configurations; sites are flattened in C order of ``shape``.
    max_sites : int
        Refuse lattices with more sites than this (the matrix takes 8 N^2 bytes).

    Returns
    -------
    float64 (N, N), symmetric, N = prod(shape).
    """
    x = _as_samples(spins)
    n = x.shape[0]
    x = x.reshape(n, -1)
    N = x.shape[1]
    if N > max_sites:
        raise ValueError(
            f"the correlation matrix of {N} sites needs {8 * N * N / 2**30:.1f} GiB; use "
            "correlation_function (the translation-averaged C(r)) for lattices above "
            f"{max_sites} sites"
        )
    mean = x.mean(axis=0)
    C = np.zeros((N, N))
    for rows in _chunks(n, N):
        centred = x[rows] - mean
        C += centred.T @ centred
    C /= n
    return 0.5 * (C + C.T)


def correlation_matrix_table(C, **labels) -> pd.DataFrame:
    """A correlation matrix in long format for ``plots.plot_correlation_matrices``.

    Parameters
    ----------
    C : float (N, N)
    **labels
        Constant columns to add, e.g. ``representation="original", T=2.3``.

    Returns
    -------
    DataFrame with columns ``*labels``, ``i``, ``j``, ``C`` (N^2 rows).
    """
    C = np.asarray(C, dtype=np.float64)
    if C.ndim != 2 or C.shape[0] != C.shape[1]:
        raise ValueError(f"a correlation matrix must be square, got shape {C.shape}")
    i, j = np.indices(C.shape).reshape(2, -1)
    table = pd.DataFrame({"i": i, "j": j, "C": C.ravel()})
    for position, (name, value) in enumerate(labels.items()):
        table.insert(position, name, value)
    return table


def bond_products(spins, lattice: Lattice) -> np.ndarray:
    """Mean over bonds of ``s_i s_j`` in each configuration.

    Bonds are the entries of ``lattice.neighbours`` (each bond twice, which
    leaves the mean unchanged). For J = 1, h = 0 the energy per spin of a
    configuration is ``-(z/2) * bond_products``; on the square lattice
    ``-2 * bond_products``.

    Parameters
    ----------
    spins : int8 or float (n_samples, *lattice.shape) or (n_samples, n_sites)
    lattice : Lattice

    Returns
    -------
    float64 (n_samples,).
    """
    x = _as_samples(spins, lattice).reshape(-1, lattice.n_sites)
    products = np.zeros(x.shape[0])
    for column in lattice.neighbours.T:
        products += np.mean(x * x[:, column], axis=1)
    return products / lattice.coordination


def nearest_neighbour_correlation(spins, lattice: Lattice, connected: bool = True) -> float:
    """Mean over bonds of the (connected) nearest-neighbour correlation.

    ``connected=True``: mean over bonds of ``<s_i s_j> - <s_i><s_j>``.
    ``connected=False``: mean over bonds of ``<s_i s_j>``, which equals ``-u/2``
    on the square lattice (J = 1, h = 0; u the energy per spin). The two
    differ by the mean over bonds of ``<s_i><s_j>``, about ``<m>^2``.

    Parameters
    ----------
    spins : int8 or float (n_samples, *lattice.shape) or (n_samples, n_sites)
    lattice : Lattice
        Any lattice: only its neighbour table is used.

    Returns
    -------
    float.
    """
    x = _as_samples(spins, lattice).reshape(-1, lattice.n_sites)
    value = float(bond_products(x, lattice).mean())
    if connected:
        mean = x.mean(axis=0)
        value -= float(np.mean(mean[:, None] * mean[lattice.neighbours]))
    return value


def _neighbour_offsets(lattice: Lattice) -> np.ndarray:
    """int64 (n_sites, z): flat index of (neighbour - site) modulo the array shape, sorted per site."""
    shape = np.array(lattice.shape)
    coords = np.indices(lattice.shape).reshape(len(shape), -1).T
    delta = (coords[lattice.neighbours] - coords[:, None, :]) % shape
    codes = np.ravel_multi_index(tuple(np.moveaxis(delta, -1, 0)), lattice.shape)
    return np.sort(codes, axis=1)


def _is_translation_invariant(lattice: Lattice) -> bool:
    offsets = _neighbour_offsets(lattice)
    return bool(np.all(offsets == offsets[0]))


def _is_hypercubic(lattice: Lattice) -> bool:
    """Whether the neighbours of every site are the ±1 steps along each axis of the array."""
    dim = len(lattice.shape)
    steps = np.concatenate([np.eye(dim, dtype=np.int64), -np.eye(dim, dtype=np.int64)])
    codes = np.ravel_multi_index(tuple((steps % np.array(lattice.shape)).T), lattice.shape)
    offsets = _neighbour_offsets(lattice)
    return offsets.shape[1] == codes.size and bool(np.all(offsets == np.sort(codes)))


def _require_hypercubic(lattice: Lattice, what: str) -> None:
    if not _is_hypercubic(lattice):
        raise ValueError(
            f"{what} is defined here for hypercubic lattices (square, cubic); the {lattice.describe()} "
            "lattice is not one; use correlation_function or nearest_neighbour_correlation"
        )
    if len(set(lattice.shape)) != 1:
        raise ValueError(f"{what} needs the same length along every axis, got shape {lattice.shape}")


def structure_factor(spins, lattice: Lattice) -> np.ndarray:
    """Connected structure factor ``chi(k) = (<|s_k|^2> - |<s_k>|^2) / N``.

    ``s_k = sum_x s_x exp(-i k.x)`` over the array coordinates, k on the
    reciprocal grid of ``lattice.shape`` (numpy FFT order). ``chi(0) = N
    (<m^2> - <m>^2)`` with m the magnetisation per spin. Meaningful on
    lattices whose neighbour table is translation invariant in the array.

    Returns
    -------
    float64 ``lattice.shape``.
    """
    x = _as_samples(spins, lattice)
    n, N = x.shape[0], lattice.n_sites
    axes = tuple(range(1, x.ndim))
    power = np.zeros(lattice.shape)
    for rows in _chunks(n, N):
        power += np.sum(np.abs(np.fft.fftn(x[rows], axes=axes)) ** 2, axis=0)
    power /= n
    power -= np.abs(np.fft.fftn(x.mean(axis=0))) ** 2
    return power / N


def _translation_averaged(x: np.ndarray, lattice: Lattice) -> np.ndarray:
    """G(r) = (1/N) sum_x C_{x, x+r} on the array torus, float64 lattice.shape."""
    return np.fft.ifftn(structure_factor(x, lattice)).real


def _graph_distances_from(neighbours: np.ndarray, source: int) -> np.ndarray:
    """Breadth-first graph distance from ``source`` to every site (-1 if unreachable)."""
    distance = np.full(neighbours.shape[0], -1, dtype=np.int64)
    distance[source] = 0
    frontier = np.array([source])
    d = 0
    while frontier.size:
        d += 1
        reached = np.unique(neighbours[frontier].ravel())
        reached = reached[distance[reached] < 0]
        distance[reached] = d
        frontier = reached
    return distance


def _shell_average(values: np.ndarray, distance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = distance >= 0
    sums = np.bincount(distance[keep], weights=values[keep])
    counts = np.bincount(distance[keep])
    r = np.flatnonzero(counts)
    return r, sums[r] / counts[r]


def correlation_function(spins, lattice: Lattice) -> tuple[np.ndarray, np.ndarray]:
    """Translation-averaged connected correlation C(r).

    - Hypercubic lattices (square, cubic): ``r = 0 .. L//2`` lattice spacings
      along the axes, ``C(r)`` averaged over all sites, axes and both
      directions, from the FFT of the configurations.
    - Other lattices: ``r`` is the graph distance (number of bonds) and ``C(r)``
      the mean of ``C_ij`` over all pairs at that distance (shells). Lattices
      invariant under array translations (triangular) use the FFT; any other
      lattice builds the full matrix (at most :data:`MAX_MATRIX_SITES` sites).

    ``C(0)`` is the mean site variance ``1 - <s_i>^2`` for ±1 spins.

    Parameters
    ----------
    spins : int8 or float (n_samples, *lattice.shape) or (n_samples, n_sites)
    lattice : Lattice

    Returns
    -------
    r : int64 (n_r,) distances, C : float64 (n_r,).
    """
    x = _as_samples(spins, lattice)
    if _is_hypercubic(lattice):
        G = _translation_averaged(x, lattice)
        dim = len(lattice.shape)
        r = np.arange(min(lattice.shape) // 2 + 1)
        along = []
        for axis in range(dim):
            index = [0] * dim
            index[axis] = r
            forward = G[tuple(index)]
            index[axis] = -r
            along.append(0.5 * (forward + G[tuple(index)]))
        return r, np.mean(along, axis=0)
    if _is_translation_invariant(lattice):
        G = _translation_averaged(x, lattice).ravel()
        return _shell_average(G, _graph_distances_from(lattice.neighbours, 0))
    C = connected_correlation(x)
    N = lattice.n_sites
    graph = csr_matrix(
        (
            np.ones(lattice.neighbours.size),
            (np.repeat(np.arange(N), lattice.coordination), lattice.neighbours.ravel()),
        ),
        shape=(N, N),
    )
    sums = np.zeros(N)
    counts = np.zeros(N, dtype=np.int64)
    for rows in _chunks(N, N):
        distance = shortest_path(graph, unweighted=True, indices=np.arange(N)[rows])
        reachable = np.isfinite(distance)
        d = distance[reachable].astype(np.int64)
        sums += np.bincount(d, weights=C[rows][reachable], minlength=N)
        counts += np.bincount(d, minlength=N)
    r = np.flatnonzero(counts)
    return r, sums[r] / counts[r]


def second_moment_correlation_length(spins, lattice: Lattice) -> float:
    """Second-moment correlation length from the connected structure factor.

    ``xi = sqrt(chi(0) / chi(k_min) - 1) / (2 sin(k_min / 2))``, ``k_min = 2 pi / L``,
    with chi(k_min) averaged over the axes and both directions (Cooper,
    Freedman, Preston 1982; the standard finite-size definition). chi(0) has
    ``<m>`` subtracted (:func:`structure_factor`). In lattice spacings.

    Returns NaN when ``chi(0) / chi(k_min) < 1`` or ``chi(k_min) <= 0``, which
    happens in the disordered phase when xi is below about one lattice spacing
    and noise dominates, or for an ensemble with no fluctuations.

    Hypercubic lattices (square, cubic) with equal sides only.
    """
    _require_hypercubic(lattice, "the second-moment correlation length")
    chi = structure_factor(spins, lattice)
    dim, L = len(lattice.shape), lattice.shape[0]
    k_min = []
    for axis in range(dim):
        for step in (1, -1):
            index = [0] * dim
            index[axis] = step
            k_min.append(chi[tuple(index)])
    chi_k = float(np.mean(k_min))
    chi_0 = float(chi.flat[0])
    if chi_k <= 0.0 or chi_0 < chi_k:
        return float("nan")
    return float(np.sqrt(chi_0 / chi_k - 1.0) / (2.0 * np.sin(np.pi / L)))


def correlation_summary(spins, lattice: Lattice) -> dict:
    """Correlation measures of one ensemble, for the study's tables.

    Parameters
    ----------
    spins : int8 or float (n_samples, *lattice.shape) or (n_samples, n_sites)
        Original, coarse (block spins), binarised codes or real reconstructions.
    lattice : Lattice
        The lattice the configurations live on (the coarse lattice for codes).

    Returns
    -------
    dict with
    ``nn_correlation`` (float, connected, :func:`nearest_neighbour_correlation`),
    ``nn_product`` (float, ``<s_i s_j>`` over bonds, not connected),
    ``xi`` (float, :func:`second_moment_correlation_length`; NaN if not hypercubic or undefined),
    ``abs_magnetization`` (float, ``<|m|>`` per spin),
    ``r`` (int64 array), ``C_r`` (float64 array) from :func:`correlation_function`,
    ``distance`` (``"axis"`` or ``"graph"``, the meaning of r),
    ``n_samples`` (int).
    """
    x = _as_samples(spins, lattice)
    hypercubic = _is_hypercubic(lattice) and len(set(lattice.shape)) == 1
    r, C_r = correlation_function(x, lattice)
    return {
        "nn_correlation": nearest_neighbour_correlation(x, lattice, connected=True),
        "nn_product": nearest_neighbour_correlation(x, lattice, connected=False),
        "xi": second_moment_correlation_length(x, lattice) if hypercubic else float("nan"),
        "abs_magnetization": float(np.abs(x.reshape(x.shape[0], -1).mean(axis=1)).mean()),
        "r": r,
        "C_r": C_r,
        "distance": "axis" if _is_hypercubic(lattice) else "graph",
        "n_samples": int(x.shape[0]),
    }

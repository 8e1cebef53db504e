"""Entropy per spin of an ensemble of configurations (claim C4).

Three estimators, in bits per spin, of the entropy density of a
translation-invariant ensemble:

- :func:`patch_entropy`: Shannon entropy of the k x k (k^d in d dimensions)
  patch patterns, divided by the number of spins in a patch, with the
  Miller-Madow bias correction. An upper bound that converges slowly, as 1/k
  (the patch boundary).
- :func:`conditional_entropy`: entropy of one spin given its ``order``
  nearest predecessors in raster order, h_c = H(x_0, N_c) - H(N_c), with
  Grassberger's bias correction. Also an upper bound (conditioning on the
  whole half-space of predecessors gives the entropy density exactly), and it
  converges much faster in the neighbourhood size.
- :func:`compression_entropy`: size of the lzma-compressed, bit-packed
  configurations.

Finite samples bias the plug-in entropies low. :func:`patch_entropy_estimate`
and :func:`conditional_entropy_estimate` extrapolate them in the number of
configurations and give a statistical error from a jackknife over
configurations (patches of one configuration are correlated, so configurations,
or a configuration together with its mirror image, are the independent units).
:func:`entropy_table` tabulates all three for several representations.

Real-valued inputs (an autoencoder's reconstruction in [-1, 1], or its code)
are binarised by sign first with :func:`binarise`: ``x > 0`` is spin up, any
other value (including 0) spin down.
"""

from __future__ import annotations

import itertools
import lzma
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import digamma

from ising.lattice import Lattice

__all__ = [
    "EntropyEstimate",
    "binarise",
    "causal_neighbourhood",
    "conditional_entropy",
    "conditional_entropy_estimate",
    "compression_entropy",
    "entropy_table",
    "mirror_pair_groups",
    "patch_entropy",
    "patch_entropy_estimate",
    "patch_pattern_counts",
    "shell_orders",
]

_CHUNK_POSITIONS = 1 << 21  # patch positions encoded at once (16 MiB of int64 codes)
_BINCOUNT_BITS = 20  # patterns of up to this many spins are counted with a dense histogram
_MIN_PATCHES_PER_PATTERN = 10  # below this the Miller-Madow estimate is flagged as undersampled


def _as_configurations(spins, lattice: Lattice | None = None) -> np.ndarray:
    x = np.asarray(spins)
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating) or x.dtype == bool):
        raise ValueError(f"spins must be an integer, boolean or real array, got dtype {x.dtype}")
    if x.ndim < 2 or x.shape[0] < 1:
        raise ValueError(f"spins must have shape (n_samples, *lattice shape), got {x.shape}")
    if lattice is not None:
        if x.shape[1:] != lattice.shape and x[0].size != lattice.n_sites:
            raise ValueError(
                f"spins of shape {x.shape} do not fit the {lattice.describe()} lattice; expected "
                f"(n_samples, {', '.join(map(str, lattice.shape))}) or (n_samples, {lattice.n_sites})"
            )
        x = x.reshape((x.shape[0], *lattice.shape))
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise ValueError("spins contain NaN or infinite values")
    return x


def binarise(x) -> np.ndarray:
    """Spins from any real array by sign: int8 +1 where ``x > 0``, -1 elsewhere (0 included).

    Used for autoencoder codes and reconstructions; ±1 spins pass unchanged.
    """
    return np.where(np.asarray(x) > 0, 1, -1).astype(np.int8)


def _check_k(k, name: str = "patch size k") -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{name} must be a positive integer, got {k!r}")
    return int(k)


def _check_patch(k, shape: tuple[int, ...]) -> int:
    k = _check_k(k)
    if k > min(shape):
        raise ValueError(f"patch size k={k} exceeds the configuration shape {shape}; use k <= {min(shape)}")
    n_bits = k ** len(shape)
    if n_bits > 62:
        raise ValueError(f"a {k}^{len(shape)} patch has {n_bits} spins, more than the 62 that fit one code")
    return k


def patch_pattern_counts(spins, k: int, lattice: Lattice | None = None) -> np.ndarray:
    """Occurrences of each observed k^d patch pattern over all samples and positions.

    Patches are the hypercubes ``x + {0..k-1}^d`` at every site ``x`` of the
    configuration array, wrapping periodically (k x k for 2D arrays, k x k x k
    for 3D). On the triangular lattice a k x k patch of the array is a rhombus.

    Parameters
    ----------
    spins : int8 or real (n_samples, *shape), or (n_samples, n_sites) with ``lattice``
        Binarised by sign (:func:`binarise`).
    k : int
        Linear patch size, 1 <= k <= min(shape), k^d <= 62.
    lattice : Lattice, optional
        Only used to reshape flat configurations.

    Returns
    -------
    int64 (n_patterns,): counts of the observed patterns (in no particular
    order), summing to ``n_samples * n_sites``.
    """
    up = _as_configurations(spins, lattice) > 0
    shape = up.shape[1:]
    dim = len(shape)
    k = _check_patch(k, shape)
    n_bits = k**dim
    axes = tuple(range(1, dim + 1))
    offsets = list(np.ndindex(*(k,) * dim))
    step = max(1, _CHUNK_POSITIONS // up[0].size)
    dense = n_bits <= _BINCOUNT_BITS
    histogram = np.zeros(1 << n_bits, dtype=np.int64) if dense else None
    partial = []
    for start in range(0, up.shape[0], step):
        block = up[start : start + step]
        codes = np.zeros(block.shape, dtype=np.int64)
        for position, offset in enumerate(offsets):
            shifted = np.roll(block, shift=tuple(-o for o in offset), axis=axes)
            codes |= shifted.astype(np.int64) << position
        if dense:
            histogram += np.bincount(codes.ravel(), minlength=histogram.size)
        else:
            partial.append(np.unique(codes.ravel(), return_counts=True))
    if dense:
        return histogram[histogram > 0]
    values = np.concatenate([v for v, _ in partial])
    counts = np.concatenate([c for _, c in partial])
    _, where = np.unique(values, return_inverse=True)
    return np.bincount(where, weights=counts).astype(np.int64)


def causal_neighbourhood(dim: int, order: int) -> np.ndarray:
    """Offsets of the ``order`` sites nearest to a site among those before it in raster order.

    Raster (C) order: offset d precedes the origin when its first non-zero
    component is negative (rows above, then sites to the left on the same row,
    in 2D). The offsets are sorted by Euclidean distance, ties in raster order.
    In 2D the first shells are (-1,0), (0,-1) | (-1,-1), (-1,1) | (-2,0),
    (0,-2) | four at distance sqrt 5 | (-2,-2), (-2,2), giving complete
    shells at orders 2, 4, 6, 10, 12 (:func:`shell_orders`).

    Returns int64 (order, dim).
    """
    dim = _check_k(dim, "dimension")
    order = _check_k(order, "neighbourhood order")
    if order > 61:
        raise ValueError(f"a neighbourhood of {order} sites plus the centre does not fit one 62-bit code")
    box = itertools.product(range(-order, order + 1), repeat=dim)
    causal = [d for d in box if any(d) and next(v for v in d if v) < 0]
    causal.sort(key=lambda d: (sum(v * v for v in d), d))
    return np.array(causal[:order], dtype=np.int64).reshape(order, dim)


def shell_orders(dim: int, max_order: int = 13) -> tuple[int, ...]:
    """Orders at which :func:`causal_neighbourhood` holds complete distance shells, up to ``max_order``.

    (2, 4, 6, 10, 12) in 2D, (3, 9, 13) in 3D, (1, ..., max_order) in 1D.
    """
    offsets = causal_neighbourhood(dim, max_order + 1)
    r2 = (offsets**2).sum(axis=1)
    return tuple(int(c) for c in range(1, max_order + 1) if r2[c] > r2[c - 1])


def _neighbourhood_fits(offsets: np.ndarray, shape: tuple[int, ...]) -> bool:
    """True when the offsets and the origin are distinct sites of a periodic array of ``shape``."""
    sites = np.vstack([offsets, np.zeros((1, len(shape)), dtype=np.int64)]) % np.asarray(shape)
    return np.unique(sites, axis=0).shape[0] == sites.shape[0]


def _pattern_codes(up: np.ndarray, offsets) -> np.ndarray:
    """int64 (n_samples, n_positions): bit j of a code is the spin at position + offsets[j] (periodic)."""
    axes = tuple(range(1, up.ndim))
    codes = np.zeros(up.shape, dtype=np.int64)
    for bit, offset in enumerate(offsets):
        codes |= np.roll(up, shift=tuple(-int(o) for o in offset), axis=axes).astype(np.int64) << bit
    return codes.reshape(up.shape[0], -1)


def _grassberger_g(n: np.ndarray) -> np.ndarray:
    """G(n) = psi(n) + (-1)^n / 2 [psi((n+1)/2) - psi(n/2)] (Grassberger 2003, eq. 35).

    n: float (m,) of positive whole counts. Values come from a table of G(1 .. max n),
    extended as needed, so repeated calls on count vectors cost a lookup.
    """
    index = n.astype(np.int64)
    if index.size and index.max() >= _G_TABLE[0].size:
        size = int(max(2 * _G_TABLE[0].size, index.max() + 1))
        m = np.arange(size, dtype=np.float64)
        m[0] = 1.0  # G(0) is never looked up (counts are positive); keep the table finite
        sign = np.where(np.arange(size) % 2 == 0, 1.0, -1.0)
        _G_TABLE[0] = digamma(m) + 0.5 * sign * (digamma((m + 1) / 2.0) - digamma(m / 2.0))
    return _G_TABLE[0][index]


#: G(n) for n = 0 .. size - 1 (see :func:`_grassberger_g`), grown on demand.
_G_TABLE = [np.zeros(0)]


def _row_entropies(rows: np.ndarray, counts: np.ndarray, n_rows: int, correction: str) -> np.ndarray:
    """Shannon entropy in bits of each row of a sparse count matrix given as (row, count) pairs.

    ``correction``: ``"miller_madow"`` adds (m - 1) / (2 N ln 2) (m observed
    patterns, N counts); ``"grassberger"`` is H = ln N - (1/N) sum n_i G(n_i).
    """
    counts = counts.astype(np.float64)
    total = np.bincount(rows, weights=counts, minlength=n_rows)
    if correction == "grassberger":
        sum_g = np.bincount(rows, weights=counts * _grassberger_g(counts), minlength=n_rows)
        return (np.log(total) - sum_g / total) / np.log(2.0)
    sum_log = np.bincount(rows, weights=counts * np.log2(counts), minlength=n_rows)
    h = np.log2(total) - sum_log / total
    if correction == "miller_madow":
        observed = np.bincount(rows, minlength=n_rows)
        h += (observed - 1) / (2.0 * total * np.log(2.0))
    return h


def _shannon_bits(counts: np.ndarray, bias_correction: bool) -> float:
    rows = np.zeros(counts.size, dtype=np.int64)
    return float(_row_entropies(rows, counts, 1, "miller_madow" if bias_correction else "none")[0])


def patch_entropy(spins, k: int, lattice: Lattice | None = None, bias_correction: bool = True) -> float:
    """Shannon entropy per spin of k^d patch patterns, in bits, from all samples at once.

    ``H_k = -sum_p f_p log2 f_p`` over the observed pattern frequencies of
    :func:`patch_pattern_counts`, plus the Miller-Madow correction
    ``(m - 1) / (2 n ln 2)`` (m observed patterns, n = n_samples * n_sites
    patches), divided by the k^d spins of a patch. For a translation-invariant
    ensemble ``H_k / k^d`` bounds the entropy density from above and does not
    increase from k = 1 to k = 2 (subadditivity).

    The Miller-Madow term assumes independent patches; overlapping patches and
    correlated samples make it approximate, and the estimate is trustworthy
    only while m is much smaller than n. Real inputs are binarised by sign.
    :func:`patch_entropy_estimate` extrapolates in the number of samples and
    gives errors.

    Parameters
    ----------
    spins : int8 or real (n_samples, *shape), or (n_samples, n_sites) with ``lattice``
    k : int
        Linear patch size (k x k in 2D, k x k x k in 3D).
    lattice : Lattice, optional
        Only used to reshape flat configurations.
    bias_correction : bool
        Apply the Miller-Madow correction.

    Returns
    -------
    float, bits per spin, in [0, 1] up to the correction.
    """
    counts = patch_pattern_counts(spins, k, lattice)
    spins_per_patch = k ** (np.ndim(spins) - 1 if lattice is None else len(lattice.shape))
    return _shannon_bits(counts, bias_correction) / spins_per_patch


def conditional_entropy(spins, order: int, lattice: Lattice | None = None) -> float:
    """Entropy of one spin given its ``order`` nearest raster predecessors, bits per spin.

    ``h_c = H(x_0, N_c) - H(N_c)`` with N_c the sites of
    :func:`causal_neighbourhood` (dim, c) around each site (periodic wrap),
    each block entropy estimated by Grassberger's estimator (2003,
    arXiv:physics/0307138) over all samples and positions. For a
    translation-invariant field h_c does not increase with c and tends to the
    entropy density from above (chain rule over a raster order); the
    approach is exponential away from a critical point (Schlijper 1983 for
    this kind of Markov bound). :func:`conditional_entropy_estimate`
    extrapolates in the number of samples and gives errors.

    Parameters
    ----------
    spins : int8 or real (n_samples, *shape), or (n_samples, n_sites) with ``lattice``
        Binarised by sign.
    order : int
        Number of conditioning sites c, 1 <= c <= 61.
    lattice : Lattice, optional
        Only used to reshape flat configurations.

    Returns
    -------
    float, bits per spin.
    """
    up = _as_configurations(spins, lattice) > 0
    offsets = _conditional_offsets(up.shape[1:], order)
    codes = _pattern_codes(up, offsets).ravel()
    context = codes & ((1 << len(offsets) - 1) - 1)
    h = [
        _row_entropies(np.zeros(u.size, dtype=np.int64), u, 1, "grassberger")[0]
        for u in (np.unique(codes, return_counts=True)[1], np.unique(context, return_counts=True)[1])
    ]
    return float(h[0] - h[1])


def _conditional_offsets(shape: tuple[int, ...], order: int) -> np.ndarray:
    """Context offsets of :func:`causal_neighbourhood` followed by the origin (the highest bit)."""
    context = causal_neighbourhood(len(shape), order)
    if not _neighbourhood_fits(context, shape):
        raise ValueError(
            f"the causal neighbourhood of order {order} wraps onto itself on a periodic array of shape "
            f"{shape}; use a smaller order"
        )
    return np.vstack([context, np.zeros((1, len(shape)), dtype=np.int64)])


@dataclass(frozen=True)
class EntropyEstimate:
    """An entropy per spin (bits) extrapolated in the number of samples, with its errors.

    Attributes
    ----------
    entropy : extrapolated to infinitely many samples, H_inf of H(n) = H_inf + a / n.
    stat_err : jackknife standard error of ``entropy`` over groups of independent units.
    sys_err : |entropy - plugin| (the size of the sample-size correction), plus for the
        conditional estimator the last decrease with the order (the truncation error proxy);
        NaN when there were too few units to extrapolate.
    plugin : the bias-corrected estimate from all samples, without extrapolation.
    k : patch size, or number of conditioning sites.
    n_patterns : observed patterns (of the block, for the conditional estimator).
    n_samples : patches counted (samples x positions).
    n_units : independent units (configurations, or mirror pairs).
    undersampled : fewer than 10 patches per observed pattern.
    """

    entropy: float
    stat_err: float
    sys_err: float
    plugin: float
    k: int
    n_patterns: int
    n_samples: int
    n_units: int
    undersampled: bool


def mirror_pair_groups(n_samples: int) -> np.ndarray:
    """Unit labels for an ensemble made by ``analysis.correlations.flip_symmetrised``.

    Rows i and i + n_samples/2 are a configuration and its mirror image: one
    independent unit. Returns int64 (n_samples,), ``arange(n) % (n / 2)``.
    """
    n = _check_k(n_samples, "number of samples")
    if n % 2:
        raise ValueError(f"a flip-symmetrised ensemble has an even number of rows, got {n}")
    return np.arange(n, dtype=np.int64) % (n // 2)


def _units(groups, n_samples: int) -> tuple[np.ndarray, int]:
    """Unit index 0..U-1 of every row (by order of the group labels) and U."""
    if groups is None:
        return np.arange(n_samples), n_samples
    labels = np.asarray(groups)
    if labels.shape != (n_samples,):
        raise ValueError(f"groups must label each of the {n_samples} samples, got shape {labels.shape}")
    _, unit = np.unique(labels, return_inverse=True)
    return unit.ravel(), int(unit.max()) + 1


def _sorted_ids(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(codes, return_inverse=True)`` for non-negative int64 codes.

    Codes of at most 2^22 distinct values (every block of up to 22 sites) are
    ranked through a presence table instead of a sort.
    """
    if codes.size and codes.min() >= 0 and codes.max() < 1 << 22:
        present = np.bincount(codes) > 0
        values = np.flatnonzero(present)
        rank = np.cumsum(present) - 1
        return values, rank[codes]
    return np.unique(codes, return_inverse=True)


class _UnitCounts:
    """Pattern counts per independent unit: a sparse int64 (n_units, n_patterns) matrix."""

    def __init__(self, codes: np.ndarray, unit: np.ndarray, n_units: int):
        values, ids = _sorted_ids(codes.ravel())
        rows = np.repeat(unit, codes.shape[1])
        ones = np.ones(rows.size, dtype=np.int64)
        self.matrix = sparse.csr_matrix((ones, (rows, ids.ravel())), shape=(n_units, values.size))
        self.matrix.sum_duplicates()

    def entropies(self, parts: list[np.ndarray], correction: str) -> np.ndarray:
        """Entropy in bits of the patterns pooled over each part (an array of unit indices)."""
        rows = np.concatenate([np.full(p.size, i) for i, p in enumerate(parts)])
        members = sparse.csr_matrix(
            (np.ones(rows.size, dtype=np.int64), (rows, np.concatenate(parts))),
            shape=(len(parts), self.matrix.shape[0]),
        )
        pooled = (members @ self.matrix).tocoo()
        return _row_entropies(pooled.row, pooled.data, len(parts), correction)


def _halving_levels(units: np.ndarray, n_halvings: int) -> list[list[np.ndarray]]:
    """Level j (0 .. n_halvings) splits ``units``, in order, into 2^j contiguous parts."""
    return [np.array_split(units, 2**j) for j in range(n_halvings + 1)]


def _fit_halvings(levels: list, values: np.ndarray) -> tuple[float, float]:
    """(H_inf, H(all units)): fit H(n) = H_inf + a / n by least squares to the mean H of each level.

    ``values`` holds the entropy of every part of ``levels``, level by level.
    """
    means, sizes, start = [], [], 0
    for level in levels:
        means.append(values[start : start + len(level)].mean())
        sizes.append(np.mean([p.size for p in level]))
        start += len(level)
    if len(levels) == 1:
        return float(means[0]), float(means[0])
    design = np.column_stack([np.ones(len(sizes)), 1.0 / np.asarray(sizes)])
    intercept = np.linalg.lstsq(design, np.asarray(means), rcond=None)[0][0]
    return float(intercept), float(means[0])


def _extrapolated(
    per_part: Callable[[list[np.ndarray]], np.ndarray], unit_sets: list[np.ndarray], n_halvings: int
) -> list[tuple[float, float]]:
    """(H_inf, H(all units)) of each set of units, from H over nested halvings of that set.

    Level j splits a set, in order, into 2^j contiguous parts of n / 2^j units;
    H at level j is the mean over its parts. The parts of every set are counted
    in one call of ``per_part``.
    """
    levels = [_halving_levels(units, n_halvings) for units in unit_sets]
    parts = [p for set_levels in levels for level in set_levels for p in level]
    values = per_part(parts)
    out, start = [], 0
    for set_levels in levels:
        n_parts = sum(len(level) for level in set_levels)
        out.append(_fit_halvings(set_levels, values[start : start + n_parts]))
        start += n_parts
    return out


def _estimate(
    per_part: Callable[[list[np.ndarray]], np.ndarray], n_units: int, n_halvings: int, n_jackknife: int
) -> tuple[float, float, float, float]:
    """(extrapolated, stat_err, sampling sys_err, plug-in) of an entropy with a delete-a-block jackknife.

    The units are cut into ``n_jackknife`` contiguous blocks; each jackknife
    replicate repeats the whole extrapolation without one block, and
    stat_err = sqrt((G - 1) / G * sum (H_g - mean H_g)^2). Extrapolation uses as
    many halvings (at most ``n_halvings``) as leave every part of every
    replicate at least one unit.
    """
    units = np.arange(n_units)
    blocks = np.array_split(units, min(n_jackknife, n_units)) if n_units >= 2 else []
    smallest = n_units - max((b.size for b in blocks), default=0)
    halvings = int(min(n_halvings, np.floor(np.log2(max(smallest, 1)))))
    kept = [np.setdiff1d(units, b) for b in blocks] if len(blocks) >= 2 else []
    fits = _extrapolated(per_part, [units, *kept], halvings)
    value, plugin = fits[0]
    if kept:
        replicates = np.array([fit[0] for fit in fits[1:]])
        g = replicates.size
        stat_err = float(np.sqrt((g - 1) / g * np.sum((replicates - replicates.mean()) ** 2)))
    else:
        stat_err = float("nan")
    sys_err = abs(value - plugin) if halvings >= 1 else float("nan")
    return value, stat_err, sys_err, plugin


def _check_resampling(n_halvings, n_jackknife) -> None:
    if isinstance(n_halvings, bool) or not isinstance(n_halvings, (int, np.integer)) or n_halvings < 0:
        raise ValueError(f"n_halvings must be a non-negative integer, got {n_halvings!r}")
    _check_k(n_jackknife, "number of jackknife blocks n_jackknife")


def patch_entropy_estimate(
    spins,
    k: int,
    lattice: Lattice | None = None,
    groups=None,
    n_halvings: int = 2,
    n_jackknife: int = 20,
) -> EntropyEstimate:
    """:func:`patch_entropy` extrapolated in the number of samples, with jackknife and systematic errors.

    The Miller-Madow patch entropy H(n) is computed on the units (samples, or
    ``groups`` of them) split in order into 1, 2, 4, ... 2^n_halvings parts,
    averaged over the parts of each level, and fitted by H(n) = H_inf + a / n
    (the leading finite-sample bias of plug-in entropies; Strong et al. 1998,
    Phys. Rev. Lett. 80, 197). ``sys_err = |H_inf - H(all)|``; ``stat_err`` is
    a delete-a-block jackknife of H_inf over ``n_jackknife`` blocks of units.

    Parameters
    ----------
    spins : int8 or real (n_samples, *shape), or (n_samples, n_sites) with ``lattice``
    k : int
        Linear patch size.
    lattice : Lattice, optional
        Only used to reshape flat configurations.
    groups : int (n_samples,), optional
        Samples with the same label are one independent unit, resampled
        together (e.g. :func:`mirror_pair_groups` for a flip-symmetrised
        ensemble). Default: every sample is a unit.
    n_halvings, n_jackknife : int
        Halvings of the sample for the extrapolation; jackknife blocks.

    Returns
    -------
    EntropyEstimate, bits per spin.
    """
    _check_resampling(n_halvings, n_jackknife)
    up = _as_configurations(spins, lattice) > 0
    shape = up.shape[1:]
    k = _check_patch(k, shape)
    unit, n_units = _units(groups, up.shape[0])
    counts = _UnitCounts(_pattern_codes(up, list(np.ndindex(*(k,) * len(shape)))), unit, n_units)
    spins_per_patch = k ** len(shape)

    def per_part(parts):
        return counts.entropies(parts, "miller_madow") / spins_per_patch

    value, stat_err, sys_err, plugin = _estimate(per_part, n_units, n_halvings, n_jackknife)
    n_patterns, n_samples = counts.matrix.shape[1], int(up.size)
    return EntropyEstimate(
        entropy=value,
        stat_err=stat_err,
        sys_err=sys_err,
        plugin=plugin,
        k=k,
        n_patterns=n_patterns,
        n_samples=n_samples,
        n_units=n_units,
        undersampled=bool(n_samples < _MIN_PATCHES_PER_PATTERN * n_patterns),
    )


def conditional_entropy_estimate(
    spins,
    orders: Sequence[int] | None = None,
    lattice: Lattice | None = None,
    groups=None,
    n_halvings: int = 2,
    n_jackknife: int = 20,
) -> EntropyEstimate | None:
    """Best :func:`conditional_entropy` over ``orders``, extrapolated in the number of samples.

    For each order c (ascending) that fits the array, h_c(n) is extrapolated
    as in :func:`patch_entropy_estimate` (Grassberger block entropies,
    H(n) = H_inf + a / n over 1, 2, 4... parts, jackknife over blocks of
    units). The estimate is the largest order whose (c + 1)-site block is
    well sampled (at least 10 counts per observed pattern); if none is, the
    smallest order, flagged undersampled. Its ``sys_err`` is the sample-size
    correction |H_inf - H(all)| plus the truncation proxy
    max(0, h_prev - h_c), the decrease from the previous order (h_c decreases
    towards the entropy density; at a critical point the remaining decrease
    can exceed the last one).

    Parameters
    ----------
    spins : int8 or real (n_samples, *shape), or (n_samples, n_sites) with ``lattice``
    orders : sequence of int, optional
        Candidate numbers of conditioning sites; default :func:`shell_orders`
        (2, 4, 6, 10, 12 in 2D; 3, 9, 13 in 3D).
    lattice, groups, n_halvings, n_jackknife
        As in :func:`patch_entropy_estimate`.

    Returns
    -------
    EntropyEstimate (``k`` = the order used), or None when no order's
    neighbourhood fits the array without wrapping onto itself.
    """
    _check_resampling(n_halvings, n_jackknife)
    up = _as_configurations(spins, lattice) > 0
    shape = up.shape[1:]
    orders = shell_orders(len(shape)) if orders is None else sorted({_check_k(c, "order") for c in orders})
    unit, n_units = _units(groups, up.shape[0])
    estimates = []
    for order in orders:
        context = causal_neighbourhood(len(shape), order)
        if not _neighbourhood_fits(context, shape):
            continue
        codes = _pattern_codes(up, _conditional_offsets(shape, order))
        block = _UnitCounts(codes, unit, n_units)
        given = _UnitCounts(codes & ((1 << order) - 1), unit, n_units)

        def per_part(parts, block=block, given=given):
            return block.entropies(parts, "grassberger") - given.entropies(parts, "grassberger")

        value, stat_err, sys_err, plugin = _estimate(per_part, n_units, n_halvings, n_jackknife)
        n_patterns = block.matrix.shape[1]
        estimates.append(
            EntropyEstimate(
                entropy=value,
                stat_err=stat_err,
                sys_err=sys_err,
                plugin=plugin,
                k=int(order),
                n_patterns=n_patterns,
                n_samples=int(up.size),
                n_units=n_units,
                undersampled=bool(up.size < _MIN_PATCHES_PER_PATTERN * n_patterns),
            )
        )
    if not estimates:
        return None
    sampled = [i for i, e in enumerate(estimates) if not e.undersampled]
    best = sampled[-1] if sampled else 0
    chosen = estimates[best]
    if best > 0:
        truncation = max(0.0, estimates[best - 1].entropy - chosen.entropy)
        chosen = EntropyEstimate(**{**chosen.__dict__, "sys_err": chosen.sys_err + truncation})
    return chosen


def compression_entropy(spins, lattice: Lattice | None = None) -> float:
    """Compression entropy in bits per spin: lzma size of the bit-packed configurations.

    The configurations are binarised by sign (up = 1), flattened in C order,
    concatenated sample after sample, packed 8 spins to a byte
    (``np.packbits``) and compressed by LZMA2 at preset ``9 | PRESET_EXTREME``
    in the raw format (no container header). The dictionary is capped at the
    input size, which changes nothing in the output but keeps the memory small.
    Bits per spin = 8 * compressed bytes / (n_samples * n_sites). Random bits
    give about 1, constant configurations about 0; lzma sees the lattice as a
    one-dimensional byte stream, so the bound it gives is loose.

    Parameters
    ----------
    spins : int8 or real (n_samples, *shape), or (n_samples, n_sites) with ``lattice``
    lattice : Lattice, optional
        Only used to check the shape.

    Returns
    -------
    float, bits per spin.
    """
    up = _as_configurations(spins, lattice) > 0
    packed = np.packbits(up.ravel()).tobytes()
    dict_size = int(min(max(4096, 1 << (len(packed) - 1).bit_length()), 1 << 26))
    filters = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "dict_size": dict_size}]
    compressed = lzma.compress(packed, format=lzma.FORMAT_RAW, filters=filters)
    return 8.0 * len(compressed) / up.size


def entropy_table(
    representations: Mapping[str, np.ndarray],
    T: float,
    ks: Sequence[int] = (1, 2, 3),
    lattices: Mapping[str, Lattice] | None = None,
    exact_entropy: float | None = None,
    compression: bool = True,
    conditional: bool = True,
    orders: Sequence[int] | None = None,
    groups=None,
    n_halvings: int = 2,
    n_jackknife: int = 20,
    **labels,
) -> pd.DataFrame:
    """Patch, conditional and compression entropies of several representations of one ensemble.

    Parameters
    ----------
    representations : mapping name -> int8 or real (n_samples, *shape)
        E.g. ``{"original": spins, "decimation": coarse, "ae_code": binarise(code),
        "ae_reconstruction": reconstruction}``; real arrays are binarised by sign.
    T : float
        Temperature of the ensemble (copied to every row).
    ks : sequence of int
        Patch sizes; sizes larger than a representation's shape are skipped.
    lattices : mapping name -> Lattice, optional
        Used to reshape flat arrays (e.g. codes of shape (n, n_blocks)).
    exact_entropy : float, optional
        Exact entropy per spin in bits of the original ensemble (e.g.
        ``ising.exact.exact_entropy_per_spin(L, 1/T, bits=True)``), copied to
        every row as the reference; NaN if not given.
    compression : bool
        Also add the lzma row of each representation.
    conditional : bool
        Also add the conditional-entropy row of each representation
        (:func:`conditional_entropy_estimate` over ``orders``); omitted for a
        representation too small for any order's neighbourhood.
    orders : sequence of int, optional
        Candidate conditioning orders; default :func:`shell_orders`.
    groups : int (n_samples,), optional
        Independent units shared by every representation (the rows of all
        representations are the same configurations), e.g.
        ``mirror_pair_groups(n_samples)`` for a flip-symmetrised ensemble.
    n_halvings, n_jackknife : int
        Extrapolation halvings and jackknife blocks (:func:`patch_entropy_estimate`).
    **labels
        Constant columns to add (``seed=0``, ``L=32``...).

    Returns
    -------
    DataFrame, one row per (representation, measure, k), columns
    ``representation``, ``T``, ``measure`` (``"patch"``, ``"conditional"`` or
    ``"lzma"``), ``estimator`` (how ``entropy`` was obtained:
    ``"miller_madow_extrapolated"``, ``"grassberger_extrapolated"``,
    ``"lzma"``), ``k`` (patch size, or number of conditioning sites of the
    order used; nullable Int64, NA for lzma), ``entropy`` (bits per spin,
    extrapolated to infinitely many samples), ``stat_err`` (jackknife over
    units; NaN for lzma), ``sys_err`` (sample-size correction, plus the
    truncation proxy for the conditional row; NaN for lzma), ``plugin`` (the
    bias-corrected estimate from all samples without extrapolation; the lzma
    value for lzma), ``n_patterns`` (observed patterns, NA for lzma),
    ``n_samples`` (patches counted, or spins compressed), ``undersampled``
    (fewer than 10 patches per observed pattern; False for lzma),
    ``exact_entropy`` (bits per spin), then ``*labels``.
    """
    if not representations:
        raise ValueError("no representations given; pass a mapping name -> configurations")
    lattices = lattices or {}
    rows = []

    def row(name, measure, estimator, e: EntropyEstimate):
        return {
            "representation": str(name),
            "measure": measure,
            "estimator": estimator,
            "k": e.k,
            "entropy": e.entropy,
            "stat_err": e.stat_err,
            "sys_err": e.sys_err,
            "plugin": e.plugin,
            "n_patterns": e.n_patterns,
            "n_samples": e.n_samples,
            "undersampled": e.undersampled,
        }

    resampling = {"groups": groups, "n_halvings": n_halvings, "n_jackknife": n_jackknife}
    for name, spins in representations.items():
        x = _as_configurations(spins, lattices.get(name))
        for k in ks:
            if k > min(x.shape[1:]):
                continue
            estimate = patch_entropy_estimate(x, k, **resampling)
            rows.append(row(name, "patch", "miller_madow_extrapolated", estimate))
        if conditional:
            estimate = conditional_entropy_estimate(x, orders, **resampling)
            if estimate is not None:
                rows.append(row(name, "conditional", "grassberger_extrapolated", estimate))
        if compression:
            h = compression_entropy(x)
            rows.append(
                {
                    "representation": str(name),
                    "measure": "lzma",
                    "estimator": "lzma",
                    "k": pd.NA,
                    "entropy": h,
                    "stat_err": float("nan"),
                    "sys_err": float("nan"),
                    "plugin": h,
                    "n_patterns": pd.NA,
                    "n_samples": int(x.size),
                    "undersampled": False,
                }
            )
    table = pd.DataFrame(rows)
    table.insert(1, "T", float(T))
    table["k"] = table["k"].astype("Int64")
    table["n_patterns"] = table["n_patterns"].astype("Int64")
    table["exact_entropy"] = float("nan") if exact_entropy is None else float(exact_entropy)
    for name, value in labels.items():
        table[name] = value
    return table

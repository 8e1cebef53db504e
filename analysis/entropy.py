"""Entropy per spin of an ensemble of configurations (claim C4).

Two estimators, both in bits per spin and both upper bounds, in expectation,
on the entropy density of a translation-invariant ensemble:

- :func:`patch_entropy`: Shannon entropy of the k x k (k^d in d dimensions)
  patch patterns, divided by the number of spins in a patch, with the
  Miller-Madow bias correction.
- :func:`compression_entropy`: size of the lzma-compressed, bit-packed
  configurations.

Real-valued inputs (an autoencoder's reconstruction in [-1, 1], or its code)
are binarised by sign first with :func:`binarise`: ``x > 0`` is spin up, any
other value (including 0) spin down.
"""

from __future__ import annotations

import lzma
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ising.lattice import Lattice

__all__ = [
    "binarise",
    "patch_pattern_counts",
    "patch_entropy",
    "compression_entropy",
    "entropy_table",
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
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"patch size k must be a positive integer, got {k!r}")
    if k > min(shape):
        raise ValueError(f"patch size k={k} exceeds the configuration shape {shape}; use k <= {min(shape)}")
    n_bits = k**dim
    if n_bits > 62:
        raise ValueError(f"a {k}^{dim} patch has {n_bits} spins, more than the 62 that fit one integer code")
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


def _shannon_bits(counts: np.ndarray, bias_correction: bool) -> float:
    total = counts.sum()
    p = counts / total
    h = float(-np.sum(p * np.log2(p)))
    if bias_correction:
        h += (counts.size - 1) / (2.0 * total * np.log(2.0))
    return h


def patch_entropy(spins, k: int, lattice: Lattice | None = None, bias_correction: bool = True) -> float:
    """Shannon entropy per spin of k^d patch patterns, in bits.

    ``H_k = -sum_p f_p log2 f_p`` over the observed pattern frequencies of
    :func:`patch_pattern_counts`, plus the Miller-Madow correction
    ``(m - 1) / (2 n ln 2)`` (m observed patterns, n = n_samples * n_sites
    patches), divided by the k^d spins of a patch. For a translation-invariant
    ensemble ``H_k / k^d`` bounds the entropy density from above and does not
    increase from k = 1 to k = 2 (subadditivity).

    The Miller-Madow term assumes independent patches; overlapping patches and
    correlated samples make it approximate, and the estimate is trustworthy
    only while m is much smaller than n. Real inputs are binarised by sign.

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
    **labels,
) -> pd.DataFrame:
    """Patch and compression entropies of several representations of one ensemble.

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
    **labels
        Constant columns to add (``seed=0``, ``L=32``...).

    Returns
    -------
    DataFrame, one row per (representation, estimator), columns
    ``representation``, ``T``, ``measure`` (``"patch"`` or ``"lzma"``), ``k``
    (patch size, nullable Int64, NA for lzma), ``entropy`` (bits per spin),
    ``n_patterns`` (observed patterns, NA for lzma), ``n_samples`` (patches
    counted, or spins compressed), ``undersampled`` (True when fewer than
    10 patches were counted per observed pattern, where the patch estimate is
    unreliable, e.g. 3 x 3 x 3 patches of a cubic lattice; False for lzma),
    ``exact_entropy`` (bits per spin), then ``*labels``.
    """
    if not representations:
        raise ValueError("no representations given; pass a mapping name -> configurations")
    lattices = lattices or {}
    rows = []
    for name, spins in representations.items():
        x = _as_configurations(spins, lattices.get(name))
        for k in ks:
            if k > min(x.shape[1:]):
                continue
            counts = patch_pattern_counts(x, k)
            rows.append(
                {
                    "representation": str(name),
                    "measure": "patch",
                    "k": int(k),
                    "entropy": _shannon_bits(counts, True) / k ** (x.ndim - 1),
                    "n_patterns": int(counts.size),
                    "n_samples": int(counts.sum()),
                    "undersampled": bool(counts.sum() < _MIN_PATCHES_PER_PATTERN * counts.size),
                }
            )
        if compression:
            rows.append(
                {
                    "representation": str(name),
                    "measure": "lzma",
                    "k": pd.NA,
                    "entropy": compression_entropy(x),
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

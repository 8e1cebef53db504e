"""Sparsity and locality of encoder weight matrices (claim C1).

An encoder maps N fine spins to N/B coarse units. Its weight matrix ``W`` is
taken in the Keras ``Dense`` kernel layout, float (n_sites, n_blocks): column
``j`` holds coarse unit ``j``'s weights over the fine sites, sites in C order of
``lattice.shape``. Coarse unit ``j`` is identified with block ``j`` of the
lattice (blocks are numbered in C order of ``lattice.coarse_shape``), which is
how the analytic RG encoders and the transferred thermometer layer are laid out.

Every measure is computed per coarse unit (per column) and is invariant under
rescaling that column; :func:`sparsity_table` reports the mean and standard
deviation over units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ising.lattice import Lattice

__all__ = [
    "fraction_small",
    "hoyer",
    "gini",
    "block_locality",
    "sparsity_table",
    "receptive_field",
    "receptive_field_table",
    "SPARSITY_MEASURES",
]

#: Measure names, in the order of the columns of :func:`sparsity_table`.
SPARSITY_MEASURES = ("fraction_small", "hoyer", "gini", "block_locality")


def _as_weight_matrix(W) -> np.ndarray:
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or min(W.shape) < 1:
        raise ValueError(
            f"weight matrix must be 2D (n_sites, n_units) in the Dense kernel layout, got shape {W.shape}"
        )
    if not np.all(np.isfinite(W)):
        raise ValueError("weight matrix contains NaN or infinite entries; check the trained encoder")
    return np.abs(W)


def _check_columns_nonzero(A: np.ndarray) -> None:
    dead = np.flatnonzero(A.sum(axis=0) == 0)
    if dead.size:
        raise ValueError(
            f"coarse units {dead[:5].tolist()} have all-zero weights; sparsity of an all-zero column is "
            "undefined, drop those units first"
        )


def fraction_small(W, rel: float = 0.01) -> np.ndarray:
    """Fraction of weights with ``|w| < rel * max|w|`` in each column.

    The threshold is relative to each column's own largest weight, so the
    measure is per unit and scale-invariant.

    Parameters
    ----------
    W : float (n_sites, n_units)
        Encoder kernel, column ``j`` = unit ``j``'s weights over the fine sites.
    rel : float in (0, 1)
        Relative threshold (0.01 = 1 % of the column maximum).

    Returns
    -------
    float64 (n_units,) in [0, 1 - 1/n_sites].
    """
    if not 0.0 < rel < 1.0:
        raise ValueError(f"rel must lie in (0, 1), got {rel!r}")
    A = _as_weight_matrix(W)
    _check_columns_nonzero(A)
    return np.mean(A < rel * A.max(axis=0), axis=0)


def hoyer(W) -> np.ndarray:
    """Hoyer sparsity of each column: ``(sqrt(n) - L1/L2) / (sqrt(n) - 1)``.

    Hoyer (J. Mach. Learn. Res. 5, 1457, 2004). 1 for a single non-zero
    weight, 0 for a constant column.

    Parameters
    ----------
    W : float (n_sites, n_units), n_sites >= 2

    Returns
    -------
    float64 (n_units,) in [0, 1].
    """
    A = _as_weight_matrix(W)
    _check_columns_nonzero(A)
    n = A.shape[0]
    if n < 2:
        raise ValueError("Hoyer sparsity needs at least two weights per unit")
    ratio = A.sum(axis=0) / np.sqrt(np.sum(A * A, axis=0))
    return np.clip((np.sqrt(n) - ratio) / (np.sqrt(n) - 1.0), 0.0, 1.0)


def gini(W) -> np.ndarray:
    """Gini coefficient of ``|w|`` in each column (Hurley & Rickard 2009).

    With the column sorted ascending, ``c_(1) <= ... <= c_(n)``,
    ``G = 1 - 2 sum_k (c_(k) / ||c||_1) (n - k + 1/2) / n``
    (IEEE Trans. Inf. Theory 55, 4723, eq. for S_Gini). 0 for a constant
    column, ``1 - 1/n`` for a single non-zero weight.

    Parameters
    ----------
    W : float (n_sites, n_units)

    Returns
    -------
    float64 (n_units,) in [0, 1).
    """
    A = _as_weight_matrix(W)
    _check_columns_nonzero(A)
    n = A.shape[0]
    c = np.sort(A, axis=0) / A.sum(axis=0)
    k = np.arange(1, n + 1, dtype=np.float64)[:, None]
    return 1.0 - 2.0 * np.sum(c * (n - k + 0.5) / n, axis=0)


def _check_encoder_shape(W: np.ndarray, lattice: Lattice) -> None:
    expected = (lattice.n_sites, lattice.n_blocks)
    if W.shape == expected:
        return
    if W.shape == expected[::-1]:
        raise ValueError(
            f"weight matrix has shape {W.shape}; the Dense kernel layout is (n_sites, n_blocks) = "
            f"{expected}, pass W.T"
        )
    raise ValueError(
        f"weight matrix shape {W.shape} does not match the {lattice.describe()} lattice, "
        f"expected (n_sites, n_blocks) = {expected}"
    )


def block_locality(W, lattice: Lattice) -> np.ndarray:
    """Fraction of each coarse unit's ``|w|`` mass inside its own block.

    Unit ``j`` owns the fine sites with ``lattice.block_ids == j``. 1 for a
    purely local encoder (decimation, block sum), ``B / N`` for a uniform one.

    Parameters
    ----------
    W : float (n_sites, n_blocks)
        Encoder kernel in the Dense layout.
    lattice : Lattice
        The fine lattice, with a block partition.

    Returns
    -------
    float64 (n_blocks,) in [0, 1].
    """
    A = _as_weight_matrix(W)
    _check_encoder_shape(A, lattice)
    _check_columns_nonzero(A)
    inside = A[np.arange(lattice.n_sites), lattice.block_ids]
    own_mass = np.bincount(lattice.block_ids, weights=inside, minlength=lattice.n_blocks)
    return own_mass / A.sum(axis=0)


def sparsity_table(weights: Mapping[str, np.ndarray], lattice: Lattice, rel: float = 0.01) -> pd.DataFrame:
    """All sparsity measures of several encoders, one row per encoder.

    Parameters
    ----------
    weights : mapping name -> float (n_sites, n_blocks)
        Encoder kernels in the Dense layout, all on ``lattice``.
    lattice : Lattice
        The fine lattice (with blocks).
    rel : float
        Threshold of :func:`fraction_small`.

    Returns
    -------
    DataFrame with columns ``encoder``, ``n_sites``, ``n_units`` and, for each
    measure m in :data:`SPARSITY_MEASURES`, ``m_mean`` and ``m_std`` (mean and
    population standard deviation over coarse units).
    """
    if not weights:
        raise ValueError("no encoder weights given; pass a mapping name -> (n_sites, n_blocks) kernel")
    rows = []
    for name, W in weights.items():
        A = np.asarray(W, dtype=np.float64)
        _check_encoder_shape(A, lattice)
        per_unit = {
            "fraction_small": fraction_small(A, rel),
            "hoyer": hoyer(A),
            "gini": gini(A),
            "block_locality": block_locality(A, lattice),
        }
        row = {"encoder": str(name), "n_sites": A.shape[0], "n_units": A.shape[1]}
        for measure in SPARSITY_MEASURES:
            row[f"{measure}_mean"] = float(per_unit[measure].mean())
            row[f"{measure}_std"] = float(per_unit[measure].std())
        rows.append(row)
    return pd.DataFrame(rows)


def receptive_field(W, j: int, lattice: Lattice) -> np.ndarray:
    """Coarse unit ``j``'s weights as an array of the fine lattice's shape.

    Parameters
    ----------
    W : float (n_sites, n_units)
        Encoder kernel in the Dense layout.
    j : int
        Unit (column) index.
    lattice : Lattice
        The fine lattice; the result has ``lattice.shape`` ((L, L) also for the
        triangular lattice, in its skewed array coordinates).

    Returns
    -------
    float64 ``lattice.shape``.
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] != lattice.n_sites:
        raise ValueError(
            f"weight matrix shape {W.shape} does not match the {lattice.describe()} lattice; "
            f"expected ({lattice.n_sites}, n_units) in the Dense kernel layout"
        )
    if not -W.shape[1] <= j < W.shape[1]:
        raise ValueError(f"unit index {j} out of range for {W.shape[1]} units")
    return W[:, j].reshape(lattice.shape)


def receptive_field_table(
    weights: Mapping[str, np.ndarray], lattice: Lattice, units: Sequence[int] = (0,)
) -> pd.DataFrame:
    """Receptive fields of selected units in the long format of ``plots.plot_receptive_fields``.

    For a 3D lattice the plane ``index 0 = const`` through the unit's
    decimation representative is kept, so that every field is a 2D heatmap.

    Parameters
    ----------
    weights : mapping name -> float (n_sites, n_units)
    lattice : Lattice
        The fine lattice.
    units : sequence of int
        Units (columns) to keep.

    Returns
    -------
    DataFrame with columns ``encoder``, ``unit``, ``row``, ``col``, ``weight``.
    """
    frames = []
    for name, W in weights.items():
        for j in units:
            field = receptive_field(W, j, lattice)
            if field.ndim == 3:
                plane = np.unravel_index(lattice.representatives[j], lattice.shape)[0]
                field = field[plane]
            elif field.ndim != 2:
                raise ValueError(f"receptive fields are drawn for 2D or 3D lattices, not {lattice.shape}")
            row, col = np.indices(field.shape).reshape(2, -1)
            frames.append(
                pd.DataFrame(
                    {"encoder": str(name), "unit": int(j), "row": row, "col": col, "weight": field.ravel()}
                )
            )
    if not frames:
        raise ValueError("no receptive fields selected; pass at least one encoder and one unit")
    return pd.concat(frames, ignore_index=True)

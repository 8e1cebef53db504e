"""Measures of a coarse code that do not depend on the order and sign of its units (claim C2).

A code is what an encoder maps a fine configuration to: one real or ±1 value
per unit, float (n_samples, n_units). For the analytic RG rules unit k *is*
block k (its position on the coarse lattice) and +1 means "up". An
autoencoder's code units have neither: any permutation of its N/B units, and
any sign flip of a unit (its weights and bias negated, ``tanh`` being odd),
gives an autoencoder that is just as good. So a lattice-based measure of a
code (``<s_i s_j>_nn``, C(r), ξ, the RG flow) means something only after its
units have been put on blocks, and a comparison between a code and block spins
must rest on measures that the order and signs of units cannot change.

- **Alignment** (:func:`align_units`, :func:`apply_alignment`): each unit is
  put on the block that holds most of its receptive field (its ``|w|`` mass),
  one unit per block by optimal assignment (Hungarian algorithm,
  ``scipy.optimize.linear_sum_assignment``), and its sign is that of its summed
  weight over that block.
- **Invariant measures** (:func:`mean_abs_correlation`,
  :func:`correlation_spectrum`, :func:`probe_r2`, :func:`code_summary`): the
  Pearson correlation matrix R of the units, its mean ``|R_ij|`` over pairs and
  its eigenvalue spectrum, and the cross-validated R² with which the code
  determines the fine lattice's energy and magnetisation. A signed permutation
  of the units, ``c -> c P D`` (P a permutation, D = diag(±1)), maps R to
  ``D P^T R P D``: the set of ``|R_ij|`` and the eigenvalues are unchanged, and
  the probe's kernel depends on codes only through inner products, which are
  unchanged too.

Units are standardised, ``z_u = (c_u - <c_u>) / std(c_u)``, with averages
over the samples (divisor n_samples). A unit of zero variance (a constant, or
dead, unit) carries no fluctuation to share: its z is set to 0, so it has
correlation 0 with every unit, including itself, and adds nothing to the
probe. Such units are counted (``n_constant_units``) rather than dropped, so a
code with dead units scores lower, not the same, as one that uses all of them.
Pearson correlations rather than covariances make binary ±1 codes and
continuous (``tanh``) codes comparable: for ±1 units they differ only by the
factors ``1 - <c_u>^2``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold

from analysis.correlations import bond_products
from ising.lattice import Lattice

__all__ = [
    "align_units",
    "apply_alignment",
    "standardised_units",
    "unit_correlation",
    "mean_abs_correlation",
    "correlation_spectrum",
    "lattice_targets",
    "probe_r2",
    "code_summary",
    "PROBE_ALPHAS",
]

#: Ridge strengths tried by :func:`probe_r2`, relative to the mean diagonal of the training kernel.
PROBE_ALPHAS = tuple(np.logspace(-4, 4, 17))


def _as_kernel(kernel, lattice: Lattice) -> np.ndarray:
    if not lattice.has_blocks:
        raise ValueError(
            f"the {lattice.describe()} lattice has no block partition, so code units cannot be put on blocks"
        )
    W = np.asarray(kernel, dtype=np.float64)
    expected = (lattice.n_sites, lattice.n_blocks)
    if W.shape != expected:
        raise ValueError(
            f"encoder kernel must have shape (n_sites, n_blocks) = {expected} for the "
            f"{lattice.describe()} lattice (Dense kernel layout), got {W.shape}"
        )
    if not np.all(np.isfinite(W)):
        raise ValueError("encoder kernel contains NaN or infinite entries; check the trained encoder")
    dead = np.flatnonzero(np.abs(W).sum(axis=0) == 0)
    if dead.size:
        raise ValueError(
            f"code units {dead[:5].tolist()} have all-zero weights and no receptive field to align; "
            "a dead encoder cannot be aligned"
        )
    return W


def align_units(kernel, lattice: Lattice) -> tuple[np.ndarray, np.ndarray]:
    """Put each code unit of an encoder on a block of the lattice, with a sign.

    Unit u's share of receptive field in block k is
    ``f[u, k] = sum_{i in block k} |W[i, u]| / sum_i |W[i, u]|`` (per-unit
    normalisation, so a unit's overall weight scale does not decide where it
    goes). Units are assigned one-to-one to blocks maximising the total
    ``sum_k f[order[k], k]`` (Hungarian algorithm), and unit ``order[k]`` gets
    the sign of its summed weight over block k, ``sum_{i in block k}
    W[i, order[k]]`` (+1 where that sum is 0). For the analytic rules
    (``transfer.analytic.rule_weights``) the alignment is the identity with
    all signs +1, and for any signed permutation of their columns it is the
    inverse permutation with the compensating signs.

    Parameters
    ----------
    kernel : float (n_sites, n_blocks)
        Encoder weights in the Keras Dense layout: column u is unit u's
        receptive field over the fine sites (C order of ``lattice.shape``).
    lattice : Lattice with a block partition

    Returns
    -------
    order : int64 (n_blocks,)
        ``order[k]`` is the unit placed on block k.
    signs : float64 (n_blocks,), values ±1
        Factor that turns unit ``order[k]`` into block k's spin.
    """
    W = _as_kernel(kernel, lattice)
    A = np.abs(W)
    onehot = np.zeros((lattice.n_sites, lattice.n_blocks))
    onehot[np.arange(lattice.n_sites), lattice.block_ids] = 1.0
    share = (A.T @ onehot) / A.sum(axis=0)[:, None]  # (unit, block)
    units, blocks = linear_sum_assignment(share, maximize=True)
    order = np.empty(lattice.n_blocks, dtype=np.int64)
    order[blocks] = units
    summed = np.einsum("ik,ik->k", W[:, order], onehot)
    signs = np.where(summed < 0, -1.0, 1.0)
    return order, signs


def apply_alignment(codes, order, signs) -> np.ndarray:
    """Reorder and sign-flip code units so that unit k sits on block k.

    Parameters
    ----------
    codes : float or int (n_samples, n_units) or (n_samples, *coarse_shape)
        Unit u at flat position u of each sample.
    order, signs : from :func:`align_units`

    Returns
    -------
    float64 array of the shape of ``codes``: flat position k holds
    ``signs[k] * codes[:, order[k]]``.
    """
    c = np.asarray(codes)
    order = np.asarray(order)
    signs = np.asarray(signs, dtype=np.float64)
    if c.ndim < 2:
        raise ValueError(f"codes must have shape (n_samples, n_units, ...), got {c.shape}")
    flat = c.reshape(c.shape[0], -1).astype(np.float64)
    n_units = flat.shape[1]
    if order.shape != (n_units,) or signs.shape != (n_units,):
        raise ValueError(
            f"order and signs must have one entry per code unit ({n_units}); got {order.shape} and "
            f"{signs.shape}: align with the kernel of the encoder that made these codes"
        )
    if not np.array_equal(np.sort(order), np.arange(n_units)):
        raise ValueError("order must be a permutation of the unit indices 0 .. n_units-1")
    return (flat[:, order] * signs).reshape(c.shape)


def _as_codes(codes) -> np.ndarray:
    c = np.asarray(codes)
    if c.dtype == bool or not (np.issubdtype(c.dtype, np.integer) or np.issubdtype(c.dtype, np.floating)):
        raise ValueError(f"codes must be an integer or real array, got dtype {c.dtype}")
    if c.ndim < 2:
        raise ValueError(
            f"codes must have shape (n_samples, n_units) or (n_samples, *coarse_shape), got {c.shape}"
        )
    c = c.reshape(c.shape[0], -1).astype(np.float64)
    if c.shape[0] < 2 or c.shape[1] < 1:
        raise ValueError(f"codes need at least two samples and one unit, got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError("codes contain NaN or infinite values")
    return c


def _moments(c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-unit mean, standard deviation and whether the unit is constant (std zero to rounding)."""
    mean, std = c.mean(axis=0), c.std(axis=0)
    constant = std <= 1e-12 * np.maximum(np.abs(c).max(axis=0), 1.0)
    return mean, std, constant


def _standardise(c: np.ndarray, mean: np.ndarray, std: np.ndarray, constant: np.ndarray) -> np.ndarray:
    """(c - mean) / std per unit, 0 for the constant units."""
    z = (c - mean) / np.where(constant, 1.0, std)
    z[:, constant] = 0.0
    return z


def standardised_units(codes) -> tuple[np.ndarray, int]:
    """Standardised code units and the number of constant units.

    Parameters
    ----------
    codes : float or int (n_samples, n_units) or (n_samples, *coarse_shape)

    Returns
    -------
    z : float64 (n_samples, n_units)
        ``(c_u - <c_u>) / std(c_u)`` (divisor n_samples); 0 for a unit of
        zero variance.
    n_constant : int
        Number of units of zero variance.
    """
    c = _as_codes(codes)
    mean, std, constant = _moments(c)
    return _standardise(c, mean, std, constant), int(constant.sum())


def unit_correlation(codes) -> np.ndarray:
    """Pearson correlation matrix of the code units, ``R = z^T z / n_samples``.

    Connected by construction (unit means subtracted). ``R_uu = 1`` for a unit
    that varies and every entry of a constant unit's row and column is 0 (see
    the module docstring).

    Returns
    -------
    float64 (n_units, n_units), symmetric.
    """
    z, _ = standardised_units(codes)
    R = z.T @ z / z.shape[0]
    return 0.5 * (R + R.T)


def mean_abs_correlation(codes) -> float:
    """Mean of ``|R_ij|`` over unit pairs i < j of the Pearson correlation matrix.

    Invariant to the order and signs of the units. For block spins it measures
    how strongly the coarse spins still move together (the spin correlations a
    coarse-graining keeps); for independent units it is the noise floor
    ``sqrt(2 / (pi n_samples))``, the mean of ``|r|`` with r ~ N(0, 1/n).

    Parameters
    ----------
    codes : float or int (n_samples, n_units) or (n_samples, *coarse_shape), n_units >= 2

    Returns
    -------
    float in [0, 1].
    """
    R = unit_correlation(codes)
    if R.shape[0] < 2:
        raise ValueError("mean |R_ij| needs a code of at least two units")
    i, j = np.triu_indices(R.shape[0], k=1)
    return float(np.mean(np.abs(R[i, j])))


def correlation_spectrum(codes) -> dict:
    """Eigenvalues of the units' Pearson correlation matrix and two summaries of them.

    ``leading_share = lambda_max / sum(lambda)``: the fraction of the code's
    standardised variance along its first principal component (1 / n_units for
    independent units; close to 1 when all units follow one collective mode,
    e.g. the magnetisation of an ordered ensemble). ``participation_ratio =
    (sum lambda)^2 / sum lambda^2`` = ``n_active^2 / sum_ij R_ij^2``: the
    effective number of independent modes (n_units for independent units, 1
    for a single mode). ``sum lambda`` is the number of non-constant units.

    Parameters
    ----------
    codes : float or int (n_samples, n_units) or (n_samples, *coarse_shape)

    Returns
    -------
    dict with ``eigenvalues`` float64 (n_units,) in descending order,
    ``leading_share`` and ``participation_ratio`` floats (NaN if every unit is
    constant).
    """
    eigenvalues = np.linalg.eigvalsh(unit_correlation(codes))[::-1]
    eigenvalues = np.clip(eigenvalues, 0.0, None)  # R is positive semi-definite; clip rounding
    total = eigenvalues.sum()
    if total == 0:
        return {"eigenvalues": eigenvalues, "leading_share": np.nan, "participation_ratio": np.nan}
    return {
        "eigenvalues": eigenvalues,
        "leading_share": float(eigenvalues[0] / total),
        "participation_ratio": float(total**2 / np.sum(eigenvalues**2)),
    }


def lattice_targets(fine_spins, lattice: Lattice) -> dict[str, np.ndarray]:
    """Statistics of each fine configuration that a code may or may not determine.

    ``energy``: nearest-neighbour energy per spin at J = 1, h = 0,
    ``-(z/2) * mean over bonds of s_i s_j`` (``-2 <s_i s_j>_bonds`` on the
    square lattice); ``magnetization``: ``m = sum_i s_i / N``;
    ``abs_magnetization``: ``|m|``.

    Parameters
    ----------
    fine_spins : int8 or float (n_samples, *lattice.shape) or (n_samples, n_sites)
    lattice : Lattice

    Returns
    -------
    dict of float64 (n_samples,) arrays.
    """
    x = np.asarray(fine_spins, dtype=np.float64)
    m = x.reshape(x.shape[0], -1).mean(axis=1)
    energy = -0.5 * lattice.coordination * bond_products(x, lattice)
    return {"energy": energy, "magnetization": m, "abs_magnetization": np.abs(m)}


def _group_blocks(labels: np.ndarray) -> list[np.ndarray]:
    """Row indices of each group, stacked by group size: a list of int (n_groups_of_size_s, s)."""
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    rows = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return [np.stack([rows[a : a + size] for a in starts[counts == size]]) for size in np.unique(counts)]


def _kernel_decomposition(z_train, z_test, degree, coef0):
    """Eigendecomposition of the training kernel and the test-train kernel of one fold."""
    n_units = z_train.shape[1]
    K = (coef0 + z_train @ z_train.T / n_units) ** degree
    K_test = (coef0 + z_test @ z_train.T / n_units) ** degree
    lam, V = np.linalg.eigh(K)
    return np.clip(lam, 0.0, None), V, K_test, float(np.mean(np.diag(K)))


def _held_out_loss(V, shrink, residual, blocks):
    """Mean squared leave-one-group-out residual of a linear smoother H = V diag(shrink) V^T.

    For a group g the held-out residual is ``(I - H_gg)^{-1} (y_g - (H y)_g)``
    exactly (the leave-one-out formula of ridge regression, per group).
    """
    if len(blocks) == 1 and blocks[0].shape[1] == 1:
        leverage = np.einsum("ij,j,ij->i", V, shrink, V)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.mean((residual / (1.0 - leverage)) ** 2)
    total, count = 0.0, 0
    for index in blocks:
        Vg = V[index]  # (n_groups, s, n)
        H_gg = np.einsum("gik,k,gjk->gij", Vg, shrink, Vg)
        I_minus_H = np.eye(index.shape[1]) - H_gg
        try:
            held_out = np.linalg.solve(I_minus_H, residual[index][..., None])[..., 0]
        except np.linalg.LinAlgError:
            return np.inf
        total += np.sum(held_out**2)
        count += index.size
    return total / count


def _kernel_ridge_predict(decomposition, y_train, blocks, alphas):
    """Kernel ridge fit on one fold's training part, alpha by leave-one-group-out; test predictions."""
    lam, V, K_test, scale = decomposition
    offset = y_train.mean()
    y = y_train - offset
    Vy = V.T @ y
    best, best_loss = alphas[-1], np.inf
    for a in alphas:
        shrink = lam / (lam + a * scale)
        loss = _held_out_loss(V, shrink, y - V @ (shrink * Vy), blocks)
        if loss < best_loss:
            best, best_loss = a, loss
    dual = V @ (Vy / (lam + best * scale))
    return offset + K_test @ dual, best


def probe_r2(
    codes,
    targets: Mapping[str, np.ndarray],
    *,
    n_splits: int = 5,
    seed: int = 0,
    groups=None,
    degree: int = 2,
    coef0: float = 1.0,
    alphas=PROBE_ALPHAS,
) -> dict[str, dict]:
    """Cross-validated R² with which a code determines fine-lattice statistics.

    Probe: kernel ridge regression with the polynomial kernel
    ``k(c, c') = (coef0 + z . z' / n_units)^degree`` on the standardised units
    z (training-fold means and standard deviations). For ``degree = 2`` this is
    ridge regression on the features ``[1, z_u, z_u z_v (u <= v)]`` (suitably
    weighted), so it can represent the quadratic statistics: the energy is
    quadratic in spins and ``|m|`` is even, and a linear probe on a
    sign-symmetric code sees neither (``degree = 1`` gives that linear probe).
    The kernel depends on the code only through ``z . z'``, which a signed
    permutation of the units leaves unchanged, so the R² is *exactly*
    invariant to the order and signs of units (to float rounding), not just
    in distribution; and its cost does not grow with the number of unit pairs
    (O(n_samples^3) per fold).

    Per fold (``KFold(n_splits, shuffle=True, random_state=seed)``) the ridge
    strength is chosen from ``alphas`` (times the mean diagonal of the training
    kernel) by exact leave-one-out (leave-one-group-out) error on the training
    part, the target's training mean is the intercept, and R² is
    ``sklearn.metrics.r2_score`` on the held-out part (so a probe no better
    than the training mean scores about 0, slightly below). The probe fits
    O(n_units^2) quadratic terms, so it is sample-limited: with a few hundred
    configurations it recovers strong dependences (m and |m| near T_c) but
    under-reports weak ones spread over rarely flipping units (deep in the
    ordered phase); compare codes at equal n_samples.

    Rows that are not independent samples must share a fold: a
    flip-symmetrised ensemble (``analysis.correlations.flip_symmetrised``)
    holds each configuration and its mirror image, whose codes are each
    other's negatives for an odd encoder and whose energy and ``|m|`` are
    equal, so a probe that saw one in training would "predict" the other.
    Pass ``groups`` (e.g. ``np.tile(np.arange(n), 2)`` for the symmetrised
    ensemble of n configurations) and whole groups are split into folds, and
    left out together when the ridge strength is chosen.

    Parameters
    ----------
    codes : float or int (n_samples, n_units) or (n_samples, *coarse_shape)
    targets : mapping name -> float (n_samples,), e.g. :func:`lattice_targets`
    n_splits : int >= 2
    seed : int, seeds the fold split
    groups : int (n_samples,) or None
        Group label of each row; rows of one group are never split between
        training and held-out parts. None: every row is its own group.
    degree : int >= 1, coef0 : float > 0
    alphas : sequence of positive floats

    Returns
    -------
    dict name -> {"mean": float, "std": float (over folds, ddof 0),
    "folds": float64 (n_splits,), "alphas": float64 (n_splits,) chosen}.
    """
    c = _as_codes(codes)
    n = c.shape[0]
    if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise ValueError(f"n_splits must be an integer >= 2, got {n_splits!r}")
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or degree < 1:
        raise ValueError(f"degree must be a positive integer, got {degree!r}")
    if not coef0 > 0:
        raise ValueError(f"coef0 must be positive (it carries the lower-order terms), got {coef0!r}")
    alphas = np.asarray(alphas, dtype=np.float64).ravel()
    if alphas.size == 0 or not np.all(alphas > 0):
        raise ValueError("alphas must be a non-empty sequence of positive ridge strengths")
    ys = {}
    for name, y in targets.items():
        y = np.asarray(y, dtype=np.float64)
        if y.shape != (n,):
            raise ValueError(f"target {name!r} must have shape ({n},) to match the codes, got {y.shape}")
        if not np.all(np.isfinite(y)):
            raise ValueError(f"target {name!r} contains NaN or infinite values")
        ys[name] = y
    labels = np.arange(n) if groups is None else np.asarray(groups).ravel()
    if labels.shape != (n,):
        raise ValueError(f"groups must give one label per sample ({n}), got shape {labels.shape}")
    unique, row_group = np.unique(labels, return_inverse=True)
    if unique.size < 2 * n_splits:
        raise ValueError(
            f"{unique.size} groups (samples) are too few for {n_splits} folds of at least two; "
            "use a smaller n_splits or more samples"
        )
    folds = [
        (np.flatnonzero(~np.isin(row_group, held)), np.flatnonzero(np.isin(row_group, held)))
        for _, held in KFold(n_splits, shuffle=True, random_state=seed).split(unique)
    ]
    scores = {name: np.empty(n_splits) for name in ys}
    chosen = {name: np.empty(n_splits) for name in ys}
    for f, (train, test) in enumerate(folds):
        moments = _moments(c[train])
        z_train, z_test = _standardise(c[train], *moments), _standardise(c[test], *moments)
        decomposition = _kernel_decomposition(z_train, z_test, degree, coef0)
        blocks = _group_blocks(row_group[train])
        for name, y in ys.items():
            predicted, alpha = _kernel_ridge_predict(decomposition, y[train], blocks, alphas)
            scores[name][f] = r2_score(y[test], predicted)
            chosen[name][f] = alpha
    return {
        name: {
            "mean": float(scores[name].mean()),
            "std": float(scores[name].std()),
            "folds": scores[name],
            "alphas": chosen[name],
        }
        for name in ys
    }


def code_summary(
    codes, fine_spins, lattice: Lattice, *, n_splits: int = 5, seed: int = 0, groups=None
) -> dict:
    """Every order- and sign-invariant measure of one ensemble's code, as one table row.

    Parameters
    ----------
    codes : float or int (n_samples, n_units) or (n_samples, *coarse_shape)
        The code of each configuration (block spins, a learned encoder's
        output, an autoencoder's code, binarised or not).
    fine_spins : int8 or float (n_samples, *lattice.shape)
        The fine configurations that were encoded, same order.
    lattice : Lattice of ``fine_spins``
    n_splits, seed, groups : as in :func:`probe_r2` (pass ``groups`` for a
        flip-symmetrised ensemble)

    Returns
    -------
    dict of scalars: ``n_samples``, ``n_units``, ``n_constant_units``,
    ``mean_abs_correlation``, ``leading_share``, ``participation_ratio``, and
    for each target of :func:`lattice_targets` ``probe_r2_<target>`` and
    ``probe_r2_<target>_std`` (spread over folds).
    """
    c = _as_codes(codes)
    x = np.asarray(fine_spins)
    if x.shape[0] != c.shape[0]:
        raise ValueError(
            f"codes ({c.shape[0]} samples) and fine_spins ({x.shape[0]} samples) must come from the "
            "same configurations"
        )
    _, n_constant = standardised_units(c)
    spectrum = correlation_spectrum(c)
    row = {
        "n_samples": int(c.shape[0]),
        "n_units": int(c.shape[1]),
        "n_constant_units": n_constant,
        "mean_abs_correlation": mean_abs_correlation(c) if c.shape[1] > 1 else np.nan,
        "leading_share": spectrum["leading_share"],
        "participation_ratio": spectrum["participation_ratio"],
    }
    probes = probe_r2(c, lattice_targets(x, lattice), n_splits=n_splits, seed=seed, groups=groups)
    for name, result in probes.items():
        row[f"probe_r2_{name}"] = result["mean"]
        row[f"probe_r2_{name}_std"] = result["std"]
    return row

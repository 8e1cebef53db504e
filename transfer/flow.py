"""The RG flow beta -> beta' = R(beta) of each encoder, read in three ways, and its fixed points.

Configurations sampled at inverse temperature beta on the fine lattice are
coarse-grained by an encoder; repeating the step on the coarse configurations
gives the flow beta -> beta' -> beta'' ... for as many steps as the lattice's
block hierarchy (``lattice.rg_levels()``) and the encoder allow. At every step
the coarse configurations' beta' is read by up to three methods (the
``method`` column of :func:`rg_flow`'s table):

- ``"raw"``: the mean prediction <beta_hat_k> of the thermometer trained on
  level k. A thermometer is a regressor bounded by its training grid, biased
  towards the grid's centre near its edges, so this is not beta'.
- ``"calibrated"``: beta' = f_k^{-1}(<beta_hat_k>) with f_k(beta) = E[beta_hat_k | beta]
  measured on level k's own test ensembles (Monte Carlo configurations sampled
  directly at the coarse size), made monotone by isotonic regression and
  inverted by linear interpolation; outside f_k's range beta' is NaN with the
  flag ``"below range"`` or ``"above range"``, never an extrapolation.
- ``"energy"`` (square torus, h = 0, J > 0): beta' solves
  <s s>_nn(coarse) = -u_{L'}(beta') / (2J), with u_{L'} Kaufman's exact energy
  per spin of the L' x L' torus (B. Kaufman, Phys. Rev. 76, 1232 (1949)): the
  coarse lattice's nearest-neighbour correlation is matched to the exact
  finite-size curve at the coarse size. On other lattices, or at h != 0, the
  rows carry NaN and the reason.

Step 0 reads the fine configurations themselves: the raw thermometer's bias,
and for ``"calibrated"`` and ``"energy"`` a check that beta' = beta.

Fixed points beta* are the crossings of beta'(beta) with the identity line
(:func:`identity_crossings`, :func:`fixed_points`), aggregated over seeds with
a Student-t interval (:func:`aggregate_fixed_points`). At a crossing, the slope
dbeta'/dbeta estimates the thermal eigenvalue b^{y_t} (= 2 for the 2D Ising
model at b = 2, y_t = 1/nu = 1) when the map is a good RG map.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
from scipy import optimize, stats
from sklearn.isotonic import IsotonicRegression

from ising.exact import kaufman_energy_per_spin, kaufman_specific_heat
from ising.lattice import Lattice
from models.thermometers import check_input, predict_beta
from transfer.analytic import RULES, block_spins
from transfer.learned import coarse_spins, encode

__all__ = [
    "FLOW_COLUMNS",
    "FIXED_POINT_COLUMNS",
    "METHODS",
    "RGMap",
    "Calibration",
    "calibrate",
    "bond_correlations",
    "energy_matching_unavailable",
    "energy_matched_beta",
    "identity_crossings",
    "FixedPoint",
    "fixed_point",
    "fixed_points",
    "aggregate_fixed_points",
    "analytic_map",
    "model_map",
    "aligned_model_map",
    "rg_flow",
]

#: Columns of :func:`rg_flow`'s long table, one row per (encoder, step, method, beta).
FLOW_COLUMNS = [
    "encoder",
    "step",
    "method",
    "beta",
    "beta_prime",
    "beta_prime_err",
    "beta_prime_std",
    "measured",
    "measured_se",
    "flag",
    "n",
]
#: Ways of reading beta' from coarse configurations (see the module docstring).
METHODS = ("raw", "calibrated", "energy")
#: Columns of :func:`aggregate_fixed_points` (the study's ``rg_fixed_points`` table).
FIXED_POINT_COLUMNS = [
    "encoder",
    "step",
    "method",
    "beta_star",
    "lo",
    "hi",
    "n_seeds",
    "n_without_crossing",
    "slope",
    "slope_lo",
    "slope_hi",
    "note",
]

#: An RG map: (spins int8 (n, *lattice.shape), lattice) -> coarse spins (n, *lattice.coarse_shape).
RGMap = Callable[[np.ndarray, Lattice], np.ndarray]

# Bracket of K = beta |J| for energy matching: <s s>_nn(1e-6) ~ 1e-6, and <s s>_nn(30) = 1 to
# double precision (1 - <s s>_nn ~ 4 exp(-8K)), so everything between is resolved.
_K_BRACKET = (1e-6, 30.0)


# ---------------------------------------------------------------------------
# Calibration of a thermometer
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """A thermometer's calibration curve f(beta) = E[beta_hat | beta], monotone, on a grid.

    Build it with :func:`calibrate`. The knots are the grid values after
    isotonic regression: grid values whose means violate monotonicity are
    pooled into one knot at their weighted-mean beta, so ``f`` is strictly
    increasing and has an inverse. Between knots f is linear; outside
    ``[f[0], f[-1]]`` the inverse is undefined (NaN and a flag).

    Attributes
    ----------
    beta : float64 (m,), strictly increasing knot positions (inverse temperature).
    f : float64 (m,), strictly increasing E[beta_hat | beta] at the knots.
    f_se : float64 (m,), standard error of ``f`` at each knot (independent knots; NaN
        where a grid value has a single configuration).
    grid : float64 (K,), the grid values the curve was measured at.
    grid_mean, grid_se : float64 (K,), mean beta_hat and its standard error per grid value.
    grid_n : int64 (K,), configurations per grid value.
    """

    beta: np.ndarray
    f: np.ndarray
    f_se: np.ndarray
    grid: np.ndarray
    grid_mean: np.ndarray
    grid_se: np.ndarray
    grid_n: np.ndarray

    @property
    def range(self) -> tuple[float, float]:
        """(f[0], f[-1]): the mean predictions the calibration can invert."""
        return float(self.f[0]), float(self.f[-1])

    def __call__(self, beta) -> np.ndarray:
        """f(beta), linear between knots, NaN outside [beta[0], beta[-1]]: float64 shaped like ``beta``."""
        beta = np.asarray(beta, dtype=np.float64)
        inside = (beta >= self.beta[0]) & (beta <= self.beta[-1])
        return np.where(inside, np.interp(beta, self.beta, self.f), np.nan)

    def inverse(self, mean_pred, mean_pred_se=0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """beta' = f^{-1}(mean_pred) with its standard error, and a flag.

        The error propagates the standard error of the mean prediction and of
        the curve at beta' through the local slope of f:
        err^2 = (se_pred^2 + se_f(beta')^2) / f'(beta')^2, with se_f linear
        interpolation of independent knots, se_f^2 = (1-t)^2 se_a^2 + t^2 se_b^2.
        This is first-order propagation: it holds while the knots' standard
        errors are small against f's rise between neighbouring knots; when they
        are not, the local slope is itself noisy and the error is underestimated
        (measure f on more configurations or a coarser grid).

        Parameters
        ----------
        mean_pred : float or float64 array, mean thermometer output over configurations.
        mean_pred_se : float or float64 array broadcastable to it, its standard error.

        Returns
        -------
        (beta_prime, err, flag): float64, float64 and object (str) arrays shaped like
        ``mean_pred``; flag is ``"ok"``, ``"below range"`` or ``"above range"``
        (beta' and err NaN), or ``"not finite"`` for a NaN input.
        """
        y = np.asarray(mean_pred, dtype=np.float64)
        y_se = np.broadcast_to(np.asarray(mean_pred_se, dtype=np.float64), y.shape)
        flag = np.full(y.shape, "ok", dtype=object)
        flag[y < self.f[0]] = "below range"
        flag[y > self.f[-1]] = "above range"
        flag[~np.isfinite(y)] = "not finite"
        ok = flag == "ok"
        beta_prime = np.full(y.shape, np.nan)
        err = np.full(y.shape, np.nan)
        if self.f.size == 1:  # a one-knot curve inverts only its own value
            beta_prime[ok] = self.beta[0]
            return beta_prime, err, flag
        segment = np.clip(np.searchsorted(self.f, y[ok], side="right") - 1, 0, self.f.size - 2)
        f_a, f_b = self.f[segment], self.f[segment + 1]
        t = (y[ok] - f_a) / (f_b - f_a)
        beta_a, beta_b = self.beta[segment], self.beta[segment + 1]
        slope = (f_b - f_a) / (beta_b - beta_a)
        se_curve2 = ((1.0 - t) * self.f_se[segment]) ** 2 + (t * self.f_se[segment + 1]) ** 2
        beta_prime[ok] = beta_a + t * (beta_b - beta_a)
        err[ok] = np.sqrt(y_se[ok] ** 2 + se_curve2) / slope
        return beta_prime, err, flag


def calibrate(beta, beta_pred) -> Calibration:
    """Calibration curve f(beta) = E[beta_hat | beta] from a thermometer's test predictions.

    Per grid value: the mean prediction and its standard error sd/sqrt(n)
    (configurations taken as independent, as the samplers keep one every
    2 tau_int). The means are made non-decreasing by isotonic regression
    (``sklearn.isotonic.IsotonicRegression``, weights 1/se^2), and each pooled
    run of grid values becomes one knot at its weighted-mean beta, so that the
    curve is strictly increasing and invertible.

    Parameters
    ----------
    beta : float64 (n,), inverse temperature each test configuration was sampled at
        (the level's own Monte Carlo ensembles, e.g. the ``beta`` column of a
        thermometer's ``predictions.csv``).
    beta_pred : float64 (n,), the thermometer's prediction for each configuration.

    Returns
    -------
    Calibration.
    """
    beta = np.asarray(beta, dtype=np.float64).reshape(-1)
    beta_pred = np.asarray(beta_pred, dtype=np.float64).reshape(-1)
    if beta.shape != beta_pred.shape or beta.size == 0:
        raise ValueError(
            "beta and beta_pred must be non-empty arrays of one length, "
            f"got {beta.shape} and {beta_pred.shape}"
        )
    if not (np.all(np.isfinite(beta)) and np.all(np.isfinite(beta_pred))):
        raise ValueError("beta and beta_pred must be finite; drop the failed predictions first")
    grid, index, counts = np.unique(beta, return_inverse=True, return_counts=True)
    sums = np.bincount(index, weights=beta_pred)
    mean = sums / counts
    sq = np.bincount(index, weights=(beta_pred - mean[index]) ** 2)
    sd = np.sqrt(sq / np.maximum(counts - 1, 1))
    se = np.where(counts > 1, sd / np.sqrt(counts), np.nan)
    # Weights 1/se^2; a grid value with a single configuration or zero spread gets the
    # median weight, so that it neither dominates nor vanishes.
    weight = np.where(np.isfinite(se) & (se > 0), 1.0 / np.where(se > 0, se, 1.0) ** 2, np.nan)
    weight = np.where(np.isfinite(weight), weight, np.nanmedian(weight) if np.isfinite(weight).any() else 1.0)
    fitted = IsotonicRegression(increasing=True).fit_transform(grid, mean, sample_weight=weight)
    # Runs of equal fitted values are the pooled blocks: one knot each.
    block = np.concatenate([[0], np.cumsum(np.diff(fitted) != 0)])
    w_block = np.bincount(block, weights=weight)
    knot_beta = np.bincount(block, weights=weight * grid) / w_block
    knot_f = np.bincount(block, weights=weight * fitted) / w_block
    # Var of a weighted mean of independent grid means; equals 1 / sum(w) when w = 1/se^2.
    knot_se = np.sqrt(np.bincount(block, weights=(weight * se) ** 2)) / w_block
    return Calibration(
        beta=knot_beta,
        f=knot_f,
        f_se=knot_se,
        grid=grid,
        grid_mean=mean,
        grid_se=se,
        grid_n=counts.astype(np.int64),
    )


# ---------------------------------------------------------------------------
# Energy matching to Kaufman's finite torus
# ---------------------------------------------------------------------------


def bond_correlations(spins, lattice: Lattice) -> np.ndarray:
    """Nearest-neighbour correlation of each configuration: float64 (n,).

    q = (1 / (N z)) sum_i sum_k s_i s_{neighbours[i, k]}, the mean over bonds
    of s_i s_j; its ensemble mean is <s s>_nn = -u / (2J) on the square lattice
    at h = 0 (u the energy per spin). ``spins``: ±1, shape (n, *lattice.shape).
    """
    spins = np.asarray(spins)
    if spins.ndim < 1 or spins.shape[1:] != lattice.shape:
        raise ValueError(
            f"spins must have shape (n, *{lattice.shape}) for {lattice.describe()}, got {spins.shape}"
        )
    flat = spins.reshape(spins.shape[0], lattice.n_sites).astype(np.float64)
    total = np.zeros(flat.shape[0])
    for k in range(lattice.coordination):
        total += np.einsum("ni,ni->n", flat, flat[:, lattice.neighbours[:, k]])
    return total / (lattice.n_sites * lattice.coordination)


def energy_matching_unavailable(lattice: Lattice, J: float = 1.0, h: float = 0.0) -> str | None:
    """Why energy matching cannot be used on ``lattice`` at (J, h), or None when it can.

    It needs Kaufman's exact energy: the square torus with equal sides, no
    field, and a ferromagnetic coupling (block spins of an antiferromagnet do
    not order ferromagnetically).
    """
    if lattice.name != "square" or len(lattice.shape) != 2 or lattice.shape[0] != lattice.shape[1]:
        return (
            "energy matching needs the L x L square torus (Kaufman); "
            f"this is the {lattice.describe()} lattice"
        )
    if h != 0.0:
        return f"energy matching needs h = 0 (Kaufman's formula has no field); h = {h:g}"
    if not J > 0.0:
        return f"energy matching needs a ferromagnetic coupling J > 0; J = {J:g}"
    return None


def energy_matched_beta(
    nn_correlation, L: int, nn_correlation_se=0.0, J: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """beta' with <s s>_nn = -u_L(beta') / (2J) on the L x L torus (h = 0), and its error.

    u_L is Kaufman's exact energy per spin (:func:`ising.exact.kaufman_energy_per_spin`);
    <s s>_nn(beta) is strictly increasing (its derivative is c / (2 J beta^2) > 0,
    c the specific heat per spin), so the root is unique and found with
    ``scipy.optimize.brentq`` in K = beta J. The standard error propagates
    through the exact slope: err = se / (d<s s>_nn / dbeta).

    Parameters
    ----------
    nn_correlation : float or float64 array, measured <s s>_nn (mean over bonds and configurations).
    L : int, side of the torus the value is matched to (>= 2).
    nn_correlation_se : float or array broadcastable to it, its standard error.
    J : float, coupling (> 0).

    Returns
    -------
    (beta_prime, err, flag) shaped like ``nn_correlation``: float64, float64, object (str).
    flag is ``"ok"``, ``"below range"`` (<s s>_nn <= 0, beta' <= 0 is not a
    ferromagnet's), ``"above range"`` (<s s>_nn = 1 to double precision: the
    ground state, beta' = infinity) or ``"not finite"``; beta' and err are NaN then.
    """
    if not (np.isfinite(J) and J > 0.0):
        raise ValueError(f"energy matching needs a ferromagnetic coupling J > 0, got J={J}")
    q = np.asarray(nn_correlation, dtype=np.float64)
    q_se = np.broadcast_to(np.asarray(nn_correlation_se, dtype=np.float64), q.shape)
    k_lo, k_hi = _K_BRACKET

    def correlation(K):
        return -kaufman_energy_per_spin(L, K) / 2.0

    q_lo, q_hi = correlation(k_lo), correlation(k_hi)
    beta_prime = np.full(q.shape, np.nan)
    err = np.full(q.shape, np.nan)
    flag = np.full(q.shape, "ok", dtype=object)
    for index in np.ndindex(q.shape):
        value = q[index]
        if not np.isfinite(value):
            flag[index] = "not finite"
        elif value <= q_lo:
            flag[index] = "below range"
        elif value >= q_hi:
            flag[index] = "above range"
        else:
            K = optimize.brentq(lambda k, v=value: correlation(k) - v, k_lo, k_hi, xtol=1e-14, rtol=1e-14)
            slope = kaufman_specific_heat(L, K) / (2.0 * K**2)  # d<s s>_nn / dK
            beta_prime[index] = K / J
            err[index] = q_se[index] / (slope * J)
    return beta_prime, err, flag


# ---------------------------------------------------------------------------
# Fixed points
# ---------------------------------------------------------------------------


def identity_crossings(beta, beta_prime) -> tuple[np.ndarray, np.ndarray]:
    """Where beta'(beta) crosses the identity line, by linear interpolation between grid points.

    The sign of d = beta' - beta is compared between neighbouring grid values
    (sorted by beta); a change of sign between beta_i and beta_{i+1} gives the
    crossing beta_i - d_i (beta_{i+1} - beta_i) / (d_{i+1} - d_i), and a grid
    value with d = 0 is a crossing itself. Pairs with a NaN beta' are skipped,
    never bridged.

    Parameters
    ----------
    beta : float64 (K,), distinct grid values.
    beta_prime : float64 (K,), beta' at each (NaN allowed).

    Returns
    -------
    (crossings, slopes): float64 (m,) each, in increasing beta; slopes are
    dbeta'/dbeta of the interpolating segment (for a zero on the grid, of the
    segment to its right, or to its left at the grid's end; NaN if neither is finite).
    """
    beta = np.asarray(beta, dtype=np.float64).reshape(-1)
    beta_prime = np.asarray(beta_prime, dtype=np.float64).reshape(-1)
    if beta.shape != beta_prime.shape:
        raise ValueError(f"beta and beta_prime must have one length, got {beta.shape} and {beta_prime.shape}")
    order = np.argsort(beta, kind="stable")
    beta, beta_prime = beta[order], beta_prime[order]
    if np.any(np.diff(beta) == 0):
        raise ValueError("beta must hold distinct grid values; average beta' over repeated beta first")
    d = beta_prime - beta
    step = np.diff(beta)
    with np.errstate(invalid="ignore", divide="ignore"):
        seg_slope = 1.0 + np.diff(d) / step  # dbeta'/dbeta per segment, NaN across a NaN
    crossings, slopes = [], []
    for i in range(beta.size):
        if d[i] == 0.0:
            right = seg_slope[i] if i < step.size else np.nan
            left = seg_slope[i - 1] if i > 0 else np.nan
            crossings.append(beta[i])
            slopes.append(right if np.isfinite(right) else left)
        if i < step.size and d[i] * d[i + 1] < 0.0:
            crossings.append(beta[i] - d[i] * step[i] / (d[i + 1] - d[i]))
            slopes.append(seg_slope[i])
    return np.asarray(crossings, dtype=np.float64), np.asarray(slopes, dtype=np.float64)


@dataclass(frozen=True)
class FixedPoint:
    """A fixed point beta* of one flow curve.

    Attributes
    ----------
    beta_star : float, the crossing of the identity (NaN if there is none).
    slope : float, dbeta'/dbeta there (the thermal eigenvalue b^{y_t} of a good RG map).
    n_crossings : int, how many crossings the curve has.
    note : str, ``"one crossing"``, ``"no crossing"`` or ``"k crossings; nearest beta_c"``.
    """

    beta_star: float
    slope: float
    n_crossings: int
    note: str


def fixed_point(beta, beta_prime, beta_c: float | None = None) -> FixedPoint:
    """The fixed point of one curve beta'(beta): its identity crossing (:func:`identity_crossings`).

    With several crossings the one nearest ``beta_c`` is returned (the lowest
    in beta when ``beta_c`` is None), and the note says so.
    """
    crossings, slopes = identity_crossings(beta, beta_prime)
    if crossings.size == 0:
        return FixedPoint(float("nan"), float("nan"), 0, "no crossing")
    if crossings.size == 1:
        return FixedPoint(float(crossings[0]), float(slopes[0]), 1, "one crossing")
    if beta_c is None:
        pick, rule = 0, "lowest beta"
    else:
        pick, rule = int(np.argmin(np.abs(crossings - beta_c))), "nearest beta_c"
    note = f"{crossings.size} crossings; {rule}"
    return FixedPoint(float(crossings[pick]), float(slopes[pick]), int(crossings.size), note)


def fixed_points(flow: pd.DataFrame, beta_c: float | None = None) -> pd.DataFrame:
    """Per-seed fixed points of every flow curve in a :func:`rg_flow` table.

    A curve is one (seed, encoder, step, method), step >= 1 (step 0 is the
    identity up to noise). Without a ``seed`` column the table is one seed.

    Returns
    -------
    DataFrame with columns [seed,] encoder, step, method, beta_star, slope,
    n_crossings, note (see :class:`FixedPoint`).
    """
    needed = {"encoder", "step", "method", "beta", "beta_prime"}
    missing = needed - set(flow.columns)
    if missing:
        raise ValueError(f"flow table lacks columns {sorted(missing)}; pass the table from rg_flow")
    keys = (["seed"] if "seed" in flow.columns else []) + ["encoder", "step", "method"]
    rows = []
    for key, curve in flow[flow["step"] >= 1].groupby(keys, sort=True):
        point = fixed_point(curve["beta"].to_numpy(), curve["beta_prime"].to_numpy(), beta_c)
        rows.append(
            dict(zip(keys, key, strict=True))
            | {
                "beta_star": point.beta_star,
                "slope": point.slope,
                "n_crossings": point.n_crossings,
                "note": point.note,
            }
        )
    return pd.DataFrame(rows, columns=[*keys, "beta_star", "slope", "n_crossings", "note"])


def _t_interval(values: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """Mean and Student-t interval of ``values`` over seeds; (mean, NaN, NaN) for one value."""
    n = values.size
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(values.mean())
    if n == 1:
        return mean, float("nan"), float("nan")
    half = stats.t.ppf(0.5 + confidence / 2.0, n - 1) * values.std(ddof=1) / np.sqrt(n)
    return mean, mean - half, mean + half


def aggregate_fixed_points(per_seed: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Mean beta* over seeds with a Student-t interval, per encoder, step and method.

    Seeds without a crossing are counted (``n_without_crossing``) but do not
    enter the mean; ``n_seeds`` is the number that do. With one seed the
    interval is NaN; with none, beta* is NaN too. The slope dbeta'/dbeta at
    beta* gets the same treatment.

    Parameters
    ----------
    per_seed : DataFrame from :func:`fixed_points`.
    confidence : float in (0, 1), the interval's coverage.

    Returns
    -------
    DataFrame with columns :data:`FIXED_POINT_COLUMNS` (the study's ``rg_fixed_points`` table).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    needed = {"encoder", "step", "method", "beta_star", "slope", "n_crossings", "note"}
    missing = needed - set(per_seed.columns)
    if missing:
        raise ValueError(f"per-seed table lacks columns {sorted(missing)}; pass the table from fixed_points")
    rows = []
    for (encoder, step, method), group in per_seed.groupby(["encoder", "step", "method"], sort=True):
        found = group[np.isfinite(group["beta_star"])]
        beta_star, lo, hi = _t_interval(found["beta_star"].to_numpy(dtype=np.float64), confidence)
        slope_values = found["slope"].to_numpy(dtype=np.float64)
        slope, slope_lo, slope_hi = _t_interval(slope_values[np.isfinite(slope_values)], confidence)
        several = group["note"][group["n_crossings"] > 1]
        notes = []
        if len(found) < len(group):
            notes.append(f"{len(group) - len(found)} of {len(group)} seeds without a crossing")
        if len(several):
            rules = sorted({note.split("; ", 1)[-1] for note in several})
            notes.append(f"{len(several)} seeds with several crossings ({', '.join(rules)} taken)")
        rows.append(
            {
                "encoder": encoder,
                "step": int(step),
                "method": method,
                "beta_star": beta_star,
                "lo": lo,
                "hi": hi,
                "n_seeds": int(len(found)),
                "n_without_crossing": int(len(group) - len(found)),
                "slope": slope,
                "slope_lo": slope_lo,
                "slope_hi": slope_hi,
                "note": "; ".join(notes),
            }
        )
    return pd.DataFrame(rows, columns=FIXED_POINT_COLUMNS)


# ---------------------------------------------------------------------------
# Encoders as RG maps
# ---------------------------------------------------------------------------


def analytic_map(rule: str) -> RGMap:
    """The analytic rule as an RG map usable at every level."""
    if rule not in RULES:
        raise ValueError(f"unknown RG rule {rule!r}; choose one of {', '.join(RULES)}")

    def rg_map(spins, lattice):
        return block_spins(spins, lattice, rule)

    rg_map.__name__ = rule
    return rg_map


def model_map(model: keras.Model) -> RGMap:
    """A learned RG encoder as an RG map: its code binarised by sign (0 -> +1).

    Use it for models whose code unit k is trained to be block k (learned RG
    encoders). An autoencoder's units have no fixed block and an arbitrary
    sign: use :func:`aligned_model_map`.
    """

    def rg_map(spins, lattice):
        return coarse_spins(model, spins)

    rg_map.__name__ = model.name
    return rg_map


def aligned_model_map(model: keras.Model, alignment: Callable[[np.ndarray], np.ndarray]) -> RGMap:
    """An autoencoder as an RG map: code units aligned to blocks, then binarised by sign.

    Parameters
    ----------
    model : Keras model with a ``"code"`` layer (``transfer.learned``).
    alignment : callable, codes float32 (n, n_blocks) -> float (n, n_blocks) whose
        column k is the (sign-corrected) unit assigned to block k, e.g.
        ``lambda codes: apply_alignment(codes, order, signs)`` with ``(order, signs)``
        from ``align_units(kernel, lattice)``.
    """

    def rg_map(spins, lattice):
        codes = encode(model, spins).reshape(len(spins), -1)
        aligned = np.asarray(alignment(codes))
        if aligned.shape != codes.shape:
            raise ValueError(
                f"alignment for {model.name!r} returned shape {aligned.shape}, expected {codes.shape} "
                "(one column per block)"
            )
        return np.where(aligned >= 0, 1, -1).astype(np.int8).reshape(len(spins), *lattice.coarse_shape)

    rg_map.__name__ = f"{model.name} (aligned)"
    return rg_map


def _one_map(name: str, item, level: int) -> RGMap:
    if isinstance(item, keras.Model):
        return model_map(item)
    if isinstance(item, tuple):
        if len(item) == 2 and isinstance(item[0], keras.Model) and callable(item[1]):
            return aligned_model_map(*item)
        raise ValueError(
            f"encoder {name!r}: a tuple at level {level} must be (Keras model, alignment callable); "
            "give per-level encoders as a list"
        )
    if callable(item):
        return item
    raise ValueError(
        f"encoder {name!r}: entry {level} is {type(item).__name__}, not a Keras model, a "
        "(model, alignment) pair or an RG map (spins, lattice) -> coarse spins"
    )


def _maps_per_level(name: str, encoder, n_levels: int) -> list[RGMap]:
    """Normalise an encoder spec to a list of per-level maps (level k maps level k to k+1)."""
    if isinstance(encoder, str):
        return [analytic_map(encoder)] * n_levels
    if isinstance(encoder, (keras.Model, tuple)):
        return [_one_map(name, encoder, 0)]
    if callable(encoder):
        return [encoder] * n_levels
    if isinstance(encoder, list):
        return [_one_map(name, item, level) for level, item in enumerate(encoder)]
    raise ValueError(
        f"encoder {name!r} must be an RG rule name, an RG map (spins, lattice) -> coarse spins, a Keras "
        f"model, a (model, alignment) pair, or a list of those per level; got {type(encoder).__name__}"
    )


def _binarise(coarse, lattice: Lattice, name: str, step: int) -> np.ndarray:
    coarse = np.asarray(coarse)
    expected = lattice.coarse_shape
    if coarse.shape[1:] != expected:
        raise ValueError(
            f"encoder {name!r} at step {step} returned coarse configurations of shape {coarse.shape[1:]}, "
            f"expected {expected} for the {lattice.describe()} lattice"
        )
    return np.where(coarse >= 0, 1, -1).astype(np.int8)


# ---------------------------------------------------------------------------
# The flow
# ---------------------------------------------------------------------------


def _per_configuration(values: np.ndarray, n: int, symmetrised: bool) -> np.ndarray:
    """One value per independent configuration: the mean over (s, -s) when symmetrised."""
    return 0.5 * (values[:n] + values[n:]) if symmetrised else values


def _means(values: np.ndarray, beta: np.ndarray, grid: np.ndarray):
    """Per grid value: mean, standard error, sample sd and count of ``values``."""
    out = []
    for value in grid:
        selected = values[beta == value]
        sd = float(selected.std(ddof=1)) if selected.size > 1 else float("nan")
        out.append((float(selected.mean()), sd / np.sqrt(selected.size), sd, int(selected.size)))
    return [np.array(column) for column in zip(*out, strict=True)]


def _rows(name, step, method, grid, beta_prime, err, std, measured, measured_se, flag, n) -> list[dict]:
    return [
        {
            "encoder": name,
            "step": step,
            "method": method,
            "beta": float(grid[i]),
            "beta_prime": float(beta_prime[i]),
            "beta_prime_err": float(err[i]),
            "beta_prime_std": float(std[i]),
            "measured": float(measured[i]),
            "measured_se": float(measured_se[i]),
            "flag": str(flag[i]),
            "n": int(n[i]),
        }
        for i in range(len(grid))
    ]


def rg_flow(
    encoders: dict,
    thermometers_by_level: Sequence[keras.Model | None] | None,
    spins,
    beta,
    lattice: Lattice,
    n_steps: int | None = None,
    batch_size: int = 256,
    *,
    calibrations: Sequence[Calibration | None] | None = None,
    methods: Sequence[str] = METHODS,
    J: float = 1.0,
    h: float = 0.0,
    flip_symmetrise: bool = False,
) -> pd.DataFrame:
    """beta' against beta for each encoder, iterated over RG steps, read by each method.

    Parameters
    ----------
    encoders : dict name -> encoder
        An encoder is an RG rule name (``"decimation"``, ``"majority"``; used
        at every level), a callable ``(spins, lattice) -> coarse spins`` (used
        at every level), a Keras model with a ``"code"`` layer whose unit k is
        block k (a learned RG encoder; level 0 only), a pair
        ``(model, alignment)`` for an autoencoder whose units are first aligned
        to blocks (see :func:`aligned_model_map`; level 0 only), or a list of
        those per level (entry k maps level k to level k+1). Coarse outputs are
        binarised by sign (0 -> +1).
    thermometers_by_level : list of Keras models or None, or None
        Entry k is the thermometer trained on level k (``lattice.rg_levels()[k]``);
        None where there is none. Methods ``"raw"`` and ``"calibrated"`` need it.
    spins : int8 (n, *lattice.shape), values ±1
        Configurations on the fine lattice.
    beta : float (n,) or float
        Inverse temperature at which each configuration was sampled.
    lattice : Lattice
        The fine lattice.
    n_steps : int or None
        Largest RG step to compute; None goes as far as levels and encoders allow.
    batch_size : int
        Batch size of the thermometers' predictions.
    calibrations : list of Calibration or None, or None
        Entry k calibrates thermometer k (:func:`calibrate` on its predictions
        for level k's test ensembles). Missing entries give NaN with the flag
        ``"no calibration"``.
    methods : subset of :data:`METHODS`
    J, h : float
        Coupling and field of the ensembles; energy matching needs the square
        torus, h = 0 and J > 0, and otherwise gives NaN with the reason as flag.
    flip_symmetrise : bool
        At h = 0 the global flip is a symmetry that a Metropolis chain below
        T_c does not sample. True adds the mirror image -s of every
        configuration; each statistic is then averaged over the pair (s, -s),
        which counts as one configuration, so standard errors stay honest.
        (Learned encoders are not odd under the flip, so the mirrored
        configurations are encoded, not the codes negated.)

    Returns
    -------
    DataFrame with columns :data:`FLOW_COLUMNS`, one row per (encoder, step,
    method, beta):

    - ``beta_prime``, ``beta_prime_err``: the coarse configurations' beta'
      and its standard error (NaN where the method cannot say);
    - ``beta_prime_std``: for ``"raw"``, the sd of beta_hat over configurations;
    - ``measured``, ``measured_se``: what was inverted, the mean thermometer
      output (raw, calibrated) or <s s>_nn of the coarse lattice (energy),
      with its standard error;
    - ``flag``: ``"ok"``, ``"below range"``, ``"above range"``, ``"no calibration"``
      or the reason energy matching is unavailable;
    - ``n``: independent configurations (pairs when flip-symmetrised).

    Step 0 reads the fine configurations, repeated for every encoder. Raw and
    calibrated rows exist at the steps whose level has a thermometer; energy
    rows at every step.
    """
    spins = np.asarray(spins)
    if spins.ndim < 1 or spins.shape[1:] != lattice.shape:
        raise ValueError(
            f"spins must have shape (n, *{lattice.shape}) for {lattice.describe()}, got {spins.shape}"
        )
    n_config = spins.shape[0]
    beta = np.broadcast_to(np.asarray(beta, dtype=np.float64), (n_config,))
    if n_steps is not None and (isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 0):
        raise ValueError(f"n_steps must be a non-negative integer or None, got {n_steps!r}")
    if not encoders:
        raise ValueError("pass at least one encoder")
    unknown = set(methods) - set(METHODS)
    if unknown or not methods:
        raise ValueError(f"methods must be a non-empty subset of {METHODS}, got {tuple(methods)}")
    levels = lattice.rg_levels()
    thermometers = list(thermometers_by_level or [])[: len(levels)]
    thermometers += [None] * (len(levels) - len(thermometers))
    for level, thermometer in enumerate(thermometers):
        if thermometer is not None:
            check_input(thermometer, levels[level])
    calibrations = list(calibrations or [])[: len(levels)]
    calibrations += [None] * (len(levels) - len(calibrations))
    for level, calibration in enumerate(calibrations):
        if calibration is not None and not isinstance(calibration, Calibration):
            raise ValueError(f"calibrations[{level}] must be a Calibration (from calibrate) or None")
    wants_thermometer = bool({"raw", "calibrated"} & set(methods))
    if wants_thermometer and "energy" not in methods and all(t is None for t in thermometers):
        raise ValueError(f"methods {tuple(methods)} need thermometers_by_level; none was given")
    max_steps = len(levels) - 1 if n_steps is None else min(n_steps, len(levels) - 1)

    if flip_symmetrise:
        spins = np.concatenate([spins, -spins])
    grid = np.unique(beta)

    def read(name: str, step: int, configs: np.ndarray, level: Lattice) -> list[dict]:
        rows = []
        thermometer, calibration = thermometers[step], calibrations[step]
        if wants_thermometer and thermometer is not None:
            pred = predict_beta(thermometer, configs, batch_size=batch_size)
            mean, se, sd, n = _means(_per_configuration(pred, n_config, flip_symmetrise), beta, grid)
            if "raw" in methods:
                rows += _rows(name, step, "raw", grid, mean, se, sd, mean, se, ["ok"] * grid.size, n)
            if "calibrated" in methods:
                nan = np.full(grid.size, np.nan)
                if calibration is None:
                    prime, err, flag = nan, nan, ["no calibration"] * grid.size
                else:
                    prime, err, flag = calibration.inverse(mean, se)
                rows += _rows(name, step, "calibrated", grid, prime, err, nan, mean, se, flag, n)
        if "energy" in methods:
            nan = np.full(grid.size, np.nan)
            reason = energy_matching_unavailable(level, J, h)
            if reason is None:
                q = _per_configuration(bond_correlations(configs, level), n_config, flip_symmetrise)
                mean, se, _, n = _means(q, beta, grid)
                prime, err, flag = energy_matched_beta(mean, level.shape[0], se, J=J)
                rows += _rows(name, step, "energy", grid, prime, err, nan, mean, se, flag, n)
            else:
                n = np.array([(beta == value).sum() for value in grid])
                rows += _rows(name, step, "energy", grid, nan, nan, nan, nan, nan, [reason] * grid.size, n)
        return rows

    start = read("", 0, spins, lattice)
    rows = []
    for name, encoder in encoders.items():
        maps = _maps_per_level(name, encoder, len(levels) - 1)
        rows += [row | {"encoder": name} for row in start]
        current = spins
        for step in range(1, max_steps + 1):
            if step > len(maps):
                break
            if "energy" not in methods and all(t is None for t in thermometers[step:]):
                break
            current = _binarise(maps[step - 1](current, levels[step - 1]), levels[step - 1], name, step)
            rows += read(name, step, current, levels[step])
    return pd.DataFrame(rows, columns=FLOW_COLUMNS)

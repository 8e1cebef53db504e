"""Exact results for the Ising model, used to validate the Monte Carlo and as the thermometer's limit.

- Finite square torus: ln Z, energy, specific heat and entropy from Kaufman's
  closed form (B. Kaufman, Phys. Rev. 76, 1232 (1949)), with analytic
  derivatives in the coupling.
- Any lattice with at most 24 sites: exhaustive enumeration through the joint
  density of states of (bond sum, magnetisation).
- Infinite square lattice: Onsager's free energy and energy (Phys. Rev. 65, 117
  (1944)), Yang's spontaneous magnetisation (Phys. Rev. 85, 808 (1952)).
- The Bayes-optimal thermometer: posterior mean of beta given the energy, which
  is a sufficient statistic for beta.

Conventions: H = -J sum_<ij> s_i s_j - h sum_i s_i, s = ±1, k_B = 1, K = beta J.
On a lattice given by a neighbour table the energy is
E = -(J/2) sum_i sum_k s_i s_{neighbours[i, k]} - h sum_i s_i, so every
neighbour-table entry pair is one bond; on a torus with a side of length 2 the
two neighbours along that side coincide and the pair is joined by two bonds.
Kaufman's transfer matrix counts the wrap-around bond of a width-2 torus in the
same way, so both agree on every torus with sides >= 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import integrate, special

__all__ = [
    "kaufman_log_z",
    "kaufman_energy_per_spin",
    "kaufman_specific_heat",
    "kaufman_log_z_anisotropic",
    "exact_entropy_per_spin",
    "EnumerationResult",
    "enumerate_ising",
    "MAX_ENUMERATION_SITES",
    "onsager_critical_temperature",
    "onsager_free_energy",
    "onsager_energy_per_spin",
    "onsager_spontaneous_magnetization",
    "bayes_posterior",
    "bayes_beta_estimate",
]

#: Largest lattice that :func:`enumerate_ising` accepts (2**24 configurations).
MAX_ENUMERATION_SITES = 24

#: Largest |beta J| for Kaufman's formula; beyond it the hyperbolic functions
#: overflow, and the torus is in its ground state to double precision long before.
_MAX_COUPLING = 300.0


# ---------------------------------------------------------------------------
# Kaufman's finite torus
# ---------------------------------------------------------------------------


def _check_side(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
        raise ValueError(f"torus side {name} must be an integer >= 2, got {value!r}")
    return int(value)


def _check_beta(beta, allow_zero: bool = False) -> np.ndarray:
    beta = np.asarray(beta, dtype=np.float64)
    bad = ~np.isfinite(beta) | (beta < 0.0 if allow_zero else beta <= 0.0)
    if np.any(bad):
        bound = "non-negative" if allow_zero else "positive"
        raise ValueError(f"inverse temperature beta must be finite and {bound}, got {beta[bad].ravel()[:3]}")
    return beta


def _torus_coupling(L, Ly, beta, J) -> tuple[int, int, np.ndarray]:
    """Validated sides (m, n) and the ferromagnetic coupling |K| = beta |J| as an array."""
    m = _check_side("L", L)
    n = m if Ly is None else _check_side("Ly", Ly)
    beta = _check_beta(beta)
    J = float(J)
    if not np.isfinite(J):
        raise ValueError(f"coupling J must be finite, got {J}")
    if J < 0.0 and (m % 2 or n % 2):
        raise ValueError(
            f"the antiferromagnet (J={J}) on a {m} x {n} torus with an odd side is frustrated; "
            "Kaufman's formula is used here only for J >= 0 or for both sides even"
        )
    K = beta * abs(J)
    if np.any(K > _MAX_COUPLING):
        raise ValueError(
            f"beta*|J| must be at most {_MAX_COUPLING:g} (got {K.max():g}); "
            "the torus is then in its ground state to double precision"
        )
    return m, n, K


def _log2cosh(x):
    ax = np.abs(x)
    return ax + np.log1p(np.exp(-2.0 * ax))


def _log2sinh(x):
    """ln(2 sinh x) for x > 0."""
    return x + np.log(-np.expm1(-2.0 * x))


def _kaufman_parts(m: int, n: int, K: np.ndarray):
    """ln Z and its first two derivatives in K on the m x n torus, for K > 0.

    Kaufman (1949): Z = 1/2 (2 sinh 2K)^{mn/2} (Z1 + Z2 + Z3 + Z4) with
    Z1 = prod_r 2 cosh(m g_{2r+1}/2), Z2 = prod_r 2 sinh(m g_{2r+1}/2),
    Z3 = prod_r 2 cosh(m g_{2r}/2),   Z4 = prod_r 2 sinh(m g_{2r}/2), r = 0..n-1,
    cosh g_k = cosh 2K coth 2K - cos(pi k / n) and g_0 = 2K + ln tanh K, which is
    negative above T_c so that Z4 < 0 there. Z = sum of signed terms is formed by
    a signed log-sum-exp; Z1 >= |Z_i| for every i and Z3 + Z4 >= 0, so nothing
    cancels catastrophically.

    Returns three float64 arrays shaped like K: ln Z, d ln Z/dK, d^2 ln Z/dK^2.
    """
    K = np.asarray(K, dtype=np.float64)[..., None]  # (..., 1)
    two_k = 2.0 * K
    s = np.sinh(two_k)
    ch = np.cosh(two_k)
    # cosh g_k - 1 = (1 - s)^2 / s + 2 sin^2(theta_k / 2): both terms are >= 0, and 1 - s is
    # exact in floating point near T_c (s ~ 1), so nothing cancels as g_0 -> 0; the algebraically
    # equal s - 2 + 1/s would lose every digit of (1 - s)^2 ~ 1e-17 within 1e-9 of beta_c.
    theta = np.pi * np.arange(2 * n) / n
    delta = (1.0 - s) ** 2 / s + 2.0 * np.sin(theta / 2.0) ** 2  # (..., 2n)
    sinh_g = np.sqrt(delta) * np.sqrt(delta + 2.0)
    gamma = np.log1p(delta + sinh_g)
    dc = 2.0 * ch * (1.0 - (1.0 / s) ** 2)  # d(cosh g_k)/dK
    d2c = 4.0 * (s - 1.0 / s) + 8.0 * (ch / s) ** 2 / s
    with np.errstate(divide="ignore", invalid="ignore"):
        dgamma = dc / sinh_g
        d2gamma = (d2c - (1.0 + delta) * dgamma**2) / sinh_g
    # g_0 is signed and smooth through T_c (where it vanishes): use its closed form.
    gamma[..., 0] = np.where(s[..., 0] >= 1.0, 1.0, -1.0) * gamma[..., 0]
    dgamma[..., 0] = 2.0 + 2.0 / s[..., 0]
    d2gamma[..., 0] = -4.0 * (ch[..., 0] / s[..., 0]) / s[..., 0]

    x, dx, d2x = 0.5 * m * gamma, 0.5 * m * dgamma, 0.5 * m * d2gamma
    odd, even = slice(1, None, 2), slice(2, None, 2)  # even excludes k = 0

    def cosh_product(sl):
        t = np.tanh(x[..., sl])
        a = _log2cosh(x[..., sl]).sum(-1)
        a1 = (t * dx[..., sl]).sum(-1)
        a2 = ((1.0 - t**2) * dx[..., sl] ** 2 + t * d2x[..., sl]).sum(-1)
        return a, a1, a2

    def sinh_product(sl):  # all arguments strictly positive here
        coth = 1.0 / np.tanh(x[..., sl])
        a = _log2sinh(x[..., sl]).sum(-1)
        a1 = (coth * dx[..., sl]).sum(-1)
        a2 = ((1.0 - coth**2) * dx[..., sl] ** 2 + coth * d2x[..., sl]).sum(-1)
        return a, a1, a2

    # Terms 1-3 are exp(A_i) with log-derivatives (A_i', A_i''); term 4 is exp(A4) tanh(x0).
    terms = [cosh_product(odd), sinh_product(odd)]
    rest_c = cosh_product(even)
    rest_s = sinh_product(even)
    x0, dx0, d2x0 = x[..., 0], dx[..., 0], d2x[..., 0]
    t0 = np.tanh(x0)
    # Z3 = 2 cosh(x0) * R3 with R3 the k != 0 cosh factors.
    terms.append(
        (
            _log2cosh(x0) + rest_c[0],
            t0 * dx0 + rest_c[1],
            (1.0 - t0**2) * dx0**2 + t0 * d2x0 + rest_c[2],
        )
    )
    # Z4 = 2 sinh(x0) * R4 = exp(A4) * tanh(x0), A4 = ln 2cosh(x0) + ln R4; finite at x0 = 0.
    a4 = _log2cosh(x0) + rest_s[0]
    rho1, rho2 = rest_s[1], rest_s[2]

    a = np.stack([terms[0][0], terms[1][0], terms[2][0], a4])  # (4, ...)
    top = a.max(axis=0)
    weight = np.exp(a - top)  # (4, ...)
    # Z_i / e^top, then the scaled first derivative sum_i Z_i' / Z = d ln(sum Z_i)/dK.
    value = weight * np.stack([np.ones_like(t0)] * 3 + [t0])
    total = value.sum(axis=0)
    d1 = np.stack([terms[i][1] for i in range(3)] + [dx0 + t0 * rho1])
    mean1 = (weight * d1).sum(axis=0) / total
    # Centred second moment: sum_i (Z_i'' - 2 mu Z_i' + mu^2 Z_i) / Z avoids an O(N^2) cancellation.
    centred = [terms[i][2] + (terms[i][1] - mean1) ** 2 for i in range(3)]
    centred.append(t0 * (rho2 + (rho1 - mean1) ** 2 + dx0**2) + d2x0 + 2.0 * dx0 * (rho1 - mean1))
    second = (weight * np.stack(centred)).sum(axis=0) / total

    n_sites = m * n
    k = K[..., 0]
    log_sinh_term = 0.5 * n_sites * (2.0 * k + np.log(-np.expm1(-4.0 * k)))  # ln(2 sinh 2K)
    log_z = -np.log(2.0) + log_sinh_term + top + np.log(total)
    dlog_z = n_sites / np.tanh(2.0 * k) + mean1
    d2log_z = -2.0 * n_sites * (1.0 / np.sinh(2.0 * k)) ** 2 + second
    return log_z, dlog_z, d2log_z


def _as_output(values: np.ndarray, beta) -> float | np.ndarray:
    return float(values) if np.ndim(beta) == 0 else values


def kaufman_log_z(L: int, beta, J: float = 1.0, Ly: int | None = None) -> float | np.ndarray:
    """ln Z of the Ising model (h = 0) on the periodic L x Ly square torus, exact (Kaufman 1949).

    Parameters
    ----------
    L, Ly : int
        Sides of the torus (>= 2); ``Ly`` defaults to ``L``. Z is symmetric in
        them because the couplings are isotropic.
    beta : float or float64 array of any shape
        Inverse temperature(s), > 0, with beta*|J| <= 300.
    J : float
        Coupling. J < 0 (antiferromagnet) requires both sides even: the torus is
        then bipartite, flipping one sublattice maps J to -J, and Z(-J) = Z(J).
        J = 0 gives N ln 2.

    Returns
    -------
    float or float64 array shaped like ``beta``: ln Z (dimensionless).
    """
    m, n, K = _torus_coupling(L, Ly, beta, J)
    if J == 0.0:
        return _as_output(np.full(K.shape, m * n * np.log(2.0)), beta)
    return _as_output(_kaufman_parts(m, n, K)[0], beta)


def kaufman_energy_per_spin(L: int, beta, J: float = 1.0, Ly: int | None = None) -> float | np.ndarray:
    """Mean energy per spin u = -(1/N) d ln Z / d beta on the L x Ly torus (h = 0), exact.

    Uses the analytic K-derivative of Kaufman's formula (agrees with exhaustive
    enumeration to ~1e-13). Units of J; shape follows ``beta`` as in :func:`kaufman_log_z`.
    """
    m, n, K = _torus_coupling(L, Ly, beta, J)
    if J == 0.0:
        return _as_output(np.zeros(K.shape), beta)
    # ln Z depends on |K| only, so d/d beta = |J| d/d|K| for either sign of J.
    return _as_output(-abs(J) * _kaufman_parts(m, n, K)[1] / (m * n), beta)


def kaufman_specific_heat(L: int, beta, J: float = 1.0, Ly: int | None = None) -> float | np.ndarray:
    """Specific heat per spin c = (beta^2 / N) d^2 ln Z / d beta^2 = beta^2 Var(E) / N, exact.

    Uses the analytic second K-derivative of Kaufman's formula (dimensionless,
    k_B = 1); shape follows ``beta`` as in :func:`kaufman_log_z`. Absolute
    accuracy ~1e-13; deep in the ordered phase (beta |J| > ~4), where c < 1e-14,
    the result is rounding noise, and values below zero are clipped to zero.
    """
    m, n, K = _torus_coupling(L, Ly, beta, J)
    if J == 0.0:
        return _as_output(np.zeros(K.shape), beta)
    return _as_output(np.maximum(K**2 * _kaufman_parts(m, n, K)[2] / (m * n), 0.0), beta)


def kaufman_log_z_anisotropic(L: int, beta, J_x: float = 1.0, J_y: float = 1.0, Ly: int | None = None):
    """ln Z (h = 0) of the L x Ly torus with couplings J_x along rows and J_y along columns, exact.

    Kaufman (Phys. Rev. 76, 1232 (1949), eqs. 39-43 with two couplings): with
    K_1 = beta J_x, K_2 = beta J_y, m = Ly, n = L,
    Z = 1/2 (2 sinh 2K_1)^{mn/2} (Z1 + Z2 + Z3 + Z4), the Z_i the products of
    :func:`_kaufman_parts` over k = 0 .. 2n-1, now with
    cosh g_k = cosh 2K_2 coth 2K_1 - (sinh 2K_2 / sinh 2K_1) cos(pi k / n)
    and the signed g_0 = 2K_2 + ln tanh K_1 (= 2K_2 - 2K_1*, K_1* the dual
    coupling), which vanishes on sinh 2K_1 sinh 2K_2 = 1. J_x = J_y gives
    :func:`kaufman_log_z`. Value only (no analytic derivatives); intended away
    from g_0 = 0 to within rounding of arccosh (|g_k| >~ 1e-7).

    Parameters
    ----------
    L, Ly : int >= 2 (``Ly`` defaults to L)
    beta : float or float64 array, > 0
    J_x, J_y : float > 0, ferromagnetic couplings

    Returns
    -------
    float or float64 array shaped like ``beta``.
    """
    if not (J_x > 0 and J_y > 0 and np.isfinite(J_x) and np.isfinite(J_y)):
        raise ValueError(f"the anisotropic formula needs finite couplings J_x, J_y > 0, got {J_x}, {J_y}")
    n, m, K1 = _torus_coupling(L, Ly, beta, J_x)
    K = K1[..., None]
    K2 = K * (float(J_y) / float(J_x))
    theta = np.pi * np.arange(2 * n) / n
    cosh_g = np.cosh(2.0 * K2) / np.tanh(2.0 * K) - np.sinh(2.0 * K2) / np.sinh(2.0 * K) * np.cos(theta)
    gamma = np.arccosh(np.maximum(cosh_g, 1.0))
    gamma[..., 0] = 2.0 * K2[..., 0] + np.log(np.tanh(K[..., 0]))
    x = 0.5 * m * gamma
    odd, even = x[..., 1::2], x[..., 2::2]
    x0 = x[..., 0]
    a = np.stack(
        [
            _log2cosh(odd).sum(-1),
            _log2sinh(odd).sum(-1),
            _log2cosh(x0) + _log2cosh(even).sum(-1),
            _log2sinh(np.abs(x0)) + _log2sinh(even).sum(-1),
        ]
    )
    sign = np.stack([np.ones_like(x0)] * 3 + [np.sign(x0)])
    top = a.max(axis=0)
    total = (sign * np.exp(a - top)).sum(axis=0)
    k = K1
    log_prefactor = 0.5 * m * n * (2.0 * k + np.log(-np.expm1(-4.0 * k)))
    return _as_output(-np.log(2.0) + log_prefactor + top + np.log(total), beta)


def exact_entropy_per_spin(
    L: int, beta, J: float = 1.0, Ly: int | None = None, bits: bool = False
) -> float | np.ndarray:
    """Thermodynamic entropy per spin s = ln Z / N + beta u on the L x Ly torus, exact.

    In nats per spin, or bits per spin with ``bits=True``. It falls from ln 2 at
    beta -> 0 to ln 2 / N (the two ground states) at beta -> infinity.
    """
    m, n, K = _torus_coupling(L, Ly, beta, J)
    if J == 0.0:
        s = np.full(K.shape, np.log(2.0))
    else:
        log_z, dlog_z, _ = _kaufman_parts(m, n, K)
        s = (log_z - K * dlog_z) / (m * n)
    if bits:
        s = s / np.log(2.0)
    return _as_output(s, beta)


# ---------------------------------------------------------------------------
# Exhaustive enumeration
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EnumerationResult:
    """Exact thermal averages of a small lattice from :func:`enumerate_ising`.

    Every field is a float for scalar ``beta``, or a float64 array shaped like ``beta``.

    Attributes
    ----------
    beta : inverse temperature.
    n_sites : N.
    log_z : ln Z.
    mean_energy, mean_energy_sq : <E> and <E^2> of the TOTAL energy (units J, J^2),
        as stored in an ``Ensemble``'s ``energy`` column.
    energy_per_spin : <E> / N.
    specific_heat : beta^2 (<E^2> - <E>^2) / N, per spin (variance formed about the mean).
    mean_m : <M> / N, per spin (zero at h = 0).
    mean_abs_m : <|M|> / N, per spin.
    mean_m2 : <M^2> / N^2, per spin squared.
    """

    beta: float | np.ndarray
    n_sites: int
    log_z: float | np.ndarray
    mean_energy: float | np.ndarray
    mean_energy_sq: float | np.ndarray
    energy_per_spin: float | np.ndarray
    specific_heat: float | np.ndarray
    mean_m: float | np.ndarray
    mean_abs_m: float | np.ndarray
    mean_m2: float | np.ndarray


def _all_spins(n: int) -> np.ndarray:
    """float64 (2^n, n): every configuration of n spins, values ±1."""
    index = np.arange(1 << n, dtype=np.int64)
    return (1 - 2 * ((index[:, None] >> np.arange(n)) & 1)).astype(np.float64)


def _bond_sum_and_magnetisation(neighbours: np.ndarray, rows_per_chunk: int = 256):
    """Density of states over (Q, M): Q = sum_i sum_k s_i s_{nb[i,k]}, M = sum_i s_i.

    The sites are split into halves a and b, so that
    Q = s_a.A_aa.s_a + s_b.A_bb.s_b + s_a.(A_ab + A_ba^T).s_b, with A[i, j] the
    number of times j appears among i's neighbours; all 2^N configurations are
    then swept as (a, b) pairs in chunks of rows of an outer sum.

    Returns ``(q int64 (n_states,), m int64 (n_states,), count float64 (n_states,))``
    for the (Q, M) pairs that occur, with their number of configurations.
    """
    n, z = neighbours.shape
    adjacency = np.zeros((n, n))
    np.add.at(adjacency, (np.repeat(np.arange(n), z), neighbours.ravel()), 1.0)
    half = n // 2
    spins_a, spins_b = _all_spins(half), _all_spins(n - half)
    a, b = slice(0, half), slice(half, n)
    q_a = np.einsum("ci,ij,cj->c", spins_a, adjacency[a, a], spins_a)
    q_b = np.einsum("ci,ij,cj->c", spins_b, adjacency[b, b], spins_b)
    coupling_ab = spins_a @ (adjacency[a, b] + adjacency[b, a].T)  # (2^half, n - half)
    m_a, m_b = spins_a.sum(axis=1), spins_b.sum(axis=1)

    q_max = n * z
    n_m = 2 * n + 1
    # Shifted integer keys; all values are small integers, exact in float64.
    key_b = (q_b + q_max) * n_m + (m_b + n)
    counts = np.zeros((2 * q_max + 1) * n_m, dtype=np.int64)
    for start in range(0, spins_a.shape[0], rows_per_chunk):
        rows = slice(start, start + rows_per_chunk)
        key = (q_a[rows, None] + coupling_ab[rows] @ spins_b.T) * n_m + m_a[rows, None] + key_b[None, :]
        counts += np.bincount(np.rint(key).astype(np.int64).ravel(), minlength=counts.size)
    occupied = np.flatnonzero(counts)
    return occupied // n_m - q_max, occupied % n_m - n, counts[occupied].astype(np.float64)


def _weighted_bond_sum_and_magnetisation(neighbours: np.ndarray, couplings: np.ndarray, rows_per_chunk=4096):
    """Density of states over (Q, M) with per-entry couplings: Q = sum_i sum_k c_ik s_i s_{nb[i,k]}.

    Every configuration is visited directly (in chunks); Q is real, so states are
    merged on Q rounded to 1e-9. Returns ``(q float64, m int64, count float64)``.
    """
    n = neighbours.shape[0]
    q_all = np.empty(1 << n)
    m_all = np.empty(1 << n, dtype=np.int64)
    for start in range(0, 1 << n, rows_per_chunk):
        index = np.arange(start, min(start + rows_per_chunk, 1 << n), dtype=np.int64)
        spins = (1 - 2 * ((index[:, None] >> np.arange(n)) & 1)).astype(np.float64)
        q_all[index] = np.einsum("ci,cik,ik->c", spins, spins[:, neighbours], couplings)
        m_all[index] = spins.sum(axis=1).astype(np.int64)
    keys, count = np.unique(np.stack([np.round(q_all, 9), m_all]), axis=1, return_counts=True)
    return keys[0], keys[1].astype(np.int64), count.astype(np.float64)


def enumerate_ising(lattice, beta, J: float = 1.0, h: float = 0.0) -> EnumerationResult:
    """Exact thermal averages by summing over all 2^N configurations of a small lattice.

    The energy is E = -(J/2) sum_i sum_k s_i s_{neighbours[i,k]} - h sum_i s_i
    (every neighbour-table entry pair is one bond, as in the samplers), with
    J c_ik in place of J where the lattice has ``bond_couplings`` c (e.g. J_x != J_y).
    The configurations are enumerated once, in chunks, into the joint density of
    states of (bond sum, magnetisation); the averages are then exact sums over it.

    Parameters
    ----------
    lattice : Lattice
        Any lattice with ``n_sites <= 24`` (2^24 configurations take ~0.2 s).
    beta : float or 1-D float64 array, >= 0 (beta = 0 is infinite temperature).
    J, h : float
        Coupling and field.

    Returns
    -------
    EnumerationResult (total and per-spin quantities, see its docstring).
    """
    n = lattice.n_sites
    if n > MAX_ENUMERATION_SITES:
        raise ValueError(
            f"enumeration is limited to {MAX_ENUMERATION_SITES} sites (2^{MAX_ENUMERATION_SITES} "
            f"configurations); {lattice.describe()} has {n}: use a smaller lattice or Kaufman's formula"
        )
    beta_in = beta
    beta = _check_beta(beta, allow_zero=True)
    if beta.ndim > 1:
        raise ValueError(f"beta must be a scalar or a 1-D array, got shape {beta.shape}")
    J, h = float(J), float(h)
    if not (np.isfinite(J) and np.isfinite(h)):
        raise ValueError(f"J and h must be finite, got J={J}, h={h}")

    if lattice.bond_couplings is None:
        q, mag, count = _bond_sum_and_magnetisation(lattice.neighbours)
    else:
        q, mag, count = _weighted_bond_sum_and_magnetisation(lattice.neighbours, lattice.bond_couplings)
    energy = -0.5 * J * q - h * mag  # (n_states,)
    b = np.atleast_1d(beta)[:, None]  # (n_beta, 1)
    log_w = np.log(count) - b * energy
    top = log_w.max(axis=1, keepdims=True)
    w = np.exp(log_w - top)
    norm = w.sum(axis=1, keepdims=True)
    p = w / norm  # (n_beta, n_states)
    log_z = (top + np.log(norm))[:, 0]
    mean_e = p @ energy
    var_e = (p * (energy - mean_e[:, None]) ** 2).sum(axis=1)
    m_spin = mag / n

    def out(values):
        return _as_output(values if np.ndim(beta_in) else values[0], beta_in)

    return EnumerationResult(
        beta=out(np.atleast_1d(beta)),
        n_sites=n,
        log_z=out(log_z),
        mean_energy=out(mean_e),
        mean_energy_sq=out(var_e + mean_e**2),
        energy_per_spin=out(mean_e / n),
        specific_heat=out(np.atleast_1d(beta) ** 2 * var_e / n),
        mean_m=out(p @ m_spin),
        mean_abs_m=out(p @ np.abs(m_spin)),
        mean_m2=out(p @ m_spin**2),
    )


# ---------------------------------------------------------------------------
# Onsager's infinite square lattice
# ---------------------------------------------------------------------------


def onsager_critical_temperature(J: float = 1.0) -> float:
    """T_c = 2|J| / ln(1 + sqrt 2) ≈ 2.269185 |J| of the infinite square lattice (units J/k_B)."""
    J = float(J)
    if J == 0.0 or not np.isfinite(J):
        raise ValueError(f"coupling J must be finite and non-zero, got {J}")
    return 2.0 * abs(J) / np.log1p(np.sqrt(2.0))


def _onsager_kappa(K):
    """kappa = 2 sinh 2K / cosh^2 2K = 2 tanh 2K sech 2K, written so that it cannot overflow."""
    q = np.exp(-2.0 * K)
    return 2.0 * np.tanh(2.0 * K) * 2.0 * q / (1.0 + q * q)


def _onsager_log_z_per_spin(K: float) -> float:
    """-beta f = ln(2 cosh 2K) + (1/pi) int_0^{pi/2} ln[(1 + sqrt(1 - kappa^2 sin^2 t)) / 2] dt."""
    kappa2 = _onsager_kappa(K) ** 2

    def integrand(t):
        return np.log(0.5 * (1.0 + np.sqrt(max(1.0 - kappa2 * np.sin(t) ** 2, 0.0))))

    value, _ = integrate.quad(integrand, 0.0, 0.5 * np.pi, epsabs=1e-15, epsrel=1e-13, limit=200)
    return float(_log2cosh(2.0 * K) + value / np.pi)


def onsager_free_energy(beta, J: float = 1.0) -> float | np.ndarray:
    """Free energy per spin f of the infinite square lattice (h = 0), units of J (Onsager 1944).

    f = -(1/beta) lim ln Z / N, from Onsager's double integral reduced to one
    quadrature (scipy.integrate.quad, ~1e-14 absolute). Z depends on |J| only
    (the lattice is bipartite). ``beta`` (> 0) may be a scalar or an array.
    """
    b = _check_beta(beta)
    K = b * abs(float(J))
    lz = np.vectorize(_onsager_log_z_per_spin, otypes=[np.float64])(K)
    return _as_output(-lz / b, beta)


def onsager_energy_per_spin(beta, J: float = 1.0) -> float | np.ndarray:
    """Energy per spin u of the infinite square lattice (h = 0), units of J (Onsager 1944).

    u = -|J| coth 2K [1 + (2/pi)(2 tanh^2 2K - 1) K(kappa)], kappa = 2 sinh 2K / cosh^2 2K,
    with K(kappa) the complete elliptic integral of the first kind. scipy's
    ``ellipk`` takes the parameter m = kappa^2, not the modulus kappa. At T_c the
    integral diverges logarithmically but its prefactor vanishes, and u = -sqrt 2 |J|.
    """
    b = _check_beta(beta)
    K = b * abs(float(J))
    kappa2 = _onsager_kappa(K) ** 2
    prefactor = 2.0 * np.tanh(2.0 * K) ** 2 - 1.0
    below_one = kappa2 < 1.0
    elliptic = np.where(below_one, prefactor * special.ellipk(np.where(below_one, kappa2, 0.0)), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(K > 0.0, -abs(float(J)) / np.tanh(2.0 * K) * (1.0 + 2.0 / np.pi * elliptic), 0.0)
    return _as_output(u, beta)


def onsager_spontaneous_magnetization(T, J: float = 1.0) -> float | np.ndarray:
    """Spontaneous magnetisation per spin of the infinite square ferromagnet (Yang 1952).

    m = [1 - sinh(2J/T)^{-4}]^{1/8} for T < T_c, and 0 for T >= T_c. ``T`` (> 0,
    units J/k_B) may be a scalar or an array. Requires J > 0.
    """
    J = float(J)
    if not (np.isfinite(J) and J > 0.0):
        raise ValueError(f"spontaneous magnetisation needs a ferromagnetic coupling J > 0, got {J}")
    temperature = np.asarray(T, dtype=np.float64)
    if np.any(~np.isfinite(temperature) | (temperature <= 0.0)):
        raise ValueError(f"temperature T must be finite and positive, got {temperature}")
    with np.errstate(over="ignore"):
        x = 1.0 - (1.0 / np.sinh(2.0 * J / temperature)) ** 4
    m = np.where(x > 0.0, np.maximum(x, 0.0) ** 0.125, 0.0)
    return _as_output(m, T)


# ---------------------------------------------------------------------------
# The Bayes-optimal thermometer
# ---------------------------------------------------------------------------


def _check_bayes_inputs(energy, beta_grid, log_z):
    energy = np.asarray(energy, dtype=np.float64)
    beta_grid = np.asarray(beta_grid, dtype=np.float64)
    log_z = np.asarray(log_z, dtype=np.float64)
    if energy.ndim != 1:
        raise ValueError(f"energy must be a 1-D array of total energies, got shape {energy.shape}")
    if beta_grid.ndim != 1 or beta_grid.size == 0:
        raise ValueError(f"beta_grid must be a non-empty 1-D array, got shape {beta_grid.shape}")
    if log_z.shape != beta_grid.shape:
        raise ValueError(f"log_z must have one entry per grid value {beta_grid.shape}, got {log_z.shape}")
    for name, arr in (("energy", energy), ("beta_grid", beta_grid), ("log_z", log_z)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be finite")
    return energy, beta_grid, log_z


def bayes_posterior(energy, beta_grid, log_z) -> np.ndarray:
    """Posterior over the grid of inverse temperatures given each configuration's total energy.

    Under a uniform prior on the grid values beta_k, P(beta_k | E) is proportional
    to w_k = exp(-beta_k E - ln Z(beta_k)); the energy is a sufficient statistic
    for beta, so nothing else in the configuration carries information about it.

    Parameters
    ----------
    energy : float64 (n,), total energies (units J, as in ``Ensemble.energy``).
    beta_grid : float64 (K,), the prior's support.
    log_z : float64 (K,), ln Z at each grid value (e.g. ``kaufman_log_z(L, beta_grid)``).

    Returns
    -------
    float64 (n, K): rows sum to 1. Computed by log-sum-exp, so it cannot overflow or
    return NaN while the products beta_k E are finite (|E| up to ~1e300).
    """
    energy, beta_grid, log_z = _check_bayes_inputs(energy, beta_grid, log_z)
    log_w = -energy[:, None] * beta_grid[None, :] - log_z[None, :]
    log_w -= log_w.max(axis=1, keepdims=True)
    w = np.exp(log_w)
    return w / w.sum(axis=1, keepdims=True)


def bayes_beta_estimate(energy, beta_grid, log_z) -> np.ndarray:
    """Bayes-optimal (minimum mean-squared error) estimate of beta from the total energy.

    beta_hat(E) = sum_k beta_k w_k / sum_k w_k with w_k = exp(-beta_k E - ln Z(beta_k)),
    the posterior mean under a uniform prior over ``beta_grid``; it always lies in
    [min beta_grid, max beta_grid]. Arguments as in :func:`bayes_posterior`.

    Returns
    -------
    float64 (n,): estimates of beta.
    """
    posterior = bayes_posterior(energy, beta_grid, log_z)
    return posterior @ np.asarray(beta_grid, dtype=np.float64)

"""Autocorrelation of Monte Carlo time series.

The integrated autocorrelation time is Sokal's (Sokal 1997, "Monte Carlo
methods in statistical mechanics: foundations and new algorithms", eqs. 2.19
and 3.19): tau_int = 1/2 + sum_{t>=1} rho(t), so independent samples have
tau_int = 1/2, a series of n steps carries n / (2 tau_int) independent samples,
and the variance of its mean is 2 tau_int var(x) / n. The sum is cut at Sokal's
automatic window: the smallest M with M >= c tau(M), tau(M) = 1/2 + sum_{t=1}^{M}
rho(t). The estimate's relative statistical error is about sqrt(2 (2M + 1) / n)
(Madras & Sokal 1988), so it is trusted only when the series is at least ``tol``
tau long; otherwise :class:`AutocorrelationError` is raised.
"""

from __future__ import annotations

import numpy as np

__all__ = ["AutocorrelationError", "autocorrelation", "tau_int", "mean_error"]


class AutocorrelationError(ValueError):
    """The chain is too short for a trustworthy integrated autocorrelation time."""

    def __init__(self, message: str, tau: float):
        super().__init__(message)
        self.tau = tau


def autocorrelation(x) -> np.ndarray:
    """Normalised autocorrelation function rho(t), t = 0 .. n-1, by FFT.

    x: float (n,). A constant series has rho = 1 at t = 0 and 0 elsewhere.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"autocorrelation needs a 1-d series of length >= 2, got shape {x.shape}")
    n = x.size
    d = x - x.mean()
    size = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(d, size)
    acf = np.fft.irfft(f * np.conj(f), size)[:n]
    if acf[0] <= 0:
        rho = np.zeros(n)
        rho[0] = 1.0
        return rho
    return acf / acf[0]


def tau_int(x, c: float = 6.0, tol: float = 50.0, quiet: bool = False) -> float:
    """Sokal's integrated autocorrelation time tau_int = 1/2 + sum_{t=1}^{M} rho(t), in steps of the series.

    x: float (n,). M is the smallest window with M >= c tau(M) (Sokal's
    automatic window; c = 6 suits a roughly exponential decay). tau_int = 1/2
    means independent samples; estimates below 1/2 (anticorrelation or noise)
    are returned as 1/2. Raises :class:`AutocorrelationError` when no window
    satisfies M >= c tau or the series is shorter than ``tol`` tau (relative
    error then above ~sqrt(4 c / tol)), unless ``quiet``, in which case the
    (unreliable) estimate is returned.
    """
    rho = autocorrelation(x)
    taus = np.cumsum(rho) - 0.5  # tau(M) = 1/2 + sum_{t=1}^{M} rho(t), M = 0 .. n-1
    windows = np.arange(taus.size)
    ok = windows >= c * taus
    if np.any(ok):
        tau = float(taus[np.argmax(ok)])
        reliable = x.size >= tol * tau
    else:
        tau = float(taus[-1])
        reliable = False
    tau = max(tau, 0.5) if np.isfinite(tau) else float("inf")
    if not reliable and not quiet:
        raise AutocorrelationError(
            f"series of length {np.size(x)} is too short for tau_int ~ {tau:.3g} "
            f"(need at least {tol:g} tau); run longer",
            tau,
        )
    return tau


def mean_error(x, tau: float | None = None) -> tuple[float, float]:
    """Mean of a correlated series and its standard error sqrt(2 tau_int var(x) / n).

    x: float (n,); ``tau``: Sokal's tau_int of the series in its steps (1/2 for
    independent samples). When ``tau`` is not given it is estimated from the
    series itself (quietly, since a short series still has a best estimate).
    """
    x = np.asarray(x, dtype=np.float64)
    if tau is None:
        tau = tau_int(x, quiet=True) if x.size > 1 else 0.5
    var = x.var(ddof=1) if x.size > 1 else 0.0
    return float(x.mean()), float(np.sqrt(2.0 * tau * var / x.size))

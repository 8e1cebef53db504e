"""Autocorrelation of Monte Carlo time series.

The integrated autocorrelation time uses Sokal's automatic window (Sokal 1997,
"Monte Carlo methods in statistical mechanics"; as in emcee): with
tau(M) = 1 + 2 sum_{t=1}^{M} rho(t), the window M is the smallest with
M >= c tau(M). The estimate is trusted only when the chain is at least
``tol`` tau long; otherwise :class:`AutocorrelationError` is raised.
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


def tau_int(x, c: float = 5.0, tol: float = 20.0, quiet: bool = False) -> float:
    """Integrated autocorrelation time in units of the series' step.

    x: float (n,). tau = 1 means independent samples (so the variance of the
    mean is var(x) tau / n). Raises :class:`AutocorrelationError` when no
    window satisfies M >= c tau or the series is shorter than ``tol`` tau,
    unless ``quiet``, in which case the (unreliable) estimate is returned.
    """
    rho = autocorrelation(x)
    taus = 2.0 * np.cumsum(rho) - 1.0
    windows = np.arange(taus.size)
    ok = windows >= c * taus
    if np.any(ok):
        tau = float(taus[np.argmax(ok)])
        reliable = x.size >= tol * tau
    else:
        tau = float(taus[-1])
        reliable = False
    tau = max(tau, 1.0) if np.isfinite(tau) else float("inf")
    if not reliable and not quiet:
        raise AutocorrelationError(
            f"series of length {np.size(x)} is too short for tau_int ~ {tau:.3g} "
            f"(need at least {tol:g} tau); run longer",
            tau,
        )
    return tau


def mean_error(x, tau: float | None = None) -> tuple[float, float]:
    """Mean of a correlated series and its standard error sqrt(var * tau / n).

    When ``tau`` is not given it is estimated from the series itself (quietly,
    since a short series still has a best estimate).
    """
    x = np.asarray(x, dtype=np.float64)
    if tau is None:
        tau = tau_int(x, quiet=True) if x.size > 1 else 1.0
    var = x.var(ddof=1) if x.size > 1 else 0.0
    return float(x.mean()), float(np.sqrt(var * tau / x.size))

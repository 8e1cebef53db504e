"""z-scores of Monte Carlo means with tau-aware standard errors (ising.autocorr.mean_error)."""

import numpy as np

from ising.autocorr import mean_error


def zscore(series, exact):
    """(mean - exact) / sigma for one correlated series."""
    mean, err = mean_error(series)
    return (mean - exact) / err


def two_sample_z(a, b):
    """(mean_a - mean_b) / combined sigma for two independent correlated series."""
    (ma, ea), (mb, eb) = mean_error(a), mean_error(b)
    return (ma - mb) / np.hypot(ea, eb)

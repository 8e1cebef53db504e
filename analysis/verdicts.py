"""The study's one verdict rule, applied to per-seed differences.

Every claim is answered comparison by comparison: for each seed s the measure
of the two things compared gives a difference d_s, oriented so that d_s > 0
supports the claim. The verdict comes from an exact one-sided sign test over
seeds, which depends only on how many seeds fall on each side:

- a seed *supports* the claim when d_s > tolerance, *opposes* it when
  d_s < -tolerance, and is a *tie* otherwise (ties, NaN excluded, count as
  seeds that support neither side);
- *reproduced* when P(Bin(n, 1/2) >= n_support) <= alpha, *not reproduced*
  when P(Bin(n, 1/2) >= n_oppose) <= alpha, *inconclusive* otherwise.

The rule is monotone: raising any d_s can move its seed only from opposing to
tie to supporting, which can only strengthen a "reproduced" and weaken a "not
reproduced"; identical differences with zero spread are not more convincing
than differences that vary, and a single seed is never enough. With alpha =
0.05 it needs at least 5 seeds, all on one side (p = 1/32), to give a verdict.
The mean, the standard error over seeds and a 95 % Student-t interval are
reported beside the verdict as the effect's size, not as its test.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["ALPHA", "sign_test_p", "verdict", "combine_verdicts", "VERDICTS"]

#: Significance level of the sign test.
ALPHA = 0.05
VERDICTS = ("reproduced", "not reproduced", "inconclusive")


def sign_test_p(n_side: int, n: int) -> float:
    """One-sided exact sign-test p-value P(Bin(n, 1/2) >= n_side); 1.0 when n = 0."""
    if n <= 0:
        return 1.0
    return float(stats.binom.sf(n_side - 1, n, 0.5))


def verdict(d, tolerance: float = 0.0, alpha: float = ALPHA) -> dict:
    """Verdict and summary of per-seed differences ``d`` (float (n_seeds,), d > 0 supports).

    Parameters
    ----------
    d : array_like of float
        One difference per seed; NaN entries (a measure missing for that seed) are dropped.
    tolerance : float >= 0, or float (n_seeds,)
        Differences within ±tolerance are ties (e.g. the measure's resolution, or each
        seed's own statistical plus systematic error).
    alpha : float in (0, 1)
        Level of the one-sided sign test.

    Returns
    -------
    dict with ``mean``, ``se`` (standard error over seeds), ``lo``, ``hi`` (95 %
    Student-t interval; NaN for fewer than 2 seeds), ``n_seeds``, ``n_support``,
    ``n_oppose``, ``p_support``, ``p_oppose`` and ``verdict``.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    d = np.asarray(d, dtype=np.float64).reshape(-1)
    tolerance = np.broadcast_to(np.asarray(tolerance, dtype=np.float64), d.shape)
    if np.any(tolerance < 0) or np.any(np.isnan(tolerance)):
        raise ValueError("tolerance must be non-negative")
    keep = np.isfinite(d)
    d, tolerance = d[keep], tolerance[keep]
    n = int(d.size)
    mean = float(d.mean()) if n else float("nan")
    se = lo = hi = float("nan")
    if n >= 2:
        se = float(d.std(ddof=1) / np.sqrt(n))
        half = float(stats.t.ppf(0.975, n - 1)) * se
        lo, hi = mean - half, mean + half
    n_support = int(np.sum(d > tolerance))
    n_oppose = int(np.sum(d < -tolerance))
    p_support, p_oppose = sign_test_p(n_support, n), sign_test_p(n_oppose, n)
    if p_support <= alpha:
        result = "reproduced"
    elif p_oppose <= alpha:
        result = "not reproduced"
    else:
        result = "inconclusive"
    return {
        "mean": mean,
        "se": se,
        "lo": lo,
        "hi": hi,
        "n_seeds": n,
        "n_support": n_support,
        "n_oppose": n_oppose,
        "p_support": p_support,
        "p_oppose": p_oppose,
        "verdict": result,
    }


def combine_verdicts(verdicts) -> str:
    """A claim's verdict from its verdict-bearing comparisons.

    Reproduced only when every comparison is; not reproduced when any is (the claims
    are stated for RG encoders in general, so one clear counter-example suffices);
    inconclusive otherwise, and when there is no comparison at all.
    """
    verdicts = list(verdicts)
    if not verdicts:
        return "inconclusive"
    if all(v == "reproduced" for v in verdicts):
        return "reproduced"
    if any(v == "not reproduced" for v in verdicts):
        return "not reproduced"
    return "inconclusive"

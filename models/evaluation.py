"""How good is a thermometer? Metrics per temperature band and the Bayes-optimal limit.

For the Ising model at h = 0 the total energy E is a sufficient statistic
for beta. With a uniform prior over the grid beta_k of the test ensembles the
minimum-MSE estimate is the posterior mean

    beta_hat(E) = sum_k beta_k w_k / sum_k w_k,   w_k = exp(-beta_k E - ln Z_L(beta_k)),

and on the square torus ln Z_L is exact (Kaufman 1949). The network's test
MSE divided by the MSE of beta_hat on the same configurations is the
thermometer's figure of merit (STUDY.md section 2): 1 is the floor, and a
ratio well below 1 means the ensembles are not in equilibrium. For lattices
without an exact partition function the limit is reported as unavailable,
with the reason, rather than as a number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

__all__ = [
    "TEMPERATURE_BANDS",
    "BANDS",
    "band_masks",
    "regression_metrics",
    "evaluate_thermometer",
    "BayesLimit",
    "bayes_limit",
    "figure_of_merit",
    "statistic_dependence",
    "describe_thermometer",
    "evaluate_on_ensembles",
]

#: Temperature bands (units J/k_B): ordered T < 2.0, critical 2.0 <= T <= 2.6, disordered T > 2.6.
TEMPERATURE_BANDS = {"ordered": (-np.inf, 2.0), "critical": (2.0, 2.6), "disordered": (2.6, np.inf)}
#: Keys of a metrics dict: the whole test set, then the bands.
BANDS = ("overall", *TEMPERATURE_BANDS)
#: Bands with at most this many test configurations get no statistic-dependence diagnosis.
MIN_BAND_SAMPLES = 20
# Grid temperatures such as 1.0 + 16 * 0.1 = 2.6000000000000005 belong to the band their
# decimal value names; a tolerance far below any grid step settles them.
_BAND_TOL = 1e-9


def band_masks(T) -> dict[str, np.ndarray]:
    """Boolean masks (n,) of the temperature bands, plus ``"overall"`` (all True).

    T: float64 (n,), temperatures in units of J/k_B. The critical band is closed,
    [2.0, 2.6]; the others are open, so each temperature lies in exactly one band.
    """
    T = np.asarray(T, dtype=np.float64)
    lo_c, hi_c = TEMPERATURE_BANDS["critical"]
    critical = (T >= lo_c - _BAND_TOL) & (T <= hi_c + _BAND_TOL)
    return {
        "overall": np.ones(T.shape, dtype=bool),
        "ordered": (T < lo_c - _BAND_TOL),
        "critical": critical,
        "disordered": (T > hi_c + _BAND_TOL),
    }


def regression_metrics(beta_true, beta_pred) -> dict:
    """``n``, ``mse``, ``mae`` and ``r2`` (scikit-learn) of beta predictions.

    Empty input gives NaN metrics; R² is NaN when beta_true is constant
    (a single temperature), where it is undefined.
    """
    beta_true = np.asarray(beta_true, dtype=np.float64)
    beta_pred = np.asarray(beta_pred, dtype=np.float64)
    n = int(beta_true.size)
    if n == 0:
        return {"n": 0, "mse": float("nan"), "mae": float("nan"), "r2": float("nan")}
    constant = np.ptp(beta_true) == 0.0
    return {
        "n": n,
        "mse": float(mean_squared_error(beta_true, beta_pred)),
        "mae": float(mean_absolute_error(beta_true, beta_pred)),
        "r2": float("nan") if constant else float(r2_score(beta_true, beta_pred)),
    }


def _check_pair(beta_true, beta_pred, T):
    beta_true = np.asarray(beta_true, dtype=np.float64).reshape(-1)
    beta_pred = np.asarray(beta_pred, dtype=np.float64).reshape(-1)
    if beta_true.shape != beta_pred.shape:
        raise ValueError(
            f"beta_true and beta_pred must have one entry per configuration, got {beta_true.size} "
            f"and {beta_pred.size}"
        )
    if T is None:
        if np.any(beta_true <= 0):
            raise ValueError("beta_true must be positive to infer T = 1/beta; pass T explicitly")
        T = 1.0 / beta_true
    T = np.asarray(T, dtype=np.float64).reshape(-1)
    if T.shape != beta_true.shape:
        raise ValueError(f"T must have one entry per configuration ({beta_true.size}), got {T.size}")
    return beta_true, beta_pred, T


def evaluate_thermometer(beta_true, beta_pred, T=None) -> dict:
    """MSE, MAE, R² of beta overall and per temperature band.

    Parameters
    ----------
    beta_true, beta_pred : float (n,)
        True and predicted inverse temperatures.
    T : float (n,), optional
        Temperatures used for the bands; default 1 / beta_true.

    Returns
    -------
    dict band -> :func:`regression_metrics` dict, for the keys of :data:`BANDS`.
    """
    beta_true, beta_pred, T = _check_pair(beta_true, beta_pred, T)
    return {band: regression_metrics(beta_true[m], beta_pred[m]) for band, m in band_masks(T).items()}


@dataclass(frozen=True)
class BayesLimit:
    """The Bayes-optimal thermometer on a test set, or why there is none.

    Attributes
    ----------
    available : bool
    reason : str or None
        Why the limit is unavailable (None when it is available).
    beta_hat : float64 (n,) or None
        Posterior-mean estimate of beta for each configuration.
    metrics : dict or None
        :func:`evaluate_thermometer` of ``beta_hat``.
    beta_grid : float64 (K,) or None
        Support of the uniform prior.
    """

    available: bool
    reason: str | None = None
    beta_hat: np.ndarray | None = None
    metrics: dict | None = None
    beta_grid: np.ndarray | None = None

    @property
    def mse(self) -> float | None:
        return None if self.metrics is None else self.metrics["overall"]["mse"]


def _exact_log_z(lattice, beta_grid, J):
    """ln Z at the grid for lattices with an exact finite-size partition function, else a reason."""
    if lattice.exact_log_z is None:
        return None, f"no exact partition function for the {lattice.name} lattice"
    return lattice.exact_log_z(beta_grid, J), None


def bayes_limit(
    lattice, energy, beta_true, beta_grid=None, J: float = 1.0, h: float = 0.0, T=None
) -> BayesLimit:
    """Bayes-optimal estimates of beta from the energy, with the exact finite-torus ln Z.

    Parameters
    ----------
    lattice : Lattice
        Lattice of the test configurations; where it has no exact ln Z
        (``lattice.exact_log_z is None``) the result has ``available=False``.
    energy : float64 (n,)
        Total energy of each test configuration (units J, as stored in the ensembles).
    beta_true : float64 (n,)
        True inverse temperature of each configuration.
    beta_grid : float64 (K,), optional
        The uniform prior's support; default the distinct values of
        ``beta_true`` (the test grid itself, equally populated by design).
    J, h : float
        Coupling and field of the ensembles; the energy alone is sufficient
        for beta only at h = 0.
    T : float64 (n,), optional
        Temperatures for the bands; default 1 / beta_true.

    Returns
    -------
    BayesLimit
    """
    energy = np.asarray(energy, dtype=np.float64).reshape(-1)
    beta_true = np.asarray(beta_true, dtype=np.float64).reshape(-1)
    if energy.shape != beta_true.shape:
        raise ValueError(
            f"energy and beta_true must have one entry per configuration, "
            f"got {energy.size} and {beta_true.size}"
        )
    if h != 0.0:
        return BayesLimit(
            False, f"the energy alone is not sufficient for beta at h = {h} (the field couples M)"
        )
    beta_grid = np.unique(beta_true) if beta_grid is None else np.asarray(beta_grid, dtype=np.float64)
    log_z, reason = _exact_log_z(lattice, beta_grid, J)
    if reason is not None:
        return BayesLimit(False, reason)
    from ising.exact import bayes_beta_estimate

    beta_hat = bayes_beta_estimate(energy, beta_grid, np.asarray(log_z, dtype=np.float64))
    return BayesLimit(True, None, beta_hat, evaluate_thermometer(beta_true, beta_hat, T), beta_grid)


def figure_of_merit(network_metrics: dict, bayes: BayesLimit) -> dict:
    """Network MSE / Bayes-optimal MSE overall and per band (1.0 is the floor).

    Returns a dict with ``available``, ``reason`` and one ratio per key of
    :data:`BANDS` (None where the limit is unavailable or a band is empty).
    """
    if not bayes.available:
        return {"available": False, "reason": bayes.reason, **dict.fromkeys(BANDS)}
    ratios = {}
    for band in BANDS:
        net, ref = network_metrics[band]["mse"], bayes.metrics[band]["mse"]
        ok = network_metrics[band]["n"] > 0 and np.isfinite(net) and np.isfinite(ref) and ref > 0
        ratios[band] = float(net / ref) if ok else None
    return {"available": True, "reason": None, **ratios}


def statistic_dependence(beta_pred, statistics: dict, n_bins: int = 20) -> dict:
    """How much of the predictions' variance each scalar statistic explains.

    For each statistic x (e.g. energy per spin, |m|), beta_pred is regressed
    on x by its mean in ``n_bins`` equal-count bins of x; the returned value
    is that regression's R² (1: the prediction is a function of x alone).
    A network whose predictions follow |m| but not the energy is a
    magnetometer, blind where |m| carries no information (T > T_c).

    statistics: dict name -> float (n,). Returns dict name -> float in [0, 1].
    """
    beta_pred = np.asarray(beta_pred, dtype=np.float64).reshape(-1)
    total = np.sum((beta_pred - beta_pred.mean()) ** 2)
    out = {}
    for name, x in statistics.items():
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        if x.shape != beta_pred.shape:
            raise ValueError(f"statistic {name!r} must have one entry per prediction ({beta_pred.size})")
        order = np.argsort(x, kind="stable")
        residual = 0.0
        for chunk in np.array_split(order, min(n_bins, x.size)):
            residual += np.sum((beta_pred[chunk] - beta_pred[chunk].mean()) ** 2)
        out[name] = float(1.0 - residual / total) if total > 0 else float("nan")
    return out


def _fmt(value, digits=4):
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}g}"


# Fractions of prediction variance: below _LEARNED a statistic is not what the network
# computes; one statistic leads the other only by more than _CLEARLY.
_LEARNED = 0.5
_CLEARLY = 0.05


def describe_thermometer(
    name: str, metrics: dict, bayes: BayesLimit, dependence: dict | None = None, far: float = 1.5
) -> str:
    """A Markdown table of metrics per band beside the Bayes limit and their ratio, and a verdict.

    Bands whose ratio exceeds ``far`` are named as falling far short of the
    limit. ``dependence`` maps a temperature band to :func:`statistic_dependence`
    of the predictions in that band with keys ``"energy"`` and ``"abs_m"``;
    with it the verdict says which statistic the predictions follow there
    and which they fail to learn.
    """
    ratios = figure_of_merit(metrics, bayes)
    lines = [
        f"**{name}**",
        "",
        "| band | n | MSE | MAE | R² | Bayes MSE | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for band in BANDS:
        m = metrics[band]
        ref = bayes.metrics[band]["mse"] if bayes.available else None
        lines.append(
            f"| {band} | {m['n']} | {_fmt(m['mse'])} | {_fmt(m['mae'])} | {_fmt(m['r2'], 3)} "
            f"| {_fmt(ref)} | {_fmt(ratios[band], 3)} |"
        )
    lines.append("")
    if not bayes.available:
        lines.append(f"Bayes-optimal limit not available: {bayes.reason}.")
        return "\n".join(lines)
    short = [b for b in BANDS if ratios[b] is not None and ratios[b] > far]
    if not short:
        lines.append(f"Within a factor {far} of the Bayes-optimal MSE overall and in every band.")
        return "\n".join(lines)
    listed = ", ".join(f"{b} ({ratios[b]:.3g}x)" for b in short)
    lines.append(f"Falls far short of the Bayes-optimal limit (MSE ratio > {far}) in: {listed}.")
    # Across all bands E and |m| both follow T, so only within a band does the dependence
    # tell which statistic the network computes.
    for band in (b for b in short if b != "overall"):
        dep = (dependence or {}).get(band)
        if not dep or not {"energy", "abs_m"} <= set(dep):
            continue
        e, m = dep["energy"], dep["abs_m"]
        text = (
            f"In the {band} band the energy per spin, a sufficient statistic for beta, explains "
            f"{_fmt(100 * e, 3)}% of the variance of its predictions and |m| explains {_fmt(100 * m, 3)}%"
        )
        if max(e, m) < _LEARNED:
            text += (
                ": its output there follows neither, so it has not learned the nearest-neighbour "
                "energy and answers from configuration-specific detail."
            )
        elif m > e + _CLEARLY:
            text += (
                ": it reads the magnetisation instead of the nearest-neighbour energy, "
                "and |m| tells temperatures apart only in the ordered phase."
            )
        else:
            text += (
                ": it tracks the energy (or |m|, correlated with it here) but maps it to beta "
                "less precisely than the Bayes estimate."
            )
        lines.append(text)
    return "\n".join(lines)


def evaluate_on_ensembles(
    model, files, lattice=None, batch_size: int = 256, band_scale: float = 1.0, name: str | None = None
) -> dict:
    """Evaluate a thermometer on held-out ensemble files, against the Bayes limit.

    The prior grid of the Bayes estimate is the set of test temperatures.
    ``lattice`` defaults to the one the files' attributes describe. Temperature
    bands are defined on the square lattice's scale: ``band_scale`` = T_c(lattice)
    / T_c(square) maps another lattice's temperatures onto them. ``name`` labels
    the Markdown report (default the model's name).

    Returns a dict: ``metrics`` (:func:`evaluate_thermometer`), ``bayes``
    (:class:`BayesLimit`), ``ratio`` (:func:`figure_of_merit`),
    ``dependence`` (band -> :func:`statistic_dependence` on energy per spin and |m|,
    for bands of more than :data:`MIN_BAND_SAMPLES` configurations),
    ``beta_pred`` and ``beta_true`` float64 (n,), ``data`` (the loaded test
    configurations, :func:`models.data.load_configurations`) and ``report`` (Markdown).
    """
    from .data import load_configurations
    from .thermometers import predict_beta

    data = load_configurations(files, expect=model)
    if lattice is None:
        from ising.lattice import make_lattice

        lattice = make_lattice(data["lattice"], **data["lattice_params"])
    n_sites = int(np.prod(data["spins"].shape[1:]))
    beta_pred = predict_beta(model, data["spins"], batch_size=batch_size)
    T_band = data["T"] / band_scale
    metrics = evaluate_thermometer(data["beta"], beta_pred, T_band)
    bayes = bayes_limit(lattice, data["energy"], data["beta"], J=data["J"], h=data["h"], T=T_band)
    statistics = {"energy": data["energy"] / n_sites, "abs_m": np.abs(data["magnetization"]) / n_sites}
    dependence = {
        band: statistic_dependence(beta_pred[mask], {k: v[mask] for k, v in statistics.items()})
        for band, mask in band_masks(T_band).items()
        if mask.sum() > MIN_BAND_SAMPLES
    }
    return {
        "metrics": metrics,
        "bayes": bayes,
        "ratio": figure_of_merit(metrics, bayes),
        "dependence": dependence,
        "beta_true": data["beta"],
        "beta_pred": beta_pred,
        "data": data,
        "report": describe_thermometer(name or model.name, metrics, bayes, dependence),
    }
